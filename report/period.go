package report

import (
	"fmt"
	"time"
)

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

// DayOf is the YYYY-MM-DD day containing t in loc.
func DayOf(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02") }

// PeriodOpen reports whether now falls inside period in loc: only the
// running period alerts, so backfilling an ended month is silent.
func PeriodOpen(period string, loc *time.Location, now time.Time) bool {
	start, end, err := PeriodBounds(period, loc)
	if err != nil {
		return false
	}
	return !now.Before(start) && now.Before(end)
}
