package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// TestDailyTotalsEqualTheDailyRowsSummedOverModels proves UsageDailyTotals
// (what forecasts read) loses nothing against UsageDaily: for every
// customer and day, every field equals the sum of that day's provider and
// model rows, for all customers and for one, and a day range cuts both
// alike.
func TestDailyTotalsEqualTheDailyRowsSummedOverModels(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	nov1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	b := &store.Batch{}
	for i := range 600 {
		c := []string{"a", "b", "c"}[i%3]
		b.Events = append(b.Events, store.Event{Key: "k" + strconv.Itoa(i), Agent: "main", SessionID: "s", Period: "2026-11",
			TimeMs: nov1 + int64(i)*3_600_000*4/3, Customer: c, Provider: []string{"p", "q"}[i%2], Model: []string{"m1", "m2", "m3"}[i%5%3],
			Input: int64(i), Output: 2, CacheRead: int64(i % 7), CacheWrite: int64(i % 5), CostUSD: float64(i%9) / 1000,
			Priced: i%11 != 0, Failed: i%13 == 0})
	}
	if _, err := st.Commit(ctx, b, dayIn(nil)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ from, to, customer string }{
		{"2026-11-01", "2026-11-31", ""}, {"2026-11-01", "2026-11-31", "b"}, {"2026-11-05", "2026-11-09", ""},
	} {
		rows, err := st.UsageDaily(ctx, tt.from, tt.to, tt.customer)
		if err != nil {
			t.Fatal(err)
		}
		type cd struct{ c, d string }
		want := map[cd]store.Usage{}
		var order []cd
		for _, r := range rows {
			k := cd{r.Customer, r.Day}
			u, ok := want[k]
			if !ok {
				order = append(order, k)
			}
			u.Customer, u.Period = r.Customer, r.Period
			u.Requests += r.Requests
			u.FailedRequests += r.FailedRequests
			u.Input += r.Input
			u.Output += r.Output
			u.CacheRead += r.CacheRead
			u.CacheWrite += r.CacheWrite
			u.CostNanos += r.CostNanos
			u.Unpriced += r.Unpriced
			u.CostUSD = store.USD(u.CostNanos)
			want[k] = u
		}
		got, err := st.UsageDailyTotals(ctx, tt.from, tt.to, tt.customer)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(order) || len(got) == 0 {
			t.Fatalf("%+v: %d totals, want %d (one per customer and day)", tt, len(got), len(order))
		}
		for i, g := range got {
			k := order[i]
			if g.Customer != k.c || g.Day != k.d || g.Provider != "" || g.Model != "" {
				t.Errorf("%+v: row %d is %s %s %s/%s, want %s %s (ordered by customer, day)", tt, i, g.Customer, g.Day, g.Provider, g.Model, k.c, k.d)
				continue
			}
			if g.Usage != want[k] {
				t.Errorf("%+v: %s %s: %+v, want %+v", tt, k.c, k.d, g.Usage, want[k])
			}
		}
	}
	if _, err := st.UsageDailyTotals(ctx, "2026-11", "2026-11-31", ""); err == nil {
		t.Error("a month for a day was accepted")
	}
}
