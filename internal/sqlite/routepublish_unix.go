//go:build unix

package sqlite

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// routesFileSize is the counter file's size: one page, of which the
// counter uses the first 8 bytes.
const routesFileSize = 4096

// mappedRoutes holds every counter file this process mapped, by device
// and inode: a mapping is never undone, since a call's lookup may be
// reading it while its store closes, and a database opened again (a test,
// the CLI's commands in one process) reuses it. A file deleted and created
// again is another inode, so it is mapped afresh.
var mappedRoutes struct {
	sync.Mutex
	m map[[2]uint64]*routePublisher
}

// mapRoutePublisher opens (creating it, mode 0600) and maps the counter
// file at path.
func mapRoutePublisher(path string) (*routePublisher, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	key := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
	mappedRoutes.Lock()
	defer mappedRoutes.Unlock()
	if p := mappedRoutes.m[key]; p != nil {
		return p, nil
	}
	// Several processes may create it at once: each only ever grows it to
	// the same size, which keeps what another wrote.
	if st.Size < routesFileSize {
		if err := f.Truncate(routesFileSize); err != nil {
			return nil, fmt.Errorf("size %s: %w", path, err)
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, routesFileSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	// A mapping starts on a page boundary: the counter is 8-byte aligned,
	// as atomic operations need.
	p := &routePublisher{version: (*atomic.Int64)(unsafe.Pointer(&mem[0]))}
	if mappedRoutes.m == nil {
		mappedRoutes.m = make(map[[2]uint64]*routePublisher)
	}
	mappedRoutes.m[key] = p
	return p, nil
}
