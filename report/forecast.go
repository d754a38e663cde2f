package report

import (
	"slices"
	"strings"
	"time"
)

// Pace bases: which days a forecast's daily average is taken over.
const (
	BasisLast7Days   = "last_7_days"
	BasisMonthToDate = "month_to_date"
)

// The least data a running period needs before it is projected: below
// either, one busy hour or a handful of calls would be extended to a whole
// month (a customer showed FORECAST 2637 % on the 1st). Both are documented
// in DESIGN.md ("Forecast").
const (
	// MinForecastElapsed is how much of the period must have passed.
	MinForecastElapsed = 24 * time.Hour
	// MinForecastRequests is how many requests the period must hold.
	MinForecastRequests = 10
	// paceWindowDays is the length of the last_7_days window.
	paceWindowDays = 7
)

// Daily is a customer's usage on one calendar day (YYYY-MM-DD in the
// customer's timezone): the series a forecast is computed from.
type Daily struct {
	Day  string
	Used Used
}

// Forecast is where a customer's period is heading at its current pace.
type Forecast struct {
	// Basis is BasisLast7Days or BasisMonthToDate.
	Basis string
	// Unit is the reading's unit, the measure Pace and Projected are in.
	Unit string
	// Pace is the daily average in Unit's base measure (requests, tokens,
	// nano-dollars per day).
	Pace float64
	// RequestsPerDay is the daily average of requests over the same days,
	// for display.
	RequestsPerDay float64
	// Projected is the month-end usage in Unit's base measure.
	Projected float64
	// ProjectedPercent is Projected against the limit, in percent.
	ProjectedPercent float64
	// LimitDate is the day (YYYY-MM-DD, customer's timezone) 100 % is
	// reached at this pace: today when already reached, "" when not
	// before the period ends. For an ended period it is the day the
	// series crossed 100 %, "" if it never did.
	LimitDate string
	// Ended is true for a period that is over: Projected is what it used.
	Ended bool
}

// Agrees reports whether the forecast says the limit lasts to the end of
// the period: what the seed's 80 % text ("it should last until the end of
// the month") promises.
func (f *Forecast) Agrees() bool { return f != nil && f.ProjectedPercent <= 100 }

// ForecastOf projects a customer's period from its daily series. days may
// hold days of other periods (they are ignored) and need not be sorted.
// It returns nil for an unlimited tier, a period not started yet, and a
// running period with less than MinForecastElapsed elapsed or fewer than
// MinForecastRequests requests: too little data is no projection, never a
// wild guess. ForecastOf is pure: now is the injected clock.
//
// Pace is taken over the last 7 days when the period has 7 full calendar
// days before today (the window is never reached back into the previous
// month): the 7 full days before today and today so far, divided by 7 plus
// the part of today elapsed, so a burst today counts at once and a morning
// does not dilute the week. Otherwise it is the period's usage so far
// divided by the time elapsed since the period started, in days. The
// month-end usage is what is used now plus the pace over the time left.
func ForecastOf(t Tier, days []Daily, period string, loc *time.Location, now time.Time) *Forecast {
	start, end, err := PeriodBounds(period, loc)
	if err != nil || now.Before(start) {
		return nil
	}
	var total Used
	for _, d := range days {
		if d.of(period) {
			total = total.Add(d.Used)
		}
	}
	r, ok := Read(t, total)
	if !ok {
		return nil
	}
	limit := float64(r.Limit)
	f := &Forecast{Unit: r.Unit, Basis: BasisMonthToDate}
	if !now.Before(end) {
		// An ended period is not a guess: it used what it used.
		monthDays := end.Sub(start).Hours() / 24
		f.Ended = true
		f.Pace = float64(r.Used) / monthDays
		f.RequestsPerDay = float64(total.Requests) / monthDays
		f.Projected = float64(r.Used)
		f.ProjectedPercent = r.Percent()
		f.LimitDate = crossingDay(days, period, r)
		return f
	}
	elapsed := now.Sub(start)
	if elapsed < MinForecastElapsed || total.Requests < MinForecastRequests {
		return nil
	}
	local := now.In(loc)
	if full := local.Day() - 1; full >= paceWindowDays {
		// The 7 full days before today by calendar day (a 23- or 25-hour day
		// of a DST change is still one day), and today so far.
		y, m, d := local.Date()
		midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
		from := time.Date(y, m, d-paceWindowDays, 0, 0, 0, 0, loc).Format("2006-01-02")
		today := midnight.Format("2006-01-02")
		var w Used
		for _, x := range days {
			if x.of(period) && x.Day >= from && x.Day <= today {
				w = w.Add(x.Used)
			}
		}
		span := paceWindowDays + now.Sub(midnight).Hours()/24
		f.Basis = BasisLast7Days
		f.Pace = float64(w.in(r.Unit)) / span
		f.RequestsPerDay = float64(w.Requests) / span
	} else {
		el := elapsed.Hours() / 24
		f.Pace = float64(r.Used) / el
		f.RequestsPerDay = float64(total.Requests) / el
	}
	left := end.Sub(now).Hours() / 24
	f.Projected = float64(r.Used) + f.Pace*left
	f.ProjectedPercent = f.Projected * 100 / limit
	switch need := limit - float64(r.Used); {
	case need <= 0:
		f.LimitDate = DayOf(now, loc)
	case f.Pace > 0 && need/f.Pace < left:
		at := now.Add(time.Duration(need / f.Pace * float64(24*time.Hour)))
		f.LimitDate = DayOf(at, loc)
	}
	return f
}

// of reports whether the day is one of period's.
func (d Daily) of(period string) bool { return len(d.Day) == 10 && d.Day[:7] == period }

// crossingDay is the first day of period on which the series' running
// total reached the reading's limit ("" if it never did).
func crossingDay(days []Daily, period string, r Reading) string {
	sorted := slices.DeleteFunc(slices.Clone(days), func(d Daily) bool { return !d.of(period) })
	slices.SortFunc(sorted, func(a, b Daily) int { return strings.Compare(a.Day, b.Day) })
	var run int64
	for _, d := range sorted {
		run += d.Used.in(r.Unit)
		if run >= r.Limit {
			return d.Day
		}
	}
	return ""
}

// Add is the sum of two usages.
func (u Used) Add(o Used) Used {
	return Used{Requests: u.Requests + o.Requests, Tokens: u.Tokens + o.Tokens, Cost: u.Cost + o.Cost}
}

// in is the usage in a unit's base measure.
func (u Used) in(unit string) int64 {
	switch unit {
	case UnitTokens:
		return u.Tokens
	case UnitCostUSD:
		return int64(u.Cost)
	}
	return u.Requests
}
