//go:build !unix

package sqlite

import "errors"

// mapRoutePublisher: no shared mapping here; every call reads the version.
func mapRoutePublisher(string) (*routePublisher, error) {
	return nil, errors.New("no shared memory on this system")
}
