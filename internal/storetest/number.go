package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func (h *harness) testCreateNumber(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := h.open(t)
		n := &maskcall.Number{Number: gb1, Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS"},
			Cost: "0.90", Status: maskcall.NumberPurchasing}
		if err := db.CreateNumber(ctx, n, t0); err != nil {
			t.Fatal(err)
		}
		if !n.CreatedAt.Equal(t0) || !n.UpdatedAt.Equal(t0) {
			t.Errorf("times = %v %v", n.CreatedAt, n.UpdatedAt)
		}
		got, err := db.FindNumber(ctx, gb1, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, n) {
			t.Errorf("stored\n%+v\nwant\n%+v", got, n)
		}
	})

	t.Run("KeepsGivenTimes", func(t *testing.T) {
		db := h.open(t)
		at := time.Date(2029, 5, 6, 7, 8, 9, 10_000, time.FixedZone("X", 3600))
		n := &maskcall.Number{Number: gb1, Status: maskcall.NumberActive, CreatedAt: at, UpdatedAt: at}
		if err := db.CreateNumber(ctx, n, t0); err != nil {
			t.Fatal(err)
		}
		got, err := db.FindNumber(ctx, gb1, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(at) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("created at %v, want %v in UTC", got.CreatedAt, at)
		}
		if got.Features == nil || len(got.Features) != 0 {
			t.Errorf("features = %#v, want empty", got.Features)
		}
	})

	t.Run("ErrConflict", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		err := db.CreateNumber(ctx, &maskcall.Number{Number: gb1, Status: maskcall.NumberPurchasing}, t0)
		assertCode(t, err, maskcall.ECONFLICT)
	})

	t.Run("RevivesReleased", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		c := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		if _, err := db.EndConversation(ctx, c.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		released := maskcall.NumberReleased
		if _, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &released}, t0); err != nil {
			t.Fatal(err)
		}
		n := &maskcall.Number{Number: gb1, Country: "GB", Type: "landline", Status: maskcall.NumberPurchasing,
			CreatedAt: t0.Add(time.Hour)}
		if err := db.CreateNumber(ctx, n, t0); err != nil {
			t.Fatal(err)
		}
		got, err := db.FindNumber(ctx, gb1, t0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != maskcall.NumberPurchasing || got.Type != "landline" || !got.CreatedAt.Equal(t0.Add(time.Hour)) || got.AppID != "" {
			t.Errorf("revived = %+v", got)
		}
		// The old conversation still points at the same row.
		if old, err := db.FindConversationByID(ctx, c.ID, t0); err != nil || old.Participants[0].ProxyNumber != gb1 {
			t.Errorf("old conversation: %+v %v", old, err)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		db := h.open(t)
		assertCode(t, db.CreateNumber(ctx, &maskcall.Number{Status: maskcall.NumberActive}, t0), maskcall.EINVALID)
		assertCode(t, db.CreateNumber(ctx, &maskcall.Number{Number: gb1, Status: "sold"}, t0), maskcall.EINVALID)
	})
}

func (h *harness) testFindNumbers(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	for _, n := range []*maskcall.Number{
		{Number: gb2, Country: "GB", Status: maskcall.NumberActive, Features: []string{"VOICE"}},
		{Number: us1, Country: "US", Status: maskcall.NumberUnconfigured, Features: []string{"VOICE"}},
		{Number: gb1, Country: "GB", Status: maskcall.NumberActive, Features: []string{"VOICE"}},
		{Number: gb3, Country: "GB", Status: maskcall.NumberReleased, Features: []string{"VOICE"}},
	} {
		if err := db.CreateNumber(ctx, n, t0); err != nil {
			t.Fatal(err)
		}
	}
	mustCreateConversation(t, db, t0, 0, gb(alice, "a"), us(carol, "c"))
	mustCreateConversation(t, db, t0, 0, gb(bob, "b"), us(dave, "d"))

	active, released := maskcall.NumberActive, maskcall.NumberReleased
	country := "GB"
	for name, tc := range map[string]struct {
		filter maskcall.NumberFilter
		want   []string
	}{
		"Default":         {maskcall.NumberFilter{}, []string{us1, gb1, gb2}},
		"IncludeReleased": {maskcall.NumberFilter{IncludeReleased: true}, []string{us1, gb1, gb2, gb3}},
		"Status":          {maskcall.NumberFilter{Status: &active}, []string{gb1, gb2}},
		"Released":        {maskcall.NumberFilter{Status: &released}, []string{gb3}},
		"Country":         {maskcall.NumberFilter{Country: &country}, []string{gb1, gb2}},
	} {
		t.Run(name, func(t *testing.T) {
			ns, err := db.FindNumbers(ctx, tc.filter, t0)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, n := range ns {
				got = append(got, n.Number)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("numbers = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("ActiveConversations", func(t *testing.T) {
		ns, err := db.FindNumbers(ctx, maskcall.NumberFilter{Status: &active}, t0)
		if err != nil {
			t.Fatal(err)
		}
		// Least used spreads the two conversations over gb1 and gb2, each
		// serving both participants of its conversation.
		if ns[0].ActiveConversations != 1 || ns[1].ActiveConversations != 1 {
			t.Errorf("counters = %d, %d", ns[0].ActiveConversations, ns[1].ActiveConversations)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := db.FindNumber(ctx, "+440000", t0)
		assertCode(t, err, maskcall.ENOTFOUND)
	})
}

func (h *harness) testUpdateNumber(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		st, app, typ, cost := maskcall.NumberUnconfigured, "", "landline", "1.20"
		got, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &st, AppID: &app, Type: &typ,
			Features: []string{"VOICE"}, Cost: &cost}, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := &maskcall.Number{Number: gb1, Country: "GB", Type: typ, Features: []string{"VOICE"}, Cost: cost,
			Status: st, CreatedAt: t0, UpdatedAt: t0.Add(time.Minute)}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("updated\n%+v\nwant\n%+v", got, want)
		}
		if stored, err := db.FindNumber(ctx, gb1, t0); err != nil || !reflect.DeepEqual(stored, want) {
			t.Errorf("stored\n%+v\nwant\n%+v (%v)", stored, want, err)
		}
	})

	t.Run("NilLeavesAlone", func(t *testing.T) {
		db := h.open(t)
		n := mustCreateNumber(t, db, gb1, "GB")
		got, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Features, n.Features) || got.Status != n.Status || got.AppID != n.AppID {
			t.Errorf("changed: %+v", got)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		db := h.open(t)
		_, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{}, t0)
		assertCode(t, err, maskcall.ENOTFOUND)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		st := maskcall.NumberStatus("gone")
		_, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &st}, t0)
		assertCode(t, err, maskcall.EINVALID)
	})
}

func (h *harness) testDeleteNumber(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := h.open(t)
		if err := db.CreateNumber(ctx, &maskcall.Number{Number: gb1, Country: "GB", Status: maskcall.NumberPurchasing}, t0); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteNumber(ctx, gb1); err != nil {
			t.Fatal(err)
		}
		_, err := db.FindNumber(ctx, gb1, t0)
		assertCode(t, err, maskcall.ENOTFOUND)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		db := h.open(t)
		assertCode(t, db.DeleteNumber(ctx, gb1), maskcall.ENOTFOUND)
	})

	t.Run("ErrConflict", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		c := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		// Only a purchasing number can go: rented again, say, after its
		// release, and the purchase failed.
		purchasing := maskcall.NumberPurchasing
		if _, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &purchasing}, t0); err != nil {
			t.Fatal(err)
		}
		assertCode(t, db.DeleteNumber(ctx, gb1), maskcall.ECONFLICT)
		// Ended conversations still refer to it.
		if _, err := db.EndConversation(ctx, c.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		assertCode(t, db.DeleteNumber(ctx, gb1), maskcall.ECONFLICT)
	})
}
