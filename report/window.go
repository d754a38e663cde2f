package report

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// readPeriod reads the period's totals (byID: every customer with usage)
// and what Rows' forecasts project from. Of a running period from its 8th
// day on, ForecastOf uses the days of the pace window only through their
// sum, and the earlier days only through the period's total: so each
// customer's window is summed by the store, and its series is two days,
// the window's sum on its last day and the rest of the period's total on
// the 1st (the rollup, which the daily rows add up to exactly). ForecastOf
// sees the same two sums from one row a customer instead of one a day;
// the dashboard computes this after every commit. Any other case (an
// ended period, whose limit date walks every day; the first week; a
// customer whose period is not running in its timezone) reads every day.
// daily is nil, and dailyErr wraps store.ErrDailyPending, while an
// upgraded database's daily totals are still being built.
func readPeriod(ctx context.Context, st *store.Store, b *Book, period, only string, now time.Time) (byID map[string]store.Usage, daily map[string][]Daily, dailyErr, err error) {
	windows, ok := paceWindows(b, period, only, now)
	var totals []store.Usage
	var sums []map[string]store.WindowUsage
	if ok {
		totals, sums, err = st.UsageByPeriodWindows(ctx, period, only, windows)
		if errors.Is(err, store.ErrDailyPending) { // the totals are read
			dailyErr, err = err, nil
		}
	} else {
		totals, err = st.UsageByPeriod(ctx, period, only)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	byID = make(map[string]store.Usage, len(totals))
	for _, u := range totals {
		byID[u.Customer] = u
	}
	if dailyErr != nil {
		return byID, nil, dailyErr, nil
	}
	if !ok {
		daily, dailyErr = ReadDaily(ctx, st, []string{period}, only)
		return byID, daily, dailyErr, nil
	}
	daily = make(map[string][]Daily, len(totals))
	for i, w := range windows {
		for id, u := range sums[i] {
			daily[id] = []Daily{{Day: w.To, Used: Used{Requests: u.Requests, Tokens: u.TotalTokens(), Cost: Money(u.CostNanos)}}}
		}
	}
	for id, u := range byID {
		rest := UsedOf(u)
		for _, d := range daily[id] {
			rest = Used{Requests: rest.Requests - d.Used.Requests, Tokens: rest.Tokens - d.Used.Tokens, Cost: rest.Cost - d.Used.Cost}
		}
		if rest != (Used{}) {
			daily[id] = append([]Daily{{Day: period + "-01", Used: rest}}, daily[id]...)
		}
	}
	return byID, daily, nil, nil
}

// paceWindows groups the configured customers of the book (only: that
// one) by their pace window, the 7 full days before today and today in
// their timezone (one group per timezone that disagrees on the days), and
// reports whether every one of them is in its running period with the
// full window behind it, the case in which the windows' sums are all a
// forecast needs beside the period's total. Customers with usage but no
// configuration get no forecast, so they are in no window.
func paceWindows(b *Book, period, only string, now time.Time) ([]store.DayWindow, bool) {
	var out []store.DayWindow
	for i := range b.Customers {
		cu := &b.Customers[i]
		if only != "" && only != cu.ID {
			continue
		}
		loc := cu.In(b.Location)
		start, end, err := PeriodBounds(period, loc)
		if err != nil || now.Before(start) || !now.Before(end) {
			return nil, false
		}
		local := now.In(loc)
		if local.Day()-1 < paceWindowDays {
			return nil, false
		}
		y, m, d := local.Date()
		from := time.Date(y, m, d-paceWindowDays, 0, 0, 0, 0, loc).Format("2006-01-02")
		today := time.Date(y, m, d, 0, 0, 0, 0, loc).Format("2006-01-02")
		if from <= period+"-01" || from[:7] != period || today[:7] != period {
			return nil, false
		}
		j := slices.IndexFunc(out, func(w store.DayWindow) bool { return w.From == from && w.To == today })
		if j < 0 {
			out = append(out, store.DayWindow{From: from, To: today})
			j = len(out) - 1
		}
		out[j].Customers = append(out[j].Customers, cu.ID)
	}
	return out, len(out) > 0
}

// windowFrom is the earliest first day of the pace window over the
// customers of the book (only: that one), and whether readPeriod takes
// the window case (see paceWindows).
func windowFrom(b *Book, period, only string, now time.Time) (string, bool) {
	windows, ok := paceWindows(b, period, only, now)
	if !ok {
		return "", false
	}
	from := windows[0].From
	for _, w := range windows[1:] {
		from = min(from, w.From)
	}
	return from, true
}
