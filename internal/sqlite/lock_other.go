//go:build !unix

package sqlite

import (
	"errors"
	"os"
)

var errLocked = errors.New("locked by another process")

// lockFile cannot tell a live writer's journal from a dead one's here:
// every journal counts as held, so serve does not journal (it waits for
// each record's commit instead) and nothing is replayed.
func lockFile(f *os.File, _ bool) error { return errLocked }

const callJournalSupported = false
