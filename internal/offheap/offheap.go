// Package offheap allocates big pointer-free arrays outside Go's heap.
//
// serve keeps two such arrays for its whole life: the route index's
// tables and the replay cache's. On the heap they would count toward the
// heap goal the garbage collector aims at, which is twice what is live
// (GOGC=100): every megabyte kept would let another of garbage pile up
// before a collection, and serve's resident memory would be about twice
// what it holds. In a mapping of their own only the pages touched count,
// once.
package offheap
