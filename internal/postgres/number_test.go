package postgres

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func TestDB_CreateNumber(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := MustOpenDB(t)
		n := &maskcall.Number{Number: gb1, Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS"},
			Cost: "0.90", Status: maskcall.NumberPurchasing}
		if err := db.CreateNumber(ctx, n); err != nil {
			t.Fatal(err)
		}
		if !n.CreatedAt.Equal(t0) || !n.UpdatedAt.Equal(t0) {
			t.Errorf("times = %v %v", n.CreatedAt, n.UpdatedAt)
		}
		got, err := db.FindNumber(ctx, gb1)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, n) {
			t.Errorf("stored\n%+v\nwant\n%+v", got, n)
		}
	})

	t.Run("KeepsGivenTimes", func(t *testing.T) {
		db := MustOpenDB(t)
		at := time.Date(2029, 5, 6, 7, 8, 9, 10000, time.FixedZone("X", 3600)) // PostgreSQL keeps microseconds
		n := &maskcall.Number{Number: gb1, Status: maskcall.NumberActive, CreatedAt: at, UpdatedAt: at}
		if err := db.CreateNumber(ctx, n); err != nil {
			t.Fatal(err)
		}
		got, err := db.FindNumber(ctx, gb1)
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
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		err := db.CreateNumber(ctx, &maskcall.Number{Number: gb1, Status: maskcall.NumberPurchasing})
		assertCode(t, err, maskcall.ECONFLICT)
	})

	t.Run("RevivesReleased", func(t *testing.T) {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		c := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		if _, err := db.EndConversation(ctx, c.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		released := maskcall.NumberReleased
		if _, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &released}); err != nil {
			t.Fatal(err)
		}
		n := &maskcall.Number{Number: gb1, Country: "GB", Type: "landline", Status: maskcall.NumberPurchasing,
			CreatedAt: t0.Add(time.Hour)}
		if err := db.CreateNumber(ctx, n); err != nil {
			t.Fatal(err)
		}
		got, err := db.FindNumber(ctx, gb1)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != maskcall.NumberPurchasing || got.Type != "landline" || !got.CreatedAt.Equal(t0.Add(time.Hour)) || got.AppID != "" {
			t.Errorf("revived = %+v", got)
		}
		// The old conversation still points at the same row.
		if old, err := db.FindConversationByID(ctx, c.ID); err != nil || old.Participants[0].ProxyNumber != gb1 {
			t.Errorf("old conversation: %+v %v", old, err)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		db := MustOpenDB(t)
		assertCode(t, db.CreateNumber(ctx, &maskcall.Number{Status: maskcall.NumberActive}), maskcall.EINVALID)
		assertCode(t, db.CreateNumber(ctx, &maskcall.Number{Number: gb1, Status: "sold"}), maskcall.EINVALID)
	})
}

func TestDB_FindNumbers(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	for _, n := range []*maskcall.Number{
		{Number: gb2, Country: "GB", Status: maskcall.NumberActive},
		{Number: us1, Country: "US", Status: maskcall.NumberUnconfigured},
		{Number: gb1, Country: "GB", Status: maskcall.NumberActive},
		{Number: gb3, Country: "GB", Status: maskcall.NumberReleased},
	} {
		if err := db.CreateNumber(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	MustCreateConversation(t, db, t0, 0, gb(alice, "a"), us(carol, "c"))
	MustCreateConversation(t, db, t0, 0, gb(bob, "b"), us(dave, "d"))

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
			ns, err := db.FindNumbers(ctx, tc.filter)
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
		ns, err := db.FindNumbers(ctx, maskcall.NumberFilter{Status: &active})
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
		_, err := db.FindNumber(ctx, "+440000")
		assertCode(t, err, maskcall.ENOTFOUND)
	})
}

func TestDB_UpdateNumber(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		db.Now = func() time.Time { return t0.Add(time.Minute) }
		st, app, typ, cost := maskcall.NumberUnconfigured, "", "landline", "1.20"
		got, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &st, AppID: &app, Type: &typ,
			Features: []string{"VOICE"}, Cost: &cost})
		if err != nil {
			t.Fatal(err)
		}
		want := &maskcall.Number{Number: gb1, Country: "GB", Type: typ, Features: []string{"VOICE"}, Cost: cost,
			Status: st, CreatedAt: t0, UpdatedAt: t0.Add(time.Minute)}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("updated\n%+v\nwant\n%+v", got, want)
		}
		if stored, err := db.FindNumber(ctx, gb1); err != nil || !reflect.DeepEqual(stored, want) {
			t.Errorf("stored\n%+v\nwant\n%+v (%v)", stored, want, err)
		}
	})

	t.Run("NilLeavesAlone", func(t *testing.T) {
		db := MustOpenDB(t)
		n := MustCreateNumber(t, db, gb1, "GB")
		got, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Features, n.Features) || got.Status != n.Status || got.AppID != n.AppID {
			t.Errorf("changed: %+v", got)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		db := MustOpenDB(t)
		_, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{})
		assertCode(t, err, maskcall.ENOTFOUND)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		st := maskcall.NumberStatus("gone")
		_, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &st})
		assertCode(t, err, maskcall.EINVALID)
	})
}

func TestDB_DeleteNumber(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.CreateNumber(ctx, &maskcall.Number{Number: gb1, Country: "GB", Status: maskcall.NumberPurchasing}); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteNumber(ctx, gb1); err != nil {
			t.Fatal(err)
		}
		_, err := db.FindNumber(ctx, gb1)
		assertCode(t, err, maskcall.ENOTFOUND)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		db := MustOpenDB(t)
		assertCode(t, db.DeleteNumber(ctx, gb1), maskcall.ENOTFOUND)
	})

	t.Run("ErrConflict", func(t *testing.T) {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		c := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		// Only a purchasing number can go: rented again, say, after its
		// release, and the purchase failed.
		purchasing := maskcall.NumberPurchasing
		if _, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &purchasing}); err != nil {
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
