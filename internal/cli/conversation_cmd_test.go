package cli

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sandbox"
)

func TestNewCmdConversationCreate_TTL(t *testing.T) {
	tests := []struct {
		args    []string
		want    time.Duration
		wantErr string
	}{
		{args: []string{"--ttl", "7d"}, want: 7 * 24 * time.Hour},
		{args: []string{"--ttl", "1d12h"}, want: 36 * time.Hour},
		{args: []string{"--ttl", "1.5d"}, want: 36 * time.Hour},
		{args: []string{"--ttl", "90m"}, want: 90 * time.Minute},
		{args: []string{"--ttl", "0"}, want: 0},
		{args: []string{"--ttl", "abc"}, wantErr: `"abc" is not a duration; write it like 90m, 2h or 7d`},
		{args: []string{"--ttl", "7days"}, wantErr: "is not a duration"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			io, _, _ := TestIO()
			var got *ConversationCreateOptions
			cmd := NewCmdConversationCreate(NewFactory(io), func(_ context.Context, o *ConversationCreateOptions) error { got = o; return nil })
			cmd.SetArgs(append([]string{"+447700900123", "+447700900456"}, tt.args...))
			cmd.SetErr(io.ErrOut)
			cmd.SetOut(io.Out)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.TTL != tt.want || !got.TTLSet {
				t.Fatalf("TTL = %s (set %v), want %s", got.TTL, got.TTLSet, tt.want)
			}
		})
	}
}

func TestNewCmdConversationList(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    ConversationListOptions
		wantErr string
	}{
		{name: "Defaults", args: nil, want: ConversationListOptions{Status: "active", Limit: 100, Output: "table"}},
		{name: "All", args: []string{"--status", "all", "--ref", "r1", "--limit", "0", "-o", "json"},
			want: ConversationListOptions{Status: "all", Ref: "r1", Limit: 0, Output: "json"}},
		{name: "BadStatus", args: []string{"--status", "gone"}, wantErr: "--status must be"},
		{name: "NegativeLimit", args: []string{"--limit", "-1"}, wantErr: "--limit must be positive"},
		{name: "Argument", args: []string{"extra"}, wantErr: "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _ := TestIO()
			var got *ConversationListOptions
			cmd := NewCmdConversationList(NewFactory(io), func(_ context.Context, o *ConversationListOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetErr(io.ErrOut)
			cmd.SetOut(io.Out)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.IO, got.Store, got.Now = nil, nil, nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("opts = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestNewCmdConversationEnd(t *testing.T) {
	io, _, _ := TestIO()
	var got *ConversationEndOptions
	cmd := NewCmdConversationEnd(NewFactory(io), func(_ context.Context, o *ConversationEndOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"cv_1", "--hangup", "-o", "json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.ID != "cv_1" || !got.Hangup || got.Output != "json" {
		t.Fatalf("opts = %+v", got)
	}
}

func TestNewCmdConversationPurge(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    ConversationPurgeOptions
		wantErr string
	}{
		{name: "Days", args: []string{"--ended-before", "30d"}, want: ConversationPurgeOptions{EndedBefore: 720 * time.Hour, Output: "table"}},
		{name: "YesDryRunJSON", args: []string{"--ended-before", "1h", "--yes", "--dry-run", "-o", "json"},
			want: ConversationPurgeOptions{EndedBefore: time.Hour, Yes: true, DryRun: true, Output: "json"}},
		{name: "ShortYes", args: []string{"--ended-before", "1h", "-y"}, want: ConversationPurgeOptions{EndedBefore: time.Hour, Yes: true, Output: "table"}},
		{name: "Zero", args: []string{"--ended-before", "0s"}, wantErr: "--ended-before must be a positive duration"},
		{name: "BadDuration", args: []string{"--ended-before", "month"}, wantErr: `"month" is not a duration`},
		{name: "BadOutput", args: []string{"--ended-before", "1h", "-o", "csv"}, wantErr: "--output must be table or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, _, _ := TestIO()
			var got *ConversationPurgeOptions
			cmd := NewCmdConversationPurge(NewFactory(io), func(_ context.Context, o *ConversationPurgeOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetErr(io.ErrOut)
			cmd.SetOut(io.Out)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.IO, got.Service, got.Now = nil, nil, nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("opts = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

const (
	driver = "+447700900123"
	rider  = "+447700900456"
)

// createOpts are the options `conversation create driver rider` gets.
func createOpts(f *Factory, io *IOStreams, mods ...func(*ConversationCreateOptions)) *ConversationCreateOptions {
	o := &ConversationCreateOptions{IO: io, Service: f.ConversationService, Config: f.Config,
		Numbers: []string{driver, rider}, Insight: "basic", Output: "table"}
	for _, m := range mods {
		if m != nil {
			m(o)
		}
	}
	return o
}

func TestConversationCreateRun(t *testing.T) {
	tests := []struct {
		name       string
		mod        func(*ConversationCreateOptions)
		wantExit   int
		wantStderr string
		wantLabel  string // label A stored
		wantTTL    time.Duration
	}{
		{name: "OK", wantStderr: "Created conversation cv_"},
		{name: "LabelTrimmed", mod: func(o *ConversationCreateOptions) { o.LabelA = "  driver  " }, wantStderr: "Created", wantLabel: "driver"},
		{name: "Label64", mod: func(o *ConversationCreateOptions) { o.LabelA = strings.Repeat("é", 64) }, wantStderr: "Created", wantLabel: strings.Repeat("é", 64)},
		{name: "Label65", mod: func(o *ConversationCreateOptions) { o.LabelA = strings.Repeat("a", 65) },
			wantExit: exitUsage, wantStderr: "Label A has 65 characters; at most 64 are allowed. Fix --label-a."},
		{name: "LabelBlank", mod: func(o *ConversationCreateOptions) { o.LabelB = "   " },
			wantExit: exitUsage, wantStderr: "Label B is blank"},
		{name: "LabelNewline", mod: func(o *ConversationCreateOptions) { o.LabelA = "driver\nrider" },
			wantExit: exitUsage, wantStderr: "control character U+000A"},
		{name: "LabelTab", mod: func(o *ConversationCreateOptions) { o.LabelB = "a\tb" },
			wantExit: exitUsage, wantStderr: "control character U+0009"},
		{name: "RefEscape", mod: func(o *ConversationCreateOptions) { o.Ref = "\x1b]0;owned\x07" },
			wantExit: exitUsage, wantStderr: "The reference contains the control character U+001B"},
		{name: "RefBidi", mod: func(o *ConversationCreateOptions) { o.Ref = "ride\u202e1288" },
			wantExit: exitUsage, wantStderr: "U+202E"},
		{name: "TTLTooShort", mod: func(o *ConversationCreateOptions) { o.TTL, o.TTLSet = time.Nanosecond, true },
			wantExit: exitUsage, wantStderr: "must be at least a minute, got 1ns. Pass --ttl"},
		{name: "TTLMinute", mod: func(o *ConversationCreateOptions) { o.TTL, o.TTLSet = time.Minute, true },
			wantStderr: "Created", wantTTL: time.Minute},
		{name: "TTLDays", mod: func(o *ConversationCreateOptions) { o.TTL, o.TTLSet = 7*24*time.Hour, true },
			wantStderr: "Created", wantTTL: 7 * 24 * time.Hour},
		{name: "PlusPlus", mod: func(o *ConversationCreateOptions) { o.Numbers[0] = "++447700900123" },
			wantExit: exitUsage, wantStderr: "NUMBER_A: \"++447700900123\" is not a phone number: '+' may only come once, first."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.provision(2)
			f, io, out, errOut := e.factory()
			opts := createOpts(f, io, tt.mod)
			err := conversationCreateRun(t.Context(), opts)
			stderr := errOut.String() + userMessage(hintContext{NewCmdConversationCreate(f, nil)}, err)
			if got := exitFor(err); got != tt.wantExit {
				t.Fatalf("exit %d, want %d: %s", got, tt.wantExit, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Fatalf("stderr %q does not contain %q", stderr, tt.wantStderr)
			}
			convs := e.conversations("")
			if tt.wantExit != 0 {
				if len(convs) != 0 || len(e.SB.SentSMS()) != 0 || out.Len() != 0 {
					t.Fatalf("refused input changed something: %d conversations, %d texts, stdout %q", len(convs), len(e.SB.SentSMS()), out)
				}
				return
			}
			if len(convs) != 1 || !strings.Contains(out.String(), convs[0].ID) {
				t.Fatalf("%d conversations; stdout %q", len(convs), out)
			}
			if len(e.SB.SentSMS()) != 2 {
				t.Fatalf("%d texts sent, want 2", len(e.SB.SentSMS()))
			}
			c := convs[0]
			if tt.wantLabel != "" && c.Participants[0].Label != tt.wantLabel {
				t.Errorf("label A %q, want %q", c.Participants[0].Label, tt.wantLabel)
			}
			if tt.wantTTL > 0 && (c.ExpiresAt == nil || c.ExpiresAt.Sub(c.CreatedAt) != tt.wantTTL) {
				t.Errorf("expires %v after %v, want %s later", c.ExpiresAt, c.CreatedAt, tt.wantTTL)
			}
		})
	}
}

// A retried create with the same ref returns the conversation it made the
// first time; another ref (or none) makes a second one, with a warning.
func TestConversationCreateRun_Duplicates(t *testing.T) {
	e := newTestEnv(t)
	e.provision(3)
	f, io, out, errOut := e.factory()
	first := createOpts(f, io, func(o *ConversationCreateOptions) { o.Ref, o.Output = "ride-1", outputJSON })
	if err := conversationCreateRun(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	var c1 maskcall.Conversation
	if err := json.Unmarshal([]byte(out.String()), &c1); err != nil {
		t.Fatal(err)
	}

	t.Run("SameRef", func(t *testing.T) {
		for _, numbers := range [][]string{{driver, rider}, {rider, driver}} {
			f, io, out, errOut := e.factory()
			o := createOpts(f, io, func(o *ConversationCreateOptions) { o.Ref, o.Output, o.Numbers = "ride-1", outputJSON, numbers })
			if err := conversationCreateRun(t.Context(), o); err != nil {
				t.Fatalf("retry: %v", err)
			}
			var again maskcall.Conversation
			if err := json.Unmarshal([]byte(out.String()), &again); err != nil {
				t.Fatal(err)
			}
			if again.ID != c1.ID {
				t.Fatalf("retry of %v returned %s, want the existing %s", numbers, again.ID, c1.ID)
			}
			if want := "Conversation " + c1.ID + " already pairs these numbers with ref \"ride-1\"; nothing was created or texted."; !strings.Contains(errOut.String(), want) {
				t.Fatalf("stderr %q, want %q", errOut, want)
			}
		}
		if n := len(e.conversations(maskcall.ConversationActive)); n != 1 {
			t.Fatalf("%d active conversations, want 1", n)
		}
		if n := len(e.SB.SentSMS()); n != 2 {
			t.Fatalf("%d texts, want the first create's 2", n)
		}
	})

	t.Run("OtherRefWarns", func(t *testing.T) {
		f, io, _, errOut := e.factory()
		if err := conversationCreateRun(t.Context(), createOpts(f, io, func(o *ConversationCreateOptions) { o.Ref, o.NoSMS = "ride-2", true })); err != nil {
			t.Fatal(err)
		}
		if want := "Warning: these numbers already have 1 other active conversation(s) (" + c1.ID + ")"; !strings.Contains(errOut.String(), want) {
			t.Fatalf("stderr %q, want %q", errOut, want)
		}
		if n := len(e.conversations(maskcall.ConversationActive)); n != 2 {
			t.Fatalf("%d active conversations, want 2", n)
		}
	})

	t.Run("EndedOneIsNotReturned", func(t *testing.T) {
		f, io, _, _ := e.factory()
		if err := conversationEndRun(t.Context(), &ConversationEndOptions{IO: io, Service: f.ConversationService, ID: c1.ID, Output: "table"}); err != nil {
			t.Fatal(err)
		}
		f, io, out, _ := e.factory()
		if err := conversationCreateRun(t.Context(), createOpts(f, io, func(o *ConversationCreateOptions) { o.Ref, o.NoSMS, o.Output = "ride-1", true, outputJSON })); err != nil {
			t.Fatal(err)
		}
		var c maskcall.Conversation
		if err := json.Unmarshal([]byte(out.String()), &c); err != nil {
			t.Fatal(err)
		}
		if c.ID == c1.ID || c.Status != maskcall.ConversationActive {
			t.Fatalf("create after the end returned %s (%s)", c.ID, c.Status)
		}
	})
	_ = errOut
}

func TestConversationCreateRun_BadSMSTemplate(t *testing.T) {
	for _, tmpl := range []string{"Call {name}.", "Call {label.", "Call label}.", "Call {{label}}."} {
		t.Run(tmpl, func(t *testing.T) {
			e := newTestEnv(t)
			e.provision(2)
			t.Setenv("MASKCALL_SMS_TEMPLATE", tmpl)
			f, io, _, _ := e.factory()
			err := conversationCreateRun(t.Context(), createOpts(f, io))
			if exitFor(err) != exitConfig || maskcall.ErrorReason(err) != "sms_template" {
				t.Fatalf("err = %v (exit %d), want a configuration error", err, exitFor(err))
			}
			if msg := userMessage(hintContext{}, err); !strings.Contains(msg, "Fix sms.template (MASKCALL_SMS_TEMPLATE)") {
				t.Fatalf("message %q", msg)
			}
			if len(e.conversations("")) != 0 || len(e.SB.SentSMS()) != 0 {
				t.Fatal("a bad template changed something")
			}
		})
	}
	t.Run("GoodTemplate", func(t *testing.T) {
		e := newTestEnv(t)
		e.provision(2)
		t.Setenv("MASKCALL_SMS_TEMPLATE", "Ride {ref}: call {label}.")
		f, io, _, _ := e.factory()
		if err := conversationCreateRun(t.Context(), createOpts(f, io, func(o *ConversationCreateOptions) { o.Ref, o.LabelB = "r9", "rider" })); err != nil {
			t.Fatal(err)
		}
		if sms := e.SB.SentSMS(); len(sms) != 2 || sms[0].Text != "Ride r9: call rider." {
			t.Fatalf("texts %+v", sms)
		}
	})
}

// Vonage refusing the SMS credentials exits 4 like any credential refusal,
// though the conversation was created.
func TestConversationCreateRun_SMSCredentialsRefused(t *testing.T) {
	e := newTestEnv(t)
	e.provision(2)
	if err := e.SB.InjectFault(sandbox.Fault{Path: "/sms/json", ErrorCode: "4", Count: -1}); err != nil {
		t.Fatal(err)
	}
	f, io, _, errOut := e.factory()
	err := conversationCreateRun(t.Context(), createOpts(f, io))
	if got := exitFor(err); got != exitAuth {
		t.Fatalf("exit %d, want %d: %v", got, exitAuth, err)
	}
	msg := userMessage(hintContext{}, err)
	for _, want := range []string{"was created, but 2 of 2 text messages failed", "Check vonage.api_key", "then send them with `maskcall conversation notify cv_"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
	if !strings.Contains(errOut.String(), "Could not text") {
		t.Errorf("stderr %q", errOut)
	}
	if n := len(e.conversations(maskcall.ConversationActive)); n != 1 {
		t.Fatalf("%d conversations", n)
	}
}

func TestConversationListRun(t *testing.T) {
	e := newTestEnv(t)
	e.provision(2)
	e.must("conversation", "create", driver, rider, "--ref", "a", "--no-sms", "--insight", "none")
	e.must("conversation", "create", "+447700900789", rider, "--ref", "b", "--no-sms", "--insight", "none")
	tests := []struct {
		name      string
		opts      ConversationListOptions
		wantRows  int
		wantInOut string
		wantErr   string
	}{
		{name: "Active", opts: ConversationListOptions{Status: "active", Limit: 100, Output: "table"}, wantRows: 2},
		{name: "Ref", opts: ConversationListOptions{Status: "all", Ref: "b", Limit: 100, Output: "table"}, wantRows: 1, wantInOut: "+447700900789"},
		{name: "Ended", opts: ConversationListOptions{Status: "ended", Limit: 100, Output: "table"}, wantErr: "No ended conversations."},
		{name: "JSON", opts: ConversationListOptions{Status: "all", Limit: 1, Output: "json"}, wantInOut: `"ref": "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, io, out, errOut := e.factory()
			opts := tt.opts
			opts.IO, opts.Now = io, time.Now
			opts.Store = func() (maskcall.ConversationStore, error) { return f.DB() }
			if err := conversationListRun(t.Context(), &opts); err != nil {
				t.Fatal(err)
			}
			if tt.wantRows > 0 {
				if rows := strings.Count(out.String(), "\n"); rows != tt.wantRows {
					t.Fatalf("%d rows, want %d:\n%s", rows, tt.wantRows, out)
				}
			}
			if !strings.Contains(out.String(), tt.wantInOut) || !strings.Contains(errOut.String(), tt.wantErr) {
				t.Fatalf("stdout %q (want %q), stderr %q (want %q)", out, tt.wantInOut, errOut, tt.wantErr)
			}
		})
	}
}

func TestConversationEndRun(t *testing.T) {
	e := newTestEnv(t)
	e.provision(2)
	e.must("conversation", "create", driver, rider, "--no-sms", "--insight", "none")
	id := e.conversations("")[0].ID
	for _, tt := range []struct {
		name, id, wantStderr string
		wantExit             int
	}{
		{name: "End", id: id, wantStderr: "Conversation " + id + " is ended (ended)."},
		{name: "Again", id: id, wantStderr: "is ended (ended)."},
		{name: "Unknown", id: "cv_nope", wantExit: exitError,
			wantStderr: "No conversation has the id \"cv_nope\". Run `maskcall conversation list --status all` to see them."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, io, _, errOut := e.factory()
			err := conversationEndRun(t.Context(), &ConversationEndOptions{IO: io, Service: f.ConversationService, ID: tt.id, Output: "table"})
			if exitFor(err) != tt.wantExit {
				t.Fatalf("err %v, want exit %d", err, tt.wantExit)
			}
			if got := errOut.String() + userMessage(hintContext{}, err); !strings.Contains(got, tt.wantStderr) {
				t.Fatalf("stderr %q, want %q", got, tt.wantStderr)
			}
		})
	}
	if c := e.conversations("")[0]; c.Status != maskcall.ConversationEnded {
		t.Fatalf("status %s", c.Status)
	}
}

func TestConversationPurgeRun(t *testing.T) {
	setup := func(t *testing.T) *testEnv {
		e := newTestEnv(t)
		e.provision(2)
		e.must("conversation", "create", driver, rider, "--no-sms", "--insight", "none")
		e.must("conversation", "create", "+447700900789", rider, "--no-sms", "--insight", "none")
		for _, c := range e.conversations("") {
			e.must("conversation", "end", c.ID)
		}
		e.must("conversation", "create", "+447700900111", rider, "--no-sms", "--insight", "none") // stays active
		return e
	}
	tests := []struct {
		name       string
		opts       ConversationPurgeOptions
		tty        string // answer on a terminal; "" for no terminal
		wantExit   int
		wantStderr string
		wantOut    string
		wantLeft   int
	}{
		{name: "NoTerminalNoYes", opts: ConversationPurgeOptions{Output: "table"}, wantExit: exitUsage,
			wantStderr: "There is no terminal to confirm on (delete conversations that ended more than 1ns ago); pass --yes to go ahead, or --dry-run to see what would happen.", wantLeft: 3},
		{name: "DryRun", opts: ConversationPurgeOptions{DryRun: true, Output: "table"},
			wantStderr: "Would purge 2 conversations that ended more than 1ns ago; nothing was changed (--dry-run).", wantOut: "cv_", wantLeft: 3},
		{name: "DryRunJSON", opts: ConversationPurgeOptions{DryRun: true, Output: "json"}, wantOut: `"dry_run": true,
  "purged": 2,`, wantLeft: 3},
		{name: "TerminalNo", opts: ConversationPurgeOptions{Output: "table"}, tty: "n\n", wantExit: exitError,
			wantStderr: "Delete 2 conversations that ended more than 1ns ago, with their call records? [y/N] maskcall-error: Nothing was purged.", wantLeft: 3},
		{name: "TerminalEOF", opts: ConversationPurgeOptions{Output: "table"}, tty: " ", wantExit: exitError, wantStderr: "Nothing was purged.", wantLeft: 3},
		{name: "TerminalYes", opts: ConversationPurgeOptions{Output: "table"}, tty: "yes\n", wantStderr: "Purged 2 conversation(s).", wantLeft: 1},
		{name: "YesJSON", opts: ConversationPurgeOptions{Yes: true, Output: "json"}, wantOut: `"purged": 2`, wantLeft: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t)
			f, io, out, errOut := e.factory()
			if tt.tty != "" {
				tty(io, tt.tty)
			}
			opts := tt.opts
			opts.IO, opts.Service, opts.Now, opts.EndedBefore = io, f.ConversationService, time.Now, time.Nanosecond
			err := conversationPurgeRun(t.Context(), &opts)
			if got := exitFor(err); got != tt.wantExit {
				t.Fatalf("exit %d, want %d: %v", got, tt.wantExit, err)
			}
			stderr := errOut.String()
			if err != nil {
				stderr += "maskcall-error: " + userMessage(hintContext{}, err)
			}
			if !strings.Contains(stderr, tt.wantStderr) || !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("stderr %q (want %q)\nstdout %q (want %q)", stderr, tt.wantStderr, out, tt.wantOut)
			}
			if left := len(e.conversations("")); left != tt.wantLeft {
				t.Fatalf("%d conversations left, want %d", left, tt.wantLeft)
			}
		})
	}
}

// notify checks the template at its start too, texting nobody.
func TestConversationNotifyRun_BadSMSTemplate(t *testing.T) {
	e := newTestEnv(t)
	e.provision(2)
	e.must("conversation", "create", driver, rider, "--no-sms", "--insight", "none")
	id := e.conversations("")[0].ID
	t.Setenv("MASKCALL_SMS_TEMPLATE", "Call {who}.")
	f, io, _, _ := e.factory()
	err := conversationNotifyRun(t.Context(), &ConversationNotifyOptions{IO: io, Service: f.ConversationService, ID: id})
	if exitFor(err) != exitConfig || !strings.Contains(userMessage(hintContext{}, err), "unknown placeholder {who}") {
		t.Fatalf("notify with a bad template: %v (exit %d)", err, exitFor(err))
	}
	if n := len(e.SB.SentSMS()); n != 0 {
		t.Fatalf("%d texts sent", n)
	}
	t.Setenv("MASKCALL_SMS_TEMPLATE", "")
	f, io, _, _ = e.factory()
	if err := conversationNotifyRun(t.Context(), &ConversationNotifyOptions{IO: io, Service: f.ConversationService, ID: id}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.SB.SentSMS()); n != 2 {
		t.Fatalf("%d texts sent, want 2", n)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Minute: "1h30m", time.Minute: "1m", 30 * 24 * time.Hour: "30d",
		36 * time.Hour: "36h", time.Nanosecond: "1ns", 61 * time.Second: "1m1s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", d, got, want)
		}
		if back, err := parseDuration(formatDuration(d)); err != nil || back != d {
			t.Errorf("parseDuration(formatDuration(%s)) = %s, %v", d, back, err)
		}
	}
}
