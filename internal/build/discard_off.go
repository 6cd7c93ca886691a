//go:build !maskcall_discard_call_records

package build

// DiscardCallRecords is false in every real build: see discard_on.go.
const DiscardCallRecords = false
