package store_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/quotawatch/quotawatch/store"
)

func periodUTC(string, int64) string { return "2026-11-15" }

// TestCursorIsCommittedWithItsEventsOrNotAtAll: a cursor travels in the
// batch of the events it accounts for. A batch whose cursor is refused
// stores none of its events either (so a restart reads them again, from the
// old cursor); a good batch stores both; a later cursor for the same item
// replaces the earlier one, and a new Store reads it back.
func TestCursorIsCommittedWithItsEventsOrNotAtAll(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "qw.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ev := store.Event{Key: "oc/main/s/1", Agent: "main", SessionID: "s", TimeMs: 1, Period: "2026-11", Customer: "acme", Input: 10, Output: 1, CostUSD: 0.5, Priced: true}
	db := "/state/agents/main/agent/openclaw-agent.sqlite"
	bad := &store.Batch{Events: []store.Event{ev}, Cursors: []store.Cursor{{Source: "openclaw", Item: db, State: `{"seq": `}}}
	if _, err := st.Commit(ctx, bad, periodUTC); err == nil {
		t.Fatal("a batch with a cursor that is not JSON was committed")
	}
	if n, _ := st.EventCount(ctx); n != 0 {
		t.Fatalf("%d events stored from a refused batch, want 0: its cursor did not land, so they must not either", n)
	}
	if cs, err := st.Cursors(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("cursors %+v %v after a refused batch, want none", cs, err)
	}
	good := &store.Batch{Events: []store.Event{ev}, Cursors: []store.Cursor{{Source: "openclaw", Item: db, State: `{"s":{"seq":1}}`}}}
	if res, err := st.Commit(ctx, good, periodUTC); err != nil || res.Inserted != 1 {
		t.Fatalf("commit %+v %v", res, err)
	}
	ev.Key = "oc/main/s/2"
	next := &store.Batch{Events: []store.Event{ev}, Cursors: []store.Cursor{{Source: "openclaw", Item: db, State: `{"s":{"seq":2}}`}}}
	if _, err := st.Commit(ctx, next, periodUTC); err != nil {
		t.Fatal(err)
	}
	// A batch with only a cursor (rows read, none of them a call) is not empty.
	only := &store.Batch{Cursors: []store.Cursor{{Source: "openclaw", Item: db + "2", State: `{}`}}}
	if only.Empty() {
		t.Fatal("a batch holding only a cursor reports itself empty: it would never be written")
	}
	if _, err := st.Commit(ctx, only, periodUTC); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs, err := st.Cursors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Item != db || cs[0].State != `{"s":{"seq":2}}` || cs[0].UpdatedMs == 0 || cs[1].Item != db+"2" {
		t.Errorf("cursors %+v, want the later state of %s and the cursor-only batch's", cs, db)
	}
	if n, _ := st.EventCount(ctx); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
}

// TestMigration0004KeepsADatabaseWrittenByTheLastRelease opens
// testdata/v3/v3.db, written by quotawatch at cc59df3 (schema 3, see
// make-fixture.sh): after migration 0004 it is at the current schema, has
// an empty cursors table, and keeps every event, total, file checkpoint and
// session exactly as they were.
func TestMigration0004KeepsADatabaseWrittenByTheLastRelease(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "v3", "v3.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v3.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// What the old release left, read without the store (no migration).
	// Costs are compared in nano-dollars (migration 0005): the old REAL
	// cost (the fixture's are quarters, exact in binary) rounded, the new
	// integer column as it is.
	snapshot := func(db *sql.DB, cost string) map[string]string {
		t.Helper()
		out := map[string]string{}
		for name, q := range map[string]string{
			"events":   `SELECT group_concat(key || '|' || customer || '|' || input || '|' || ` + cost + `, ',') FROM (SELECT * FROM events ORDER BY key)`,
			"rollup":   `SELECT group_concat(customer || '|' || period || '|' || requests || '|' || input || '|' || ` + cost + `, ',') FROM (SELECT * FROM rollup ORDER BY customer)`,
			"files":    `SELECT group_concat(path || '|' || dev || '|' || ino || '|' || off || '|' || fp_head || '|' || tail_hash || '|' || lines, ',') FROM (SELECT * FROM files ORDER BY path)`,
			"sessions": `SELECT group_concat(agent || '|' || session_id || '|' || session_key || '|' || peer || '|' || customer, ',') FROM (SELECT * FROM sessions ORDER BY agent, session_id)`,
		} {
			var v sql.NullString
			if err := db.QueryRow(q).Scan(&v); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name] = v.String
		}
		return out
	}
	u := url.URL{Scheme: "file", Path: path}
	raw, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	var version int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != 3 {
		t.Fatalf("fixture schema version %d %v, want 3", version, err)
	}
	before := snapshot(raw, "CAST(round(cost * 1e9) AS INTEGER)")
	raw.Close()
	if before["events"] == "" || before["files"] == "" || before["sessions"] == "" {
		t.Fatalf("fixture holds too little to prove anything: %v", before)
	}

	ctx := context.Background()
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("open the version-3 database: %v", err)
	}
	defer st.Close()
	if err := st.DB().QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != store.SchemaVersion() || version < 4 {
		t.Errorf("schema version %d %v after the upgrade, want %d", version, err, store.SchemaVersion())
	}
	if after := snapshot(st.DB(), "cost_nanos"); len(after) != len(before) {
		t.Fatal(after)
	} else {
		for k, v := range before {
			if after[k] != v {
				t.Errorf("%s changed by the upgrade:\nbefore %s\nafter  %s", k, v, after[k])
			}
		}
	}
	cs, err := st.Cursors(ctx)
	if err != nil || len(cs) != 0 {
		t.Errorf("cursors %+v %v on an upgraded database, want none", cs, err)
	}
	if n, err := st.EventCount(ctx); err != nil || n != 9 {
		t.Errorf("%d events %v, want the fixture's 9", n, err)
	}
	b := &store.Batch{Cursors: []store.Cursor{{Source: "openclaw", Item: "x", State: `{"rowid":7}`}}}
	if _, err := st.Commit(ctx, b, periodUTC); err != nil {
		t.Errorf("write a cursor on the upgraded database: %v", err)
	}
	if _, err := st.Commit(ctx, &store.Batch{Cursors: []store.Cursor{{Source: "openclaw", Item: "x", State: "not json"}}}, periodUTC); err == nil {
		t.Error("the upgraded cursors table accepted a state that is not JSON")
	} else if errors.Is(err, context.Canceled) {
		t.Error(err)
	}
}
