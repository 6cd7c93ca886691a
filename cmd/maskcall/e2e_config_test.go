package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 9 item 4: configuration picked up from the working directory is
// announced, and a Vonage URL that would carry the credentials in clear to
// another host is refused.
func TestWorkingDirectoryConfigIsAnnouncedAndInsecureURLsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	yaml := filepath.Join(e.Dir, "maskcall.yaml")
	dotenv := filepath.Join(e.Dir, ".env")
	if err := os.WriteFile(yaml, []byte("vonage:\n  timeout: 15s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dotenv, []byte("MASKCALL_SMS_TEMPLATE=hello {label}\nVONAGE_API_KEY=ignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("Announced", func(t *testing.T) {
		_, errOut := runOK2(t, e, "numbers", "search", "--country", "GB", "--limit", "1")
		if c := strings.Count(errOut, "Using config file "+yaml+"."); c != 1 {
			t.Errorf("stderr names the config file %d times, want once:\n%s", c, errOut)
		}
		// Only what .env really set (the real environment's API key wins).
		if c := strings.Count(errOut, "Using "+dotenv+": MASKCALL_SMS_TEMPLATE."); c != 1 {
			t.Errorf("stderr names .env and what it set %d times, want once:\n%s", c, errOut)
		}
	})
	t.Run("NotForHelpOrCompletion", func(t *testing.T) {
		for _, args := range [][]string{
			{"numbers", "search", "--help"},
			{"__complete", "numbers", "list", "--status", ""},
			{"completion", "bash"},
			{"config", "show"}, // says it itself, in its own words
		} {
			if _, errOut := runOK2(t, e, args...); strings.Contains(errOut, "Using") {
				t.Errorf("maskcall %s printed a config notice:\n%s", strings.Join(args, " "), errOut)
			}
		}
	})

	t.Run("InsecureURLRefused", func(t *testing.T) {
		// The file's URL must count, so the test environment's goes.
		noEnvURL := e.without("VONAGE_REST_URL")
		if err := os.WriteFile(yaml, []byte("vonage:\n  rest_url: http://192.0.2.10:4099\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(yaml) })
		before := len(e.SB.Requests())
		_, line := runFail(t, noEnvURL, 3, "numbers", "search", "--country", "GB")
		for _, want := range []string{"vonage.rest_url", "http://192.0.2.10:4099", "file maskcall.yaml", "unencrypted", "https://", "vonage.allow_insecure_url"} {
			if !strings.Contains(line, want) {
				t.Errorf("error %q does not mention %q", line, want)
			}
		}
		if len(e.SB.Requests()) != before {
			t.Errorf("a request was sent despite the refusal")
		}
		// Loopback http (the sandbox, as `maskcall sandbox` prints it) works.
		if err := os.WriteFile(yaml, []byte("vonage:\n  rest_url: "+strings.Replace(e.URL, "127.0.0.1", "localhost", 1)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		runOK(t, noEnvURL, "numbers", "search", "--country", "GB", "--limit", "1")
		// Every Vonage URL is checked, not only the one search uses.
		_, line = runFail(t, e.with("VONAGE_API_URL", "http://[2001:db8::1]/"), 3, "numbers", "search", "--country", "GB")
		if !strings.Contains(line, "vonage.api_url") {
			t.Errorf("an insecure vonage.api_url was not refused: %q", line)
		}
		// The explicit setting lifts the refusal: the request is then
		// tried (and fails, as nothing listens there).
		if err := os.WriteFile(yaml, []byte("vonage:\n  rest_url: http://192.0.2.10:4099\n  allow_insecure_url: true\n  timeout: 200ms\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, line = runFail(t, noEnvURL, 1, "numbers", "search", "--country", "GB")
		if strings.Contains(line, "unencrypted") {
			t.Errorf("vonage.allow_insecure_url: true did not lift the refusal: %q", line)
		}
	})
}

// Issue 9 item 5: a database others can read is tightened (with a warning);
// config show hides passwords in URLs.
func TestFilesArePrivateAndURLPasswordsMasked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "1")
	for _, p := range []string{e.DB, e.DB + "-wal", e.DB + "-shm"} {
		if _, err := os.Stat(p); os.IsNotExist(err) {
			if err := os.WriteFile(p, nil, 0o600); err != nil { // as an earlier run may leave them
				t.Fatal(err)
			}
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, errOut := runOK2(t, e, "numbers", "list")
	for _, p := range []string{e.DB, e.DB + "-wal", e.DB + "-shm"} {
		// SQLite removes -wal and -shm when the last connection closes.
		fi, err := os.Stat(p)
		if os.IsNotExist(err) && p != e.DB {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v after a command, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
		if !strings.Contains(errOut, p+" had mode 0644") {
			t.Errorf("no warning about %s:\n%s", p, errOut)
		}
	}
	if _, errOut := runOK2(t, e, "numbers", "list"); strings.Contains(errOut, "Warning") {
		t.Errorf("warned again about a private database:\n%s", errOut)
	}

	masked := e.with("VONAGE_REST_URL", "https://maskuser:s3cr3t-pw@rest.example.com/").
		with("VONAGE_API_URL", "https://only-user@api.example.com").
		with("MASKCALL_SERVE_PUBLIC_URL", "https://ops:hunter22@calls.example.com")
	for _, args := range [][]string{{"config", "show"}, {"config", "show", "-o", "json"}} {
		out, errOut := runOK2(t, masked, args...)
		all := out + errOut
		for _, secret := range []string{"s3cr3t-pw", "hunter22"} {
			if strings.Contains(all, secret) {
				t.Errorf("maskcall %s shows the password %q:\n%s", strings.Join(args, " "), secret, all)
			}
		}
		for _, want := range []string{"https://maskuser:xxxxx@rest.example.com/", "https://only-user@api.example.com", "https://ops:xxxxx@calls.example.com"} {
			if !strings.Contains(out, want) {
				t.Errorf("maskcall %s: %q missing:\n%s", strings.Join(args, " "), want, out)
			}
		}
	}
}

// Issue 9 item 13: commands that only read refuse a missing database and
// create nothing; those that write create it; serve says what it serves.
func TestMissingDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	missing := filepath.Join(t.TempDir(), "nonexistent", "x", "m.db")
	for _, args := range [][]string{
		{"numbers", "list"},
		{"numbers", "configure"},
		{"numbers", "release", "+447700900000"},
		{"conversation", "list"},
		{"conversation", "show", "c_123"},
		{"conversation", "end", "c_123"},
	} {
		_, line := runFail(t, e, 3, append(args, "--db", missing)...)
		for _, want := range []string{"no database at " + missing, "flag --db", "numbers provision"} {
			if !strings.Contains(line, want) {
				t.Errorf("maskcall %s: error %q does not say %q", strings.Join(args, " "), line, want)
			}
		}
	}
	_, line := runFail(t, e.with("MASKCALL_DB", missing), 3, "numbers", "list")
	if !strings.Contains(line, "env MASKCALL_DB") {
		t.Errorf("error %q does not say where the path came from", line)
	}
	runOK(t, e, "numbers", "search", "--country", "GB", "--db", missing)
	if _, err := os.Stat(filepath.Dir(filepath.Dir(missing))); !os.IsNotExist(err) {
		t.Fatalf("reading commands created %s (%v)", filepath.Dir(missing), err)
	}

	// serve on a new database: it says which, and that its pool is empty.
	fresh := e.with("MASKCALL_DB", missing)
	s := startServe(t, fresh)
	if err := s.stderr.String(); !strings.Contains(err, "Database: "+missing+" (env MASKCALL_DB, new and empty)") ||
		!strings.Contains(err, "no active numbers") {
		t.Errorf("serve's stderr does not name its new, empty database:\n%s", err)
	}
	s.stop()

	// A writing command creates it; then serve has nothing to warn about.
	runOK(t, fresh, "numbers", "provision", "--country", "GB", "--count", "1")
	if fi, err := os.Stat(filepath.Dir(missing)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("database directory: %v, %v; want it created 0700", fi, err)
	}
	s = startServe(t, fresh)
	if err := s.stderr.String(); !strings.Contains(err, "Database: "+missing+" (env MASKCALL_DB)") || strings.Contains(err, "no active numbers") {
		t.Errorf("serve's stderr:\n%s", err)
	}
	s.stop()
	if n := listNumbers(t, fresh, ""); len(n) != 1 {
		t.Fatalf("pool = %+v", n)
	}
}
