package postgres

import (
	"testing"

	"github.com/maskcall/maskcall/internal/storetest"
)

// The PostgreSQL store passes the API part of the conformance suite.
func TestAPIStore(t *testing.T) {
	storetest.RunAPIStore(t, func(t *testing.T) storetest.APIStore { return MustOpenDB(t) })
}
