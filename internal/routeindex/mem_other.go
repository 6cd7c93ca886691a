//go:build !unix

package routeindex

func allocSlice[T any](n int) []T { return make([]T, n) }

func freeSlice[T any](s []T) {}
