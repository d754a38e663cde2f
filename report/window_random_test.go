package report

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// oldReadPeriodDaily is the read Rows made before the windows were summed
// in SQL (commit eee17a1): every day of the earliest window on, one row a
// customer and day, the rest of the period's total on the 1st. It is kept
// here as the reference the new read must agree with.
func oldReadPeriodDaily(ctx context.Context, st *store.Store, b *Book, period, only string, now time.Time, totals map[string]store.Usage) (map[string][]Daily, error) {
	from, ok := windowFrom(b, period, only, now)
	if !ok {
		return ReadDaily(ctx, st, []string{period}, only)
	}
	rows, err := st.UsageDailyTotals(ctx, from, period+"-31", only)
	if err != nil {
		return nil, err
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

// TestRowsForecastFromSummedWindowsEqualsTheOldDailyReadOverRandomStores
// proves that summing each timezone's pace window in the store changes no
// forecast: over random months (customers in four timezones, each limited
// by requests, tokens or cost, usage on random days and hours including
// days after now, unconfigured ids), at random times of the running
// period, every row's forecast and printed projection equal both the old
// read's (one row a customer and day) and ForecastOf over the whole
// month's series, for all customers and for one.
func TestRowsForecastFromSummedWindowsEqualsTheOldDailyReadOverRandomStores(t *testing.T) {
	ctx := context.Background()
	zones := []*time.Location{riyadh, time.UTC, time.FixedZone("-10", -10*3600), time.FixedZone("+14", 14*3600)}
	windowCases := 0
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 42))
		st, err := store.Open(ctx, filepath.Join(t.TempDir(), fmt.Sprintf("qw%d.db", seed)))
		if err != nil {
			t.Fatal(err)
		}
		var cs []Customer
		for i := range 12 {
			c := Customer{ID: fmt.Sprintf("c%02d", i), Tier: "standard"}
			switch i % 4 {
			case 0:
				c.Limits = &Tier{Requests: 50 + rng.Int64N(400)}
			case 1:
				c.Limits = &Tier{Tokens: 20_000 + rng.Int64N(400_000)}
			case 2:
				c.Limits = &Tier{CostUSD: 0.5 + float64(rng.IntN(300))/100}
			}
			if seed > 0 { // seed 0: everyone in the book's timezone
				c.Location = zones[rng.IntN(len(zones))]
			}
			cs = append(cs, c)
		}
		b := NewBook(cs, riyadh)
		batch := &store.Batch{}
		start := time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC).UnixMilli()
		for i := range 4000 {
			id := cs[rng.IntN(len(cs))].ID
			if rng.IntN(40) == 0 {
				id = "stray"
			}
			batch.Events = append(batch.Events, store.Event{Key: fmt.Sprintf("k%d", i), Agent: "main", SessionID: "s",
				TimeMs: start + rng.Int64N(32*86_400_000), Customer: id, Provider: "p", Model: fmt.Sprintf("m%d", rng.IntN(3)),
				Input: rng.Int64N(3000), Output: rng.Int64N(500), CacheRead: rng.Int64N(9000), CacheWrite: rng.Int64N(100),
				Priced: rng.IntN(8) != 0, CostUSD: float64(rng.IntN(20_000)) / 1e6, Failed: rng.IntN(25) == 0})
		}
		if _, err := st.Commit(ctx, batch, func(c string, ms int64) string { return DayOf(time.UnixMilli(ms), b.LocationOf(c)) }); err != nil {
			t.Fatal(err)
		}
		full, err := ReadDaily(ctx, st, []string{"2026-11"}, "")
		if err != nil {
			t.Fatal(err)
		}
		for range 25 {
			now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(29 * 24 * time.Hour))))
			if _, ok := windowFrom(b, "2026-11", "", now); ok {
				windowCases++
			}
			for _, only := range []string{"", cs[rng.IntN(len(cs))].ID} {
				rows, err := Rows(ctx, st, b, "2026-11", only, now)
				if err != nil {
					t.Fatal(err)
				}
				totals, err := st.UsageByPeriod(ctx, "2026-11", only)
				if err != nil {
					t.Fatal(err)
				}
				byID := map[string]store.Usage{}
				for _, u := range totals {
					byID[u.Customer] = u
				}
				old, err := oldReadPeriodDaily(ctx, st, b, "2026-11", only, now, byID)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows {
					cu, ok := b.Customer(r.Customer)
					if !ok {
						if r.Forecast != nil {
							t.Errorf("seed %d %s: unconfigured %s has a forecast", seed, now, r.Customer)
						}
						continue
					}
					for name, days := range map[string][]Daily{"the old read": old[r.Customer], "the whole month": full[r.Customer]} {
						want := &Row{}
						want.setForecast(ForecastOf(cu.TierLimits(), days, "2026-11", cu.In(b.Location), now))
						if !reflect.DeepEqual(r.Forecast, want.Forecast) || !reflect.DeepEqual(r.ProjectedPercent, want.ProjectedPercent) ||
							!reflect.DeepEqual(r.ProjectedLimitDate, want.ProjectedLimitDate) || !reflect.DeepEqual(r.Pace, want.Pace) ||
							!reflect.DeepEqual(r.PaceBasis, want.PaceBasis) {
							t.Errorf("seed %d %s only=%q %s: forecast %+v, want %+v (from %s)", seed, now, only, r.Customer, r.Forecast, want.Forecast, name)
						}
					}
				}
			}
		}
		st.Close()
	}
	if windowCases < 30 {
		t.Errorf("%d of 100 times in the window case; the test must exercise it", windowCases)
	}
}
