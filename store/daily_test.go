package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// dayIn is a store.DayFunc over a customer → timezone map (UTC for the
// others), the rule monitor.Attributor.DayOf follows.
func dayIn(zones map[string]*time.Location) store.DayFunc {
	return func(customer string, tsMs int64) string {
		loc := zones[customer]
		if loc == nil {
			loc = time.UTC
		}
		return time.UnixMilli(tsMs).In(loc).Format("2006-01-02")
	}
}

// add adds one event to a Usage the way the store must: failed calls apart,
// each cost rounded once to nano-dollars.
func add(u *store.Usage, e *store.Event) {
	if e.Failed {
		u.FailedRequests++
	} else {
		u.Requests++
	}
	u.Input += e.Input
	u.Output += e.Output
	u.CacheRead += e.CacheRead
	u.CacheWrite += e.CacheWrite
	if e.Priced {
		u.CostNanos += store.Nanos(e.CostUSD)
	} else {
		u.Unpriced++
	}
	u.CostUSD = store.USD(u.CostNanos)
}

func plus(u *store.Usage, o store.Usage) {
	u.Requests += o.Requests
	u.FailedRequests += o.FailedRequests
	u.Input += o.Input
	u.Output += o.Output
	u.CacheRead += o.CacheRead
	u.CacheWrite += o.CacheWrite
	u.CostNanos += o.CostNanos
	u.Unpriced += o.Unpriced
	u.CostUSD = store.USD(u.CostNanos)
}

// allDays reads every daily row of the store.
func allDays(t *testing.T, st *store.Store, customer string) []store.DailyUsage {
	t.Helper()
	rows, err := st.UsageDaily(context.Background(), "0001-01-01", "9999-12-31", customer)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// checkDailySumsToMonthly checks, for every period with usage, that each
// customer's daily rows over that period's days add up to its UsageByPeriod
// row in every field, and that there are no daily rows without a monthly
// row or the other way round. It returns the number of periods checked.
func checkDailySumsToMonthly(t *testing.T, st *store.Store) int {
	t.Helper()
	ctx := context.Background()
	days := allDays(t, st, "")
	periods := map[string]bool{}
	for _, d := range days {
		if d.Period != d.Day[:7] || d.Usage.Customer != d.Customer {
			t.Errorf("daily row %+v: Usage.Period/Customer do not match its day and customer", d)
		}
		periods[d.Period] = true
	}
	for p := range periods {
		month, err := st.UsageByPeriod(ctx, p, "")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := st.UsageDaily(ctx, p+"-01", p+"-31", "")
		if err != nil {
			t.Fatal(err)
		}
		sums := map[string]store.Usage{}
		for _, d := range rows {
			u := sums[d.Customer]
			u.Customer, u.Period = d.Customer, p
			plus(&u, d.Usage)
			sums[d.Customer] = u
		}
		if len(sums) != len(month) {
			t.Errorf("%s: daily rows for %d customers, monthly rows for %d", p, len(sums), len(month))
		}
		for _, m := range month {
			if got := sums[m.Customer]; got != m {
				t.Errorf("%s %s: the days add up to\n  %+v\nthe month is\n  %+v", p, m.Customer, got, m)
			}
			one, err := st.UsageDaily(ctx, p+"-01", p+"-31", m.Customer)
			if err != nil {
				t.Fatal(err)
			}
			var u store.Usage
			u.Customer, u.Period = m.Customer, p
			for _, d := range one {
				plus(&u, d.Usage)
			}
			if u != m {
				t.Errorf("%s %s: UsageDaily for the one customer adds up to %+v, the month is %+v", p, m.Customer, u, m)
			}
		}
	}
	return len(periods)
}

// TestDailyTotalsAddUpToMonthlyTotalsExactly: over a realistic history
// committed in batches (five customers in timezones from UTC-8 to UTC+14,
// so the month boundary falls on a different UTC instant for each; calls
// crowded around midnight of month ends; several providers and models;
// failed and unpriced calls; costs with float noise; keys re-sent; sessions
// moved between customers of different timezones in later batches and in
// the batch of their events; then a timezone changed and the history
// re-attributed), the daily rows are exactly the sums of the events by
// customer and local day, and summed over a period they equal UsageByPeriod
// in every field, CostNanos included.
func TestDailyTotalsAddUpToMonthlyTotalsExactly(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	zones := map[string]*time.Location{
		"riyadh": mustLoad(t, "Asia/Riyadh"),
		"la":     mustLoad(t, "America/Los_Angeles"),
		"kiri":   mustLoad(t, "Pacific/Kiritimati"),
		"ktm":    mustLoad(t, "Asia/Kathmandu"),
		"utc":    time.UTC,
	}
	customers := []string{"riyadh", "la", "kiri", "ktm", "utc"}
	models := []struct{ provider, model string }{{"openai", "gpt-5-mini"}, {"anthropic", "claude-sonnet-4"}, {"openai", "gpt-5"}}
	rng := rand.New(rand.NewPCG(9, 9))
	// Month ends in UTC; calls fall within ±16 h of them, and anywhere in
	// November.
	edges := []int64{
		time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
	}
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	type sess struct {
		id, customer string
		ts           int64
	}
	var sessions []sess
	for i := range 60 {
		ts := nov + rng.Int64N(30*24*3600_000)
		if i%2 == 0 {
			ts = edges[i%4/2] + rng.Int64N(32*3600_000) - 16*3600_000
		}
		sessions = append(sessions, sess{id: "s" + strconv.Itoa(i), customer: customers[i%len(customers)], ts: ts})
	}
	final := map[string]string{} // session → customer
	for _, s := range sessions {
		final[s.id] = s.customer
	}
	var all []store.Event
	seen := map[string]bool{}
	day := dayIn(zones)
	for batch := range 12 {
		var b store.Batch
		for range 20 + rng.IntN(200) {
			s := &sessions[rng.IntN(len(sessions))]
			s.ts += rng.Int64N(20 * 60_000) // calls of a session move on in time, over midnight too
			m := models[rng.IntN(len(models))]
			e := store.Event{
				Key: fmt.Sprintf("cb/main/%s/%d", s.id, len(all)), Agent: "main", SessionID: s.id, TimeMs: s.ts,
				Customer: s.customer, Provider: m.provider, Model: m.model,
				Input: rng.Int64N(200_000), Output: rng.Int64N(4000), CacheRead: rng.Int64N(50_000), CacheWrite: rng.Int64N(9000),
				// Up to 16 significant digits: float sums of these are noisy.
				CostUSD: rng.Float64() * 0.3, Priced: rng.IntN(9) != 0, Failed: rng.IntN(17) == 0,
			}
			if rng.IntN(2) == 0 { // as the monitor fills it; else Commit asks the DayFunc
				e.Day = day(e.Customer, e.TimeMs)
				e.Period = e.Day[:7]
			}
			b.Events = append(b.Events, e)
			all = append(all, e)
			if rng.IntN(10) == 0 && len(all) > 2 { // a line read again
				b.Events = append(b.Events, all[rng.IntN(len(all)-1)])
			}
		}
		if batch > 0 {
			for range 1 + rng.IntN(4) {
				s := &sessions[rng.IntN(len(sessions))]
				to := customers[rng.IntN(len(customers))]
				s.customer, final[s.id] = to, to
				b.Moves = append(b.Moves, store.Move{Agent: "main", SessionID: s.id, Customer: to})
				b.Sessions = append(b.Sessions, store.Session{Agent: "main", SessionID: s.id, Origin: "store", Customer: to})
			}
		}
		if _, err := st.Commit(ctx, &b, day); err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
	}
	for _, s := range sessions { // sessions never moved are recorded too
		if _, err := st.Commit(ctx, &store.Batch{Sessions: []store.Session{{Agent: "main", SessionID: s.id, Origin: "store", Customer: final[s.id]}}}, day); err != nil {
			t.Fatal(err)
		}
	}

	expect := func(day store.DayFunc) (map[string]store.DailyUsage, map[string]store.Usage) {
		daily, monthly := map[string]store.DailyUsage{}, map[string]store.Usage{}
		clear(seen)
		for i := range all {
			e := all[i]
			if seen[e.Key] {
				continue
			}
			seen[e.Key] = true
			c := final[e.SessionID]
			d := day(c, e.TimeMs)
			k := c + "|" + d + "|" + e.Provider + "|" + e.Model
			du := daily[k]
			du.Customer, du.Day, du.Provider, du.Model = c, d, e.Provider, e.Model
			du.Usage.Customer, du.Period = c, d[:7]
			add(&du.Usage, &e)
			daily[k] = du
			mu := monthly[c+"|"+d[:7]]
			mu.Customer, mu.Period = c, d[:7]
			add(&mu, &e)
			monthly[c+"|"+d[:7]] = mu
		}
		return daily, monthly
	}
	check := func(when string, day store.DayFunc) {
		t.Helper()
		wantDaily, wantMonthly := expect(day)
		got := allDays(t, st, "")
		if len(got) != len(wantDaily) {
			t.Errorf("%s: %d daily rows, want %d", when, len(got), len(wantDaily))
		}
		if !sort.SliceIsSorted(got, func(i, j int) bool {
			a, b := got[i], got[j]
			return a.Customer+"|"+a.Day+"|"+a.Provider+"|"+a.Model < b.Customer+"|"+b.Day+"|"+b.Provider+"|"+b.Model
		}) {
			t.Errorf("%s: daily rows not ordered by customer, day, provider, model", when)
		}
		for _, g := range got {
			if w := wantDaily[g.Customer+"|"+g.Day+"|"+g.Provider+"|"+g.Model]; g != w {
				t.Errorf("%s: daily row\n  %+v\nwant\n  %+v", when, g, w)
			}
		}
		periods := map[string]bool{}
		for _, w := range wantMonthly {
			periods[w.Period] = true
		}
		for p := range periods {
			us, err := st.UsageByPeriod(ctx, p, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range us {
				if w := wantMonthly[u.Customer+"|"+p]; u != w {
					t.Errorf("%s: %s %s is %+v, want %+v", when, u.Customer, p, u, w)
				}
			}
		}
		if n := checkDailySumsToMonthly(t, st); n < 2 {
			t.Errorf("%s: usage in %d periods; the history must cross a month end", when, n)
		}
	}
	check("after the batches", day)

	// The boundary matters: some calls are in another month in UTC than in
	// their customer's timezone.
	utc, other := dayIn(nil), 0
	for _, e := range all {
		c := final[e.SessionID]
		if day(c, e.TimeMs)[:7] != utc(c, e.TimeMs)[:7] {
			other++
		}
	}
	if other < 10 {
		t.Fatalf("%d calls in another month in UTC: the test proves little about timezones", other)
	}

	// Los Angeles moves to Tokyo: every la event gets a new day and period.
	zones["la"] = mustLoad(t, "Asia/Tokyo")
	customerOf := func(s store.Session) string { return s.Customer }
	changed, err := st.Reattribute(ctx, "la-in-tokyo", customerOf, dayIn(zones))
	if err != nil {
		t.Fatal(err)
	}
	if changed {
		t.Error("the first fingerprint reported as a change")
	}
	check("after re-attribution with a new timezone", dayIn(zones))
}

// TestCentsAndFractionsAddUpWithoutFloatNoise: three calls of 0.03, 0.07
// and 0.00131 USD, whose float sum is 0.10131000000000001, are 101,310,000
// nano-dollars in the month and in the day, and their dollars print as
// 0.10131.
func TestCentsAndFractionsAddUpWithoutFloatNoise(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	costs := []float64{0.03, 0.07, 0.00131}
	var sum float64
	var b store.Batch
	for i, c := range costs {
		sum += c
		b.Events = append(b.Events, store.Event{Key: "k" + strconv.Itoa(i), Agent: "main", SessionID: "s", TimeMs: 1,
			Day: "2026-11-10", Period: "2026-11", Customer: "acme", Provider: "p", Model: "m", Input: 1, CostUSD: c, Priced: true})
	}
	if strconv.FormatFloat(sum, 'f', -1, 64) != "0.10131000000000001" {
		t.Fatalf("float sum %v: the premise of the test changed", sum)
	}
	if _, err := st.Commit(ctx, &b, dayIn(nil)); err != nil {
		t.Fatal(err)
	}
	us, err := st.UsageByPeriod(ctx, "2026-11", "acme")
	if err != nil || len(us) != 1 {
		t.Fatalf("usage %+v %v", us, err)
	}
	ds, err := st.UsageDaily(ctx, "2026-11-10", "2026-11-10", "acme")
	if err != nil || len(ds) != 1 {
		t.Fatalf("daily usage %+v %v", ds, err)
	}
	for what, u := range map[string]store.Usage{"month": us[0], "day": ds[0].Usage} {
		if u.CostNanos != 101_310_000 {
			t.Errorf("%s: %d nano-dollars, want 101310000", what, u.CostNanos)
		}
		if s := strconv.FormatFloat(u.CostUSD, 'f', -1, 64); s != "0.10131" {
			t.Errorf("%s: CostUSD prints %s, want 0.10131", what, s)
		}
	}
}

// TestEachCostIsRoundedOnceOnIngest: every call's cost is rounded to the
// nearest nano-dollar (half away from zero) when it is stored, and the
// totals add the rounded integers: three calls of 0.4 n$ are 0 (not the
// 1 n$ of their rounded sum), 1.5 n$ is 2 and 2.5 n$ is 3, and the largest
// cost the store takes, 1e6 USD, is 1e15 exactly.
func TestEachCostIsRoundedOnceOnIngest(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	commit := func(customer string, costs ...float64) store.Usage {
		t.Helper()
		var b store.Batch
		for i, c := range costs {
			b.Events = append(b.Events, store.Event{Key: customer + strconv.Itoa(i), Agent: "main", SessionID: customer, TimeMs: 1,
				Customer: customer, Provider: "p", Model: "m", CostUSD: c, Priced: true})
		}
		res, err := st.Commit(ctx, &b, func(string, int64) string { return "2026-11-15" })
		if err != nil || len(res.Rejected) != 0 {
			t.Fatalf("commit %v: %+v %v", costs, res.Rejected, err)
		}
		us, err := st.UsageByPeriod(ctx, "2026-11", customer)
		if err != nil || len(us) != 1 {
			t.Fatalf("usage %+v %v", us, err)
		}
		return us[0]
	}
	for _, c := range []struct {
		customer string
		costs    []float64
		want     int64
	}{
		{"thirds", []float64{0.4e-9, 0.4e-9, 0.4e-9}, 0},
		{"half", []float64{1.5e-9}, 2},
		{"halves", []float64{2.5e-9, 0.5e-9}, 4},
		{"max", []float64{1e6, 1e6, 0.000000001}, 2e15 + 1},
	} {
		if u := commit(c.customer, c.costs...); u.CostNanos != c.want || u.CostUSD != store.USD(c.want) {
			t.Errorf("%s %v: %d nano-dollars ($%v), want %d", c.customer, c.costs, u.CostNanos, u.CostUSD, c.want)
		}
	}
	checkDailySumsToMonthly(t, st)
}

// TestADayThatIsNotTheMonthOfItsPeriodIsABadEvent: an event whose Day and
// Period disagree (the daily totals would no longer add up to the month),
// or whose Day is not a date, is rejected with the reason; the rest of the
// batch lands.
func TestADayThatIsNotTheMonthOfItsPeriodIsABadEvent(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	ev := func(k, day, period string) store.Event {
		return store.Event{Key: k, Agent: "main", SessionID: "s", TimeMs: 1, Day: day, Period: period, Customer: "acme", Input: 1}
	}
	b := &store.Batch{Events: []store.Event{
		ev("good", "2026-11-30", "2026-11"),
		ev("other-month", "2026-11-30", "2026-12"),
		ev("not-a-date", "2026-13-01", ""),
		ev("short", "2026-11", ""),
		ev("only-day", "2026-12-01", ""),
	}}
	res, err := st.Commit(ctx, b, dayIn(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"other-month": "is not the month of its day", "not-a-date": "not a YYYY-MM-DD date", "short": "not a YYYY-MM-DD date"}
	if res.Inserted != 2 || len(res.Rejected) != len(want) {
		t.Fatalf("inserted %d, rejected %+v; want 2 inserted and %v rejected", res.Inserted, res.Rejected, want)
	}
	for _, r := range res.Rejected {
		if !strings.Contains(r.Reason, want[r.Key]) || want[r.Key] == "" {
			t.Errorf("%s rejected: %q, want a reason with %q", r.Key, r.Reason, want[r.Key])
		}
	}
	if got := allDays(t, st, "acme"); len(got) != 2 || got[0].Day != "2026-11-30" || got[1].Day != "2026-12-01" {
		t.Errorf("daily rows %+v, want 2026-11-30 and 2026-12-01", got)
	}
	checkDailySumsToMonthly(t, st)
}

// TestADayFunctionThatGivesPeriodsStopsTheBatch: a DayFunc that answers
// YYYY-MM (a PeriodOf passed by mistake) would make every daily total
// wrong; Commit and Reattribute refuse it with an error naming the answer,
// and nothing of the batch is stored.
func TestADayFunctionThatGivesPeriodsStopsTheBatch(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	periodOf := func(string, int64) string { return "2026-11" }
	b := &store.Batch{Events: []store.Event{{Key: "k", Agent: "main", SessionID: "s", TimeMs: 1, Customer: "acme", Input: 1}}}
	if _, err := st.Commit(ctx, b, periodOf); err == nil || !strings.Contains(err.Error(), `"2026-11"`) {
		t.Errorf("commit with a period function: %v, want an error naming its answer", err)
	}
	if n, _ := st.EventCount(ctx); n != 0 {
		t.Errorf("%d events stored by a refused batch", n)
	}
	good := &store.Batch{Events: []store.Event{{Key: "k", Agent: "main", SessionID: "s", TimeMs: 1, Day: "2026-11-02", Customer: "acme", Input: 1}}}
	if _, err := st.Commit(ctx, good, periodOf); err != nil {
		t.Fatalf("an event with its day needs no day function: %v", err)
	}
	moved := &store.Batch{Moves: []store.Move{{Agent: "main", SessionID: "s", Customer: "zed"}}}
	if _, err := st.Commit(ctx, moved, periodOf); err == nil || !strings.Contains(err.Error(), `"2026-11"`) {
		t.Errorf("a move with a period function: %v, want an error naming its answer", err)
	}
	if _, err := st.Reattribute(ctx, "fp", func(s store.Session) string { return s.Customer }, periodOf); err == nil {
		t.Error("re-attribution with a period function succeeded")
	}
	if us, _ := st.UsageByPeriod(ctx, "2026-11", "acme"); len(us) != 1 || us[0].Input != 1 {
		t.Errorf("usage %+v after refused moves, want the event still acme's", us)
	}
}

// TestUsageDailyRefusesDaysThatAreNotDates: a malformed range is a clear
// error, never an empty answer.
func TestUsageDailyRefusesDaysThatAreNotDates(t *testing.T) {
	st := openStore(t)
	for _, r := range [][2]string{{"2026-11", "2026-11-30"}, {"2026-11-01", "tomorrow"}, {"", ""}} {
		if _, err := st.UsageDaily(context.Background(), r[0], r[1], ""); err == nil || errors.Is(err, store.ErrDailyPending) {
			t.Errorf("UsageDaily(%q, %q): %v, want an error about the days", r[0], r[1], err)
		}
	}
}
