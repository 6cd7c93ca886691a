package webhook

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// With voice.out_of_session forward:NUMBER, a caller who belongs to no
// active conversation is connected to that number, showing the proxy they
// dialled; everything that is not an authentic call (and a conversation's
// own callers) is answered as before.
func TestAnswerOutOfSessionForward(t *testing.T) {
	const eventURL = "https://maskcall.example/webhooks/event"
	const support = "+442079460999"
	forwarded := []struct {
		name, query string
		setup       func(*fakeStore)
		wantFrom    string
	}{
		{"stranger", answerQuery("447700900003", "447700900101", "U"), nil, "447700900101"},
		{"caller dials the wrong proxy", answerQuery("447700900001", "447700900102", "U"), nil, "447700900102"},
		{"ended conversation", answerQuery("447700900001", "447700900101", "U"), func(f *fakeStore) {
			f.conversations[0].Status = maskcall.ConversationEnded
		}, "447700900101"},
		{"expired conversation", answerQuery("447700900001", "447700900101", "U"), func(f *fakeStore) {
			exp := testNow.Add(-time.Second)
			f.conversations[0].ExpiresAt = &exp
		}, "447700900101"},
		{"numbers with plus", answerQuery("+447700900003", "+447700900102", "U"), nil, "447700900102"},
	}
	for _, tt := range forwarded {
		t.Run("forwards "+tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{OutOfSessionForward: support})
			if tt.setup != nil {
				tt.setup(e.store)
			}
			wantConnect(t, e.get("/webhooks/answer?"+tt.query), tt.wantFrom, "442079460999", eventURL, 3600)
			if len(e.store.calls) != 0 {
				t.Errorf("a forwarded call was recorded against a conversation: %v", e.store.calls)
			}
		})
	}

	t.Run("a conversation's caller still reaches the other participant", func(t *testing.T) {
		e := newTestEnv(t, Config{OutOfSessionForward: support})
		wantConnect(t, e.get("/webhooks/answer?"+answerQuery("447700900001", "447700900101", "U")), "447700900102", "447700900002", eventURL, 3600)
	})

	notForwarded := []struct {
		name, target string
		setup        func(*fakeStore)
	}{
		{"missing to", "/webhooks/answer?from=447700900003&uuid=U", nil},
		{"letters", "/webhooks/answer?" + answerQuery("hello", "447700900101", "U"), nil},
		{"to is not a number", "/webhooks/answer?" + answerQuery("447700900003", "hello", "U"), nil},
		{"store error", "/webhooks/answer?" + answerQuery("447700900003", "447700900101", "U"), func(f *fakeStore) {
			f.err = errors.New("disk I/O error")
		}},
	}
	for _, tt := range notForwarded {
		t.Run("does not forward "+tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{OutOfSessionForward: support})
			if tt.setup != nil {
				tt.setup(e.store)
			}
			wantNotInService(t, e.do(httptest.NewRequest("GET", tt.target, nil)))
		})
	}
}

func TestConfigOutOfSessionForwardChecked(t *testing.T) {
	for _, bad := range []string{"442079460999", "+44", "+4420794609991234567", "+44 20 7946 0999", "support"} {
		cfg := Config{PublicURL: "https://maskcall.example", AllowUnsigned: true, OutOfSessionForward: bad}
		err := cfg.Check()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "OutOfSessionForward" {
			t.Errorf("Check(%q) = %v, want a FieldError for OutOfSessionForward", bad, err)
			continue
		}
		if strings.Contains(fe.Error(), "voice.") || strings.Contains(fe.Error(), "--") {
			t.Errorf("the message names a key or flag: %q", fe.Error())
		}
	}
}

type outOfSessionLog struct {
	calls []maskcall.OutOfSessionCall
	err   error
}

func (l *outOfSessionLog) RecordOutOfSessionCall(_ context.Context, c maskcall.OutOfSessionCall, _ time.Time) error {
	l.calls = append(l.calls, c)
	return l.err
}

// Every authentic call that reaches no conversation is recorded for the
// call.out_of_session callback with what the caller got; a conversation's
// own call is not, nor a request that is not a call; a failure to record
// changes nothing for the caller.
func TestAnswerRecordsOutOfSession(t *testing.T) {
	for _, fwd := range []string{"", "+442079460999"} {
		e := newTestEnv(t, Config{OutOfSessionForward: fwd})
		rec := &outOfSessionLog{}
		e.srv.Router.OutOfSession = rec
		want := maskcall.OutOfSessionNotInService
		if fwd != "" {
			want = maskcall.OutOfSessionForward
		}
		e.get("/webhooks/answer?" + answerQuery("447700900003", "447700900101", "U-stranger"))
		e.get("/webhooks/answer?" + answerQuery("447700900001", "447700900101", "U-known"))
		e.get("/webhooks/answer?from=hello&to=447700900101&uuid=U-bad")
		if len(rec.calls) != 1 {
			t.Fatalf("forward %q: recorded %+v, want the stranger's call only", fwd, rec.calls)
		}
		c := rec.calls[0]
		if c.UUID != "U-stranger" || c.From != "+447700900003" || c.To != "+447700900101" || c.Action != want {
			t.Errorf("forward %q: recorded %+v, want action %s", fwd, c, want)
		}

		rec.err = errors.New("database is locked")
		res := e.get("/webhooks/answer?" + answerQuery("447700900004", "447700900101", "U-2"))
		if fwd == "" {
			wantNotInService(t, res)
		} else {
			wantConnect(t, res, "447700900101", "442079460999", "https://maskcall.example/webhooks/event", 3600)
		}
	}
}
