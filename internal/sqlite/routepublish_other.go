//go:build !unix

package sqlite

// mapRoutePublisher: no shared mapping here; every call reads the version.
func mapRoutePublisher(string) (*routePublisher, error) { return nil, errNoSharedMemory }
