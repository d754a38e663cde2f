package report

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// Grouping says which columns a history row is broken down by, beyond the
// customer.
type Grouping struct {
	Daily    bool // one row per day
	Provider bool // one row per provider
	Model    bool // one row per provider and model
}

// HistoryRow is one customer's usage over a range of days, broken down by
// day, provider or model as asked: the seed's usage baseline.
type HistoryRow struct {
	Customer         string `json:"customer"`
	Name             string `json:"name"`
	Day              string `json:"day,omitempty"`
	From             string `json:"from"`
	To               string `json:"to"`
	Provider         string `json:"provider,omitempty"`
	Model            string `json:"model,omitempty"`
	Requests         int64  `json:"requests"`
	FailedRequests   int64  `json:"failed_requests"`
	InputTokens      int64  `json:"input_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	CacheReadTokens  int64  `json:"cache_read_tokens"`
	CacheWriteTokens int64  `json:"cache_write_tokens"`
	TotalTokens      int64  `json:"total_tokens"`
	CostUSD          Money  `json:"cost_usd"`
	UnpricedRequests int64  `json:"unpriced_requests"`
}

// ParseDay checks a YYYY-MM-DD day.
func ParseDay(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want YYYY-MM-DD, got %q", s)
	}
	return t, nil
}

// MonthDays is the first and last day of a YYYY-MM period.
func MonthDays(period string) (from, to string, err error) {
	t, err := time.Parse("2006-01", period)
	if err != nil {
		return "", "", fmt.Errorf("want YYYY-MM, got %q", period)
	}
	return t.Format("2006-01-02"), t.AddDate(0, 1, -1).Format("2006-01-02"), nil
}

// History sums the daily rollup from fromDay to toDay (inclusive, each in
// its customer's timezone) per customer and the grouping's columns. Rows
// are ordered like Rows (configured customers first, then others by id),
// then by day, provider and model. A sum over the rows of one period
// equals that period's Rows totals exactly: both add the same integers.
func History(ctx context.Context, st *store.Store, b *Book, fromDay, toDay, only string, g Grouping) ([]HistoryRow, error) {
	daily, err := st.UsageDaily(ctx, fromDay, toDay, only)
	if err != nil {
		return nil, err
	}
	type key struct{ customer, day, provider, model string }
	idx := map[key]int{}
	var rows []HistoryRow
	for _, d := range daily {
		k := key{customer: d.Customer}
		if g.Daily {
			k.day = d.Day
		}
		if g.Provider || g.Model {
			k.provider = d.Provider
		}
		if g.Model {
			k.model = d.Model
		}
		i, ok := idx[k]
		if !ok {
			i = len(rows)
			idx[k] = i
			r := HistoryRow{Customer: k.customer, Day: k.day, Provider: k.provider, Model: k.model, From: fromDay, To: toDay}
			if k.day != "" {
				r.From, r.To = k.day, k.day
			}
			if c, ok := b.Customer(k.customer); ok {
				r.Name = c.Name
			}
			rows = append(rows, r)
		}
		r := &rows[i]
		u := d.Usage
		r.Requests += u.Requests
		r.FailedRequests += u.FailedRequests
		r.InputTokens += u.Input
		r.OutputTokens += u.Output
		r.CacheReadTokens += u.CacheRead
		r.CacheWriteTokens += u.CacheWrite
		r.TotalTokens += u.TotalTokens()
		r.CostUSD += CostOf(u)
		r.UnpricedRequests += u.Unpriced
	}
	order := func(id string) (int, string) {
		if i, ok := b.byID[id]; ok {
			return i, ""
		}
		return len(b.Customers), id
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, c := rows[i], rows[j]
		if a.Customer != c.Customer {
			ai, as := order(a.Customer)
			ci, cs := order(c.Customer)
			if ai != ci {
				return ai < ci
			}
			return as < cs
		}
		if a.Day != c.Day {
			return a.Day < c.Day
		}
		if a.Provider != c.Provider {
			return a.Provider < c.Provider
		}
		return a.Model < c.Model
	})
	return rows, nil
}
