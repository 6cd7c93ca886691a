//go:build !unix

package offheap

// Alloc returns n zeroed Ts; without mmap, on the heap.
func Alloc[T any](n int) []T { return make([]T, n) }

// Free does nothing: the collector frees what Alloc gave.
func Free[T any](s []T) {}
