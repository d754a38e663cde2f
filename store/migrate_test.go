package store

import (
	"context"
	"database/sql"
	"math"
	"net/url"
	"path/filepath"
	"testing"
)

// createV2 writes an empty database at schema version 2 (migrations 0001
// and 0002, as every release before 0003 left it).
func createV2(t *testing.T, path string) *sql.DB {
	t.Helper()
	u := url.URL{Scheme: "file", Path: path}
	db, err := sql.Open("sqlite", u.String()+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	for _, name := range []string{"migrations/0001_init.sql", "migrations/0002_alerts.sql"} {
		body, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := db.Exec("PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestMigrationRewritesOldKeysUnambiguously: every key a version before
// 0003 stored is rewritten to the escaped form of the same parts (read from
// the row's agent and sessionId), keys that need no escaping stay as they
// are, and a new key equal to another row's old key does not trip the
// unique index.
func TestMigrationRewritesOldKeysUnambiguously(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	db := createV2(t, path)
	rows := []struct{ old, agent, session, want string }{
		{"cb/main/8a51f00f-419e/1ba3a720", "main", "8a51f00f-419e", "cb/main/8a51f00f-419e/1ba3a720"},
		{"cb/main/8a51f00f-419e/@736", "main", "8a51f00f-419e", "cb/main/8a51f00f-419e/@736"},
		{"cb/main/x/y/z", "main", "x", "cb/main/x/y%2Fz"},
		// The new key of the first is the old key of the second.
		{"cb/main/x/y/q", "main", "x/y", "cb/main/x%2Fy/q"},
		{"cb/main/x%2Fy/q", "main", "x%2Fy", "cb/main/x%252Fy/q"},
		{"cb/main/x/y/@12", "main", "x/y", "cb/main/x%2Fy/@12"},
		{"cb/main/s/@x1", "main", "s", "cb/main/s/%40x1"},
		{"cb/main/s/@1/2", "main", "s", "cb/main/s/%401%2F2"},
		{"cb/main/s/a@b", "main", "s", "cb/main/s/a@b"},
		{"cb/a%b/s/e%", "a%b", "s", "cb/a%25b/s/e%25"},
		{"jl/proxy/id:r/1", "proxy", "customer:acme", "jl/proxy/id:r%2F1"},
		{"jl/proxy/id:plain", "proxy", "customer:acme", "jl/proxy/id:plain"},
		{"jl/proxy/538cd1a820e840a4@416", "proxy", "customer:acme", "jl/proxy/538cd1a820e840a4@416"},
		{"jl/eu/proxy/id:r", "eu/proxy", "s", "jl/eu%2Fproxy/id:r"},
		{"jl/eu/proxy/ab@7", "eu/proxy", "s", "jl/eu%2Fproxy/ab@7"},
		// Not a key this program writes: left alone.
		{"k1", "main", "s", "k1"},
	}
	for i, r := range rows {
		if _, err := db.Exec(`INSERT INTO events (id, key, agent, session_id, ts, period, customer, input, output, cost)
			VALUES (?, ?, ?, ?, 1, '2026-11', 'acme', 10, 1, 0.5)`, i+1, r.old, r.agent, r.session); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open a version-2 database: %v", err)
	}
	defer s.Close()
	for i, r := range rows {
		var got string
		if err := s.r.QueryRow("SELECT key FROM events WHERE id = ?", i+1).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != r.want {
			t.Errorf("%q (agent %q, session %q) became %q, want %q", r.old, r.agent, r.session, got, r.want)
		}
	}
	var version int
	if err := s.r.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != SchemaVersion() {
		t.Errorf("schema version %d %v, want %d", version, err, SchemaVersion())
	}
}

// TestMigrationMovesOutNumbersNoBillCanHold: events an earlier version
// stored with a cost of +Inf, a negative or huge cost, or a negative or
// huge token count
// (which made usage unprintable and a later move of the session wedge
// ingest) are moved to events_refused with the reason, and their months'
// totals are rebuilt from the events that remain; other months are left
// as they were.
func TestMigrationMovesOutNumbersNoBillCanHold(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	db := createV2(t, path)
	ins := func(key, customer, period string, input int64, cost any) {
		t.Helper()
		if _, err := db.Exec(`INSERT INTO events (key, agent, session_id, ts, period, customer, input, output, cost)
			VALUES (?, 'main', 's', 1, ?, ?, ?, 1, ?)`, key, period, customer, input, cost); err != nil {
			t.Fatal(err)
		}
	}
	ins("cb/main/s/good1", "acme", "2026-11", 10, 0.5)
	ins("cb/main/s/good2", "acme", "2026-11", 20, nil)
	ins("cb/main/s/inf", "acme", "2026-11", 30, math.Inf(1))
	ins("cb/main/s/neg", "acme", "2026-11", math.MinInt64, 0.5)
	ins("cb/main/s/negcost", "acme", "2026-11", 40, -1.0)
	ins("cb/main/s/hugecost", "acme", "2026-11", 40, 1e308)
	ins("cb/main/s/hugeinput", "acme", "2026-11", 2e15, 0.5)
	ins("cb/main/s/other", "bob", "2026-10", 7, 0.25)
	if _, err := db.Exec(`INSERT INTO rollup (customer, period, requests, failed, input, output, cache_read, cache_write, cost, unpriced)
		SELECT customer, period, SUM(failed = 0), SUM(failed), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write),
		TOTAL(cost), SUM(cost IS NULL) FROM events GROUP BY customer, period`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open a version-2 database with bad numbers: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	us, err := s.UsageByPeriod(ctx, "2026-11", "acme")
	if err != nil || len(us) != 1 {
		t.Fatalf("usage %+v %v", us, err)
	}
	if u := us[0]; u.Requests != 2 || u.Input != 30 || u.Output != 2 || u.CostUSD != 0.5 || u.Unpriced != 1 {
		t.Errorf("acme 2026-11 %+v, want 2 requests, 30 input, $0.5, 1 unpriced", u)
	}
	if us, _ := s.UsageByPeriod(ctx, "2026-10", "bob"); len(us) != 1 || us[0].Input != 7 || us[0].Requests != 1 {
		t.Errorf("bob 2026-10 %+v, want untouched", us)
	}
	got := map[string]string{}
	rs, err := s.r.Query("SELECT key, reason FROM events_refused")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var k, r string
		if err := rs.Scan(&k, &r); err != nil {
			t.Fatal(err)
		}
		got[k] = r
	}
	rs.Close()
	want := map[string]string{
		"cb/main/s/inf":       "migration 0003: cost is not a finite number",
		"cb/main/s/neg":       "migration 0003: a token count is negative",
		"cb/main/s/negcost":   "migration 0003: cost is negative",
		"cb/main/s/hugecost":  "migration 0003: cost is above 1e12 USD",
		"cb/main/s/hugeinput": "migration 0003: a token count is above 1e15",
	}
	if len(got) != len(want) {
		t.Errorf("events_refused %v, want %v", got, want)
	}
	for k, r := range want {
		if got[k] != r {
			t.Errorf("events_refused[%s] = %q, want %q", k, got[k], r)
		}
	}
	if n, _ := s.EventCount(ctx); n != 3 {
		t.Errorf("%d events left, want 3", n)
	}
	// A move of the session no longer meets Inf - Inf.
	if _, err := s.Commit(ctx, &Batch{Moves: []Move{{Agent: "main", SessionID: "s", Customer: "zed"}}}, func(string, int64) string { return "2026-11-15" }); err != nil {
		t.Errorf("move after the migration: %v", err)
	}
}

// TestPendingMigrationsLandTogetherOrNotAtAll: a database several versions
// behind is migrated in one transaction, so a stop or a failure part-way
// leaves it at its old version with its old contents (here 0004 fails on a
// table in its way after 0003 rewrote keys), never between two versions,
// where read commands would refuse it until a writer ran again.
func TestPendingMigrationsLandTogetherOrNotAtAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	db := createV2(t, path)
	if _, err := db.Exec(`INSERT INTO events (key, agent, session_id, ts, period, customer, input, output, cost)
		VALUES ('cb/main/x/y/z', 'main', 'x', 1, '2026-11', 'acme', 10, 1, 0.5)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE cursors (x)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(context.Background(), path); err == nil {
		s.Close()
		t.Fatal("migrations over a table in their way succeeded")
	}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	var key string
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != 2 {
		t.Errorf("schema version %d %v after a failed upgrade, want 2 (as before it)", version, err)
	}
	if err := db.QueryRow("SELECT key FROM events").Scan(&key); err != nil || key != "cb/main/x/y/z" {
		t.Errorf("key %q %v after a failed upgrade, want the old key (0003's rewrite rolled back)", key, err)
	}
}
