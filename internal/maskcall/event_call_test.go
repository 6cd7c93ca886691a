package maskcall

import (
	"errors"
	"testing"
)

// FindEventCall: an inbound leg's event finds its call by uuid; an outbound
// leg's by the call it names, only with the named call's own conversation
// uuid; one naming nothing, an older call by conversation uuid; a lookup's
// error comes back as it is.
func TestFindEventCall(t *testing.T) {
	calls := map[string]*Call{
		"in-new": {UUID: "in-new", ConversationUUID: "CON-NEW"},
	}
	older := map[string]*Call{"CON-OLD": {UUID: "in-old", ConversationUUID: "CON-OLD"}}
	byUUID := func(u string) (string, *Call, error) {
		if u == "broken" {
			return "", nil, errors.New("store down")
		}
		if c := calls[u]; c != nil {
			return "id-" + u, c, nil
		}
		return "", nil, nil
	}
	byOlder := func(cu string) (string, *Call, error) {
		if c := older[cu]; c != nil {
			return "id-" + c.UUID, c, nil
		}
		return "", nil, nil
	}
	for _, tc := range []struct {
		name string
		ev   CallEvent
		want string // the call's id, "" for none
		err  bool
	}{
		{"inbound leg", CallEvent{UUID: "in-new", ConversationUUID: "CON-NEW"}, "id-in-new", false},
		{"outbound leg naming its call", CallEvent{UUID: "out", ConversationUUID: "CON-NEW", CallUUID: "in-new"}, "id-in-new", false},
		{"naming another conversation's call", CallEvent{UUID: "out", ConversationUUID: "CON-X", CallUUID: "in-new"}, "", false},
		{"naming a call without a conversation uuid", CallEvent{UUID: "out", CallUUID: "in-new"}, "", false},
		{"naming a call that does not exist", CallEvent{UUID: "out", ConversationUUID: "CON-NEW", CallUUID: "nobody"}, "", false},
		{"a new call is not found by conversation uuid", CallEvent{UUID: "out", ConversationUUID: "CON-NEW"}, "", false},
		{"an older call is", CallEvent{UUID: "out", ConversationUUID: "CON-OLD"}, "id-in-old", false},
		{"a lookup that fails", CallEvent{UUID: "broken"}, "", true},
		{"a named lookup that fails", CallEvent{UUID: "out", ConversationUUID: "CON-NEW", CallUUID: "broken"}, "", true},
	} {
		id, c, err := FindEventCall(tc.ev, byUUID, byOlder)
		if (err != nil) != tc.err || id != tc.want || (c != nil) != (tc.want != "") {
			t.Errorf("%s: %q %+v %v; want %q (error %v)", tc.name, id, c, err, tc.want, tc.err)
		}
	}
}
