//go:build unix

package offheap

import (
	"syscall"
	"unsafe"
)

// Alloc returns n zeroed Ts in memory of their own, outside Go's heap
// (the heap if the system refuses the mapping). T must hold no pointers:
// the garbage collector does not look in this memory.
func Alloc[T any](n int) []T {
	if n == 0 {
		return nil
	}
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]T, n) // the heap then
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// Free returns memory from Alloc to the system; s must not be used after.
func Free[T any](s []T) {
	if cap(s) == 0 {
		return
	}
	var zero T
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), cap(s)*int(unsafe.Sizeof(zero)))
	// A slice from the heap (Mmap failed) is not a mapping: Munmap fails
	// and the collector frees it.
	_ = syscall.Munmap(b)
}
