package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	msqlite "modernc.org/sqlite"

	"github.com/maskcall/maskcall/internal/procstat"
)

// BenchmarkCallRecordStaging asks whether any layout avoids what
// BenchmarkCallRecordFloor's history variant pays per call record: about
// one random leaf page per index dirtied, written to the WAL at the commit
// and copied back at the checkpoint. Each variant starts from the same
// floorRows calls (mustFloorDB), writes records 256 to a transaction and
// runs a PASSIVE checkpoint every 1,000 records unless it says otherwise,
// so its ns/op (wall per record) and cpu-ns/record compare with history's:
//
//   - history: BenchmarkCallRecordFloor's history, through this loop, as the
//     baseline measured in the same run;
//   - staging-M: records go to interactions_staging (the same columns,
//     unique uuid only, so an event still finds a recent call), whose few
//     index pages stay hot; every M records one transaction moves them into
//     interactions ORDER BY uuid and empties the staging table. The bet is
//     that M records spread over the indexes' leaf pages dirty each page
//     once per merge rather than once per record. The merge is timed (it is
//     part of the loop), on a connection with cacheMergeKiB of page cache so
//     that the merge's dirty pages are not spilled mid-transaction;
//   - staging-noidx-M: the same with no index at all on the staging table,
//     the lower bound of staging (an event's lookup would then scan it);
//   - hash-uuid: history with the unique uuid index replaced by a
//     non-unique index on uuid_hash, the uuid's 64-bit FNV-1a, to see
//     whether a smaller key (more of them to a page) costs less per record;
//   - checkpoint-10000: history with a checkpoint every 10,000 records, to
//     see how much of the cost is the checkpoint copying pages back.
//
// Besides the CPU, each variant reports peakRSS-MB, the process's peak RSS
// (VmHWM) so far: cumulative over the sub-benchmarks run before it in the
// process, the prefills' 256 MiB cache included; loopRSS-MB, the peak RSS
// of its timed loop alone (VmHWM reset through /proc/self/clear_refs as the
// timer starts, so what the process already held counts, not what it held
// before); cache-MB, the cache_size of the writing connection;
// cache-spills, the pages SQLite had to write out of a transaction before
// its commit because the cache was full (0 means the cache was big enough);
// and db-MB, the database file's size at the end (4 KiB pages).
//
//	go test -run '^$' -bench CallRecordStaging -benchtime 100000x -count 2 ./internal/sqlite/
func BenchmarkCallRecordStaging(b *testing.B) {
	const (
		uuidIndex = `CREATE UNIQUE INDEX i_uuid ON interactions (uuid)`
		convIndex = `CREATE INDEX i_conv ON interactions (conversation_id, created_at, id)`
		// hashInsert is floorInsert with the uuid's hash, computed by
		// Go in the timed loop (as a writer would) and by SQL in the
		// prefill, which only takes floorRecord's arguments.
		hashInsert = `INSERT INTO interactions
	(kind, conversation_id, uuid, named_conversation_uuid, from_number, to_number, status, created_at, uuid_hash)
	VALUES ('call', ?1, ?2, ?3, ?4, ?5, 'started', ?6, `
	)
	history := []string{uuidIndex, convIndex}
	insert := floorInsert("named_conversation_uuid")
	type variant struct {
		name    string
		indexes []string
		// fill writes the prefilled calls, insert the timed ones.
		fill, insert string
		// hash appends the uuid's hash to a record's arguments.
		hash bool
		// staging creates interactions_staging with these indexes
		// (nil: none) when stage is set; the records go there and move
		// to interactions every mergeEvery.
		stage        bool
		stagingIndex []string
		mergeEvery   int
		checkpoint   int
		// cacheKiB is the timed connection's cache_size (mustFloorDB
		// leaves serve's 8 MiB).
		cacheKiB int
	}
	stagingInsert := strings.Replace(insert, "INSERT INTO interactions", "INSERT INTO interactions_staging", 1)
	stagingUUID := []string{`CREATE UNIQUE INDEX i_staging_uuid ON interactions_staging (uuid)`}
	variants := []variant{
		{name: "history", indexes: history, fill: insert, insert: insert, checkpoint: 1000, cacheKiB: 8192},
		{name: "staging-10000", indexes: history, fill: insert, insert: stagingInsert,
			stage: true, stagingIndex: stagingUUID, mergeEvery: 10_000, checkpoint: 1000, cacheKiB: cacheMergeKiB},
		{name: "staging-50000", indexes: history, fill: insert, insert: stagingInsert,
			stage: true, stagingIndex: stagingUUID, mergeEvery: 50_000, checkpoint: 1000, cacheKiB: cacheMergeKiB},
		{name: "staging-noidx-10000", indexes: history, fill: insert, insert: stagingInsert,
			stage: true, mergeEvery: 10_000, checkpoint: 1000, cacheKiB: cacheMergeKiB},
		{name: "hash-uuid", indexes: []string{
			`ALTER TABLE interactions ADD COLUMN uuid_hash INTEGER NOT NULL DEFAULT 0`,
			`CREATE INDEX i_uuid_hash ON interactions (uuid_hash)`, convIndex},
			fill: hashInsert + `floor_fnv1a64(?2))`, insert: hashInsert + `?7)`, hash: true,
			checkpoint: 1000, cacheKiB: 8192},
		{name: "checkpoint-10000", indexes: history, fill: insert, insert: insert, checkpoint: 10_000, cacheKiB: 8192},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			if v.hash {
				registerFloorHash(b)
			}
			db := mustFloorDB(b, v.indexes, v.fill, floorRows)
			ctx := context.Background()
			var merge []string
			if v.stage {
				merge = mustStaging(b, db, v.stagingIndex)
			}
			if _, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, v.cacheKiB)); err != nil {
				b.Fatal(err)
			}
			ins, err := db.Prepare(v.insert)
			if err != nil {
				b.Fatal(err)
			}
			defer ins.Close()
			record := floorRecord
			if v.hash {
				record = func() []any {
					r := floorRecord()
					return append(r, floorHash(r[1].(string)))
				}
			}
			// The merge, in one transaction.
			flush := func() {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for _, q := range merge {
					if _, err := tx.ExecContext(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			cacheSpills(b, db, true)
			peak := resetPeakRSS()
			cpu0 := procstat.CPU(os.Getpid())
			b.ResetTimer()
			staged := 0
			for done := 0; done < b.N; {
				n := min(256, b.N-done)
				writeFloorBatch(b, db, ins, n, record)
				staged += n
				if v.stage && (done/v.mergeEvery != (done+n)/v.mergeEvery || done+n == b.N) {
					flush()
					staged = 0
				}
				if done/v.checkpoint != (done+n)/v.checkpoint {
					if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
						b.Fatal(err)
					}
				}
				done += n
			}
			b.StopTimer()
			b.ReportMetric((procstat.CPU(os.Getpid())-cpu0)*1e9/float64(b.N), "cpu-ns/record")
			loop := vmHWMMiB()
			floorPeakRSS = max(floorPeakRSS, peak, loop)
			b.ReportMetric(floorPeakRSS, "peakRSS-MB")
			b.ReportMetric(loop, "loopRSS-MB")
			b.ReportMetric(float64(v.cacheKiB)/1024, "cache-MB")
			b.ReportMetric(float64(cacheSpills(b, db, false)), "cache-spills")
			var pages int
			if err := db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(pages)*4096/(1<<20), "db-MB")
			if testing.Verbose() {
				// How many leaf pages a merge's records spread over.
				logLeafPages(b, db)
			}
			if v.stage {
				var left int
				if err := db.QueryRowContext(ctx, `SELECT count(*) FROM interactions_staging`).Scan(&left); err != nil {
					b.Fatal(err)
				}
				if left != 0 || staged != 0 {
					b.Fatalf("%d records left in interactions_staging", left)
				}
			}
		})
	}
}

// cacheMergeKiB is the staging variants' page cache: room for every leaf
// page a merge can dirty (the two indexes of interactions come to about
// 45 MiB of leaves at 400,000 calls); cache-spills shows it was enough.
const cacheMergeKiB = 65536

// mustStaging creates interactions_staging, the interactions table's
// columns with the given indexes, and returns the statements that move its
// rows into interactions, the new calls' ids assigned there in uuid order.
func mustStaging(b *testing.B, db *sql.DB, indexes []string) []string {
	b.Helper()
	ctx := context.Background()
	var schema string
	if err := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'interactions'`).Scan(&schema); err != nil {
		b.Fatal(err)
	}
	// The ALTER TABLEs the variant ran are in the stored CREATE TABLE.
	schema = strings.Replace(schema, "CREATE TABLE interactions", "CREATE TABLE interactions_staging", 1)
	if _, err := db.ExecContext(ctx, schema+";\n"+strings.Join(indexes, ";\n")); err != nil {
		b.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info('interactions') WHERE name <> 'id' ORDER BY cid`)
	if err != nil {
		b.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			b.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	rows.Close()
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	list := strings.Join(cols, ", ")
	return []string{
		`INSERT INTO interactions (` + list + `) SELECT ` + list + ` FROM interactions_staging ORDER BY uuid`,
		`DELETE FROM interactions_staging`,
	}
}

// floorHash is the uuid_hash of a uuid: its 64-bit FNV-1a, as SQLite's
// signed INTEGER.
func floorHash(uuid string) int64 {
	h := fnv.New64a()
	h.Write([]byte(uuid))
	return int64(h.Sum64())
}

var registerHashOnce sync.Once

// registerFloorHash makes floorHash SQL's floor_fnv1a64 for the
// connections opened after it, for mustFloorDB's prefill.
func registerFloorHash(b *testing.B) {
	var err error
	registerHashOnce.Do(func() {
		err = msqlite.RegisterDeterministicScalarFunction("floor_fnv1a64", 1,
			func(_ *msqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
				s, ok := args[0].(string)
				if !ok {
					return nil, fmt.Errorf("floor_fnv1a64: %T, not TEXT", args[0])
				}
				return floorHash(s), nil
			})
	})
	if err != nil {
		b.Fatal(err)
	}
}

// cacheSpills returns db's one connection's count of cache spills, and
// zeroes it if reset.
func cacheSpills(b *testing.B, db *sql.DB, reset bool) int {
	b.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.Raw(func(dc any) error {
		var err error
		n, _, err = dc.(msqlite.DBStatus).Status(msqlite.DBStatusCacheSpill, reset)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return n
}

// floorPeakRSS is the process's peak RSS in MiB up to the last
// resetPeakRSS or read, resets notwithstanding.
var floorPeakRSS float64

// resetPeakRSS returns the peak RSS so far and, where Linux allows, starts
// VmHWM again from the current RSS.
func resetPeakRSS() float64 {
	peak := vmHWMMiB()
	// On failure VmHWM just keeps counting from the process start.
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	return peak
}

// vmHWMMiB returns VmHWM from /proc/self/status in MiB; 0 if unreadable.
func vmHWMMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// logLeafPages logs each index's and table's leaf pages, from dbstat.
func logLeafPages(b *testing.B, db *sql.DB) {
	b.Helper()
	rows, err := db.Query(`SELECT name, count(*) FROM dbstat WHERE pagetype = 'leaf' GROUP BY name ORDER BY name`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var leaves []string
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			b.Fatal(err)
		}
		leaves = append(leaves, fmt.Sprintf("%s %d", name, n))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	b.Logf("leaf pages: %s", strings.Join(leaves, ", "))
}
