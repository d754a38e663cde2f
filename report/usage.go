package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// ProjectedPercent is the forecast's month-end percent (null: no
	// projection, see ForecastOf).
	ProjectedPercent *float64 `json:"projected_percent"`
	// ProjectedLimitDate is the day (YYYY-MM-DD) 100 % is reached at this
	// pace; null when not before the period ends or with no projection.
	ProjectedLimitDate *string `json:"projected_limit_date"`
	// Pace is requests per day over PaceBasis, rounded to two decimals.
	Pace *float64 `json:"pace"`
	// PaceBasis is "last_7_days" or "month_to_date".
	PaceBasis *string `json:"pace_basis"`
	Flagged   bool    `json:"flagged"`

	// Configured is false for ids with usage but no configuration
	// (unassigned, a removed customer).
	Configured bool `json:"-"`
	// Reading is the limit that decides Percent (ok false = unlimited).
	Reading   Reading `json:"-"`
	ReadingOK bool    `json:"-"`
	// Forecast is the projection the Projected* fields show (nil: none).
	Forecast *Forecast `json:"-"`
}

// Limited reports whether the row's customer has a limit to measure against.
func (r *Row) Limited() bool { return r.ReadingOK }

// Rows lists every configured customer (used or not) in configured order,
// then any other customer id with usage in the period (unassigned, removed
// customers) sorted by id. only = "" lists all.
func Rows(ctx context.Context, st *store.Store, b *Book, period, only string, now time.Time) ([]Row, error) {
	byID, daily, dailyErr, err := readPeriod(ctx, st, b, period, only, now)
	if err != nil {
		return nil, err
	}
	if dailyErr != nil && !errors.Is(dailyErr, store.ErrDailyPending) {
		return nil, fmt.Errorf("usage for %s: %w", period, dailyErr)
	}
	flagged, err := st.FlaggedCustomers(ctx, period)
	if err != nil {
		return nil, fmt.Errorf("usage for %s: %w", period, err)
	}
	// While the daily totals of an upgraded database are still being built
	// (the next run or backfill does it) there is no series to project
	// from: the rows go out without a forecast rather than a wrong one.
	var rows []Row
	add := func(id string, cu *Customer) {
		u := byID[id]
		r := Row{Customer: id, Period: period, Requests: u.Requests, FailedRequests: u.FailedRequests,
			InputTokens: u.Input, OutputTokens: u.Output, CacheReadTokens: u.CacheRead, CacheWriteTokens: u.CacheWrite,
			TotalTokens: u.TotalTokens(), CostUSD: CostOf(u), UnpricedRequests: u.Unpriced, Flagged: flagged[id]}
		if cu != nil {
			r.Configured = true
			r.Name, r.Tier = cu.Name, cu.Tier
			t := cu.TierLimits()
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
				if daily != nil {
					r.setForecast(ForecastOf(t, daily[id], period, cu.In(b.Location), now))
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

// setForecast fills the row's projection fields from f (nil: none).
func (r *Row) setForecast(f *Forecast) {
	r.Forecast = f
	if f == nil {
		return
	}
	pp, pace, basis := RoundFloat2(f.ProjectedPercent), RoundFloat2(f.RequestsPerDay), f.Basis
	r.ProjectedPercent, r.Pace, r.PaceBasis = &pp, &pace, &basis
	if f.LimitDate != "" {
		d := f.LimitDate
		r.ProjectedLimitDate = &d
	}
}

// ReadDaily reads the daily series of every customer (only = "": all) over
// the days of periods, in one query, summed over providers and models:
// what ForecastOf projects from. Each customer's days are in its own
// timezone, so a period's days are the same names for everyone. It returns
// an error wrapping store.ErrDailyPending while an upgraded database's
// daily totals are still being built.
func ReadDaily(ctx context.Context, st *store.Store, periods []string, only string) (map[string][]Daily, error) {
	if len(periods) == 0 {
		return map[string][]Daily{}, nil
	}
	from, to := slices.Min(periods)+"-01", slices.Max(periods)+"-31"
	rows, err := st.UsageDailyTotals(ctx, from, to, only)
	if err != nil {
		return nil, fmt.Errorf("read daily usage %s..%s: %w", from, to, err)
	}
	return DailyOf(rows), nil
}

// DailyOf groups store rows (ordered by customer and day, as UsageDaily
// returns them) into each customer's series, one Daily per day.
func DailyOf(rows []store.DailyUsage) map[string][]Daily {
	out := map[string][]Daily{}
	for i := range rows {
		d := &rows[i]
		s := out[d.Customer]
		u := UsedOf(d.Usage)
		if n := len(s); n > 0 && s[n-1].Day == d.Day {
			s[n-1].Used = s[n-1].Used.Add(u)
		} else {
			s = append(s, Daily{Day: d.Day, Used: u})
		}
		out[d.Customer] = s
	}
	return out
}
