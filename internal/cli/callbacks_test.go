package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/stdwebhook"
)

func TestNewCmdCallbacksList(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		failed  bool
		conv    string
		limit   int
		wantErr string
	}{
		{args: nil, limit: 100},
		{args: []string{"--failed"}, failed: true, limit: 100},
		{args: []string{"--conversation", "cv_1", "--limit", "0", "-o", "json"}, conv: "cv_1"},
		{args: []string{"--limit", "-1"}, wantErr: "--limit"},
		{args: []string{"extra"}, wantErr: "takes no arguments"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			io, _, _ := TestIO()
			var got *CallbacksListOptions
			cmd := NewCmdCallbacksList(NewFactory(io), func(_ context.Context, o *CallbacksListOptions) error { got = o; return nil })
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
			if err != nil || got.Failed != tt.failed || got.Conversation != tt.conv || got.Limit != tt.limit {
				t.Fatalf("opts %+v, err %v", got, err)
			}
		})
	}
}

func TestNewCmdCallbacksRedeliver(t *testing.T) {
	io, _, _ := TestIO()
	var got *CallbacksRedeliverOptions
	cmd := NewCmdCallbacksRedeliver(NewFactory(io), func(_ context.Context, o *CallbacksRedeliverOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"evt_1"})
	cmd.SetErr(io.ErrOut)
	cmd.SetOut(io.Out)
	if err := cmd.Execute(); err != nil || got.ID != "evt_1" {
		t.Fatalf("opts %+v, err %v", got, err)
	}
	cmd = NewCmdCallbacksRedeliver(NewFactory(io), func(context.Context, *CallbacksRedeliverOptions) error { return nil })
	cmd.SetArgs(nil)
	cmd.SetErr(io.ErrOut)
	cmd.SetOut(io.Out)
	if err := cmd.Execute(); err == nil {
		t.Fatal("redeliver without an id ran")
	}
}

func TestNewCmdConversationCreate_CallbackURL(t *testing.T) {
	for _, tt := range []struct{ url, wantErr string }{
		{url: "https://platform.example/maskcall"},
		{url: "platform.example/maskcall", wantErr: "not an absolute http or https URL"},
	} {
		io, _, _ := TestIO()
		var got *ConversationCreateOptions
		cmd := NewCmdConversationCreate(NewFactory(io), func(_ context.Context, o *ConversationCreateOptions) error { got = o; return nil })
		cmd.SetArgs([]string{"+447700900123", "+447700900456", "--callback-url", tt.url})
		cmd.SetErr(io.ErrOut)
		cmd.SetOut(io.Out)
		err := cmd.Execute()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.CallbackURL != tt.url {
			t.Fatalf("opts %+v, err %v", got, err)
		}
	}
}

func TestCallbacksSecretRun(t *testing.T) {
	io, out, errOut := TestIO()
	if err := callbacksSecretRun(context.Background(), &CallbacksSecretOptions{IO: io}); err != nil {
		t.Fatal(err)
	}
	if _, err := stdwebhook.ParseSecret(strings.TrimSpace(out.String())); err != nil {
		t.Fatalf("printed %q: %v", out, err)
	}
	if !strings.Contains(errOut.String(), "callbacks.secret") {
		t.Errorf("no advice: %q", errOut)
	}
}

func TestCallbacksRuns(t *testing.T) {
	db := mustAPIKeyDB(t)
	store := func() (maskcall.CallbackStore, error) { return db, nil }
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	nowF := func() time.Time { return now }
	ctx := context.Background()
	if err := db.CreateNumber(ctx, &maskcall.Number{Number: "+447000000001", Country: "GB", Features: []string{"VOICE", "SMS"},
		Status: maskcall.NumberActive}, now); err != nil {
		t.Fatal(err)
	}
	c := &maskcall.Conversation{Ref: "job", CallbackURL: "https://platform.example/h", Participants: []maskcall.Participant{
		{Number: "+447700900123", Country: "GB", Label: "driver"}, {Number: "+447700900456", Country: "GB", Label: "rider"}}}
	if err := db.CreateConversation(ctx, c, nil, now); err != nil {
		t.Fatal(err)
	}
	cbs, err := db.ClaimCallbacks(ctx, now, 10, time.Minute)
	if err != nil || len(cbs) != 1 {
		t.Fatalf("claim %d, %v", len(cbs), err)
	}
	if _, err := db.FinishCallback(ctx, cbs[0], maskcall.CallbackOutcome{State: maskcall.CallbackFailed, Status: 404, Error: "404 Not Found"}, now); err != nil {
		t.Fatal(err)
	}
	id := cbs[0].Event.ID

	io, out, _ := TestIO()
	if err := callbacksListRun(ctx, &CallbacksListOptions{IO: io, Store: store, Now: nowF, Failed: true}); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, id) || !strings.Contains(s, "failed") || !strings.Contains(s, "404 Not Found") ||
		!strings.Contains(s, c.ID) || strings.Contains(s, "+447700900") {
		t.Fatalf("list --failed printed %q", s)
	}
	io, out, _ = TestIO()
	if err := callbacksListRun(ctx, &CallbacksListOptions{IO: io, Store: store, Now: nowF, Output: outputJSON}); err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal(out.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0]["id"] != id || list[0]["type"] != maskcall.EventConversationCreated || list[0]["attempts"] != 1.0 ||
		list[0]["last_status"] != 404.0 || list[0]["conversation_id"] != c.ID || strings.Contains(out.String(), "+447700900") {
		t.Fatalf("list -o json = %s", out)
	}

	io, _, errOut := TestIO()
	if err := callbacksRedeliverRun(ctx, &CallbacksRedeliverOptions{IO: io, Store: store, Now: nowF, ID: id}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "due again") {
		t.Errorf("redeliver said %q", errOut)
	}
	err = callbacksRedeliverRun(ctx, &CallbacksRedeliverOptions{IO: io, Store: store, Now: nowF, ID: id})
	if maskcall.ErrorCode(err) != maskcall.ECONFLICT {
		t.Fatalf("redeliver of a pending one: %v", err)
	}
	if h := hintFor(hintContext{}, err); !strings.Contains(h, "callbacks list") {
		t.Errorf("hint %q", h)
	}
	err = callbacksRedeliverRun(ctx, &CallbacksRedeliverOptions{IO: io, Store: store, Now: nowF, ID: "evt_nope"})
	if maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Fatalf("redeliver of a missing one: %v", err)
	}
	io, _, errOut = TestIO()
	if err := callbacksListRun(ctx, &CallbacksListOptions{IO: io, Store: store, Now: nowF, Failed: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "No failed callbacks") {
		t.Errorf("empty list said %q", errOut)
	}
}
