package maskcall

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var allStatuses = []string{
	"started", "ringing", "answered", "machine", "human", "busy", "cancelled",
	"unanswered", "disconnected", "rejected", "failed", "timeout", "completed",
}

func TestNextCallStatus(t *testing.T) {
	tests := []struct{ cur, ev, want string }{
		{"", "started", "started"},
		{"started", "ringing", "ringing"},
		{"ringing", "answered", "answered"},
		{"answered", "completed", "completed"},
		// Out of order: completed arrives before answered.
		{"completed", "answered", "completed"},
		{"completed", "ringing", "completed"},
		{"completed", "started", "completed"},
		{"answered", "ringing", "answered"},
		{"busy", "ringing", "busy"},
		{"started", "busy", "busy"},
		{"busy", "completed", "completed"},
		// Duplicates (Vonage retries) change nothing.
		{"started", "started", "started"},
		{"answered", "answered", "answered"},
		{"completed", "completed", "completed"},
		// Same rank: the first one stays.
		{"answered", "human", "answered"},
		{"busy", "failed", "busy"},
		// Unknown events are ignored.
		{"ringing", "bogus", "ringing"},
		{"ringing", "", "ringing"},
	}
	for _, tt := range tests {
		if got := NextCallStatus(tt.cur, tt.ev); got != tt.want {
			t.Errorf("NextCallStatus(%q, %q) = %q, want %q", tt.cur, tt.ev, got, tt.want)
		}
	}
}

// Whatever order events arrive in, the status never goes backwards, and a
// terminal call stays terminal.
func TestNextCallStatusNeverGoesBackwards(t *testing.T) {
	for _, cur := range allStatuses {
		for _, ev := range allStatuses {
			got := NextCallStatus(cur, ev)
			if got != cur && got != ev {
				t.Fatalf("NextCallStatus(%q, %q) = %q", cur, ev, got)
			}
			if callStatusRank[got] < callStatusRank[cur] {
				t.Fatalf("NextCallStatus(%q, %q) = %q goes backwards", cur, ev, got)
			}
			if IsTerminalCallStatus(cur) && !IsTerminalCallStatus(got) {
				t.Fatalf("NextCallStatus(%q, %q) = %q: a finished call came back", cur, ev, got)
			}
		}
	}
	// Any permutation of a call's events ends completed.
	events := []string{"started", "ringing", "answered", "completed"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		r.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		cur := ""
		for _, ev := range events {
			cur = NextCallStatus(cur, ev)
			cur = NextCallStatus(cur, ev) // retried
		}
		if cur != "completed" {
			t.Fatalf("events %v end in %q", events, cur)
		}
	}
}

func TestIsCallStatus(t *testing.T) {
	for _, s := range allStatuses {
		if !IsCallStatus(s) {
			t.Errorf("IsCallStatus(%q) = false", s)
		}
	}
	for _, s := range []string{"", "Completed", "COMPLETED", "answered ", "transfer", "bogus"} {
		if IsCallStatus(s) {
			t.Errorf("IsCallStatus(%q) = true", s)
		}
	}
}

func TestIsTerminalCallStatus(t *testing.T) {
	terminal := []string{"busy", "cancelled", "unanswered", "disconnected", "rejected", "failed", "timeout", "completed"}
	for _, s := range allStatuses {
		if got, want := IsTerminalCallStatus(s), slices.Contains(terminal, s); got != want {
			t.Errorf("IsTerminalCallStatus(%q) = %v, want %v", s, got, want)
		}
	}
	for _, s := range []string{"", "bogus", "Completed"} {
		if IsTerminalCallStatus(s) {
			t.Errorf("IsTerminalCallStatus(%q) = true", s)
		}
	}
}

func TestMaskNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+447700900123", "+44*******123"},
		{"447700900123", "44*******123"},
		{"+33612345678", "+33******678"},
		{"+353871234567", "+353******567"},
		{"+12025550123", "+1*******123"},
		// Short inputs are masked entirely.
		{"", ""},
		{"1", "*"},
		{"12345", "*****"},
		{"+12345", "******"},
		{"+", "*"},
	}
	for _, tt := range tests {
		if got := MaskNumber(tt.in); got != tt.want {
			t.Errorf("MaskNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// countryCodeLen is the length of an E.164 number's calling code: 1 and 7
// are the only one-digit codes; the rest have two or three digits, and
// showing two digits of a three-digit code reveals nothing more.
func countryCodeLen(digits string) int {
	switch {
	case digits[0] == '1' || digits[0] == '7':
		return 1
	case strings.HasPrefix(digits, "353"), strings.HasPrefix(digits, "880"):
		return 3
	}
	return 2
}

// MaskNumber never reveals more than the calling code and the last three
// digits, and keeps the length.
func TestMaskNumberRevealsOnlyCountryCodeAndLastThree(t *testing.T) {
	for _, n := range []string{
		"+447700900123", "+442079460321", "+33612345678", "+4915112345678",
		"+12025550123", "+14155550100", "+79123456789", "+61412345678",
		"+353871234567", "+8613812345678", "+5511912345678",
	} {
		got := MaskNumber(n)
		if len(got) != len(n) {
			t.Errorf("MaskNumber(%q) = %q: length changed", n, got)
			continue
		}
		digits, masked := n[1:], got[1:]
		cc := countryCodeLen(digits)
		leading := len(masked) - len(strings.TrimLeft(masked, "0123456789"))
		trailing := len(masked) - len(strings.TrimRight(masked, "0123456789"))
		middle := masked[leading : len(masked)-trailing]
		switch {
		case got[0] != '+' || masked[:leading] != digits[:leading] || masked[len(masked)-trailing:] != digits[len(digits)-trailing:]:
			t.Errorf("MaskNumber(%q) = %q: shown digits changed", n, got)
		case strings.Trim(middle, "*") != "":
			t.Errorf("MaskNumber(%q) = %q: digits shown in the middle", n, got)
		case leading > cc:
			t.Errorf("MaskNumber(%q) = %q: reveals %d leading digits, more than the calling code +%s", n, got, leading, digits[:cc])
		case trailing > 3:
			t.Errorf("MaskNumber(%q) = %q: reveals %d trailing digits", n, got, trailing)
		}
	}
}

// Short or odd inputs never come back more revealing than the rule allows:
// at most a three-digit calling code and the last three digits, and at
// least five digits hidden.
func TestMaskNumberShortInputs(t *testing.T) {
	for n := 0; n <= 20; n++ {
		in := strings.Repeat("9", n)
		for _, s := range []string{in, "+" + in} {
			got := MaskNumber(s)
			if len(got) != len(s) {
				t.Errorf("MaskNumber(%q) = %q: length changed", s, got)
			}
			shown := strings.Count(got, "9")
			if shown > 6 || (shown > 0 && n-shown < 5) {
				t.Errorf("MaskNumber(%q) = %q reveals %d of %d digits", s, got, shown, n)
			}
		}
	}
}

func TestParseFeatures(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"voice,sms", []string{"SMS", "VOICE"}},
		{"SMS,VOICE", []string{"SMS", "VOICE"}},
		{" voice , Sms ,mms", []string{"MMS", "SMS", "VOICE"}},
		{"voice,VOICE,Voice", []string{"VOICE"}},
		{"voice,,sms,", []string{"SMS", "VOICE"}},
		{"", nil},
		{" , ,", nil},
	}
	for _, tt := range tests {
		got, err := ParseFeatures(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseFeatures(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"fax", "voice,fax", "voice;sms", "voice sms", "v"} {
		got, err := ParseFeatures(in)
		if ErrorCode(err) != EINVALID || got != nil {
			t.Errorf("ParseFeatures(%q) = %q, %v; want EINVALID", in, got, err)
		}
	}
}

func TestError(t *testing.T) {
	e := Errorf(ENOTFOUND, "Number %s is not in the pool.", "+44*******123")
	if e.Code != ENOTFOUND || e.Error() != "Number +44*******123 is not in the pool." {
		t.Fatalf("Errorf = %#v, Error() = %q", e, e.Error())
	}
	h := e.WithHint("Run `maskcall numbers list`.")
	if h.Error() != "Number +44*******123 is not in the pool. Run `maskcall numbers list`." {
		t.Fatalf("with hint: %q", h.Error())
	}
	if e.Hint != "" {
		t.Fatalf("WithHint changed the original: %#v", e)
	}
	if h.Code != ENOTFOUND || h.Message != e.Message {
		t.Fatalf("WithHint lost fields: %#v", h)
	}

	cause := io.ErrUnexpectedEOF
	w := &Error{Code: EUNAVAILABLE, Message: "Vonage did not answer.", Err: cause}
	if !errors.Is(w, cause) {
		t.Fatal("errors.Is does not reach the cause")
	}
	if strings.Contains(w.Error(), cause.Error()) {
		t.Fatalf("Error() shows the cause: %q", w.Error())
	}
}

func TestErrorCode(t *testing.T) {
	coded := Errorf(ECONFLICT, "busy")
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{coded, ECONFLICT},
		{fmt.Errorf("context: %w", coded), ECONFLICT},
		{fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", coded)), ECONFLICT},
		{errors.Join(errors.New("x"), coded), ECONFLICT},
		// The first *Error in the chain wins.
		{&Error{Code: EUPSTREAM, Message: "outer", Err: Errorf(EINVALID, "inner")}, EUPSTREAM},
		{errors.New("boom"), EINTERNAL},
		{io.EOF, EINTERNAL},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{Errorf(EINVALID, "Bad input."), "Bad input."},
		{Errorf(EINVALID, "Bad input.").WithHint("Try again."), "Bad input. Try again."},
		{fmt.Errorf("sql: %w", Errorf(ENOTFOUND, "Not here.")), "Not here."},
		// Uncoded errors do not show internals.
		{errors.New("sql: database is locked at /var/lib/maskcall.db"), "Internal error."},
		{fmt.Errorf("wrapped: %w", io.EOF), "Internal error."},
	}
	for _, tt := range tests {
		if got := ErrorMessage(tt.err); got != tt.want {
			t.Errorf("ErrorMessage(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestExhaustedErrorMasksNumber(t *testing.T) {
	e := &ExhaustedError{Participant: Participant{Number: "+447700900123", Country: "GB"}}
	if strings.Contains(e.Error(), "7700900") || !strings.Contains(e.Error(), "+44*******123") {
		t.Fatalf("Error() = %q", e.Error())
	}
}

func TestWrapErrorKeepsCode(t *testing.T) {
	inner := Errorf(EUNAVAILABLE, "Vonage did not answer.").WithHint("old hint").WithReason("old", "country", "GB")
	err := wrapError(inner, "Buying +447700900123 failed:", "new_reason")
	if err.Code != EUNAVAILABLE || err.Message != "Buying +447700900123 failed: Vonage did not answer." ||
		err.Reason != "new_reason" || err.Hint != "" || err.Fields != nil {
		t.Fatalf("wrapError with a reason = %#v", err)
	}
	// Without a reason the inner advice stays.
	err = wrapError(inner, "Buying failed:", "")
	if err.Reason != "old" || err.Hint != "old hint" || err.Fields["country"] != "GB" {
		t.Fatalf("wrapError without a reason = %#v", err)
	}
	if ErrorReason(&Error{Code: EINTERNAL, Err: inner}) != "old" {
		t.Fatal("ErrorReason does not look down the chain")
	}
	err = wrapError(errors.New("disk full"), "Saving failed:", "")
	if err.Code != EINTERNAL {
		t.Fatalf("wrapError of an uncoded error = %#v", err)
	}
}

func TestConversationActiveAt(t *testing.T) {
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	exp := created.Add(time.Hour)
	c := &Conversation{Status: ConversationActive, CreatedAt: created, ExpiresAt: &exp}
	tests := []struct {
		at   time.Time
		want bool
	}{
		{created, true},
		{exp.Add(-time.Nanosecond), true},
		{exp, false}, // at the exact instant it no longer routes
		{exp.In(time.FixedZone("X", 5*3600)), false},
		{exp.Add(time.Nanosecond), false},
	}
	for _, tt := range tests {
		if got := c.ActiveAt(tt.at); got != tt.want {
			t.Errorf("ActiveAt(%s) = %v, want %v", tt.at.Format(time.RFC3339Nano), got, tt.want)
		}
	}

	forever := &Conversation{Status: ConversationActive}
	if !forever.ActiveAt(created.AddDate(100, 0, 0)) {
		t.Error("a conversation without expiry stopped being active")
	}
	ended := &Conversation{Status: ConversationEnded, ExpiresAt: &exp}
	if ended.ActiveAt(created) {
		t.Error("an ended conversation is active")
	}
	if (&Conversation{Status: ConversationEnded}).ActiveAt(created) {
		t.Error("an ended conversation without expiry is active")
	}
}

func TestNumberStatusValid(t *testing.T) {
	for _, s := range []NumberStatus{NumberPurchasing, NumberUnconfigured, NumberActive, NumberReleased} {
		if !s.Valid() {
			t.Errorf("%q.Valid() = false", s)
		}
	}
	for _, s := range []NumberStatus{"", "Active", "bought", "deleted"} {
		if s.Valid() {
			t.Errorf("%q.Valid() = true", s)
		}
	}
}

func TestNumberHasFeature(t *testing.T) {
	n := &Number{Features: []string{"VOICE", "SMS"}}
	if !n.HasFeature("voice") || !n.HasFeature("SMS") || n.HasFeature("MMS") || n.HasFeature("") {
		t.Fatalf("HasFeature wrong for %v", n.Features)
	}
}
