package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Every write transaction publishes the version it committed, whichever
// path it takes (the group commit, a durable write, the CLI's own
// transaction), into <db>-routes; a handle opened later reads it from the
// file; and a file restored from a backup, older than the counter, brings
// the counter down to its version.
func TestRouteVersionPublished(t *testing.T) {
	ctx := context.Background()
	serve := mustOpenServeDB(t)
	published := func(db *DB) int64 {
		t.Helper()
		v, ok := db.PublishedRouteVersion()
		if !ok {
			t.Fatal("nothing published")
		}
		stored, err := db.RouteVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v != stored {
			t.Fatalf("published version %d, the database's %d", v, stored)
		}
		return v
	}
	if _, err := os.Stat(serve.path + routesSuffix); err != nil {
		t.Fatalf("no counter file beside the database: %v", err)
	}
	v0 := published(serve)

	if err := serve.CreateNumber(ctx, &maskcall.Number{Number: "+447000000001", Country: "GB", Type: "mobile-lvn",
		Features: []string{"VOICE", "SMS"}, Status: maskcall.NumberActive}, time.Now()); err != nil {
		t.Fatal(err)
	}
	c := &maskcall.Conversation{Participants: []maskcall.Participant{
		{Number: "+447700900123", Country: "GB"}, {Number: "+447700900456", Country: "GB"}}}
	if err := serve.CreateConversation(ctx, c, nil, time.Now()); err != nil { // group commit, durable
		t.Fatal(err)
	}
	v1 := published(serve)
	if v1 <= v0 {
		t.Fatalf("a create moved the published version from %d to %d", v0, v1)
	}

	// The CLI: no group commit, a transaction of its own; a handle of its
	// own, opened after the create, reads the counter from the file.
	cli := NewDB(serve.path)
	if err := cli.Open(); err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if got := published(cli); got != v1 {
		t.Fatalf("a new handle reads %d, want %d", got, v1)
	}
	if _, err := cli.EndConversation(ctx, c.ID, "ended", time.Now()); err != nil {
		t.Fatal(err)
	}
	if v2 := published(serve); v2 <= v1 {
		t.Fatalf("the CLI's end moved the published version from %d to %d", v1, v2)
	}

	// A call record changes no route: the version published stays.
	before := published(serve)
	if err := serve.CreateCall(ctx, &maskcall.Call{UUID: "call-1", ConversationID: c.ID, Status: "started"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if after := published(serve); after != before {
		t.Fatalf("a call record moved the published version from %d to %d", before, after)
	}

	// A copy from before the create, put back: Open brings the counter
	// down to the copy's version.
	restored := filepath.Join(t.TempDir(), "restored.db")
	old := NewDB(restored)
	if err := old.Open(); err != nil {
		t.Fatal(err)
	}
	want, err := old.RouteVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	if p, _ := old.PublishedRouteVersion(); p != 0 {
		t.Fatalf("a closed store publishes %d", p)
	}
	pub, err := mapRoutePublisher(routesPath(restored))
	if err != nil {
		t.Fatal(err)
	}
	pub.publish(want + 1000) // the counter of the file it replaced
	back := NewDB(restored)
	if err := back.Open(); err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if got := published(back); got != want {
		t.Fatalf("after a restore the counter is %d, want the file's %d", got, want)
	}
}

// A group-commit batch that mixes call records (which change no route and
// alone publish nothing) with a create or an end publishes what it
// committed before the create or end returns.
func TestRouteVersionPublishedFromMixedBatches(t *testing.T) {
	ctx := context.Background()
	db := mustOpenServeDB(t)
	for _, n := range []string{"+447000000001", "+447000000002"} {
		if err := db.CreateNumber(ctx, &maskcall.Number{Number: n, Country: "GB", Type: "mobile-lvn",
			Features: []string{"VOICE", "SMS"}, Status: maskcall.NumberActive}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	host := &maskcall.Conversation{Participants: []maskcall.Participant{
		{Number: "+447700900001", Country: "GB"}, {Number: "+447700900002", Country: "GB"}}}
	if err := db.CreateConversation(ctx, host, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // call records, queued as the answer webhook does
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c := &maskcall.Call{UUID: fmt.Sprintf("mixed-%d", i), ConversationID: host.ID, Status: "started"}
			if _, err := db.QueueCall(ctx, c, time.Now(), time.Second, nil); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	mixed := func() bool { tx, ops := db.GroupCommitStats(); return ops > tx }
	// At least 50 rounds, and on until a batch held more than one write.
	for i := 0; i < 50 || (!mixed() && i < 2000); i++ {
		c := &maskcall.Conversation{Participants: []maskcall.Participant{
			{Number: fmt.Sprintf("+44770%07d", 100+i), Country: "GB"}, {Number: "+447700900999", Country: "GB"}}}
		if err := db.CreateConversation(ctx, c, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		check := func(what string) {
			t.Helper()
			p, _ := db.PublishedRouteVersion()
			v, err := db.RouteVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if p != v {
				t.Fatalf("after %s %d: published %d, the database's %d", what, i, p, v)
			}
		}
		check("create")
		if _, err := db.EndConversation(ctx, c.ID, "ended", time.Now()); err != nil {
			t.Fatal(err)
		}
		check("end")
	}
	if tx, ops := db.GroupCommitStats(); !mixed() {
		t.Fatalf("no batch held more than one write (%d transactions, %d writes): nothing mixed", tx, ops)
	}
}
