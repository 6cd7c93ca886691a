//go:build !maskcall_discard_call_records

package build

import (
	"strings"
	"testing"
)

// A binary built without the experiment's tag keeps every call record and
// does not call itself an experiment. (With the tag the stores' tests
// would hang waiting for records that are never written; this says why at
// once.)
func TestDefaultBuildKeepsCallRecords(t *testing.T) {
	if DiscardCallRecords {
		t.Fatal("DiscardCallRecords is true without -tags maskcall_discard_call_records: serve would answer calls and keep no records")
	}
	if strings.Contains(Version, "discard") {
		t.Fatalf("Version = %q in a real build", Version)
	}
}
