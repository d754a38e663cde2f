package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// createV5 is a database of schema 5, the one before daily_totals.
func createV5(t *testing.T, path string) *sql.DB {
	t.Helper()
	db := createV4(t, path)
	body, err := os.ReadFile(filepath.Join("migrations", "0005_nanos_and_daily.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(body)); err != nil {
		t.Fatalf("0005: %v", err)
	}
	if _, err := db.Exec("DELETE FROM meta WHERE key = 'daily_pending'; PRAGMA user_version = 5"); err != nil {
		t.Fatal(err)
	}
	return db
}

// dailyTotalsDiffer counts the rows in which daily_totals and rollup_daily
// summed per customer and day disagree (either side missing a row, or any
// field apart).
func dailyTotalsDiffer(t *testing.T, db *sql.DB) (differ, rows int) {
	t.Helper()
	const sums = `SELECT customer, day, SUM(requests), SUM(failed), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write),
		SUM(cost_nanos), SUM(unpriced) FROM rollup_daily GROUP BY customer, day`
	const kept = `SELECT customer, day, requests, failed, input, output, cache_read, cache_write, cost_nanos, unpriced FROM daily_totals`
	if err := db.QueryRow(`SELECT (SELECT COUNT(*) FROM (`+sums+` EXCEPT `+kept+`)) + (SELECT COUNT(*) FROM (`+kept+` EXCEPT `+sums+`)),
		(SELECT COUNT(*) FROM daily_totals)`).Scan(&differ, &rows); err != nil {
		t.Fatal(err)
	}
	return differ, rows
}

// TestMigration0007BackfillsDailyTotalsAndEveryWriteKeepsThem proves that
// daily_totals is rollup_daily summed over providers and models, exactly:
// on a schema-5 database holding random daily rows (large numbers
// included), after the migration; and then after each kind of write the
// store makes (new events on new and existing days, a session moved to
// another customer, which empties and prunes rows, an update moving a
// daily row to another customer or day, and a re-attribution that
// rebuilds both rollups), with no row left for a day a customer no longer
// has.
func TestMigration0007BackfillsDailyTotalsAndEveryWriteKeepsThem(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "qw.db")
	raw := createV5(t, path)
	rng := rand.New(rand.NewPCG(11, 13))
	for i := range 2000 {
		if _, err := raw.Exec(`INSERT OR IGNORE INTO rollup_daily (customer, day, provider, model, requests, failed, input, output,
			cache_read, cache_write, cost_nanos, unpriced) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
			fmt.Sprintf("c%d", rng.IntN(40)), fmt.Sprintf("2026-%02d-%02d", 10+rng.IntN(2), 1+rng.IntN(30)),
			[]string{"p", "q"}[rng.IntN(2)], []string{"m1", "m2", "m3"}[rng.IntN(3)], rng.Int64N(1000), rng.Int64N(50),
			rng.Int64N(1<<40), rng.Int64N(1<<30), rng.Int64N(1<<41), rng.Int64N(1000), rng.Int64N(1<<50), rng.Int64N(20)); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	var daily int
	if err := raw.QueryRow("SELECT COUNT(DISTINCT customer || ' ' || day) FROM rollup_daily").Scan(&daily); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("open the schema-5 database: %v", err)
	}
	defer st.Close()
	check := func(after string) {
		t.Helper()
		db := openRawDB(t, path)
		defer db.Close()
		if n, rows := dailyTotalsDiffer(t, db); n != 0 || rows == 0 && after != "a rebuild with no events" {
			t.Errorf("after %s: %d rows of daily_totals differ from rollup_daily's sums (%d rows)", after, n, rows)
		}
	}
	db := openRawDB(t, path)
	if _, rows := dailyTotalsDiffer(t, db); rows != daily {
		t.Errorf("the migration made %d daily_totals rows, want one per customer and day, %d", rows, daily)
	}
	db.Close()
	check("the migration")

	// Events through the store (the raw rows above have no events, so
	// they go before the writes below).
	if _, err := st.Reattribute(ctx, "fresh", func(s store.Session) string { return s.Customer }, dayIn(nil)); err != nil {
		t.Fatal(err)
	}
	check("a rebuild with no events")
	nov1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for round := range 3 {
		b := &store.Batch{}
		for i := range 500 {
			c := fmt.Sprintf("c%d", rng.IntN(8))
			sid := fmt.Sprintf("s%d", rng.IntN(30))
			b.Sessions = append(b.Sessions, store.Session{Agent: "main", SessionID: sid, Customer: c})
			b.Events = append(b.Events, store.Event{Key: fmt.Sprintf("r%d/%d", round, i), Agent: "main", SessionID: sid,
				TimeMs: nov1 + rng.Int64N(20*86_400_000), Customer: c, Provider: "p", Model: []string{"m1", "m2"}[rng.IntN(2)],
				Input: rng.Int64N(5000), Output: rng.Int64N(500), CacheRead: rng.Int64N(9000), Priced: rng.IntN(5) != 0,
				CostUSD: float64(rng.IntN(10_000)) / 1e6, Failed: rng.IntN(20) == 0})
		}
		if _, err := st.Commit(ctx, b, dayIn(nil)); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("commit %d", round))
	}
	for _, to := range []string{"c1", "zed"} {
		if _, err := st.Commit(ctx, &store.Batch{Moves: []store.Move{{Agent: "main", SessionID: "s3", Customer: to}}}, dayIn(nil)); err != nil {
			t.Fatal(err)
		}
		check("a move to " + to)
	}
	// No store write moves a daily row to another key; the schema keeps
	// the totals if one ever does.
	for _, set := range []string{"customer = 'elsewhere'", "day = '2026-11-30'", "customer = 'c1', day = '2026-11-29'"} {
		db := openRawDB(t, path)
		if _, err := db.Exec(`UPDATE rollup_daily SET ` + set + ` WHERE (customer, day, provider, model) =
			(SELECT customer, day, provider, model FROM rollup_daily WHERE customer = 'c2' ORDER BY day LIMIT 1)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		check("an update setting " + set)
	}
	if _, err := st.Reattribute(ctx, "other", func(s store.Session) string { return "one" }, dayIn(nil)); err != nil {
		t.Fatal(err)
	}
	check("a re-attribution")
}
