package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// DayWindow is a run of days, From..To inclusive (YYYY-MM-DD in the
// customers' timezone), to be summed for each of Customers.
type DayWindow struct {
	From, To  string
	Customers []string
}

// WindowUsage is one customer's usage summed over the days of a DayWindow.
type WindowUsage struct {
	Requests, Input, Output, CacheRead, CacheWrite, CostNanos int64
}

// TotalTokens is every token class added up, as Usage.TotalTokens.
func (w WindowUsage) TotalTokens() int64 { return w.Input + w.Output + w.CacheRead + w.CacheWrite }

// UsageByPeriodWindows is UsageByPeriod(period, customer) and, for each of
// windows, the sums over its days of each of its customers with usage in
// them (out[i] for windows[i]), read in one transaction, so that every sum
// is a part of the totals read with it. A forecast uses a window's days
// only through their sum, and SQLite adds them up far faster than a few
// thousand daily rows cross the driver: one row per customer does, summed
// from daily_totals (one row a customer and day, see migration 0007).
// While an upgraded database's daily totals are still being built it
// returns the totals and an error wrapping ErrDailyPending.
func (s *Store) UsageByPeriodWindows(ctx context.Context, period, customer string, windows []DayWindow) ([]Usage, []map[string]WindowUsage, error) {
	for _, w := range windows {
		if !validDay(w.From) || !validDay(w.To) {
			return nil, nil, fmt.Errorf("query usage windows %q..%q: days are YYYY-MM-DD", w.From, w.To)
		}
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("query usage for %s: %w", period, err)
	}
	defer tx.Rollback()
	totals, err := usageByPeriod(ctx, tx, period, customer)
	if err != nil {
		return nil, nil, err
	}
	var pending int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM meta WHERE key = ?", dailyPending).Scan(&pending); err != nil {
		return nil, nil, fmt.Errorf("query usage windows of %s: %w", period, err)
	}
	if pending > 0 {
		return totals, nil, fmt.Errorf("query usage windows of %s in %s: %w: events stored before the upgrade get their day from the next `quotawatch run` or `backfill`",
			period, s.path, ErrDailyPending)
	}
	out := make([]map[string]WindowUsage, len(windows))
	for i, w := range windows {
		if out[i], err = windowSums(ctx, tx, w); err != nil {
			return nil, nil, err
		}
	}
	return totals, out, nil
}

// windowSums reads one window's sums. The customers go in as one JSON
// array, so SQLite seeks each one's days in the primary key whatever
// their number (a thousand placeholders would pass SQLite's limit on some
// builds). Each class is summed apart and added in Go, as Usage's are: a
// sum of sums in SQL would turn into a float on overflow.
func windowSums(ctx context.Context, tx *sql.Tx, w DayWindow) (map[string]WindowUsage, error) {
	ids, err := json.Marshal(w.Customers)
	if err != nil {
		return nil, fmt.Errorf("query usage window %s..%s: %w", w.From, w.To, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT customer, SUM(requests), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write), SUM(cost_nanos)
		FROM daily_totals WHERE customer IN (SELECT value FROM json_each(?)) AND day BETWEEN ? AND ? GROUP BY customer`,
		string(ids), w.From, w.To)
	if err != nil {
		return nil, fmt.Errorf("query usage window %s..%s: %w", w.From, w.To, err)
	}
	defer rows.Close()
	out := make(map[string]WindowUsage, len(w.Customers))
	for rows.Next() {
		var c string
		var u WindowUsage
		if err := rows.Scan(&c, &u.Requests, &u.Input, &u.Output, &u.CacheRead, &u.CacheWrite, &u.CostNanos); err != nil {
			return nil, fmt.Errorf("query usage window %s..%s: %w", w.From, w.To, err)
		}
		out[c] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query usage window %s..%s: %w", w.From, w.To, err)
	}
	return out, nil
}
