package alerts

import (
	"fmt"
	"time"
)

// Used is what a customer consumed in a period, in the measures tiers limit.
type Used struct {
	Requests int64
	Tokens   int64
	CostUSD  float64
}

// Percent is the highest of used/limit over the tier's limits, in percent;
// ok is false for an unlimited tier.
func Percent(t Tier, u Used) (pct float64, ok bool) {
	if t.Requests > 0 {
		pct, ok = max(pct, float64(u.Requests)*100/float64(t.Requests)), true
	}
	if t.Tokens > 0 {
		pct, ok = max(pct, float64(u.Tokens)*100/float64(t.Tokens)), true
	}
	if t.CostUSD > 0 {
		pct, ok = max(pct, u.CostUSD*100/t.CostUSD), true
	}
	return pct, ok
}

// PeriodBounds returns the start and end of a YYYY-MM period in loc.
func PeriodBounds(period string, loc *time.Location) (start, end time.Time, err error) {
	t, err := time.ParseInLocation("2006-01", period, loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("period %q: want YYYY-MM: %w", period, err)
	}
	return t, t.AddDate(0, 1, 0), nil
}

// PeriodOf is the YYYY-MM period containing t in loc.
func PeriodOf(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01") }

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
