package webhook

import "runtime"

func testingGOMAXPROCS() int { return runtime.GOMAXPROCS(0) }
