package report

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// DayUsage is one day of a customer's period.
type DayUsage struct {
	Day            string `json:"day"` // YYYY-MM-DD in the customer's timezone
	Requests       int64  `json:"requests"`
	FailedRequests int64  `json:"failed_requests"`
	TotalTokens    int64  `json:"total_tokens"`
	CostUSD        Money  `json:"cost_usd"`
	// Cumulative is the period's usage up to the end of this day, in the
	// measure of the limit that decides the customer's percentage (Reading).
	Cumulative Used `json:"-"`
}

// ModelUsage is one provider and model's share of a customer's period.
type ModelUsage struct {
	Provider       string `json:"provider"`
	Model          string `json:"model"`
	Requests       int64  `json:"requests"`
	FailedRequests int64  `json:"failed_requests"`
	InputTokens    int64  `json:"input_tokens"`
	OutputTokens   int64  `json:"output_tokens"`
	CacheTokens    int64  `json:"cache_tokens"`
	TotalTokens    int64  `json:"total_tokens"`
	CostUSD        Money  `json:"cost_usd"`
	Unpriced       int64  `json:"unpriced_requests"`
}

// Detail is what a customer's page shows beside its Row: every day of the
// period (zeros included, up to today for the running period) and the
// breakdown by model.
type Detail struct {
	Days   []DayUsage
	Models []ModelUsage
	// Pending is set while the daily totals are still being built after an
	// upgrade (store.ErrDailyPending): the month's Row is right, the days
	// are not there yet.
	Pending bool
}

// CustomerDetail reads a customer's days and models in period, in the
// customer's timezone.
func CustomerDetail(ctx context.Context, st *store.Store, b *Book, customer, period string, now time.Time) (Detail, error) {
	loc := b.LocationOf(customer)
	start, end, err := PeriodBounds(period, loc)
	if err != nil {
		return Detail{}, err
	}
	daily, err := st.UsageDaily(ctx, period+"-01", period+"-31", customer)
	if errors.Is(err, store.ErrDailyPending) {
		return Detail{Pending: true}, nil
	}
	if err != nil {
		return Detail{}, fmt.Errorf("detail of %s in %s: %w", customer, period, err)
	}
	last := end.AddDate(0, 0, -1)
	if now.Before(end) && !now.Before(start) {
		last = now.In(loc)
	}
	var d Detail
	idx := map[string]int{}
	for t := start; !t.After(last); t = t.AddDate(0, 0, 1) {
		day := DayOf(t, loc)
		idx[day] = len(d.Days)
		d.Days = append(d.Days, DayUsage{Day: day})
	}
	models := map[[2]string]*ModelUsage{}
	for _, u := range daily {
		i, ok := idx[u.Day]
		if !ok {
			// A call up to 24 h ahead of the host's clock is billed as
			// written: its day is shown even though it is still to come.
			idx[u.Day] = len(d.Days)
			i = len(d.Days)
			d.Days = append(d.Days, DayUsage{Day: u.Day})
		}
		x := &d.Days[i]
		x.Requests += u.Requests
		x.FailedRequests += u.FailedRequests
		x.TotalTokens += u.TotalTokens()
		x.CostUSD += CostOf(u.Usage)
		k := [2]string{u.Provider, u.Model}
		m := models[k]
		if m == nil {
			m = &ModelUsage{Provider: u.Provider, Model: u.Model}
			models[k] = m
		}
		m.Requests += u.Requests
		m.FailedRequests += u.FailedRequests
		m.InputTokens += u.Input
		m.OutputTokens += u.Output
		m.CacheTokens += u.CacheRead + u.CacheWrite
		m.TotalTokens += u.TotalTokens()
		m.CostUSD += CostOf(u.Usage)
		m.Unpriced += u.Unpriced
	}
	sort.Slice(d.Days, func(i, j int) bool { return d.Days[i].Day < d.Days[j].Day })
	var cum Used
	for i := range d.Days {
		cum.Requests += d.Days[i].Requests
		cum.Tokens += d.Days[i].TotalTokens
		cum.Cost += d.Days[i].CostUSD
		d.Days[i].Cumulative = cum
	}
	for _, m := range models {
		d.Models = append(d.Models, *m)
	}
	sort.Slice(d.Models, func(i, j int) bool {
		a, b := d.Models[i], d.Models[j]
		if a.CostUSD != b.CostUSD {
			return a.CostUSD > b.CostUSD
		}
		if a.Requests != b.Requests {
			return a.Requests > b.Requests
		}
		return a.Provider+"/"+a.Model < b.Provider+"/"+b.Model
	})
	return d, nil
}

// SortByPercent orders rows for the dashboard: the customers closest to
// (or furthest past) their limit first, the unlimited after them by
// requests, each tie by id.
func SortByPercent(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := &rows[i], &rows[j]
		if a.ReadingOK != b.ReadingOK {
			return a.ReadingOK
		}
		if a.ReadingOK {
			if c := a.Reading.cmp(b.Reading); c != 0 {
				return c > 0
			}
		}
		if a.Requests != b.Requests {
			return a.Requests > b.Requests
		}
		return strings.Compare(a.Customer, b.Customer) < 0
	})
}
