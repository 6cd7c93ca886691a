package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/maskcall/maskcall/internal/procstat"
)

// BenchmarkCallRecordFloor measures what SQLite itself (modernc, in WAL
// mode with synchronous=NORMAL, as serve runs it) costs to keep one call
// record, with none of maskcall's code around it: a hand-made interactions
// table, rows inserted 256 to a transaction (serve's largest batch) and a
// PASSIVE checkpoint every 1,000 rows (serve's checkpointer runs one every
// 100 ms, about that many records at the load test's rate). Each variant adds
// one of the indexes the product reads calls by, or did:
//
//   - table: the rows alone, an append (the floor of any durable row);
//   - uuid: + the unique uuid, which makes a retried answer webhook change
//     nothing and finds an event's call;
//   - history: + (conversation_id, created_at, id), a conversation's calls
//     and the cascade when it is purged;
//   - shipped: + the conversation_uuid index, which holds the calls
//     recorded before migration 0020 only: a new call keeps its conversation
//     uuid in named_conversation_uuid (the schema serve writes: its outbound
//     leg's events name it, call.go);
//   - before-0020: the same indexes, every call's conversation uuid in
//     conversation_uuid, as serve wrote until migration 0020.
//
// The three index keys are random (Vonage's uuids, the conversation a call
// belongs to), so each record dirties about one leaf page of each: one WAL
// frame at the commit and one page copied at the checkpoint. Each variant
// starts from floorRows existing calls over 1,000,000 conversations (the
// load test's largest size). ns/op is the wall time per record (the
// checkpoints' fsyncs included); cpu-ns/record its CPU, from /proc (0 off
// Linux).
//
//	go test -run '^$' -bench CallRecordFloor -benchtime 100000x ./internal/sqlite/
func BenchmarkCallRecordFloor(b *testing.B) {
	const shippedIndexes = `CREATE UNIQUE INDEX i_uuid ON interactions (uuid);
		CREATE INDEX i_conv ON interactions (conversation_id, created_at, id);
		CREATE INDEX i_cuuid ON interactions (conversation_uuid) WHERE conversation_uuid <> ''`
	variants := []struct {
		name    string
		indexes []string
		// into is the column a record's conversation uuid goes to.
		into string
	}{
		{"table", nil, "named_conversation_uuid"},
		{"uuid", []string{`CREATE UNIQUE INDEX i_uuid ON interactions (uuid)`}, "named_conversation_uuid"},
		{"history", []string{`CREATE UNIQUE INDEX i_uuid ON interactions (uuid)`,
			`CREATE INDEX i_conv ON interactions (conversation_id, created_at, id)`}, "named_conversation_uuid"},
		{"shipped", []string{shippedIndexes}, "named_conversation_uuid"},
		{"before-0020", []string{shippedIndexes}, "conversation_uuid"},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			db := mustFloorDB(b, v.indexes, floorInsert(v.into), floorRows)
			ctx := context.Background()
			insert, err := db.Prepare(floorInsert(v.into))
			if err != nil {
				b.Fatal(err)
			}
			defer insert.Close()
			cpu0 := procstat.CPU(os.Getpid())
			b.ResetTimer()
			for done := 0; done < b.N; {
				n := min(256, b.N-done)
				writeFloorBatch(b, db, insert, n, floorRecord)
				if done/1000 != (done+n)/1000 {
					if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
						b.Fatal(err)
					}
				}
				done += n
			}
			b.StopTimer()
			b.ReportMetric((procstat.CPU(os.Getpid())-cpu0)*1e9/float64(b.N), "cpu-ns/record")
		})
	}
}

// floorRows is how many calls each variant's table holds before it is
// timed: the answer phase of the load test writes about 300,000.
const floorRows = 300_000

const floorConversations = 1_000_000

// floorInsert writes a record with its conversation uuid in column into.
func floorInsert(into string) string {
	return `INSERT INTO interactions
	(kind, conversation_id, uuid, ` + into + `, from_number, to_number, status, created_at)
	VALUES ('call', ?, ?, ?, ?, ?, 'started', ?)`
}

// writeFloorBatch writes n records from record with insert, in one
// transaction.
func writeFloorBatch(b *testing.B, db *sql.DB, insert *sql.Stmt, n int, record func() []any) {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	st := tx.StmtContext(ctx, insert)
	for range n {
		if _, err := st.ExecContext(ctx, record()...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

func floorRecord() []any {
	return []any{fmt.Sprintf("cv_seed%08d", rand.IntN(floorConversations)), uuid.NewString(), uuid.NewString(),
		"+447700900123", "+447700900456", time.Now().UTC().Format(time.RFC3339Nano)}
}

// mustFloorDB makes a WAL database in b's temporary directory with the
// interactions table, the given indexes and rows calls written by insert in
// it, checkpointed.
func mustFloorDB(b *testing.B, indexes []string, insert string, rows int) *sql.DB {
	b.Helper()
	path := filepath.Join(b.TempDir(), "floor.db")
	db, err := sql.Open("sqlite", dsn(path, "_pragma=journal_mode(wal)", "_pragma=synchronous(normal)",
		fmt.Sprintf("_pragma=wal_autocheckpoint(%d)", walRestartFrames)))
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	ctx := context.Background()
	schema := `CREATE TABLE interactions (
		id                INTEGER PRIMARY KEY,
		kind              TEXT NOT NULL,
		conversation_id   TEXT NOT NULL,
		uuid              TEXT NOT NULL,
		conversation_uuid TEXT NOT NULL DEFAULT '',
		from_number       TEXT NOT NULL DEFAULT '',
		to_number         TEXT NOT NULL DEFAULT '',
		status            TEXT NOT NULL DEFAULT '',
		duration          INTEGER NOT NULL DEFAULT 0,
		started_at        TEXT,
		ended_at          TEXT,
		created_at        TEXT NOT NULL,
		named_conversation_uuid TEXT NOT NULL DEFAULT '');` + strings.Join(indexes, ";\n")
	if _, err := db.ExecContext(ctx, schema); err != nil {
		b.Fatal(err)
	}
	// The existing calls, in one transaction with room for the index pages.
	if _, err := db.ExecContext(ctx, `PRAGMA cache_size = -262144`); err != nil {
		b.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	st, err := tx.Prepare(insert)
	if err != nil {
		b.Fatal(err)
	}
	for range rows {
		if _, err := st.Exec(floorRecord()...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	// Back to serve's write cache, and an empty WAL to start from.
	if _, err := db.ExecContext(ctx, `PRAGMA cache_size = -8192; PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	return db
}
