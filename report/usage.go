package report

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// Row is one customer's usage in one period, as every output shows it; the
// JSON keys are the CLI contract in DESIGN.md.
type Row struct {
	Customer         string   `json:"customer"`
	Name             string   `json:"name"`
	Tier             string   `json:"tier"`
	Period           string   `json:"period"`
	Requests         int64    `json:"requests"`
	FailedRequests   int64    `json:"failed_requests"`
	InputTokens      int64    `json:"input_tokens"`
	OutputTokens     int64    `json:"output_tokens"`
	CacheReadTokens  int64    `json:"cache_read_tokens"`
	CacheWriteTokens int64    `json:"cache_write_tokens"`
	TotalTokens      int64    `json:"total_tokens"`
	CostUSD          Money    `json:"cost_usd"`
	UnpricedRequests int64    `json:"unpriced_requests"`
	LimitRequests    *int64   `json:"limit_requests"`
	LimitTokens      *int64   `json:"limit_tokens"`
	LimitCostUSD     *Money   `json:"limit_cost_usd"`
	Percent          *float64 `json:"percent"`
	ProjectedPercent *float64 `json:"projected_percent"`
	Flagged          bool     `json:"flagged"`

	// Configured is false for ids with usage but no configuration
	// (unassigned, a removed customer).
	Configured bool `json:"-"`
	// Reading is the limit that decides Percent (ok false = unlimited).
	Reading   Reading `json:"-"`
	ReadingOK bool    `json:"-"`
}

// Limited reports whether the row's customer has a limit to measure against.
func (r *Row) Limited() bool { return r.ReadingOK }

// Rows lists every configured customer (used or not) in configured order,
// then any other customer id with usage in the period (unassigned, removed
// customers) sorted by id. only = "" lists all.
func Rows(ctx context.Context, st *store.Store, b *Book, period, only string, now time.Time) ([]Row, error) {
	totals, err := st.UsageByPeriod(ctx, period, only)
	if err != nil {
		return nil, err
	}
	flagged, err := st.FlaggedCustomers(ctx, period)
	if err != nil {
		return nil, fmt.Errorf("usage for %s: %w", period, err)
	}
	byID := make(map[string]store.Usage, len(totals))
	for _, u := range totals {
		byID[u.Customer] = u
	}
	var rows []Row
	add := func(id string, cu *Customer) {
		u := byID[id]
		r := Row{Customer: id, Period: period, Requests: u.Requests, FailedRequests: u.FailedRequests,
			InputTokens: u.Input, OutputTokens: u.Output, CacheReadTokens: u.CacheRead, CacheWriteTokens: u.CacheWrite,
			TotalTokens: u.TotalTokens(), CostUSD: CostOf(u), UnpricedRequests: u.Unpriced, Flagged: flagged[id]}
		if cu != nil {
			r.Configured = true
			r.Name, r.Tier = cu.Name, cu.Tier
			t := cu.Limits
			if t.Requests > 0 {
				r.LimitRequests = &t.Requests
			}
			if t.Tokens > 0 {
				r.LimitTokens = &t.Tokens
			}
			if t.CostUSD > 0 {
				m := USD(t.CostUSD)
				r.LimitCostUSD = &m
			}
			if rd, ok := Read(t, UsedOf(u)); ok {
				r.Reading, r.ReadingOK = rd, true
				pct := rd.Rounded()
				r.Percent = &pct
				if start, end, err := PeriodBounds(period, cu.In(b.Location)); err == nil {
					if pp, ok := Projected(rd.Percent(), start, end, now); ok {
						pp = RoundFloat2(pp)
						r.ProjectedPercent = &pp
					}
				}
			}
		}
		rows = append(rows, r)
	}
	for i := range b.Customers {
		cu := &b.Customers[i]
		if only == "" || only == cu.ID {
			add(cu.ID, cu)
		}
	}
	var extra []string
	for id := range byID {
		if _, ok := b.Customer(id); !ok {
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	for _, id := range extra {
		add(id, nil)
	}
	return rows, nil
}

// Projected extends a percentage linearly to the end of the period: the
// month-end forecast. A finished period projects to what it used; a period
// not started yet, or less than an hour old, has no meaningful projection.
func Projected(pct float64, start, end, now time.Time) (float64, bool) {
	switch {
	case !now.Before(end):
		return pct, true
	case now.Sub(start) < time.Hour:
		return 0, false
	}
	return pct * float64(end.Sub(start)) / float64(now.Sub(start)), true
}
