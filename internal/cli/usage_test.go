package cli

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
)

// errLine is the one "maskcall: " line of a failed run's stderr, which
// must be the last line but for the usage pointer.
func errLine(t *testing.T, stderr string) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	var found []int
	for i, l := range lines {
		if strings.HasPrefix(l, "maskcall: ") {
			found = append(found, i)
		}
	}
	if len(found) != 1 {
		t.Fatalf("stderr has %d \"maskcall: \" lines, want 1:\n%s", len(found), stderr)
	}
	if rest := lines[found[0]+1:]; len(rest) > 1 || (len(rest) == 1 && rest[0] != "Run with --help for usage.") {
		t.Fatalf("the error line is not the last line of stderr:\n%s", stderr)
	}
	return lines[found[0]]
}

// rawLibraryText is what cobra, pflag, strconv, time and SQLite say in
// their own words; none of it may reach users.
var rawLibraryText = []string{"strconv.", "arg(s)", "time: invalid", "invalid syntax", "SQLITE_", "readonly database", "database is locked", "Unknown help topic"}

// Mistakes in the command line exit 2 with one sentence in maskcall's
// words, open no database and send Vonage nothing. (Moved here from the
// subprocess suite: they test parsing, not the binary.)
func TestRun_UsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"numbers", "list", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"numbers", "list", "-o", "yaml"}, `--output must be table or json, not "yaml"`},
		{[]string{"numbers", "list", "-o"}, "-o/--output needs a value."},
		{[]string{"conversation", "list", "--status", "weird"}, "--status must be"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"numbers", "frobnicate"}, `unknown command "frobnicate" for "maskcall numbers"`},
		{[]string{"numbers", "releas", "+447700900001"}, "did you mean release?"},
		{[]string{"numbers", "list", "extra"}, "maskcall numbers list takes no arguments"},
		{[]string{"conversation", "show"}, "maskcall: conversation show takes 1 argument (ID), got 0."},
		{[]string{"conversation", "create", "+447700900123"}, "maskcall: conversation create takes 2 arguments (NUMBER_A NUMBER_B), got 1."},
		{[]string{"numbers", "rent", "--country", "GB"}, "numbers rent takes at least 1 argument (--country CC NUMBER...), got 0."},
		{[]string{"numbers", "provision", "--count", "1"}, `required flag(s) "country" not set`},
		{[]string{"numbers", "provision", "--country", "GB", "--count", "abc"}, `maskcall: --count takes a whole number, not "abc".`},
		{[]string{"conversation", "list", "--limit", "x"}, `--limit takes a whole number, not "x".`},
		{[]string{"conversation", "create", "+447700900123", "+447700900456", "--ttl", "abc"}, `maskcall: --ttl takes a duration such as 90m, 2h or 7d, not "abc".`},
		{[]string{"conversation", "create", "+447700900123", "+447700900456", "--no-sms=maybe"}, `--no-sms takes true or false, not "maybe".`},
		{[]string{"conversation", "purge", "--ended-before", "30 days"}, `--ended-before takes a duration such as 90m, 2h or 7d, not "30 days".`},
		{[]string{"help", "bogus"}, `maskcall: No help topic "bogus"; run ` + "`maskcall help`" + ` for the list of commands.`},
		{[]string{"help", "numbers", "bogus"}, `No help topic "numbers bogus"`},
	}
	e := newTestEnv(t)
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := e.run(tt.args...)
			if r.Code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %q", r.Code, exitUsage, r.Stderr)
			}
			line := errLine(t, r.Stderr)
			if !strings.Contains(line, tt.want) {
				t.Errorf("error %q does not contain %q", line, tt.want)
			}
			for _, raw := range rawLibraryText {
				if strings.Contains(r.Stderr, raw) {
					t.Errorf("stderr shows library text %q: %q", raw, r.Stderr)
				}
			}
			if r.Stdout != "" {
				t.Errorf("stdout %q on a usage error", r.Stdout)
			}
		})
	}
	if _, err := os.Stat(e.DB); !os.IsNotExist(err) {
		t.Errorf("a usage error created the database")
	}
	if n := len(e.SB.Requests()); n != 0 {
		t.Errorf("usage errors sent %d requests to Vonage", n)
	}
}

// Help walks every command, each with examples, and needs no database or
// credentials.
func TestRun_Help(t *testing.T) {
	e := newTestEnv(t)
	for _, k := range []string{"VONAGE_API_KEY", "VONAGE_API_SECRET"} {
		t.Setenv(k, "")
	}
	root := e.must("--help").Stdout
	for _, w := range []string{"numbers", "conversation", "serve", "sandbox"} {
		if !strings.Contains(root, w) {
			t.Errorf("maskcall --help does not mention %s", w)
		}
	}
	seen := 0
	var walk func(path []string, help string)
	walk = func(path []string, help string) {
		seen++
		if !strings.Contains(help, "Examples:") {
			t.Errorf("maskcall %s --help has no Examples:\n%s", strings.Join(path, " "), help)
		}
		for _, sub := range availableCommands(help) {
			if len(path) > 0 && path[len(path)-1] == "help" {
				continue
			}
			p := append(slices.Clone(path), sub)
			walk(p, e.must(append(p, "--help")...).Stdout)
		}
	}
	walk(nil, root)
	if seen < 20 {
		t.Errorf("walked only %d commands", seen)
	}
	if got := e.must("help", "conversation", "create").Stdout; !strings.Contains(got, "Pair two real numbers") {
		t.Errorf("help conversation create = %q", got)
	}
	if _, err := os.Stat(e.DB); !os.IsNotExist(err) {
		t.Errorf("--help created the database")
	}
}

// availableCommands lists the subcommands a help text shows.
func availableCommands(help string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(line, "Available Commands:"):
			in = true
		case in && strings.TrimSpace(line) == "":
			return out
		case in:
			if f := strings.Fields(line); len(f) > 0 {
				out = append(out, f[0])
			}
		}
	}
	return out
}

// Bad input and bad credentials change nothing: no purchase, no pool row,
// nothing but reads sent to Vonage, nothing on stdout, no secret shown.
// (Moved here from the subprocess suite.)
func TestRun_BadInputChangesNothing(t *testing.T) {
	const wrongSecret = "not-the-secret-9z"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		exit int
		want []string
	}{
		{"UnknownCountry", nil, []string{"numbers", "provision", "--country", "XX", "--count", "1"}, exitUsage, []string{`"XX"`}},
		{"UnknownCountrySearch", nil, []string{"numbers", "search", "--country", "XX"}, exitUsage, []string{`"XX"`}},
		{"MalformedNumber", nil, []string{"numbers", "rent", "--country", "GB", "44770090abc"}, exitUsage, []string{"44770090abc"}},
		{"TooShortNumber", nil, []string{"numbers", "rent", "--country", "GB", "+44123"}, exitUsage, []string{"+44123"}},
		{"CountZero", nil, []string{"numbers", "provision", "--country", "GB", "--count", "0"}, exitUsage, []string{"--count"}},
		{"CountMissing", nil, []string{"numbers", "provision", "--country", "GB"}, exitUsage, []string{"count"}},
		{"BadFeatures", nil, []string{"numbers", "provision", "--country", "GB", "--count", "1", "--features", "FAX"}, exitUsage, []string{"FAX"}},
		{"MissingAPIKey", map[string]string{"VONAGE_API_KEY": ""}, []string{"numbers", "provision", "--country", "GB", "--count", "2"}, exitConfig,
			[]string{"vonage.api_key", "VONAGE_API_KEY", "maskcall.yaml", ".env"}},
		{"MissingAPISecret", map[string]string{"VONAGE_API_SECRET": ""}, []string{"numbers", "search", "--country", "GB"}, exitConfig,
			[]string{"vonage.api_secret", "VONAGE_API_SECRET"}},
		{"WrongSecret", map[string]string{"VONAGE_API_SECRET": wrongSecret}, []string{"numbers", "provision", "--country", "GB", "--count", "2"}, exitAuth,
			[]string{"rejected", "vonage.api_key", "vonage.api_secret"}},
		{"WrongKey", map[string]string{"VONAGE_API_KEY": "nosuchkey"}, []string{"numbers", "search", "--country", "GB"}, exitAuth, []string{"rejected"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := e.run(tt.args...)
			if r.Code != tt.exit {
				t.Fatalf("exit %d, want %d: %s", r.Code, tt.exit, r.Stderr)
			}
			line := errLine(t, r.Stderr)
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("error %q does not mention %q", line, w)
				}
			}
			if strings.Contains(r.Stderr, wrongSecret) {
				t.Errorf("stderr shows the API secret: %q", r.Stderr)
			}
			if strings.TrimSpace(r.Stdout) != "" {
				t.Errorf("stdout is not empty on failure: %q", r.Stdout)
			}
			if got := e.owned(); len(got) != 0 {
				t.Errorf("the sandbox account owns %q", got)
			}
			for _, req := range e.SB.Requests() {
				if req.Method != http.MethodGet {
					t.Errorf("a state-changing request was sent: %s %s", req.Method, req.Path)
				}
			}
			if _, err := os.Stat(e.DB); err == nil { // a usage error opens none
				if got := e.must("numbers", "list", "--status", "all", "-o", "json").Stdout; strings.TrimSpace(got) != "[]" {
					t.Errorf("pool is %s, want empty", got)
				}
			}
		})
	}
}

// Invalid numbers and options of conversation create change nothing and ask
// Vonage nothing. (Moved here from the subprocess suite.)
func TestRun_ConversationInvalid(t *testing.T) {
	e := newTestEnv(t)
	e.provision(2)
	before := len(e.SB.Requests())
	for _, args := range [][]string{
		{"+447700900123", "not-a-number"},
		{"+447700900123", "+44123"},
		{"07700 900123", "+447700900456"}, // national form without --country
		{"+447700900123", "+44 7700 900123"},
		{"+447700900123", "07700 900123", "--country", "GB"},
		{"+447700900123", "+447700900456", "--country", "XX"},
		{"+447700900123", "+447700900456", "--insight", "advanced"},
		{"+447700900123", "+447700900456", "--ttl", "-5m"},
		{"+447700900123", "+447700900456", "--ttl", "30s"},
		{"+447700900123", "+447700900456", "--label-a", "a\x1b[2Jb"},
		{"+447700900123", "+447700900456", "--ref", "r\n1"},
		{"++447700900123", "+447700900456"},
		{"+447700900123"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := e.run(append([]string{"conversation", "create"}, args...)...)
			if r.Code != exitUsage {
				t.Fatalf("exit %d, want 2: %s", r.Code, r.Stderr)
			}
			errLine(t, r.Stderr)
		})
	}
	if got := e.must("conversation", "list", "--status", "all", "-o", "json").Stdout; strings.TrimSpace(got) != "[]" {
		t.Errorf("conversation list --status all -o json = %s, want []", got)
	}
	for _, r := range e.SB.Requests()[before:] {
		t.Errorf("invalid input reached Vonage: %s %s", r.Method, r.Path)
	}
}
