package sqlite

import (
	"fmt"
	"strings"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// queryPlan returns the EXPLAIN QUERY PLAN details of query.
func queryPlan(tb testing.TB, db *DB, query string, args ...any) []string {
	tb.Helper()
	rows, err := db.wdb.Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		tb.Fatalf("%v\n%s", err, query)
	}
	defer rows.Close()
	var details []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			tb.Fatal(err)
		}
		details = append(details, detail)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return details
}

// The hot queries are served by indexes: none scans a table (at 1,000,000
// conversations a scan is the outage) or sorts in a temporary b-tree.
func TestQueryPlans(t *testing.T) {
	db := MustOpenDB(t)
	active := maskcall.ConversationActive
	ref := "r"

	type check struct {
		query string
		args  []any
		uses  []string // index names the plan must mention
	}
	// A listing may walk an index in order (a limit stops it early); it
	// still must not sort.
	lists := map[string]bool{"ListAll": true, "ListActive": true, "ListRef": true, "ListAfter": true, "ListEnded": true, "ListExpired": true}
	cursor := maskcall.ConversationCursor(&maskcall.Conversation{ID: "cv_x", CreatedAt: t0})
	ended, expired := maskcall.ConversationEnded, maskcall.ConversationExpired
	listQuery := func(f maskcall.ConversationFilter) (string, []any) {
		q, args, err := conversationsQuery(f, t0)
		if err != nil {
			t.Fatal(err)
		}
		return q, args
	}
	listAll, listAllArgs := listQuery(maskcall.ConversationFilter{Limit: 20})
	listActive, listActiveArgs := listQuery(maskcall.ConversationFilter{Status: &active, Limit: 20})
	listRef, listRefArgs := listQuery(maskcall.ConversationFilter{Status: &active, Ref: &ref})
	listAfter, listAfterArgs := listQuery(maskcall.ConversationFilter{Status: &active, After: cursor, Limit: 20})
	listEnded, listEndedArgs := listQuery(maskcall.ConversationFilter{Status: &ended, After: cursor, Limit: 20})
	listExpired, listExpiredArgs := listQuery(maskcall.ConversationFilter{Status: &expired, Limit: 20})
	// Every create looks up the pair's active conversations (a retry with
	// the same ref is answered with the first): it must start from the
	// participant, never walk the active conversations.
	participant := alice
	pairQuery, pairArgs := listQuery(maskcall.ConversationFilter{Status: &active, Participant: &participant})
	// ... and the handful it finds are sorted.
	sorts := map[string]bool{"ActiveOfParticipant": true}
	checks := map[string]check{
		"FindRoute": {routeQuery, []any{alice, gb1, "now"},
			[]string{"participants_key_idx", "PRIMARY KEY"}},
		"UsedProxies":     {usedProxiesQuery, []any{alice}, []string{"participants_key_idx"}},
		"Sticky":          {stickyQuery, []any{alice, bob}, []string{"PRIMARY KEY"}},
		"Pool":            {poolQuery, nil, []string{"numbers_status_idx"}},
		"Expired":         {expiredQuery, []any{"now"}, []string{"conversations_expiry_idx"}},
		"EndCounters":     {endCountersStmt, []any{"cv_x"}, []string{"PRIMARY KEY", "sqlite_autoindex_numbers_1"}},
		"EndParticipants": {endParticipantsStmt, []any{"cv_x"}, []string{"PRIMARY KEY"}},
		"EndConversation": {endConversationStmt, []any{"now", "ended", "cv_x"}, []string{"sqlite_autoindex_conversations_1"}},
		"Purge":           {purgeStmt, []any{"now"}, []string{"conversations_ended_idx"}},
		"Participants":    {participantsQuery, []any{"cv_x"}, []string{"PRIMARY KEY"}},
		"NumberReferenced": {numberReferencedQuery, []any{gb1},
			[]string{"participants_proxy_idx"}},
		"CallByUUID": {callByUUIDQuery, []any{"u"}, []string{"sqlite_autoindex_interactions_1"}},
		"LegacyCallByConversationUUID": {legacyCallByConversationUUIDQuery, []any{"c"},
			[]string{"interactions_conversation_uuid_idx"}},
		"Calls":               {callsQuery, []any{"cv_x"}, []string{"interactions_conversation_idx"}},
		"ListAll":             {listAll, listAllArgs, []string{"conversations_created_idx"}},
		"ListActive":          {listActive, listActiveArgs, []string{"conversations_status_idx"}},
		"ListRef":             {listRef, listRefArgs, []string{"conversations_ref_idx"}},
		"ListAfter":           {listAfter, listAfterArgs, []string{"conversations_status_idx"}},
		"ListEnded":           {listEnded, listEndedArgs, []string{"conversations_status_idx"}},
		"ListExpired":         {listExpired, listExpiredArgs, []string{"conversations_status_idx"}},
		"ActiveOfParticipant": {pairQuery, pairArgs, []string{"participants_key_idx", "sqlite_autoindex_conversations_1"}},
		"ExpiredUses":         {expiredUsesQuery, []any{"now"}, []string{"conversations_expiry_idx", "PRIMARY KEY"}},
	}
	for name, c := range checks {
		t.Run(name, func(t *testing.T) {
			plan := queryPlan(t, db, c.query, c.args...)
			all := strings.Join(plan, "\n")
			for _, d := range plan {
				scan := strings.HasPrefix(d, "SCAN ") && !(lists[name] && strings.Contains(d, " USING INDEX "))
				if scan || (strings.Contains(d, "TEMP B-TREE") && !sorts[name]) || strings.Contains(d, "conversations_status_idx") && sorts[name] {
					t.Errorf("plan has %q:\n%s", d, all)
				}
			}
			for _, idx := range c.uses {
				if !strings.Contains(all, idx) {
					t.Errorf("plan does not use %s:\n%s", idx, all)
				}
			}
		})
	}
}

// Every foreign key's child columns lead a full (not partial) index, so
// deleting or checking a parent row never scans the child table.
func TestSchema_ForeignKeysIndexed(t *testing.T) {
	db := MustOpenDB(t)
	q := func(query string, args ...any) [][]string {
		rows, err := db.wdb.Query(query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				row[i] = fmt.Sprint(v)
			}
			out = append(out, row)
		}
		return out
	}
	tables := q(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	for _, tr := range tables {
		table := tr[0]
		// Leading columns of each full index on the table.
		var leads [][]string
		for _, ir := range q(`SELECT name FROM pragma_index_list(?) WHERE partial = 0`, table) {
			var cols []string
			for _, cr := range q(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`, ir[0]) {
				cols = append(cols, cr[0])
			}
			leads = append(leads, cols)
		}
		// Foreign keys, grouped by id.
		fks := map[string][]string{}
		for _, fr := range q(`SELECT id, "from" FROM pragma_foreign_key_list(?) ORDER BY id, seq`, table) {
			fks[fr[0]] = append(fks[fr[0]], fr[1])
		}
		for _, from := range fks {
			ok := false
			for _, cols := range leads {
				if len(cols) >= len(from) && strings.Join(cols[:len(from)], ",") == strings.Join(from, ",") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s(%s) references a parent but no index leads with it", table, strings.Join(from, ","))
			}
		}
	}
}
