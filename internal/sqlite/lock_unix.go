//go:build unix

package sqlite

import (
	"errors"
	"os"
	"syscall"
)

// errLocked: another process holds the file's lock.
var errLocked = errors.New("locked by another process")

// lockFile takes an exclusive lock on f without waiting, held until f is
// closed (or the process ends: a killed writer's lock goes with it).
func lockFile(f *os.File, _ bool) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}

// callJournalSupported: files can be locked here, so serve journals calls.
const callJournalSupported = true
