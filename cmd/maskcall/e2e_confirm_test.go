package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/sandbox"
)

// Through the binary, with no terminal (as from cron): destructive commands
// refuse without --yes and change nothing, --dry-run changes nothing, --yes
// goes ahead (issue 9 item 14).
func TestDestructiveCommandsConfirm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "1")
	num := ownedNumbers(e.SB)[0]
	c1 := createConversation(t, e, "+447700900123", "+447700900456")
	createConversation(t, e, "+447700900789", "+447700900111")

	_, line := runFail(t, e, 2, "numbers", "release", num, "--force")
	if !strings.Contains(line, "pass --yes to go ahead") {
		t.Errorf("release --force without a terminal: %q", line)
	}
	_, errOut, code := run(t, e, "numbers", "release", num, "--force", "--dry-run")
	if code != 0 || !strings.Contains(errOut, "Would release "+num+" and end the 2 active conversation(s) using it; nothing was changed") {
		t.Errorf("release --force --dry-run: exit %d, stderr %q", code, errOut)
	}
	if n := len(listConversations(t, e, "active")); n != 2 || !slices.Contains(ownedNumbers(e.SB), num) {
		t.Fatalf("refused or dry-run release changed something: %d active, owned %v", n, ownedNumbers(e.SB))
	}
	runOK(t, e, "conversation", "end", c1.ID)

	_, line = runFail(t, e, 2, "conversation", "purge", "--ended-before", "1ns")
	if !strings.Contains(line, "pass --yes to go ahead") {
		t.Errorf("purge without a terminal: %q", line)
	}
	type purgeJSON struct {
		DryRun bool     `json:"dry_run"`
		Purged int      `json:"purged"`
		IDs    []string `json:"ids"`
	}
	dry := runJSON[purgeJSON](t, e, "conversation", "purge", "--ended-before", "1ns", "--dry-run", "-o", "json")
	if !dry.DryRun || dry.Purged != 1 || !slices.Equal(dry.IDs, []string{c1.ID}) {
		t.Errorf("purge --dry-run -o json = %+v, want %s only", dry, c1.ID)
	}
	if n := len(listConversations(t, e, "all")); n != 2 {
		t.Fatalf("%d conversations after a refused and a dry-run purge, want 2", n)
	}
	done := runJSON[purgeJSON](t, e, "conversation", "purge", "--ended-before", "1ns", "--yes", "-o", "json")
	if done.DryRun || done.Purged != 1 {
		t.Errorf("purge --yes -o json = %+v", done)
	}
	runOK(t, e, "numbers", "release", num, "--force", "--yes")
	if n := len(listConversations(t, e, "active")); n != 0 || slices.Contains(ownedNumbers(e.SB), num) {
		t.Fatalf("after release --force --yes: %d active, owned %v", n, ownedNumbers(e.SB))
	}
}

// A retried create with the same --ref returns the first conversation
// (exit 0, said on stderr); another ref creates one and warns (item 17).
func TestCreateRetryWithSameRef(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	c := createConversation(t, e, "+447700900123", "+447700900456", "--ref", "ride-7")
	out, errOut, code := run(t, e, "conversation", "create", "+447700900123", "+447700900456", "--ref", "ride-7", "--no-sms", "--insight", "none", "-o", "json")
	if code != 0 || !strings.Contains(errOut, "Conversation "+c.ID+" already pairs these numbers") {
		t.Fatalf("retry: exit %d, stderr %q", code, errOut)
	}
	if again := decodeJSON[conversation](t, out); again.ID != c.ID {
		t.Fatalf("retry returned %s, want %s", again.ID, c.ID)
	}
	_, errOut, code = run(t, e, "conversation", "create", "+447700900456", "+447700900123", "--no-sms", "--insight", "none")
	if code != 0 || !strings.Contains(errOut, "Warning: these numbers already have 1 other active conversation(s) ("+c.ID+")") {
		t.Fatalf("create without ref: exit %d, stderr %q", code, errOut)
	}
	if n := len(listConversations(t, e, "active")); n != 2 {
		t.Fatalf("%d active conversations, want 2", n)
	}
}

// Input hygiene and messages through the binary (items 15 and 20).
func TestInputHygieneAndMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--label-a", "x\x1b]0;title\x07"}, "Label A contains the control character U+001B"},
		{[]string{"--ref", "a\tb"}, "The reference contains the control character U+0009"},
		{[]string{"--label-b", strings.Repeat("x", 65)}, "at most 64"},
		{[]string{"--ttl", "1ns"}, "must be at least a minute"},
	} {
		args := append([]string{"conversation", "create", "+447700900123", "+447700900456", "--no-sms", "--insight", "none"}, tc.args...)
		if _, line := runFail(t, e, 2, args...); !strings.Contains(line, tc.want) {
			t.Errorf("%q: %q, want %q", tc.args, line, tc.want)
		}
	}
	if _, line := runFail(t, e, 2, "conversation", "create", "++447700900123", "+447700900456"); !strings.Contains(line, "'+' may only come once") {
		t.Errorf("++44: %q", line)
	}
	if n := len(listConversations(t, e, "all")); n != 0 {
		t.Fatalf("refused input created %d conversations", n)
	}
	c := createConversation(t, e, "+447700900123", "+447700900456", "--ttl", "7d", "--label-a", "  driver ")
	if c.ExpiresAt == nil || c.ExpiresAt.Sub(c.CreatedAt) != 7*24*time.Hour || c.Participants[0].Label != "driver" {
		t.Fatalf("--ttl 7d --label-a '  driver ': %+v", c)
	}

	// Vonage refusing the SMS credentials during create exits 4.
	if err := e.SB.InjectFault(sandbox.Fault{Path: "/sms/json", ErrorCode: "4", Count: -1}); err != nil {
		t.Fatal(err)
	}
	_, line := runFail(t, e, 4, "conversation", "create", "+447700900789", "+447700900111", "--insight", "none")
	if !strings.Contains(line, "was created, but 2 of 2 text messages failed") || !strings.Contains(line, "vonage.api_key") {
		t.Errorf("SMS credentials refused: %q", line)
	}
}
