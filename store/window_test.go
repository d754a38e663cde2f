package store_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// TestUsageWindowsEqualTheDailyRowsSummedOverTheirDays proves that the sums
// forecasts read (UsageByPeriodWindows) lose nothing against UsageDaily:
// over a random month of events for customers in two timezones, each
// window's sum of a customer equals its UsageDaily rows summed over the
// window's days, field by field; customers left out of a window get no
// sum, one with no usage in it gets none either, and the totals equal
// UsageByPeriod's.
func TestUsageWindowsEqualTheDailyRowsSummedOverTheirDays(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	rng := rand.New(rand.NewPCG(7, 9))
	zones := map[string]*time.Location{"east": time.FixedZone("+14", 14*3600), "west": time.FixedZone("-10", -10*3600)}
	nov1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	b := &store.Batch{}
	for i := range 3000 {
		c := []string{"a", "b", "east", "west", "idle"}[rng.IntN(4)]
		b.Events = append(b.Events, store.Event{Key: "k" + strconv.Itoa(i), Agent: "main", SessionID: "s", Period: "2026-11",
			TimeMs: nov1 + rng.Int64N(29*86_400_000), Customer: c, Provider: []string{"p", "q"}[rng.IntN(2)], Model: []string{"m1", "m2", "m3"}[rng.IntN(3)],
			Input: rng.Int64N(5000), Output: rng.Int64N(900), CacheRead: rng.Int64N(20_000), CacheWrite: rng.Int64N(300),
			CostUSD: float64(rng.IntN(100_000)) / 1e7, Priced: rng.IntN(10) != 0, Failed: rng.IntN(20) == 0})
	}
	// idle's only usage is before every window.
	b.Events = append(b.Events, store.Event{Key: "idle", Agent: "main", SessionID: "s", Period: "2026-11", TimeMs: nov1 + 3_600_000,
		Customer: "idle", Provider: "p", Model: "m1", Input: 5, Priced: true, CostUSD: 0.5})
	if _, err := st.Commit(ctx, b, dayIn(zones)); err != nil {
		t.Fatal(err)
	}
	windows := []store.DayWindow{
		{From: "2026-11-13", To: "2026-11-20", Customers: []string{"a", "b", "idle", "nobody"}},
		{From: "2026-11-14", To: "2026-11-21", Customers: []string{"east"}},
		{From: "2026-11-12", To: "2026-11-19", Customers: []string{"west"}},
	}
	totals, sums, err := st.UsageByPeriodWindows(ctx, "2026-11", "", windows)
	if err != nil {
		t.Fatal(err)
	}
	want, err := st.UsageByPeriod(ctx, "2026-11", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(totals) != len(want) {
		t.Fatalf("%d totals, want UsageByPeriod's %d", len(totals), len(want))
	}
	for i := range want {
		if totals[i] != want[i] {
			t.Errorf("total %+v, want UsageByPeriod's %+v", totals[i], want[i])
		}
	}
	for i, w := range windows {
		rows, err := st.UsageDaily(ctx, w.From, w.To, "")
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]bool{}
		for _, c := range w.Customers {
			in[c] = true
		}
		wantSums := map[string]store.WindowUsage{}
		for _, r := range rows {
			if !in[r.Customer] {
				continue
			}
			s := wantSums[r.Customer]
			s.Requests += r.Requests
			s.Input += r.Input
			s.Output += r.Output
			s.CacheRead += r.CacheRead
			s.CacheWrite += r.CacheWrite
			s.CostNanos += r.CostNanos
			wantSums[r.Customer] = s
		}
		if len(sums[i]) != len(wantSums) {
			t.Errorf("window %s..%s: sums of %d customers %v, want %d", w.From, w.To, len(sums[i]), sums[i], len(wantSums))
		}
		for c, s := range wantSums {
			if s.Requests == 0 {
				t.Fatalf("window %s..%s: %s has no usage in it; the fixture must give it some", w.From, w.To, c)
			}
			if sums[i][c] != s {
				t.Errorf("window %s..%s, %s: %+v, want the daily rows' %+v", w.From, w.To, c, sums[i][c], s)
			}
		}
		if _, ok := sums[i]["idle"]; ok {
			t.Errorf("window %s..%s: idle, with no usage in it, has a sum", w.From, w.To)
		}
	}
	if _, _, err := st.UsageByPeriodWindows(ctx, "2026-11", "", []store.DayWindow{{From: "2026-11-1", To: "2026-11-20"}}); err == nil {
		t.Error("a malformed day was accepted")
	}
}

// TestUsageWindowsOfAnUpgradedDatabaseAreRefusedUntilItsDaysAreBuilt
// proves the window sums are never short: on a database an earlier
// release wrote (testdata/v3), before the first writer gives the old
// events their day, UsageByPeriodWindows returns the monthly totals (the
// rows still show) and ErrDailyPending instead of sums.
func TestUsageWindowsOfAnUpgradedDatabaseAreRefusedUntilItsDaysAreBuilt(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("testdata", "v3", "v3.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v3.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want, err := st.UsageByPeriod(ctx, "2026-11", "")
	if err != nil || len(want) == 0 {
		t.Fatalf("fixture's November: %v, %v", want, err)
	}
	totals, sums, err := st.UsageByPeriodWindows(ctx, "2026-11", "", []store.DayWindow{{From: "2026-11-10", To: "2026-11-17", Customers: []string{want[0].Customer}}})
	if !errors.Is(err, store.ErrDailyPending) {
		t.Errorf("err = %v, want ErrDailyPending", err)
	}
	if sums != nil {
		t.Errorf("sums %v before the days are built", sums)
	}
	if !slices.Equal(totals, want) {
		t.Errorf("totals %+v, want UsageByPeriod's %+v", totals, want)
	}
}
