package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

func openRawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path}).String()+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

// createV4 writes an empty database at schema version 4 (migrations 0001
// to 0004, as the releases before 0005 left it), read from the migration
// files themselves.
func createV4(t *testing.T, path string) *sql.DB {
	t.Helper()
	db := openRawDB(t, path)
	for _, name := range []string{"0001_init.sql", "0002_alerts.sql", "0003_keys_and_numbers.sql", "0004_cursors.sql"} {
		body, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := db.Exec("PRAGMA user_version = 4"); err != nil {
		t.Fatal(err)
	}
	return db
}

// oldEvent is an event row as a schema before 5 holds it.
type oldEvent struct {
	key, customer, period, provider, model, session string
	ts, input, output, cacheRead, cacheWrite        int64
	cost                                            sql.NullFloat64
	failed                                          bool
}

func (o oldEvent) event() store.Event {
	return store.Event{Key: o.key, Customer: o.customer, Period: o.period, Provider: o.provider, Model: o.model,
		TimeMs: o.ts, Input: o.input, Output: o.output, CacheRead: o.cacheRead, CacheWrite: o.cacheWrite,
		CostUSD: o.cost.Float64, Priced: o.cost.Valid, Failed: o.failed}
}

func readOldEvents(t *testing.T, db *sql.DB) []oldEvent {
	t.Helper()
	rows, err := db.Query(`SELECT key, customer, period, provider, model, session_id, ts, input, output, cache_read, cache_write, cost, failed FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []oldEvent
	for rows.Next() {
		var o oldEvent
		if err := rows.Scan(&o.key, &o.customer, &o.period, &o.provider, &o.model, &o.session, &o.ts, &o.input, &o.output,
			&o.cacheRead, &o.cacheWrite, &o.cost, &o.failed); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// monthlyOf is what UsageByPeriod must answer for these events, each cost
// rounded once the way ingest rounds it.
func monthlyOf(events []oldEvent) map[string]store.Usage {
	out := map[string]store.Usage{}
	for _, o := range events {
		e := o.event()
		u := out[o.customer+"|"+o.period]
		u.Customer, u.Period = o.customer, o.period
		add(&u, &e)
		out[o.customer+"|"+o.period] = u
	}
	return out
}

func checkMonthly(t *testing.T, st *store.Store, want map[string]store.Usage) {
	t.Helper()
	periods := map[string]bool{}
	for _, w := range want {
		periods[w.Period] = true
	}
	n := 0
	for p := range periods {
		us, err := st.UsageByPeriod(context.Background(), p, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			n++
			if w := want[u.Customer+"|"+p]; u != w {
				t.Errorf("%s %s: %+v, want %+v", u.Customer, p, u, w)
			}
		}
	}
	if n != len(want) {
		t.Errorf("%d monthly rows, want %d", n, len(want))
	}
}

// TestMigration0005StoresEachOldCostAsTheNanoDollarsIngestWould: every
// REAL cost a schema-4 database holds becomes exactly store.Nanos(cost)
// (math.Round's half away from zero, also for 0.49999999999999994 n$, where
// SQLite's round() says 1), NULL stays unpriced, a cost above the new 1e6
// USD bound moves to events_refused with the reason, and the monthly totals
// are rebuilt from the events in integers. UsageDaily refuses, naming
// ErrDailyPending, until the first re-attribution gives the old events
// their day (here with the fingerprint already stored, so only the pending
// mark triggers it); a session moved before then leaves its month right,
// and afterwards the days add up to the months exactly.
func TestMigration0005StoresEachOldCostAsTheNanoDollarsIngestWould(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v4.db")
	db := createV4(t, path)
	below := math.Nextafter(0.5, 0)
	tricky := []float64{0, 1e-9, 0.5e-9, 1.5e-9, 2.5e-9, 4.999999999999999e-10, 0.03, 0.07, 0.00131, 0.1, 1e6, 123456.789012345678}
	if tricky[5]*1e9 != below {
		t.Fatalf("%v × 1e9 = %v, not %v: the premise changed", tricky[5], tricky[5]*1e9, below)
	}
	var sqliteRound int64
	if err := db.QueryRow("SELECT CAST(round(? * 1e9) AS INTEGER)", tricky[5]).Scan(&sqliteRound); err != nil {
		t.Fatal(err)
	}
	t.Logf("SQLite's round(%v) = %d, math.Round = %v", below, sqliteRound, math.Round(below))
	rng := rand.New(rand.NewPCG(5, 5))
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	ins := func(key, customer, session string, ts int64, cost any, failed bool) {
		t.Helper()
		period := time.UnixMilli(ts).UTC().Format("2006-01")
		if _, err := tx.Exec(`INSERT INTO events (key, agent, session_id, ts, period, customer, provider, model, input, output, cache_read, cache_write, cost, failed)
			VALUES (?, 'main', ?, ?, ?, ?, 'p', ?, ?, ?, ?, ?, ?, ?)`, key, session, ts, period, customer, "m"+strconv.Itoa(rng.IntN(3)),
			rng.Int64N(1e5), rng.Int64N(1e3), rng.Int64N(1e4), rng.Int64N(1e3), cost, failed); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i, c := range tricky {
		ins("cb/main/t/"+strconv.Itoa(i), "acme", "t", base+int64(i)*3600_000, c, false)
	}
	for i := range 2000 {
		var cost any = rng.Float64() * 0.4
		if i%10 == 0 {
			cost = nil
		}
		c := []string{"acme", "bob", "cy"}[i%3]
		ins(fmt.Sprintf("cb/main/s%d/%d", i%40, i), c, "s"+strconv.Itoa(i%40), base+rng.Int64N(30*24*3600_000), cost, i%23 == 0)
	}
	ins("cb/main/big/1", "bob", "big", base, 1e6*(1+1e-15), false)
	ins("cb/main/big/2", "bob", "big", base, 5e11, false)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// The totals as the old release kept them: float sums.
	if _, err := db.Exec(`INSERT INTO rollup (customer, period, requests, failed, input, output, cache_read, cache_write, cost, unpriced)
		SELECT customer, period, SUM(failed = 0), SUM(failed), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write),
		TOTAL(cost), SUM(cost IS NULL) FROM events GROUP BY customer, period`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO meta (key, value) VALUES ('attribution', 'fp-v4')`); err != nil {
		t.Fatal(err)
	}
	old := readOldEvents(t, db)
	db.Close()

	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("open a version-4 database: %v", err)
	}
	defer st.Close()
	var kept []oldEvent
	for _, o := range old {
		if o.session != "big" {
			kept = append(kept, o)
		}
	}
	// Each event's nanos, by key.
	rows, err := st.DB().Query("SELECT key, cost_nanos FROM events")
	if err != nil {
		t.Fatal(err)
	}
	nanos := map[string]sql.NullInt64{}
	for rows.Next() {
		var k string
		var n sql.NullInt64
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		nanos[k] = n
	}
	rows.Close()
	if len(nanos) != len(kept) {
		t.Errorf("%d events after the migration, want %d", len(nanos), len(kept))
	}
	for _, o := range kept {
		got := nanos[o.key]
		if want := store.Nanos(o.cost.Float64); got.Valid != o.cost.Valid || (got.Valid && got.Int64 != want) {
			t.Errorf("%s: cost %v became %v nano-dollars, want %d (valid %v)", o.key, o.cost.Float64, got, want, o.cost.Valid)
		}
	}
	var refused []string
	rs, err := st.DB().Query("SELECT key || ': ' || reason FROM events_refused ORDER BY key")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var r string
		if err := rs.Scan(&r); err != nil {
			t.Fatal(err)
		}
		refused = append(refused, r)
	}
	rs.Close()
	if want := []string{"cb/main/big/1: migration 0005: cost is above 1e6 USD", "cb/main/big/2: migration 0005: cost is above 1e6 USD"}; fmt.Sprint(refused) != fmt.Sprint(want) {
		t.Errorf("events_refused %q, want %q", refused, want)
	}
	checkMonthly(t, st, monthlyOf(kept))

	// No day yet: the daily totals would be short.
	if _, err := st.UsageDaily(ctx, "2026-10-01", "2026-11-30", ""); !errors.Is(err, store.ErrDailyPending) {
		t.Errorf("UsageDaily before the old events have a day: %v, want ErrDailyPending", err)
	}
	ro, err := store.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.UsageDaily(ctx, "2026-10-01", "2026-11-30", ""); !errors.Is(err, store.ErrDailyPending) {
		t.Errorf("read-only UsageDaily before the old events have a day: %v, want ErrDailyPending", err)
	}
	ro.Close()

	// A move before the re-attribution (a writer that has not run it):
	// the month follows.
	day := dayIn(nil)
	if _, err := st.Commit(ctx, &store.Batch{Moves: []store.Move{{Agent: "main", SessionID: "s1", Customer: "dee"}}}, day); err != nil {
		t.Fatal(err)
	}
	for i := range kept {
		if kept[i].session == "s1" {
			kept[i].customer = "dee"
		}
	}
	checkMonthly(t, st, monthlyOf(kept))

	changed, err := st.Reattribute(ctx, "fp-v4", func(s store.Session) string { return s.Customer }, day)
	if err != nil {
		t.Fatal(err)
	}
	if changed {
		t.Error("re-attribution for the days reported a changed mapping")
	}
	checkMonthly(t, st, monthlyOf(kept))
	if n := checkDailySumsToMonthly(t, st); n != 2 {
		t.Errorf("daily rows in %d periods, want 2", n)
	}
	// And each day is the UTC day of its events.
	wantDays := map[string]store.Usage{}
	for _, o := range kept {
		e := o.event()
		k := o.customer + "|" + time.UnixMilli(o.ts).UTC().Format("2006-01-02") + "|" + o.provider + "|" + o.model
		u := wantDays[k]
		add(&u, &e)
		wantDays[k] = u
	}
	got := allDays(t, st, "")
	if len(got) != len(wantDays) {
		t.Errorf("%d daily rows, want %d", len(got), len(wantDays))
	}
	for _, g := range got {
		w := wantDays[g.Customer+"|"+g.Day+"|"+g.Provider+"|"+g.Model]
		w.Customer, w.Period = g.Customer, g.Day[:7]
		if g.Usage != w {
			t.Errorf("%s %s %s: %+v, want %+v", g.Customer, g.Day, g.Model, g.Usage, w)
		}
	}
	// Done once: the mark is gone.
	if v, err := st.Meta(ctx, "daily_pending"); err != nil || v != "" {
		t.Errorf("daily_pending = %q %v after the re-attribution", v, err)
	}
}

// TestOldReleasesUpgradeWithExactTotals opens the databases two earlier
// releases wrote (testdata/v2/v2.db, schema 2, and testdata/v3/v3.db,
// schema 3; see their make-fixture.sh): after all pending migrations and
// the first writer's re-attribution (with the mapping they were written
// with, UTC), every month is the events' exact sums, costs in nano-dollars
// rounded once per event, and the days add up to the months.
func TestOldReleasesUpgradeWithExactTotals(t *testing.T) {
	for _, fixture := range []string{"v2", "v3"} {
		t.Run(fixture, func(t *testing.T) {
			ctx := context.Background()
			data, err := os.ReadFile(filepath.Join("testdata", fixture, fixture+".db"))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), fixture+".db")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			raw := openRawDB(t, path)
			old := readOldEvents(t, raw)
			var fp string
			if err := raw.QueryRow("SELECT value FROM meta WHERE key = 'attribution'").Scan(&fp); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			if len(old) < 9 {
				t.Fatalf("fixture holds %d events", len(old))
			}
			st, err := store.Open(ctx, path)
			if err != nil {
				t.Fatalf("open the %s database: %v", fixture, err)
			}
			defer st.Close()
			want := monthlyOf(old)
			checkMonthly(t, st, want)
			if _, err := st.UsageDaily(ctx, "2026-11-01", "2026-11-30", ""); !errors.Is(err, store.ErrDailyPending) {
				t.Errorf("UsageDaily before the first writer ran: %v, want ErrDailyPending", err)
			}
			if _, err := st.Reattribute(ctx, fp, func(s store.Session) string { return s.Customer }, dayIn(nil)); err != nil {
				t.Fatal(err)
			}
			checkMonthly(t, st, want)
			if n := checkDailySumsToMonthly(t, st); n != 1 {
				t.Errorf("daily rows in %d periods, want 1 (2026-11)", n)
			}
			var total store.Usage
			for _, w := range want {
				plus(&total, w)
			}
			t.Logf("%d events, %d requests, %d nano-dollars", len(old), total.Requests, total.CostNanos)
		})
	}
}

// BenchmarkMigration0005 upgrades a schema-4 database of 1 M events (20
// customers, 3 models, three months, written by SQL as the old release
// laid them out) to schema 5 and runs the first re-attribution, which gives
// every event its day: what the first `quotawatch run` after the upgrade
// does before it reads anything. Each iteration works on a fresh copy.
func BenchmarkMigration0005(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	src := filepath.Join(dir, "v4.db")
	u := url.URL{Scheme: "file", Path: src}
	db, err := sql.Open("sqlite", u.String()+"?_pragma=journal_mode(WAL)")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	for _, name := range []string{"0001_init.sql", "0002_alerts.sql", "0003_keys_and_numbers.sql", "0004_cursors.sql"} {
		body, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	if _, err := db.Exec(`WITH RECURSIVE i(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM i WHERE x + 1 < ?)
		INSERT INTO events (key, agent, session_id, ts, period, customer, provider, model, input, output, cache_read, cache_write, cost, failed)
		SELECT 'cb/main/' || (x / 40) || '/' || x, 'main', CAST(x / 40 AS TEXT), ? + x * 7862, 
			strftime('%Y-%m', (? + x * 7862) / 1000, 'unixepoch'), 'cust-' || ((x / 40) % 20), 'openai',
			CASE (x / 7) % 3 WHEN 0 THEN 'gpt-5-mini' WHEN 1 THEN 'gpt-5' ELSE 'claude' END,
			5000 + x % 3000, 40 + x % 500, (x % 4) * 1024, 0, CASE WHEN x % 50 = 0 THEN NULL ELSE 0.0021 + (x % 100) * 1.3e-7 END, x % 97 = 0
		FROM i`, n, start, start); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO rollup (customer, period, requests, failed, input, output, cache_read, cache_write, cost, unpriced)
		SELECT customer, period, SUM(failed = 0), SUM(failed), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write),
		TOTAL(cost), SUM(cost IS NULL) FROM events GROUP BY customer, period`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 4"); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	db.Close()
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ident := func(s store.Session) string { return s.Customer }
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		path := filepath.Join(dir, "copy"+strconv.Itoa(i)+".db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		began := time.Now()
		st, err := store.Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		migrated := time.Since(began)
		if _, err := st.Reattribute(ctx, "bench", ident, dayIn(nil)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(migrated.Seconds(), "migrate-s")
		b.ReportMetric(time.Since(began).Seconds()-migrated.Seconds(), "days-s")
		rows, err := st.UsageDaily(ctx, "2026-09-01", "2026-11-30", "")
		if err != nil || len(rows) == 0 {
			b.Fatalf("%d daily rows, %v", len(rows), err)
		}
		st.Close()
		os.Remove(path)
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
		b.StartTimer()
	}
}
