package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Usage is one customer's totals for one period.
type Usage struct {
	Customer       string
	Period         string
	Requests       int64
	FailedRequests int64
	Input          int64
	Output         int64
	CacheRead      int64
	CacheWrite     int64
	// CostNanos is the exact sum of the priced calls' costs, each rounded
	// once to the nearest nano-dollar (1e-9 USD) when it was stored.
	CostNanos int64
	// CostUSD is CostNanos in dollars, float64(CostNanos)/1e9: the double
	// nearest the exact decimal, so it prints as that decimal (0.10131),
	// never with float noise. Sum CostNanos, never CostUSD.
	CostUSD  float64
	Unpriced int64
}

// USD is a nano-dollar amount in dollars: the double nearest the exact
// decimal (a division of two exactly represented numbers is rounded once).
func USD(nanos int64) float64 { return float64(nanos) / 1e9 }

// TotalTokens is every token class added up.
func (u Usage) TotalTokens() int64 { return u.Input + u.Output + u.CacheRead + u.CacheWrite }

// UsageByPeriod returns the totals of every customer with events in period
// (customer "" = all customers).
func (s *Store) UsageByPeriod(ctx context.Context, period, customer string) ([]Usage, error) {
	return usageByPeriod(ctx, s.r, period, customer)
}

// rowsQuerier is what a read needs of the pool or a transaction.
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// usageByPeriod is UsageByPeriod on q (the pool, or a read transaction
// that must agree with other reads).
func usageByPeriod(ctx context.Context, db rowsQuerier, period, customer string) ([]Usage, error) {
	q := `SELECT customer, period, requests, failed, input, output, cache_read, cache_write, cost_nanos, unpriced
		FROM rollup WHERE period = ?`
	args := []any{period}
	if customer != "" {
		q += " AND customer = ?"
		args = append(args, customer)
	}
	q += " ORDER BY customer"
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query usage for %s: %w", period, err)
	}
	defer rows.Close()
	var out []Usage
	for rows.Next() {
		var u Usage
		if err := rows.Scan(&u.Customer, &u.Period, &u.Requests, &u.FailedRequests, &u.Input, &u.Output,
			&u.CacheRead, &u.CacheWrite, &u.CostNanos, &u.Unpriced); err != nil {
			return nil, fmt.Errorf("query usage for %s: %w", period, err)
		}
		u.CostUSD = USD(u.CostNanos)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query usage for %s: %w", period, err)
	}
	return out, nil
}

// DailyUsage is one customer's totals for one day, provider and model.
type DailyUsage struct {
	Customer, Day, Provider, Model string
	Usage                          // Usage.Customer = Customer, Usage.Period = Day[:7]
}

// ErrDailyPending is returned by UsageDaily while events stored before
// schema 5 have no day yet: the first `quotawatch run` or `backfill` after
// the upgrade gives them one (the daily totals would be short until then).
var ErrDailyPending = errors.New("daily totals are not built yet")

// UsageDaily returns the rows with fromDay <= day <= toDay (inclusive,
// YYYY-MM-DD, in each customer's timezone), customer "" = all, ordered by
// customer, day, provider, model. Summed over a period's days, the rows of
// a customer equal its UsageByPeriod in every field.
func (s *Store) UsageDaily(ctx context.Context, fromDay, toDay, customer string) ([]DailyUsage, error) {
	if !validDay(fromDay) || !validDay(toDay) {
		return nil, fmt.Errorf("query daily usage %q..%q: days are YYYY-MM-DD", fromDay, toDay)
	}
	// One read transaction, so the pending mark and the rows agree.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("query daily usage %s..%s: %w", fromDay, toDay, err)
	}
	defer tx.Rollback()
	var pending int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM meta WHERE key = ?", dailyPending).Scan(&pending); err != nil {
		return nil, fmt.Errorf("query daily usage %s..%s: %w", fromDay, toDay, err)
	}
	if pending > 0 {
		return nil, fmt.Errorf("query daily usage %s..%s of %s: %w: events stored before the upgrade get their day from the next `quotawatch run` or `backfill`",
			fromDay, toDay, s.path, ErrDailyPending)
	}
	// With every customer named (the few of the monthly rollup), SQLite
	// seeks each one's day range in the primary key instead of reading
	// every customer's whole history.
	q := `SELECT customer, day, provider, model, requests, failed, input, output, cache_read, cache_write, cost_nanos, unpriced
		FROM rollup_daily WHERE customer IN (SELECT DISTINCT customer FROM rollup) AND day BETWEEN ? AND ?
		ORDER BY customer, day, provider, model`
	args := []any{fromDay, toDay}
	if customer != "" {
		q = `SELECT customer, day, provider, model, requests, failed, input, output, cache_read, cache_write, cost_nanos, unpriced
			FROM rollup_daily WHERE customer = ? AND day BETWEEN ? AND ? ORDER BY customer, day, provider, model`
		args = []any{customer, fromDay, toDay}
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query daily usage %s..%s: %w", fromDay, toDay, err)
	}
	defer rows.Close()
	var out []DailyUsage
	for rows.Next() {
		var d DailyUsage
		if err := rows.Scan(&d.Customer, &d.Day, &d.Provider, &d.Model, &d.Requests, &d.FailedRequests, &d.Input, &d.Output,
			&d.CacheRead, &d.CacheWrite, &d.CostNanos, &d.Unpriced); err != nil {
			return nil, fmt.Errorf("query daily usage %s..%s: %w", fromDay, toDay, err)
		}
		d.Usage.Customer, d.Period, d.CostUSD = d.Customer, d.Day[:7], USD(d.CostNanos)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query daily usage %s..%s: %w", fromDay, toDay, err)
	}
	return out, nil
}

// EventCount is the number of stored events (for summaries and tests).
func (s *Store) EventCount(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM events").Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}
