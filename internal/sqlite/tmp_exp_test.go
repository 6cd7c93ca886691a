package sqlite

import (
	"context"
	"testing"
	"time"
)

func BenchmarkExpRouteNoTx(b *testing.B) {
	db := MustOpenDB(b)
	s := MustSeedConversations(b, db, 100_000, 1000)
	ctx := context.Background()
	now := formatTime(t0.Add(time.Hour))
	i := 0
	for b.Loop() {
		i = (i + 7919) % s.n
		var id, a, c, p, l, a2, c2, p2, l2 string
		if err := db.routeStmt.QueryRowContext(ctx, seedA(i), seedPool(i%s.poolSize), now).Scan(&id, &a, &c, &p, &l, &a2, &c2, &p2, &l2); err != nil {
			b.Fatal(err)
		}
	}
}
func BenchmarkExpBeginCommit(b *testing.B) {
	db := MustOpenDB(b)
	ctx := context.Background()
	for b.Loop() {
		tx, err := db.beginRead(ctx, t0)
		if err != nil {
			b.Fatal(err)
		}
		tx.Commit()
	}
}

func BenchmarkExpRouteTxStmt(b *testing.B) {
	db := MustOpenDB(b)
	s := MustSeedConversations(b, db, 100_000, 1000)
	ctx := context.Background()
	now := formatTime(t0.Add(time.Hour))
	i := 0
	for b.Loop() {
		i = (i + 7919) % s.n
		tx, _ := db.beginRead(ctx, t0)
		st := tx.StmtContext(ctx, db.routeStmt)
		var id, a, c, p, l, a2, c2, p2, l2 string
		if err := st.QueryRowContext(ctx, seedA(i), seedPool(i%s.poolSize), now).Scan(&id, &a, &c, &p, &l, &a2, &c2, &p2, &l2); err != nil {
			b.Fatal(err)
		}
		tx.Commit()
	}
}
func BenchmarkExpRouteTxPrepare(b *testing.B) {
	db := MustOpenDB(b)
	s := MustSeedConversations(b, db, 100_000, 1000)
	ctx := context.Background()
	now := formatTime(t0.Add(time.Hour))
	i := 0
	for b.Loop() {
		i = (i + 7919) % s.n
		tx, _ := db.beginRead(ctx, t0)
		var id, a, c, p, l, a2, c2, p2, l2 string
		if err := tx.QueryRowContext(ctx, routeQuery, seedA(i), seedPool(i%s.poolSize), now).Scan(&id, &a, &c, &p, &l, &a2, &c2, &p2, &l2); err != nil {
			b.Fatal(err)
		}
		tx.Commit()
	}
}
