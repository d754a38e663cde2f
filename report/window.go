package report

import (
	"context"
	"fmt"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// readPeriodDaily reads what Rows' forecasts project from. Of a running
// period from its 8th day on, ForecastOf uses the days of the pace window
// one by one and the earlier days only through the period's total: so
// only the window's days are read, and each customer's earlier days come
// as one day on the 1st carrying the rest of its period total (from the
// rollup, which the daily rows add up to exactly). ForecastOf sees the
// same sums from a quarter of the rows; the dashboard computes this after
// every commit. Any other case (an ended period, whose limit date walks
// every day; the first week; a customer whose period is not running in
// its timezone) reads every day.
func readPeriodDaily(ctx context.Context, st *store.Store, b *Book, period, only string, now time.Time, totals map[string]store.Usage) (map[string][]Daily, error) {
	from, ok := windowFrom(b, period, only, now)
	if !ok {
		return ReadDaily(ctx, st, []string{period}, only)
	}
	to := period + "-31"
	rows, err := st.UsageDailyTotals(ctx, from, to, only)
	if err != nil {
		return nil, fmt.Errorf("read daily usage %s..%s: %w", from, to, err)
	}
	daily := DailyOf(rows)
	for id, u := range totals {
		rest := UsedOf(u)
		for _, d := range daily[id] {
			rest = Used{Requests: rest.Requests - d.Used.Requests, Tokens: rest.Tokens - d.Used.Tokens, Cost: rest.Cost - d.Used.Cost}
		}
		if rest != (Used{}) {
			daily[id] = append([]Daily{{Day: period + "-01", Used: rest}}, daily[id]...)
		}
	}
	return daily, nil
}

// windowFrom is the earliest first day of the pace window over the
// customers of the book (only: that one), and whether every one of them
// is in its running period with the full window behind it, the case in
// which the window's days are all a forecast needs.
func windowFrom(b *Book, period, only string, now time.Time) (string, bool) {
	from := ""
	for i := range b.Customers {
		cu := &b.Customers[i]
		if only != "" && only != cu.ID {
			continue
		}
		loc := cu.In(b.Location)
		start, end, err := PeriodBounds(period, loc)
		if err != nil || now.Before(start) || !now.Before(end) {
			return "", false
		}
		local := now.In(loc)
		if local.Day()-1 < paceWindowDays {
			return "", false
		}
		y, m, d := local.Date()
		f := time.Date(y, m, d-paceWindowDays, 0, 0, 0, 0, loc).Format("2006-01-02")
		if from == "" || f < from {
			from = f
		}
	}
	if from == "" || from <= period+"-01" || from[:7] != period {
		return "", false
	}
	return from, true
}
