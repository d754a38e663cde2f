package monitor

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/parser"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// openRaw opens a database file without the store (no migration).
func openRaw(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// copyTree copies a directory tree of regular files.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpgradedDatabaseKeepsEveryEventOnceAndSplitsTheCollidingPair opens
// store/testdata/v2/v2.db, written by quotawatch at 9227b18 over the
// transcripts and log beside it (keys with '/', '%' and '@' in sessionIds,
// entry ids and agents; sessionId "x" + entry "y/z" and sessionId "x/y" +
// entry "z" stored as one event). After the migration, reading every line
// again adds exactly the call the collision had dropped, and nothing else.
func TestUpgradedDatabaseKeepsEveryEventOnceAndSplitsTheCollidingPair(t *testing.T) {
	fixture := filepath.Join("..", "store", "testdata", "v2")
	root := t.TempDir()
	copyTree(t, filepath.Join(fixture, "state"), filepath.Join(root, "state"))
	copyTree(t, filepath.Join(fixture, "proxy"), filepath.Join(root, "proxy"))
	data, err := os.ReadFile(filepath.Join(fixture, "v2.db"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(root, "qw.db")
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatalf("open the version-2 database: %v", err)
	}
	defer st.Close()
	before, _ := st.EventCount(ctx)
	if before != 14 {
		t.Fatalf("fixture holds %d events, want 14", before)
	}
	// Read every line again, as after a restore to other inodes (the
	// fixture's inodes could even match files here).
	if _, err := st.DB().Exec("DELETE FROM files"); err != nil {
		t.Fatal(err)
	}
	attr := NewAttributor([]report.Customer{{ID: "acme"}}, "acme", time.UTC)
	cfg := Config{Sources: []SourceConfig{
		{Type: SourceClawdbot, Dir: filepath.Join(root, "state")},
		{Type: SourceJSONL, Name: "proxy", Path: filepath.Join(root, "proxy", "*.jsonl"), Fields: parser.DefaultFields()},
	}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg, st, attr, quiet).Backfill(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Inserted != 1 || s.Duplicates != 14 || s.Bad != 0 {
		t.Errorf("re-reading after the upgrade: %+v; want 1 new event (the call the collision dropped) and 14 duplicates", s)
	}
	var n int
	if err := st.DB().QueryRow("SELECT COUNT(*) FROM events WHERE agent = 'main' AND session_id IN ('x', 'x/y') AND key LIKE 'cb/main/x%'").Scan(&n); err != nil || n != 3 {
		t.Errorf("%d events of sessions x and x/y (%v), want 3: x/y%%2Fz, x/e1 and x%%2Fy/z", n, err)
	}
	us, err := st.UsageByPeriod(ctx, "2026-11", "acme")
	if err != nil || len(us) != 1 {
		t.Fatalf("usage %+v %v", us, err)
	}
	// 153,597 input tokens before (make-fixture.sh), plus the 40 of the call
	// the collision dropped.
	if u := us[0]; u.Requests != 15 || u.Input != 153597+40 || u.Output != 15 {
		t.Errorf("acme %+v, want 15 requests and %d input tokens", u, 153597+40)
	}
	// And once more: the checkpoints now hold, nothing is read.
	s, err = New(cfg, st, attr, quiet).Backfill(ctx, nil, nil)
	if err != nil || s.Lines != 0 || s.Inserted != 0 {
		t.Errorf("second backfill %+v %v", s, err)
	}
}

// TestMigratedKeysAreTheKeysTheMonitorBuilds: for every combination of
// awkward characters, migration 0003 turns the key an earlier version
// stored into exactly the key the monitor now builds for the same call, so
// a call read again after the upgrade is recognised. (An old entry id of
// the form "@<digits>" cannot be told from a line offset and is read as
// one; Clawdbot never writes such ids, so those are left out.)
func TestMigratedKeysAreTheKeysTheMonitorBuilds(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "store", "testdata", "v2", "v2.db"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "qw.db")
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	type row struct{ agent, session, old, want string }
	var rows []row
	seen := map[string]bool{}
	add := func(agent, session, old, want string) {
		if !seen[old] { // the old form collides: only the first was stored
			seen[old] = true
			rows = append(rows, row{agent, session, old, want})
		}
	}
	// The characters of the escapes: fewer than TestEventKeysNeverCollide
	// uses, as SQLite runs slowly under the race detector.
	parts := keyParts("a", "/", "%", "@", "2")
	for _, a := range []string{"main", "%2F"} { // agents are directory names: no '/'
		for _, s := range parts {
			for _, e := range parts {
				if e == "" || (e[0] == '@' && len(e) > 1 && strings.Trim(e[1:], "0123456789") == "") {
					continue
				}
				add(a, s, "cb/"+a+"/"+s+"/"+e, clawdbotKey(a, s, e))
			}
			add(a, s, "cb/"+a+"/"+s+"/@25", clawdbotOffsetKey(a, s, 25))
		}
	}
	for _, name := range parts {
		for _, id := range parts {
			if id != "" {
				add(name, "customer:acme", "jl/"+name+"/id:"+id, jsonlKey(name, id))
			}
		}
		add(name, "customer:acme", "jl/"+name+"/538cd1a820e840a4@416", jsonlOffsetKey(name, 0x538cd1a820e840a4, 416))
	}
	// Replace the fixture's events by these, still at schema version 2.
	raw, err := openRaw(db)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("DELETE FROM events"); err != nil {
		t.Fatal(err)
	}
	ins, err := tx.Prepare(`INSERT INTO events (id, key, agent, session_id, ts, period, customer) VALUES (?, ?, ?, ?, 1, '2026-11', 'acme')`)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if _, err := ins.Exec(i+1, r.old, r.agent, r.session); err != nil {
			t.Fatal(err)
		}
	}
	ins.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatalf("migrate %d keys: %v", len(rows), err)
	}
	defer st.Close()
	keys, err := st.DB().Query("SELECT id, key FROM events ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	bad, n := 0, 0
	for keys.Next() {
		var id int
		var got string
		if err := keys.Scan(&id, &got); err != nil {
			t.Fatal(err)
		}
		n++
		if r := rows[id-1]; got != r.want {
			if bad++; bad <= 10 {
				t.Errorf("%q (agent %q, session %q) migrated to %q; the monitor builds %q", r.old, r.agent, r.session, got, r.want)
			}
		}
	}
	if n != len(rows) {
		t.Errorf("%d events after the migration, want %d", n, len(rows))
	}
	t.Logf("%d keys migrated, %d differ", len(rows), bad)
}

// TestUpgradeFromTheLastReleaseCountsNothingTwice opens
// store/testdata/v3/v3.db, written by quotawatch at cc59df3 over the state
// dir and log beside it, with this version: after migration 0004, reading
// every transcript and log line again (as after a restore to other inodes)
// adds no event, and the totals stay the release's to the token.
func TestUpgradeFromTheLastReleaseCountsNothingTwice(t *testing.T) {
	fixture := filepath.Join("..", "store", "testdata", "v3")
	root := t.TempDir()
	copyTree(t, filepath.Join(fixture, "state"), filepath.Join(root, "state"))
	copyTree(t, filepath.Join(fixture, "proxy"), filepath.Join(root, "proxy"))
	data, err := os.ReadFile(filepath.Join(fixture, "v3.db"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(root, "qw.db")
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatalf("open the version-3 database: %v", err)
	}
	defer st.Close()
	if _, err := st.DB().Exec("DELETE FROM files"); err != nil {
		t.Fatal(err)
	}
	attr := NewAttributor([]report.Customer{{ID: "acme", Match: report.Match{Peer: "+966500000001"}}, {ID: "other"}}, "other", time.UTC)
	cfg := Config{Sources: []SourceConfig{
		{Type: SourceClawdbot, Dir: filepath.Join(root, "state")},
		{Type: SourceJSONL, Name: "proxy", Path: filepath.Join(root, "proxy", "*.jsonl"), Fields: parser.DefaultFields()},
	}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg, st, attr, quiet).Backfill(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Inserted != 0 || s.Duplicates != 9 || s.Bad != 0 {
		t.Errorf("re-reading after the upgrade: %+v; want the fixture's 9 calls as duplicates and nothing new", s)
	}
	for _, want := range []store.Usage{
		{Customer: "acme", Period: "2026-11", Requests: 7, Input: 7150, Output: 7, CostUSD: 2.5},
		{Customer: "other", Period: "2026-11", Requests: 2, Input: 300, Output: 2, CostUSD: 0.5},
	} {
		us, err := st.UsageByPeriod(ctx, "2026-11", want.Customer)
		if err != nil || len(us) != 1 {
			t.Fatalf("usage of %s: %+v %v", want.Customer, us, err)
		}
		if u := us[0]; u.Requests != want.Requests || u.Input != want.Input || u.Output != want.Output || u.CostUSD != want.CostUSD {
			t.Errorf("%s %+v, want %+v", want.Customer, u, want)
		}
	}
}
