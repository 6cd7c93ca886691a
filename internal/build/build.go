// Package build holds the version stamped into the binary at release time.
package build

import "runtime/debug"

// Version is set with -ldflags "-X github.com/maskcall/maskcall/internal/build.Version=v1.2.3".
var Version = ""

// Date is the build date, set like Version.
var Date = ""

func init() {
	if Version != "" {
		return
	}
	Version = "dev"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		Version = info.Main.Version
	}
}
