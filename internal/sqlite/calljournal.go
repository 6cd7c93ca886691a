package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// The call journal: serve answers a call once its record is in an
// append-only file, not once the record committed.
//
// Waiting for the group commit before every connect cost half of serve's
// CPU per answer: with 32 calls in flight a commit carried 4 to 7 records,
// each commit writing its B-tree pages to the WAL anew. Not waiting lets a
// commit carry hundreds. What the wait bought was the guarantee that a
// connected call is recorded even if serve is killed right after the
// connect; the journal keeps it: the record is written to the file (one
// write(2), into the operating system's cache, which a SIGKILL does not
// lose) before the NCCO goes out, and the file is replayed into the
// database by the next process that opens it, serve or the CLI. A power
// loss can cost the records of the last moments, as the WAL's unsynced
// commits can (see checkpoint.go): both reach the disk at the next
// checkpoint.
//
// Files are <db>-calls.<generation>. The writing process holds an
// exclusive lock (flock) on its current file, so another process replays
// only the files of a process that is gone. A file is cut over to the next
// generation past journalRotateBytes and removed once every record in it
// committed; at Close, whatever committed is removed.
type callJournal struct {
	mu     sync.Mutex
	base   string // <db>-calls
	f      *os.File
	gen    int
	size   int64
	opened time.Time // of f
	seq    uint64    // of the last record appended
	// rotated files, oldest first, each removed once the records up to
	// last committed.
	rotated []journalFile
	buf     []byte
}

type journalFile struct {
	f    *os.File
	last uint64
}

// journalRotateBytes is how big a journal file grows before the next
// generation starts (a few thousand records).
const journalRotateBytes = 1 << 20

func journalBase(dbPath string) string { return dbPath + "-calls" }

// openCallJournal starts a new generation after any left on disk.
func openCallJournal(dbPath string) (*callJournal, error) {
	j := &callJournal{base: journalBase(dbPath)}
	files, err := journalFiles(j.base)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		j.gen = max(j.gen, f.gen)
	}
	if err := j.next(); err != nil {
		return nil, err
	}
	return j, nil
}

// next opens and locks the next generation's file (j.mu held or not yet
// shared).
func (j *callJournal) next() error {
	j.gen++
	f, err := os.OpenFile(fmt.Sprintf("%s.%d", j.base, j.gen), os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("call journal: %w", err)
	}
	if err := lockFile(f, false); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("call journal: %w", err)
	}
	j.f, j.size, j.opened = f, 0, time.Now()
	return nil
}

// holdsRecords reports whether any journal file holds records.
func (j *callJournal) holdsRecords() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size > 0 || len(j.rotated) > 0
}

// append writes c's record, then queue runs with its sequence number,
// j.mu still held (so records are queued in the order of their numbers).
// admit runs first: its error refuses the record before it is written.
func (j *callJournal) append(c *maskcall.Call, now time.Time, admit func() error, queue func(seq uint64) error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errNotOpen
	}
	if err := admit(); err != nil {
		return err
	}
	if j.size >= journalRotateBytes {
		old := journalFile{f: j.f, last: j.seq}
		if err := j.next(); err != nil {
			j.f = old.f // keep writing where we were
		} else {
			j.rotated = append(j.rotated, old)
		}
	}
	j.buf = appendJournalRecord(j.buf[:0], c, now)
	n, err := j.f.Write(j.buf)
	j.size += int64(n)
	if err != nil {
		// A part of the line may be in the file: the next record starts a
		// file of its own, so that it is not read as the rest of this one.
		old := journalFile{f: j.f, last: j.seq}
		if j.next() == nil {
			j.rotated = append(j.rotated, old)
		}
		return maskcall.Errorf(maskcall.ESTORE, "The call journal could not be written: %v", err)
	}
	j.seq++
	return queue(j.seq)
}

// release lets go of what committed: every record numbered up to upTo.
// The current file, when it holds records, all committed, and is minAge
// old, joins the rotated files; the rotated files whose records all
// committed are removed.
func (j *callJournal) release(upTo uint64, minAge time.Duration) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f != nil && j.size > 0 && j.seq <= upTo && time.Since(j.opened) >= minAge {
		old := journalFile{f: j.f, last: j.seq}
		if j.next() == nil {
			j.rotated = append(j.rotated, old)
		}
	}
	k := 0
	for k < len(j.rotated) && j.rotated[k].last <= upTo {
		f := j.rotated[k].f
		os.Remove(f.Name())
		f.Close()
		k++
	}
	j.rotated = j.rotated[k:]
}

func (j *callJournal) lastSeq() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seq
}

// close closes the journal; allCommitted removes its files, else they stay
// for the next process to replay.
func (j *callJournal) close(allCommitted bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	files := append(j.rotated, journalFile{f: j.f})
	j.rotated, j.f = nil, nil
	for _, jf := range files {
		if jf.f == nil {
			continue
		}
		if allCommitted {
			os.Remove(jf.f.Name())
		}
		jf.f.Close()
	}
}

// A record is a line: "c1" and the fields, each a Go-quoted string or a
// decimal integer, separated by spaces.
func appendJournalRecord(b []byte, c *maskcall.Call, now time.Time) []byte {
	b = append(b, "c1"...)
	for _, s := range []string{c.UUID, c.ConversationUUID, c.ConversationID, c.From, c.To, c.Status} {
		b = append(b, ' ')
		b = strconv.AppendQuote(b, s)
	}
	var started int64
	if c.StartedAt != nil {
		started = c.StartedAt.UnixNano()
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, started, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, now.UnixNano(), 10)
	return append(b, '\n')
}

// parseJournalRecord reads a line of appendJournalRecord.
func parseJournalRecord(line string) (*maskcall.Call, time.Time, error) {
	rest, ok := strings.CutPrefix(line, "c1 ")
	if !ok {
		return nil, time.Time{}, errors.New("not a call record")
	}
	var fields [6]string
	for i := range fields {
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return nil, time.Time{}, err
		}
		if fields[i], err = strconv.Unquote(q); err != nil {
			return nil, time.Time{}, err
		}
		rest = strings.TrimPrefix(rest[len(q):], " ")
	}
	a, b, ok := strings.Cut(rest, " ")
	if !ok {
		return nil, time.Time{}, errors.New("truncated record")
	}
	started, err1 := strconv.ParseInt(a, 10, 64)
	now, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return nil, time.Time{}, errors.New("bad time")
	}
	c := &maskcall.Call{UUID: fields[0], ConversationUUID: fields[1], ConversationID: fields[2], From: fields[3], To: fields[4], Status: fields[5]}
	if started != 0 {
		t := time.Unix(0, started).UTC()
		c.StartedAt = &t
	}
	return c, time.Unix(0, now).UTC(), nil
}

type journalOnDisk struct {
	path string
	gen  int
}

// journalFiles lists base's generations on disk, oldest first.
func journalFiles(base string) ([]journalOnDisk, error) {
	matches, err := filepath.Glob(base + ".*")
	if err != nil {
		return nil, err
	}
	var out []journalOnDisk
	for _, m := range matches {
		g, err := strconv.Atoi(strings.TrimPrefix(m, base+"."))
		if err != nil || g <= 0 {
			continue
		}
		out = append(out, journalOnDisk{m, g})
	}
	sort.Slice(out, func(i, k int) bool { return out[i].gen < out[k].gen })
	return out, nil
}

// replayCallJournals writes the records of every journal file no live
// process holds into the database (a record already there, or whose
// conversation is gone, changes nothing) and removes the file. It runs in
// Open, before anything else writes. It reports how many records it
// wrote.
func (db *DB) replayCallJournals(ctx context.Context) (int, error) {
	files, err := journalFiles(journalBase(db.path))
	if err != nil || len(files) == 0 {
		return 0, err
	}
	written := 0
	for _, jf := range files {
		n, err := db.replayCallJournal(ctx, jf.path)
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

func (db *DB) replayCallJournal(ctx context.Context, path string) (int, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // replayed by another process meanwhile
	} else if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := lockFile(f, true); err != nil {
		if errors.Is(err, errLocked) {
			return 0, nil // its process is alive: its own records
		}
		return 0, err
	}
	// Locked: its writer is gone, or it was removed after replay by
	// another process just before we locked it.
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	tx, err := db.beginWrite(ctx, time.Now())
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	written, bad := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		c, now, err := parseJournalRecord(sc.Text())
		if err != nil {
			bad++ // a torn last line (power loss): nothing was acknowledged by it
			continue
		}
		// In a savepoint: a record whose conversation is gone fails alone.
		err = runInSavepoint(ctx, tx, func(ctx context.Context, tx *Tx) error {
			if err := createCall(ctx, tx, c, now); err != nil {
				return err
			}
			// The journal may be a maskcall's from before migration 0020,
			// whose connect named no call in its eventUrl: the call's
			// conversation uuid goes where such calls' events look for it
			// (one whose events do name it is found by its uuid either way).
			_, err := tx.exec(ctx, nil, `UPDATE interactions
				SET conversation_uuid = named_conversation_uuid, named_conversation_uuid = ''
				WHERE uuid = ? AND named_conversation_uuid <> ''`, c.UUID)
			return err
		})
		var ce *cleanError
		switch {
		case err == nil:
			written++
		case errors.As(err, &ce):
			db.warn(fmt.Sprintf("a journaled call record could not be written (%v); dropped", ce.err))
		default:
			return 0, err
		}
	}
	if bad > 0 {
		db.warn(fmt.Sprintf("%d unreadable lines in the call journal %s skipped", bad, filepath.Base(path)))
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return written, err
	}
	return written, nil
}
