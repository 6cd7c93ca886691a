package maskcall

import (
	"context"
	"slices"
	"time"
)

// PoolStat counts one country's pool numbers in one status (released
// numbers are not counted), and how many of them are free: active numbers
// that no active conversation uses as a proxy.
type PoolStat struct {
	Country string
	Status  NumberStatus
	Numbers int
	Free    int
}

// QueueStats is a work queue (the SMS relay's jobs, callbacks' outbox) at
// a moment.
type QueueStats struct {
	// Depth counts the jobs not settled: waiting, or claimed and in flight.
	Depth int
	// OldestDue is when the job waiting longest became due; zero when no
	// waiting job is due yet.
	OldestDue time.Time
}

// StatsStore answers the gauges of metrics, each with a cheap indexed
// query: metrics asks at every scrape, on a store that may hold millions
// of conversations.
type StatsStore interface {
	// CountActiveConversations counts the conversations not ended (one
	// that expired counts until the sweep ends it).
	CountActiveConversations(ctx context.Context) (int, error)
	// PoolStats counts the pool by country and status, ordered by both.
	PoolStats(ctx context.Context) ([]PoolStat, error)
}

// RelayQueueStatser is a MessageStore that can say how its SMS relay queue
// stands at now.
type RelayQueueStatser interface {
	RelayQueueStats(ctx context.Context, now time.Time) (QueueStats, error)
}

// CallStatuses returns every call status Vonage reports (IsCallStatus),
// sorted.
func CallStatuses() []string {
	out := make([]string, 0, len(callStatusRank))
	for s := range callStatusRank {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
