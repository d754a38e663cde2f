package store

import (
	"context"
	"database/sql"
	"fmt"
)

// UsageDailyTotals is UsageDaily summed over providers and models: one row
// per customer and day (Provider and Model empty), ordered by customer and
// day. A forecast needs no more; the rows are daily_totals', which the
// schema keeps equal to rollup_daily's sums (migration 0007): at 1,000
// customers with three models each a third of the rows, and none summed
// at read time.
func (s *Store) UsageDailyTotals(ctx context.Context, fromDay, toDay, customer string) ([]DailyUsage, error) {
	if !validDay(fromDay) || !validDay(toDay) {
		return nil, fmt.Errorf("query daily totals %q..%q: days are YYYY-MM-DD", fromDay, toDay)
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("query daily totals %s..%s: %w", fromDay, toDay, err)
	}
	defer tx.Rollback()
	var pending int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM meta WHERE key = ?", dailyPending).Scan(&pending); err != nil {
		return nil, fmt.Errorf("query daily totals %s..%s: %w", fromDay, toDay, err)
	}
	if pending > 0 {
		return nil, fmt.Errorf("query daily totals %s..%s of %s: %w: events stored before the upgrade get their day from the next `quotawatch run` or `backfill`",
			fromDay, toDay, s.path, ErrDailyPending)
	}
	const cols = `SELECT customer, day, requests, failed, input, output, cache_read, cache_write, cost_nanos, unpriced FROM daily_totals `
	q := cols + `WHERE customer IN (SELECT DISTINCT customer FROM rollup) AND day BETWEEN ? AND ? ORDER BY customer, day`
	args := []any{fromDay, toDay}
	if customer != "" {
		q = cols + `WHERE customer = ? AND day BETWEEN ? AND ? ORDER BY customer, day`
		args = []any{customer, fromDay, toDay}
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query daily totals %s..%s: %w", fromDay, toDay, err)
	}
	defer rows.Close()
	var out []DailyUsage
	for rows.Next() {
		var d DailyUsage
		if err := rows.Scan(&d.Customer, &d.Day, &d.Requests, &d.FailedRequests, &d.Input, &d.Output,
			&d.CacheRead, &d.CacheWrite, &d.CostNanos, &d.Unpriced); err != nil {
			return nil, fmt.Errorf("query daily totals %s..%s: %w", fromDay, toDay, err)
		}
		d.Usage.Customer, d.Period, d.CostUSD = d.Customer, d.Day[:7], USD(d.CostNanos)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query daily totals %s..%s: %w", fromDay, toDay, err)
	}
	return out, nil
}
