package store_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/eventkey"
	"github.com/quotawatch/quotawatch/store"
)

// keyCustomers is every stored event's customer by key.
func keyCustomers(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	rows, err := st.DB().Query("SELECT key, customer FROM events")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, c string
		if err := rows.Scan(&k, &c); err != nil {
			t.Fatal(err)
		}
		out[k] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// requestsOf is each customer's requests in 2026-11 as the rollup has them.
func requestsOf(t *testing.T, st *store.Store) map[string]int64 {
	t.Helper()
	us, err := st.UsageByPeriod(context.Background(), "2026-11", "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, u := range us {
		out[u.Customer] = u.Requests
	}
	return out
}

// TestAMoveTakesAllOfItsSessionsEventsAndNoneOfAnother: sessions whose ids
// start with one another's ("s", "s-2", "s0", "s/x", and "s%2Fx", the
// escaped spelling of "s/x" written literally), under an agent that needs
// escaping ("a%b/c") and under "main", each with Clawdbot keys (cb/) and
// generic JSONL keys (jl/, which do not carry the session) of the same
// (agent, session): a move, then a re-attribution, re-bill exactly the
// events of the sessions they name, in the events and in the totals.
func TestAMoveTakesAllOfItsSessionsEventsAndNoneOfAnother(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	per := func(string, int64) string { return "2026-11-15" }
	sessions := []string{"s", "s-2", "s0", "s/x", "s%2Fx", "s%"}
	var b store.Batch
	owner := map[string]string{} // key → "agent|session"
	for _, agent := range []string{"a%b/c", "main"} {
		for _, sess := range sessions {
			b.Sessions = append(b.Sessions, store.Session{Agent: agent, SessionID: sess, Customer: "old"})
			for i, k := range []string{
				eventkey.SessionPrefix(agent, sess) + "e1",
				eventkey.SessionPrefix(agent, sess) + "@40",
				"jl/" + strings.ReplaceAll(agent, "/", "%2F") + "/id:" + agent + sess,
			} {
				owner[k] = agent + "|" + sess
				b.Events = append(b.Events, store.Event{Key: k, Agent: agent, SessionID: sess, TimeMs: int64(i),
					Customer: "old", Provider: "p", Model: "m", Input: 1, CostUSD: 0.5, Priced: true})
			}
		}
	}
	if res, err := st.Commit(ctx, &b, per); err != nil || res.Inserted != len(owner) || len(res.Rejected) > 0 {
		t.Fatalf("commit: %+v %v", res, err)
	}
	check := func(step string, moved map[string]string) {
		t.Helper()
		got := keyCustomers(t, st)
		want := map[string]int64{}
		for k, o := range owner {
			c := "old"
			if m, ok := moved[o]; ok {
				c = m
			}
			want[c]++
			if got[k] != c {
				t.Errorf("%s: event %s of %s billed to %q, want %q", step, k, o, got[k], c)
			}
		}
		if r := requestsOf(t, st); len(r) != len(want) {
			t.Errorf("%s: requests %v, want %v", step, r, want)
		} else {
			for c, n := range want {
				if r[c] != n {
					t.Errorf("%s: %s has %d requests, want %d", step, c, r[c], n)
				}
			}
		}
	}
	moved := map[string]string{"a%b/c|s": "new", "main|s/x": "new2"}
	if _, err := st.Commit(ctx, &store.Batch{Moves: []store.Move{
		{Agent: "a%b/c", SessionID: "s", Customer: "new"}, {Agent: "main", SessionID: "s/x", Customer: "new2"},
	}}, per); err != nil {
		t.Fatal(err)
	}
	check("after the moves", moved)

	// A re-attribution sends every session to the customer it names.
	moved = map[string]string{"a%b/c|s0": "r1", "main|s": "r2", "main|s%2Fx": "r3"}
	customerOf := func(x store.Session) string {
		if c, ok := moved[x.Agent+"|"+x.SessionID]; ok {
			return c
		}
		return "old"
	}
	if _, err := st.Reattribute(ctx, "fp2", customerOf, per); err != nil {
		t.Fatal(err)
	}
	check("after the re-attribution", moved)

	// And the digest's list of a customer's sessions finds each session's
	// events both ways too.
	su, n, err := st.SessionsOf(ctx, "r2", "2026-11", 0)
	if err != nil || n != 1 || su[0].Agent != "main" || su[0].SessionID != "s" || su[0].Requests != 3 {
		t.Errorf("SessionsOf(r2) = %+v, %d, %v; want main/s with 3 requests", su, n, err)
	}
}

// TestACbKeyOfAnotherSessionIsARejectedEvent: an event whose cb/ key does
// not start with its own session's prefix would be left behind by every
// move of its session (found by that prefix), billed to the old customer:
// it is refused as a bad event, and the rest of the batch is stored.
func TestACbKeyOfAnotherSessionIsARejectedEvent(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	per := func(string, int64) string { return "2026-11-15" }
	ev := func(key, agent, sess string) store.Event {
		return store.Event{Key: key, Agent: agent, SessionID: sess, Customer: "c", Input: 1}
	}
	res, err := st.Commit(ctx, &store.Batch{Events: []store.Event{
		ev("cb/main/s1/e1", "main", "s1"),
		ev("cb/main/s1/e2", "main", "s2"),       // another session's key
		ev("cb/main/s/1/e3", "main", "s/1"),     // '/' not escaped
		ev("cb/a%25b/s%2F1/e4", "a%b", "s/1"),   // escaped: fine
		ev("cb/main/s1", "main", "s1"),          // no '/' after the session
		ev("jl/main/id:x", "other", "s9"),       // jl keys carry no session
		ev("cb/main/s1x/e5", "main", "s1"),      // a longer session's key
		ev("cb/a%b/s/e6", "a%b", "s"),           // '%' not escaped
		ev("cb/a%25b/s%2F1/e7", "a%25b", "s/1"), // escaped twice
	}}, per)
	if err != nil {
		t.Fatal(err)
	}
	var rejected []string
	for _, r := range res.Rejected {
		rejected = append(rejected, r.Key)
		if !strings.Contains(r.Reason, "is not of its session") {
			t.Errorf("reason for %s: %q", r.Key, r.Reason)
		}
	}
	sort.Strings(rejected)
	want := []string{"cb/a%25b/s%2F1/e7", "cb/a%b/s/e6", "cb/main/s/1/e3", "cb/main/s1", "cb/main/s1/e2", "cb/main/s1x/e5"}
	if strings.Join(rejected, " ") != strings.Join(want, " ") || res.Inserted != 3 {
		t.Errorf("rejected %v, inserted %d; want %v and 3", rejected, res.Inserted, want)
	}
}

// TestMigration0008KeepsASchema5DatabasesTotalsAndFindsItsSessions opens
// the database the release before migration 0008 wrote (testdata/v5/v5.db,
// see its make-fixture.sh: sessions whose ids start with one another's, an
// agent and a session that need escaping, and JSONL events of the very
// (agent, session) of a transcript): the (agent, session_id) index is
// replaced by the partial one, no event or total changes, and a move and a
// re-attribution still take every event of their sessions.
func TestMigration0008KeepsASchema5DatabasesTotalsAndFindsItsSessions(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("testdata", "v5", "v5.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v5.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	raw := openRawDB(t, path)
	var version int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != 5 {
		t.Fatalf("fixture schema %d %v, want 5", version, err)
	}
	var fp string
	if err := raw.QueryRow("SELECT value FROM meta WHERE key = 'attribution'").Scan(&fp); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var idx []string
	rows, err := st.DB().Query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		idx = append(idx, n)
	}
	rows.Close()
	if strings.Join(idx, ",") != "events_session_other" {
		t.Errorf("indexes on events: %v, want events_session_other only", idx)
	}
	if r := requestsOf(t, st); len(r) != 2 || r["acme"] != 8 || r["other"] != 4 {
		t.Errorf("requests after the migration: %v, want acme 8, other 4 (the backfill's)", r)
	}
	before := keyCustomers(t, st)
	if len(before) != 12 {
		t.Fatalf("%d events after the migration, want 12", len(before))
	}

	// main/aaaa: 3 transcript calls and the 2 JSONL lines of the source
	// "main" in session "aaaa"; main/aaaa-2 stays.
	if _, err := st.Commit(ctx, &store.Batch{Moves: []store.Move{{Agent: "main", SessionID: "aaaa", Customer: "zed"}}}, dayIn(nil)); err != nil {
		t.Fatal(err)
	}
	after := keyCustomers(t, st)
	for k, c := range before {
		want := c
		if strings.HasPrefix(k, "cb/main/aaaa/") || k == "jl/main/id:r3" || k == "jl/main/id:r4" {
			want = "zed"
		}
		if after[k] != want {
			t.Errorf("after the move, %s is billed to %q, want %q", k, after[k], want)
		}
	}
	if r := requestsOf(t, st); len(r) != 3 || r["zed"] != 5 || r["acme"] != 3 || r["other"] != 4 {
		t.Errorf("requests after the move: %v, want zed 5, acme 3, other 4", r)
	}

	// A new mapping bills o%ps/b/b (escaped in its keys) apart and keeps
	// main/aaaa where the move put it (the sessions table still says acme:
	// the monitor records that beside its moves).
	if _, err := st.Reattribute(ctx, fp+"-2", func(x store.Session) string {
		switch {
		case x.Agent == "o%ps" && x.SessionID == "b/b":
			return "esc"
		case x.Agent == "main" && x.SessionID == "aaaa":
			return "zed"
		}
		return x.Customer
	}, dayIn(nil)); err != nil {
		t.Fatal(err)
	}
	if r := requestsOf(t, st); len(r) != 4 || r["esc"] != 2 || r["zed"] != 5 || r["acme"] != 3 || r["other"] != 2 {
		t.Errorf("requests after the re-attribution: %v, want esc 2, zed 5, acme 3, other 2", r)
	}
	su, n, err := st.SessionsOf(ctx, "zed", "2026-11", 0)
	if err != nil || n != 1 || su[0].SessionID != "aaaa" || su[0].Requests != 5 {
		t.Errorf("SessionsOf(zed) = %+v, %d, %v; want main/aaaa with 5 requests", su, n, err)
	}
}

// TestMigration0008MovesAKeyOfAnotherSessionOutOfTheCbRange: a cb/ key
// that does not start with its row's session prefix (no release wrote one,
// but a database may hold anything) is renamed out of the cb/ range by the
// migration, so the partial index covers it and a move of its session
// still takes it.
func TestMigration0008MovesAKeyOfAnotherSessionOutOfTheCbRange(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("testdata", "v5", "v5.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v5.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	raw := openRawDB(t, path)
	if _, err := raw.Exec(`INSERT INTO events (key, agent, session_id, ts, period, mday, customer, provider, model, input)
		VALUES ('cb/main/zzzz/x', 'main', 'aaaa', 1794304800000, '2026-11', 10, 'acme', 'p', 'm', 1)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := keyCustomers(t, st)
	if _, ok := got["qw-0008/cb/main/zzzz/x"]; !ok || len(got) != 13 {
		t.Fatalf("keys after the migration: %v, want cb/main/zzzz/x renamed qw-0008/cb/main/zzzz/x", got)
	}
	if _, err := st.Commit(ctx, &store.Batch{Moves: []store.Move{{Agent: "main", SessionID: "aaaa", Customer: "zed"}}}, dayIn(nil)); err != nil {
		t.Fatal(err)
	}
	if c := keyCustomers(t, st)["qw-0008/cb/main/zzzz/x"]; c != "zed" {
		t.Errorf("the renamed event is billed to %q after its session moved, want zed", c)
	}
}

// TestEventsMovedInTheirOwnBatchAreStoredUnderTheirNewCustomerAndDay: a
// session that learns its customer after its calls were read into the same
// batch (a backfill's usual case) has those calls stored under the new
// customer with the new customer's day (Riyadh's 1 December for 22:30 UTC
// on 30 November), as if inserted under the old one and then moved; the
// old customer, whose totals do not change, is not among the touched
// months. A session moved twice in the batch (X → D → C) ends at C, its
// earlier stored call with it, and so does one whose earlier call was at
// D already (the move to D has nothing to do, the move to C moves it).
func TestEventsMovedInTheirOwnBatchAreStoredUnderTheirNewCustomerAndDay(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	day := dayIn(map[string]*time.Location{"riyadh": mustLoad(t, "Asia/Riyadh"), "la": mustLoad(t, "America/Los_Angeles")})
	ts := time.Date(2026, 11, 30, 22, 30, 0, 0, time.UTC).UnixMilli()
	ev := func(sess, entry string) store.Event {
		return store.Event{Key: eventkey.SessionPrefix("main", sess) + entry, Agent: "main", SessionID: sess, TimeMs: ts,
			Customer: "pending", Provider: "p", Model: "m", Input: 7, CostUSD: 0.25, Priced: true}
	}
	la := ev("dc", "e4")
	la.Customer = "la"
	if _, err := st.Commit(ctx, &store.Batch{Events: []store.Event{ev("twice", "e0"), la}}, day); err != nil {
		t.Fatal(err)
	}
	res, err := st.Commit(ctx, &store.Batch{
		Events: []store.Event{ev("s", "e1"), ev("s", "e2"), ev("twice", "e3"), ev("dc", "e5")},
		Moves: []store.Move{{Agent: "main", SessionID: "s", Customer: "riyadh"},
			{Agent: "main", SessionID: "twice", Customer: "la"}, {Agent: "main", SessionID: "twice", Customer: "riyadh"},
			{Agent: "main", SessionID: "dc", Customer: "la"}, {Agent: "main", SessionID: "dc", Customer: "riyadh"}},
	}, day)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := st.DB().Query("SELECT key, customer, period, mday FROM events ORDER BY key")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var k, c, p string
		var md int
		if err := rows.Scan(&k, &c, &p, &md); err != nil {
			t.Fatal(err)
		}
		got = append(got, k+" "+c+" "+p+"-"+strconv.Itoa(md))
	}
	rows.Close()
	want := "cb/main/dc/e4 riyadh 2026-12-1,cb/main/dc/e5 riyadh 2026-12-1,cb/main/s/e1 riyadh 2026-12-1,cb/main/s/e2 riyadh 2026-12-1," +
		"cb/main/twice/e0 riyadh 2026-12-1,cb/main/twice/e3 riyadh 2026-12-1"
	if strings.Join(got, ",") != want {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, ","), want)
	}
	daily, err := st.UsageDaily(ctx, "2026-11-01", "2026-12-31", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(daily) != 1 || daily[0].Customer != "riyadh" || daily[0].Day != "2026-12-01" || daily[0].Requests != 6 || daily[0].Input != 42 {
		t.Errorf("daily totals %+v, want riyadh 2026-12-01 with 6 requests", daily)
	}
	for _, p := range []string{"2026-11", "2026-12"} {
		us, err := st.UsageByPeriod(ctx, p, "")
		if err != nil {
			t.Fatal(err)
		}
		if n := 0; p == "2026-12" {
			n = 1
			if len(us) != n || us[0].Customer != "riyadh" || us[0].Requests != 6 || us[0].CostNanos != 1.5e9 {
				t.Errorf("%s: %+v, want riyadh with 6 requests, $1.50", p, us)
			}
		} else if len(us) != n {
			t.Errorf("%s: %+v, want no rows", p, us)
		}
	}
	touched := map[store.CustomerPeriod]bool{}
	for _, cp := range res.Touched {
		touched[cp] = true
	}
	// twice/e0 left pending's November and passed through la's, dc/e4
	// left la's.
	wantTouched := map[store.CustomerPeriod]bool{{Customer: "riyadh", Period: "2026-12"}: true,
		{Customer: "pending", Period: "2026-11"}: true, {Customer: "la", Period: "2026-11"}: true}
	if len(touched) != len(wantTouched) {
		t.Errorf("touched %v, want %v", res.Touched, wantTouched)
	}
	for cp := range wantTouched {
		if !touched[cp] {
			t.Errorf("touched %v, want %v", res.Touched, wantTouched)
		}
	}
	if b := res.Billed; len(b) != 3 || b["riyadh"].Requests != 6 || b["pending"].Requests != -1 || b["la"].Requests != -1 {
		t.Errorf("billed %+v, want riyadh +6, pending -1, la -1", b)
	}
}

// TestAnEventMovedInItsOwnBatchTouchesOnlyItsNewCustomer: the single move
// of a session whose calls are all in the batch leaves the old customer's
// totals as they were, and the batch says it touched the new customer's
// month only.
func TestAnEventMovedInItsOwnBatchTouchesOnlyItsNewCustomer(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	per := func(string, int64) string { return "2026-11-15" }
	res, err := st.Commit(ctx, &store.Batch{
		Events: []store.Event{{Key: "cb/main/s/e1", Agent: "main", SessionID: "s", Customer: "pending", Input: 1}},
		Moves:  []store.Move{{Agent: "main", SessionID: "s", Customer: "acme"}},
	}, per)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Touched) != 1 || res.Touched[0] != (store.CustomerPeriod{Customer: "acme", Period: "2026-11"}) {
		t.Errorf("touched %v, want acme 2026-11 only", res.Touched)
	}
	if r := requestsOf(t, st); len(r) != 1 || r["acme"] != 1 {
		t.Errorf("requests %v, want acme 1", r)
	}
}
