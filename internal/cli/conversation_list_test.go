package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// seedConversations stores n conversations created a second apart, ending
// at now-1h, without expiry, on two pool numbers.
func seedConversations(t *testing.T, e *testEnv, n int) []string {
	t.Helper()
	db := e.db()
	now := time.Now()
	for _, num := range []string{"+447700900001", "+447700900002"} {
		if err := db.CreateNumber(t.Context(), &maskcall.Number{Number: num, Country: "GB", Features: []string{"VOICE", "SMS"},
			Status: maskcall.NumberActive}, now); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for i := range n {
		c := &maskcall.Conversation{Participants: []maskcall.Participant{
			{Number: fmt.Sprintf("+4477009101%02d", i), Country: "GB"}, {Number: fmt.Sprintf("+4477009201%02d", i), Country: "GB"}}}
		if err := db.CreateConversation(t.Context(), c, nil, now.Add(time.Duration(i-n)*time.Second-time.Hour)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	slices.Reverse(ids) // newest first
	return ids
}

var afterRe = regexp.MustCompile(`--after (c1\.[A-Za-z0-9_-]+)`)

// A full page says on stderr how many were left out and the cursor of the
// next page; following the cursors lists every conversation once.
func TestConversationList_Paging(t *testing.T) {
	e := newTestEnv(t)
	want := seedConversations(t, e, 5)

	var got []string
	args := []string{"conversation", "list", "--status", "all", "--limit", "2", "-o", "json"}
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("paging does not end")
		}
		r := e.must(args...)
		var cs []maskcall.Conversation
		if err := json.Unmarshal([]byte(r.Stdout), &cs); err != nil {
			t.Fatalf("%v: %s", err, r.Stdout)
		}
		for _, c := range cs {
			got = append(got, c.ID)
		}
		m := afterRe.FindStringSubmatch(r.Stderr)
		if left := len(want) - len(got); left == 0 {
			if m != nil || strings.Contains(r.Stderr, "more") {
				t.Fatalf("last page still points further: %q", r.Stderr)
			}
			break
		} else if m == nil || !strings.Contains(r.Stderr, fmt.Sprintf("%d more conversation", left)) {
			t.Fatalf("page %d: stderr %q does not say %d more and give the next cursor", page, r.Stderr, left)
		}
		args = []string{"conversation", "list", "--status", "all", "--limit", "2", "-o", "json", "--after", m[1]}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged ids %v, want %v", got, want)
	}

	// The table says it too; a bad cursor is a usage error.
	if r := e.must("conversation", "list", "--status", "all", "--limit", "4"); !strings.Contains(r.Stderr, "1 more conversation") {
		t.Errorf("table stderr %q", r.Stderr)
	}
	if r := e.run("conversation", "list", "--after", "cv_nope"); r.Code != 2 || !strings.Contains(r.Stderr, "cursor") {
		t.Errorf("bad cursor: exit %d, %q", r.Code, r.Stderr)
	}
}

// An expired conversation no sweep has recorded is expired everywhere: the
// table, show, JSON, --status expired, and the numbers' counts.
func TestConversation_ExpiredStatus(t *testing.T) {
	e := newTestEnv(t)
	db := e.db()
	now := time.Now()
	if err := db.CreateNumber(t.Context(), &maskcall.Number{Number: "+447700900001", Country: "GB", Features: []string{"VOICE", "SMS"},
		Status: maskcall.NumberActive}, now); err != nil {
		t.Fatal(err)
	}
	created, exp := now.Add(-2*time.Hour), now.Add(-time.Hour)
	c := &maskcall.Conversation{ExpiresAt: &exp, Participants: []maskcall.Participant{
		{Number: "+447700910100", Country: "GB"}, {Number: "+447700920100", Country: "GB"}}}
	if err := db.CreateConversation(t.Context(), c, nil, created); err != nil {
		t.Fatal(err)
	}

	var shown struct {
		Status    string     `json:"status"`
		EndReason string     `json:"end_reason"`
		EndedAt   *time.Time `json:"ended_at"`
	}
	if err := json.Unmarshal([]byte(e.must("conversation", "show", c.ID, "-o", "json").Stdout), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Status != "expired" || shown.EndReason != "expired" || shown.EndedAt == nil || !shown.EndedAt.Equal(exp) {
		t.Errorf("show -o json = %+v, want status expired, ended at its expiry", shown)
	}
	if out := e.must("conversation", "show", c.ID).Stdout; !regexp.MustCompile(`Status:\s+expired\n`).MatchString(out) {
		t.Errorf("show:\n%s", out)
	}
	if r := e.must("conversation", "list", "--status", "expired", "-o", "json"); !strings.Contains(r.Stdout, c.ID) || !strings.Contains(r.Stdout, `"status": "expired"`) {
		t.Errorf("--status expired:\n%s", r.Stdout)
	}
	if r := e.must("conversation", "list", "-o", "json"); strings.Contains(r.Stdout, c.ID) {
		t.Errorf("the default (active) listing shows the expired conversation:\n%s", r.Stdout)
	}
	if out := e.must("conversation", "list", "--status", "all").Stdout; !strings.Contains(out, "expired") {
		t.Errorf("table:\n%s", out)
	}
	if n := e.number("+447700900001"); n.ActiveConversations != 0 {
		t.Errorf("the expired conversation still counts as active: %d", n.ActiveConversations)
	}
	var nums []maskcall.Number
	if err := json.Unmarshal([]byte(e.must("numbers", "list", "-o", "json").Stdout), &nums); err != nil || len(nums) != 1 || nums[0].ActiveConversations != 0 {
		t.Errorf("numbers list: %+v %v", nums, err)
	}
}
