package postgres

import (
	"slices"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// ConversationFilter.Participant selects the conversations one of whose
// participants has the number, on either side, active or ended.
func TestDB_FindConversations_Participant(t *testing.T) {
	db := MustOpenDB(t)
	ctx := t.Context()
	for _, n := range []string{"+447700900101", "+447700900102"} {
		MustCreateNumber(t, db, n, "GB")
	}
	alice, bob, carol := gb("+447700900001", "alice"), gb("+447700900002", "bob"), gb("+447700900003", "carol")
	ab := MustCreateConversation(t, db, t0, 0, alice, bob)
	ca := MustCreateConversation(t, db, t0, 0, carol, alice)
	bc := MustCreateConversation(t, db, t0, 0, bob, carol)
	if _, err := db.EndConversation(ctx, ca.ID, "", t0); err != nil {
		t.Fatal(err)
	}
	ids := func(f maskcall.ConversationFilter) []string {
		t.Helper()
		cs, err := db.FindConversations(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	active := maskcall.ConversationActive
	if got, want := ids(maskcall.ConversationFilter{Participant: &alice.Number}), sorted(ab.ID, ca.ID); !slices.Equal(got, want) {
		t.Errorf("alice's conversations = %v, want %v", got, want)
	}
	if got, want := ids(maskcall.ConversationFilter{Participant: &alice.Number, Status: &active}), []string{ab.ID}; !slices.Equal(got, want) {
		t.Errorf("alice's active conversations = %v, want %v", got, want)
	}
	if got, want := ids(maskcall.ConversationFilter{Participant: &carol.Number, Status: &active}), []string{bc.ID}; !slices.Equal(got, want) {
		t.Errorf("carol's active conversations = %v, want %v", got, want)
	}
	nobody := "+447700900999"
	if got := ids(maskcall.ConversationFilter{Participant: &nobody}); len(got) != 0 {
		t.Errorf("a stranger's conversations = %v", got)
	}
}
