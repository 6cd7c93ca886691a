//go:build maskcall_discard_call_records

package build

// DiscardCallRecords makes the stores' QueueCall report a call record
// written without writing it (no journal, no row, no checkpoint). It
// exists only to measure what the call record costs the answer webhook
// (BENCHMARKS.md, issue 13): a binary built with
//
//	go build -tags maskcall_discard_call_records -o maskcall-discard ./cmd/maskcall
//
// answers like serve but keeps no calls. Such a binary says so in its
// version and warns at every start of serve; never run one for real.
const DiscardCallRecords = true

func init() { Version += "+discard-call-records" }
