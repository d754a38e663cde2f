package report

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// TestRowsForecastFromThePaceWindowEqualsTheWholeMonths proves that
// reading only the pace window's days (readPeriodDaily) changes no
// forecast: for customers in two timezones with usage on every kind of
// day, at a time inside the window case, in the first week and after the
// month ended, every row's forecast equals ForecastOf over the whole
// month's daily series.
func TestRowsForecastFromThePaceWindowEqualsTheWholeMonths(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	utc := time.UTC
	b := NewBook([]Customer{
		{ID: "steady", Tier: "standard", Limits: &Tier{Requests: 3000}},
		{ID: "burst", Tier: "standard", Limits: &Tier{Tokens: 40_000}, Location: utc},
		{ID: "cost", Tier: "standard", Limits: &Tier{CostUSD: 2}},
		{ID: "free", Tier: "pro"},
	}, riyadh)
	seq := 0
	for d := 1; d <= 27; d++ {
		at := time.Date(2026, 11, d, 23, 30, 0, 0, riyadh) // near midnight: the two timezones disagree on the day
		commitRequests(t, st, b, "steady", 80+d%5, at, &seq)
		commitRequests(t, st, b, "burst", map[bool]int{true: 5, false: 60}[d < 18], at, &seq)
		commitRequests(t, st, b, "cost", d%3*20, at, &seq)
		commitRequests(t, st, b, "free", 30, at, &seq)
	}
	commitRequests(t, st, b, "unassigned", 7, time.Date(2026, 11, 3, 9, 0, 0, 0, riyadh), &seq)
	for _, now := range []time.Time{
		time.Date(2026, 11, 20, 12, 0, 0, 0, riyadh), // window
		time.Date(2026, 11, 28, 1, 0, 0, 0, riyadh),  // window, the 27th in UTC
		time.Date(2026, 11, 5, 12, 0, 0, 0, riyadh),  // first week: month to date
		time.Date(2026, 12, 3, 12, 0, 0, 0, riyadh),  // ended
	} {
		if _, ok := windowFrom(b, "2026-11", "", now); ok != (now.Day() >= 20) {
			t.Errorf("%s: window case %v", now, ok)
		}
		full, err := ReadDaily(ctx, st, []string{"2026-11"}, "")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := Rows(ctx, st, b, "2026-11", "", now)
		if err != nil {
			t.Fatal(err)
		}
		forecasts := 0
		for _, r := range rows {
			cu, ok := b.Customer(r.Customer)
			if !ok {
				continue
			}
			want := &Row{}
			want.setForecast(ForecastOf(cu.TierLimits(), full[r.Customer], "2026-11", cu.In(b.Location), now))
			if !reflect.DeepEqual(r.Forecast, want.Forecast) || !reflect.DeepEqual(r.ProjectedPercent, want.ProjectedPercent) ||
				!reflect.DeepEqual(r.ProjectedLimitDate, want.ProjectedLimitDate) || !reflect.DeepEqual(r.Pace, want.Pace) {
				t.Errorf("%s %s: forecast %+v, want %+v (from the whole month)", now, r.Customer, r.Forecast, want.Forecast)
			}
			if r.Forecast != nil {
				forecasts++
			}
		}
		if forecasts < 3 {
			t.Errorf("%s: %d forecasts, want the 3 limited customers'", now, forecasts)
		}
	}
}
