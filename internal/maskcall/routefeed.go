package maskcall

import (
	"context"
	"time"
)

// The route feed: what a store gives an in-memory index of routes (the
// answer webhook's lookup without a query, internal/routeindex).
//
// Every committed change to what routes where (a participant's key made
// active or inactive, an expiry, a conversation's mode, a conversation or
// participant deleted) advances the store's route version, in the
// transaction of the change, whoever makes it: serve, the API, the CLI in
// another process, another replica. Versions follow commit order: a
// reader that has seen version v and reads version v' later has seen
// every change committed up to v' once it applied the changes after v.
// An index that checks the version after a call arrived, and applies the
// changes it finds, answers that call as the store would.

// RouteParticipant is one side of a RouteRecord: a call from Number to
// ProxyNumber reaches the other side, while Active.
type RouteParticipant struct {
	Number      string // E.164 with '+'
	ProxyNumber string // E.164 with '+'
	// Active mirrors the participant's key: false once its conversation
	// ended (or was never active).
	Active bool
	// ExpiresAt is the participant's expiry (the conversation's); nil:
	// never. A key routes while now is before it.
	ExpiresAt *time.Time
}

// RouteRecord is what a route index keeps of one conversation: its mode
// and its two participants by position. A record with Deleted set says the
// conversation is gone (purged): nothing of it routes.
type RouteRecord struct {
	ConversationID string
	Mode           ConversationMode
	Participants   [2]RouteParticipant
	Deleted        bool
}

// RouteFeed is implemented by stores that can feed a route index.
type RouteFeed interface {
	// RouteVersion returns the store's route version: one cheap read.
	RouteVersion(ctx context.Context) (int64, error)
	// LoadRoutes calls fn with the record of every conversation that has
	// an active participant, all read in one snapshot, and returns the
	// route version of that snapshot.
	LoadRoutes(ctx context.Context, fn func(*RouteRecord) error) (version int64, err error)
	// RouteChanges calls fn with the current record (Deleted if gone) of
	// every conversation whose routes changed after version since, all
	// read in one snapshot, and returns that snapshot's version. ok is
	// false, and fn not called, when the store no longer keeps the changes
	// since that version: the index must load everything again.
	RouteChanges(ctx context.Context, since int64, fn func(*RouteRecord) error) (version int64, ok bool, err error)
}

// RouteWatcher is implemented by stores that announce route changes
// (PostgreSQL's LISTEN/NOTIFY), so that an index need not read the route
// version before every call, only after an announcement.
type RouteWatcher interface {
	// WatchRoutes announces route changes to w until stop is called:
	// w.RoutesChanged after every route change this store commits, before
	// the write returns, and after those committed by anyone else (another
	// replica, the CLI, psql) once the database has told. w.RouteWatchLive
	// says whether announcements of others' changes are flowing: false once
	// they may be missed (the listening connection lost); true again once
	// they flow, after a RoutesChanged that covers whatever was missed.
	WatchRoutes(w RouteWatch) (stop func())
}

// RouteVersionPublisher is implemented by stores whose writers, in every
// process on the machine, publish the route version each write transaction
// committed in memory those processes share (SQLite's <db>-routes file),
// after the commit and before the write returns; the published version
// only grows. An index whose version equals the published one has seen
// every change acknowledged so far and needs no query before a call; one
// that differs reads the store's version. A change made by something that
// does not publish (a sqlite3 shell, a process killed between its commit
// and its publish, before it acknowledged) is seen once the index's last
// read of the store's version is older than its bound (MaxWatchAge).
type RouteVersionPublisher interface {
	// PublishedRouteVersion returns the highest version published; ok is
	// false when the store cannot publish (no shared memory): every call
	// then reads the store's version.
	PublishedRouteVersion() (version int64, ok bool)
}

// RouteWatch hears a RouteWatcher's announcements.
type RouteWatch interface {
	RoutesChanged()
	RouteWatchLive(live bool)
}

// Route returns the route of a call from `from` to proxy `to` in r at now:
// the participant whose active, unexpired key it is, and the other side;
// nil if none. Country and Label are not part of a record and stay empty.
func (r *RouteRecord) Route(from, to string, now time.Time) *Route {
	for i, p := range r.Participants {
		if p.Number != from || p.ProxyNumber != to || !p.Active || r.Deleted {
			continue
		}
		if p.ExpiresAt != nil && !now.Before(*p.ExpiresAt) {
			return nil
		}
		q := r.Participants[1-i]
		return &Route{ConversationID: r.ConversationID, Mode: r.Mode,
			Caller: Participant{Number: p.Number, ProxyNumber: p.ProxyNumber},
			Callee: Participant{Number: q.Number, ProxyNumber: q.ProxyNumber}}
	}
	return nil
}
