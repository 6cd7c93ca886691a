// Package offheap allocates big pointer-free arrays outside Go's heap.
//
// serve keeps two such arrays for its whole life: the route index's
// tables and the replay cache's. On the heap they would count toward the
// heap goal the garbage collector aims at, a multiple of what is live
// (twice at GOGC=100, three times at serve's 200): every megabyte kept
// would let more garbage pile up before a collection, and serve's
// resident memory would be a multiple of what it holds. In a mapping of
// their own only the pages touched count, once.
package offheap
