package store

import (
	"context"
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
	CostUSD        float64
	Unpriced       int64
}

// TotalTokens is every token class added up.
func (u Usage) TotalTokens() int64 { return u.Input + u.Output + u.CacheRead + u.CacheWrite }

// UsageByPeriod returns the totals of every customer with events in period
// (customer "" = all customers).
func (s *Store) UsageByPeriod(ctx context.Context, period, customer string) ([]Usage, error) {
	q := `SELECT customer, period, requests, failed, input, output, cache_read, cache_write, cost, unpriced
		FROM rollup WHERE period = ?`
	args := []any{period}
	if customer != "" {
		q += " AND customer = ?"
		args = append(args, customer)
	}
	q += " ORDER BY customer"
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query usage for %s: %w", period, err)
	}
	defer rows.Close()
	var out []Usage
	for rows.Next() {
		var u Usage
		if err := rows.Scan(&u.Customer, &u.Period, &u.Requests, &u.FailedRequests, &u.Input, &u.Output,
			&u.CacheRead, &u.CacheWrite, &u.CostUSD, &u.Unpriced); err != nil {
			return nil, fmt.Errorf("query usage for %s: %w", period, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query usage for %s: %w", period, err)
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
