package store

import (
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/internal/eventkey"
)

// TestQueriesBySessionSearchIndexesAndNeverScanTheEvents: since migration
// 0008 no index holds (agent, session_id) for cb/ events, so a query by
// session that SQLite cannot answer from the key range or the partial
// index reads the whole events table, per session moved: a backfill that
// re-bills thousands of sessions would crawl. Every query by session is
// checked with EXPLAIN QUERY PLAN, at the size it runs with (a list of 500
// sessions made SQLite prefer an automatic index over all the events):
// each part searches an index, none scans the events or builds an
// automatic index over them.
func TestQueriesBySessionSearchIndexesAndNeverScanTheEvents(t *testing.T) {
	s, _ := openTemp(t)
	for name, q := range map[string]struct {
		sql  string
		args int
	}{
		"move":                 {moveSelect, 5},
		"sessions to move":     {elsewhereQuery(movesPerQuery), 5*movesPerQuery + 1},
		"re-attribute cb":      {reattributeEvents(sessionCB), 5},
		"re-attribute others":  {reattributeEvents(sessionOther), 5},
		"sessions of customer": {sessionsOfQuery, 2},
	} {
		args := make([]any, q.args)
		for i := range args {
			args[i] = "x"
		}
		rows, err := s.w.Query("EXPLAIN QUERY PLAN "+q.sql, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		t.Logf("%s:\n%s", name, all)
		searches := strings.Count(all, "SEARCH e USING INDEX") + strings.Count(all, "SEARCH events USING INDEX")
		for _, l := range plan {
			if strings.HasPrefix(l, "SCAN e") || strings.HasPrefix(l, "SCAN events") || strings.Contains(l, "AUTOMATIC") {
				t.Errorf("%s: the plan reads the events without its index: %q in\n%s", name, l, all)
			}
		}
		if want := 2 - strings.Count(name, "re-attribute"); searches < want {
			t.Errorf("%s: %d index searches of the events, want %d:\n%s", name, searches, want, all)
		}
	}
}

// TestTheSQLSessionPrefixIsEventkeys: SessionsOf builds each session's key
// prefix in SQL; it must be byte for byte the one the monitor's keys start
// with (eventkey.SessionPrefix), or a session's calls would go missing from
// the digest.
func TestTheSQLSessionPrefixIsEventkeys(t *testing.T) {
	s, _ := openTemp(t)
	for _, x := range [][2]string{{"main", "8a51f00f-419e-4c2b-9e35-1f0c2d3e4a5b"}, {"a%b", "s/1"}, {"a/b", "%2F"},
		{"%", "%%//"}, {"ä", "@x"}, {"", ""}} {
		var got string
		if err := s.w.QueryRow("SELECT "+sqlSessionPrefix+" || '/' FROM (SELECT ? AS agent, ? AS session_id) s", x[0], x[1]).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := eventkey.SessionPrefix(x[0], x[1]); got != want {
			t.Errorf("agent %q session %q: SQL prefix %q, eventkey's %q", x[0], x[1], got, want)
		}
	}
}
