package sandbox

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serveOpened serves an opened sandbox until the test ends or stop is
// called.
func serveOpened(t *testing.T, cfg Config) (sb *Sandbox, base string, stop func()) {
	t.Helper()
	sb, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer("127.0.0.1:0", sb)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Close()
		}
	}
	t.Cleanup(stop)
	return sb, srv.URL(), stop
}

// A restarted sandbox with a state file still owns what it bought, with
// the settings maskcall gave the numbers, and has the balance it had.
func TestStateFileKeepsTheAccount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	cfg := Config{APIKey: testKey, APISecret: testSecret, StateFile: path}

	sb, base, stop := serveOpened(t, cfg)
	wantNumbersReply(t, postForm(t, base, "/number/buy", creds("country", "GB", "msisdn", "447700900000")), http.StatusOK, "200")
	wantNumbersReply(t, postForm(t, base, "/number/update", creds("country", "GB", "msisdn", "447700900000", "app_id", testAppID)), http.StatusOK, "200")
	balance := sb.Balance()
	stop()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v", fi, err)
	}

	sb, base, stop = serveOpened(t, cfg)
	owned := sb.OwnedNumbers()
	if len(owned) != 1 || owned[0].MSISDN != "447700900000" || owned[0].AppID != testAppID {
		t.Fatalf("after the restart the account owns %+v", owned)
	}
	if got := sb.Balance(); got != balance || got == DefaultBalance {
		t.Fatalf("balance %v after the restart, want %v", got, balance)
	}
	// The owned number is no longer offered; buying it again is refused.
	if strings.Contains(string(get(t, base, "/number/search", creds("country", "GB", "pattern", "447700900000", "search_pattern", "0")).body), `"447700900000"`) {
		t.Fatal("search offers a number the account owns")
	}
	r := postForm(t, base, "/number/buy", creds("country", "GB", "msisdn", "447700900000"))
	if r.status == http.StatusOK {
		t.Fatalf("bought an owned number again: %s", r.body)
	}

	// Cancelling and resetting are remembered too.
	wantNumbersReply(t, postForm(t, base, "/number/cancel", creds("country", "GB", "msisdn", "447700900000")), http.StatusOK, "200")
	stop()
	sb, base, stop = serveOpened(t, cfg)
	if owned := sb.OwnedNumbers(); len(owned) != 0 {
		t.Fatalf("a cancelled number came back: %+v", owned)
	}
	wantNumbersReply(t, postForm(t, base, "/number/buy", creds("country", "GB", "msisdn", "447700900001")), http.StatusOK, "200")
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/reset", nil), http.StatusNoContent)
	stop()
	sb, _, _ = serveOpened(t, cfg)
	if owned, b := sb.OwnedNumbers(), sb.Balance(); len(owned) != 0 || b != DefaultBalance {
		t.Fatalf("after a reset and a restart: owned %+v, balance %v", owned, b)
	}
}

func TestStateFileRefusesGarbage(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"not json":      "{",
		"other version": `{"version":99,"balance":1,"owned":[]}`,
		"unknown field": `{"version":1,"balance":1,"owned":[],"x":1}`,
		"bad number":    `{"version":1,"balance":1,"owned":[{"country":"GB","msisdn":"12ab"}]}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(Config{StateFile: path}); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	// Without a state file the sandbox keeps nothing on disk.
	sb, err := Open(Config{})
	if err != nil || sb.Save() != nil {
		t.Fatal(err)
	}
}
