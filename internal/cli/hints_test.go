package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/spf13/cobra"
)

var (
	backticked = regexp.MustCompile("`([^`]*)`")
	flagName   = regexp.MustCompile(`(^|\s)--([a-z][a-z-]*)`)
	configRef  = regexp.MustCompile(`\b(db|(vonage|sms|conversation|serve|voice)\.[a-z_]+)\b`)
)

// commands returns every command of the tree.
func commands(root *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{root}
	for _, c := range root.Commands() {
		out = append(out, commands(c)...)
	}
	return out
}

// checkAdvice fails if advice shown after a failure of cmd names a flag cmd
// does not have, a command that does not exist (or a flag that command
// lacks), or a setting maskcall does not read.
func checkAdvice(t *testing.T, root, cmd *cobra.Command, advice string) {
	t.Helper()
	where := cmd.CommandPath()
	for _, m := range backticked.FindAllStringSubmatch(advice, -1) {
		words := strings.Fields(m[1])
		if len(words) == 0 || words[0] != "maskcall" {
			continue
		}
		var path []string
		for _, w := range words[1:] {
			if strings.HasPrefix(w, "-") {
				break
			}
			path = append(path, w)
		}
		target, rest, err := root.Find(path)
		if err != nil || target == root {
			t.Errorf("after %s, advice %q names a command that does not exist: %q", where, advice, m[1])
			continue
		}
		if len(rest) > 1 || (len(rest) == 1 && target.HasSubCommands()) { // one argument (an id) to a leaf is fine
			t.Errorf("after %s, advice %q: %q is not a command", where, advice, m[1])
		}
		for _, f := range flagName.FindAllStringSubmatch(m[1], -1) {
			if target.Flags().Lookup(f[2]) == nil {
				t.Errorf("after %s, advice %q names --%s, which %s does not have", where, advice, f[2], target.CommandPath())
			}
		}
	}
	bare := backticked.ReplaceAllString(advice, "")
	for _, f := range flagName.FindAllStringSubmatch(bare, -1) {
		if cmd.Flags().Lookup(f[2]) == nil {
			t.Errorf("after %s, advice %q names --%s, which that command does not have", where, advice, f[2])
		}
	}
	for _, k := range configRef.FindAllString(bare, -1) {
		if _, ok := lookupKey(k); !ok {
			t.Errorf("after %s, advice %q names the setting %s, which maskcall does not read", where, advice, k)
		}
	}
}

// TestHints_NameOnlyWhatExists gives every entry of the hint table every
// command of the tree as context: the advice may name only flags of that
// command, real commands with their real flags, and real settings.
func TestHints_NameOnlyWhatExists(t *testing.T) {
	root := NewCmdRoot(NewFactory(&IOStreams{}))
	codes := []string{maskcall.EINVALID, maskcall.ECONFIG, maskcall.EUPSTREAM, maskcall.EUNAVAILABLE, maskcall.EVONAGEAUTH}
	for _, cmd := range commands(root) {
		for key, f := range hints {
			cs := []string{key.code}
			if key.code == "" {
				cs = codes
			}
			for _, code := range cs {
				for _, fields := range []map[string]string{nil, {"country": "GB", "setting": "vonage.rest_url"}} {
					e := &maskcall.Error{Code: code, Reason: key.reason, Fields: fields, Message: "x"}
					advice := f(hintContext{cmd}, e)
					if advice != "" && !strings.HasSuffix(advice, ".") {
						t.Errorf("hint %v after %s = %q, want a sentence", key, cmd.CommandPath(), advice)
					}
					checkAdvice(t, root, cmd, advice)
				}
			}
		}
		for _, advice := range reconcileAdvice {
			checkAdvice(t, root, root, strings.TrimPrefix(advice, "none"))
		}
	}
}

// TestHints_CheckerCatchesWrongAdvice shows the checker above fails on the
// two wrong hints issue 8 found.
func TestHints_CheckerCatchesWrongAdvice(t *testing.T) {
	root := NewCmdRoot(NewFactory(&IOStreams{}))
	release, _, _ := root.Find([]string{"numbers", "release"})
	configure, _, _ := root.Find([]string{"numbers", "configure"})
	for _, tc := range []struct {
		cmd    *cobra.Command
		advice string
	}{
		{release, "Write it in international form such as +44 7700 900123, or pass --country for a national form."},
		{configure, "Set vonage.application_id (VONAGE_APPLICATION_ID, or --application-id in maskcall.yaml)."},
		{configure, "Run `maskcall numbers import --bogus` first."},
		{configure, "Run `maskcall numbers adopt` first."},
		{configure, "Set vonage.app_id."},
	} {
		ft := &testing.T{}
		done := make(chan struct{})
		go func() { defer close(done); checkAdvice(ft, root, tc.cmd, tc.advice) }()
		<-done
		if !ft.Failed() {
			t.Errorf("checkAdvice accepted %q after %s", tc.advice, tc.cmd.CommandPath())
		}
	}
}

// TestHints_ThroughTheBinaryPath runs failing command lines in-process and
// checks the advice users see, message and hint together.
func TestHints_ThroughTheBinaryPath(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(*testEnv)
		args     []string
		wantCode int
		want     []string
		notWant  []string
	}{
		{name: "ConfigureWithoutApplication",
			setup:    func(e *testEnv) { e.createDB(); t.Setenv("VONAGE_APPLICATION_ID", "") },
			args:     []string{"numbers", "configure"},
			wantCode: exitConfig,
			want:     []string{"No voice application is configured to link numbers to. Set vonage.application_id (VONAGE_APPLICATION_ID)."},
			notWant:  []string{"--application-id", "--no-configure"}},
		{name: "ProvisionWithoutApplication",
			setup:    func(*testEnv) { t.Setenv("VONAGE_APPLICATION_ID", "") },
			args:     []string{"numbers", "provision", "--country", "GB", "--count", "1"},
			wantCode: exitConfig,
			want:     []string{"Set vonage.application_id (VONAGE_APPLICATION_ID), or pass --no-configure."}},
		{name: "ReleaseNationalNumber",
			args:     []string{"numbers", "release", "07700900003"},
			wantCode: exitUsage,
			want:     []string{"Write it in international form such as +44 7700 900123."},
			notWant:  []string{"--country"}},
		{name: "CreateNationalNumber",
			args:     []string{"conversation", "create", "07700900123", "07700900456"},
			wantCode: exitUsage,
			want:     []string{"NUMBER_A: ", "or pass --country for a national form."}},
		{name: "CreateWithEmptyPool",
			args:     []string{"conversation", "create", "+447700900123", "+447700900456", "--no-sms", "--insight", "none"},
			wantCode: exitError,
			want:     []string{"No pool number is free for", "Rent more with `maskcall numbers provision --country GB --count 1`, or pass --auto-provision."}},
		{name: "WrongAPIKey",
			setup:    func(*testEnv) { t.Setenv("VONAGE_API_KEY", "wrong") },
			args:     []string{"numbers", "search", "--country", "GB"},
			wantCode: exitAuth,
			want:     []string{"Vonage rejected the API key and secret", "Check vonage.api_key (VONAGE_API_KEY) and vonage.api_secret (VONAGE_API_SECRET)."}},
		{name: "ReleaseUnknownNumber",
			setup:    (*testEnv).createDB,
			args:     []string{"numbers", "release", "+447700900999"},
			wantCode: exitError,
			want:     []string{"+447700900999 is not in the pool. Run `maskcall numbers list` to see the pool."}},
		{name: "ConfigureUnknownNumber",
			setup:    (*testEnv).createDB,
			args:     []string{"numbers", "configure", "+447700900999"},
			wantCode: exitError,
			want:     []string{"+447700900999 is not in the pool. Run `maskcall numbers import` to adopt numbers the account already owns."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			r := e.run(tt.args...)
			if r.Code != tt.wantCode {
				t.Fatalf("exit = %d, want %d; stderr %q", r.Code, tt.wantCode, r.Stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("stderr %q does not contain %q", r.Stderr, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(r.Stderr, w) {
					t.Errorf("stderr %q contains %q", r.Stderr, w)
				}
			}
		})
	}
}

// TestHintFor_Order pins the lookup: a reason the table knows beats an
// adapter's hint, which beats the advice for the code alone; wrapping with
// no reason keeps the inner error's advice.
func TestHintFor_Order(t *testing.T) {
	h := hintContext{}
	inner := maskcall.Errorf(maskcall.EEXHAUSTED, "inner").WithReason("", "country", "GB")
	if got := hintFor(h, inner); !strings.Contains(got, "--country GB") {
		t.Errorf("code alone: %q", got)
	}
	adapter := maskcall.Errorf(maskcall.EUNAVAILABLE, "x").WithHint("Try again later.")
	if got := hintFor(h, adapter); got != "Try again later." {
		t.Errorf("adapter hint: %q", got)
	}
	reasoned := &maskcall.Error{Code: maskcall.EUNAVAILABLE, Message: "outer", Reason: "purchase_unknown", Err: adapter}
	if got := hintFor(h, reasoned); !strings.Contains(got, "numbers reconcile") {
		t.Errorf("reason over inner hint: %q", got)
	}
	wrapped := &maskcall.Error{Code: maskcall.EUNAVAILABLE, Message: "outer", Err: adapter}
	if got := hintFor(h, wrapped); got != "Try again later." {
		t.Errorf("wrapped: %q", got)
	}
	if got := userMessage(h, reasoned); !strings.HasPrefix(got, "outer The purchase") {
		t.Errorf("userMessage = %q", got)
	}
}

// TestHints_EveryReasonHasAdvice scans the production code for the reasons
// errors carry and checks the CLI has advice for each (or deliberately
// none), so a new reason cannot leave users without a next step.
func TestHints_EveryReasonHasAdvice(t *testing.T) {
	noAdvice := map[string]string{
		"provision_tried": "refines pool_exhausted, whose entry reads it",
		"declined":        "the person said no; there is nothing to advise",
		// Set only by the HTTP API (internal/api), whose clients read the
		// problem document's detail; the CLI never shows them.
		"method_not_allowed":      "HTTP API only",
		"read_only_key":           "HTTP API only",
		"idempotency_key":         "HTTP API only",
		"idempotency_in_progress": "HTTP API only",
		"body":                    "HTTP API only",
		"hangup_failed":           "HTTP API only",
	}
	known := map[string]bool{}
	for k := range hints {
		known[k.reason] = true
	}
	for r := range reconcileAdvice {
		known[r] = true
	}
	reasonRE := regexp.MustCompile(`(?:WithReason\(|Reason:\s*|reason\s*:?=\s*|a\.Reason\s*=\s*)"([a-z_]+)"`)
	files, err := filepath.Glob("../*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range reasonRE.FindAllStringSubmatch(string(src), -1) {
			found++
			if !known[m[1]] && noAdvice[m[1]] == "" {
				t.Errorf("%s sets reason %q, which internal/cli/hints.go has no advice for", name, m[1])
			}
		}
	}
	if found < 20 {
		t.Fatalf("found only %d reasons; is the scan looking at the source?", found)
	}
}
