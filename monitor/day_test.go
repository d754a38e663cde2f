package monitor

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// TestDayOfIsTheLocalDayWhoseMonthIsPeriodOf: the day the monitor bills an
// event to is its calendar day in the customer's timezone, and its first
// seven bytes are always PeriodOf's month, around month ends in timezones
// on both sides of UTC.
func TestDayOfIsTheLocalDayWhoseMonthIsPeriodOf(t *testing.T) {
	riyadh, _ := time.LoadLocation("Asia/Riyadh")
	la, _ := time.LoadLocation("America/Los_Angeles")
	kiri, _ := time.LoadLocation("Pacific/Kiritimati")
	a := NewAttributor([]report.Customer{{ID: "us", Location: la}, {ID: "ki", Location: kiri}}, "", riyadh)
	ts := time.Date(2026, 11, 30, 22, 30, 0, 0, time.UTC).UnixMilli()
	for c, want := range map[string]string{"sa": "2026-12-01", "us": "2026-11-30", "ki": "2026-12-01"} {
		if got := a.DayOf(c, ts); got != want {
			t.Errorf("DayOf(%s) = %s, want %s", c, got, want)
		}
	}
	start := time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC).UnixMilli()
	for ms := start; ms < start+4*24*3600_000; ms += 17 * 60_000 {
		for _, c := range []string{"sa", "us", "ki"} {
			if d, p := a.DayOf(c, ms), a.PeriodOf(c, ms); d[:7] != p || len(d) != 10 {
				t.Fatalf("%s at %d: day %s, period %s", c, ms, d, p)
			}
		}
	}
}

// TestBackfillKeepsDailyTotalsOfTheSample: after a backfill of the real
// Clawdbot sample (customers in Riyadh time) and of omar's calls around the
// end of November in Riyadh (22:30 UTC on the 30th is December 1st there),
// each customer's daily rows are its calls grouped by their Riyadh day,
// provider and model, and they add up to the month in every field.
func TestBackfillKeepsDailyTotalsOfTheSample(t *testing.T) {
	h := newHarness(t)
	h.copySample()
	const id = "0d0d0d0d-month-end"
	at := func(c, ts string) string { return strings.Replace(c, "2026-11-10T10:00:01.000Z", ts, 1) }
	appendFile(t, h.path("main", id+".jsonl"), fmt.Sprintf(header, id)+user("+966500000001")+
		at(call("d1", 10), "2026-11-30T20:59:00.000Z")+at(call("d2", 20), "2026-11-30T22:30:00.000Z"))
	h.backfill()
	st := h.open()
	defer st.Close()
	ctx := context.Background()
	days, err := st.UsageDaily(ctx, "2026-01-01", "2026-12-31", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) == 0 {
		t.Fatal("no daily rows after a backfill of the sample")
	}
	edge := map[string]int64{}
	for _, d := range days {
		if d.Customer == "omar" && d.Day >= "2026-11-30" {
			edge[d.Day] += d.Input
		}
	}
	if edge["2026-11-30"] != 10 || edge["2026-12-01"] != 20 {
		t.Errorf("omar's month-end calls by Riyadh day: %v, want 10 input tokens on 2026-11-30 and 20 on 2026-12-01", edge)
	}
	// The events' own days, as Riyadh gives them.
	rows, err := st.DB().Query(`SELECT customer, ts, provider, model, cost_nanos FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[[4]string]store.Usage{}
	for rows.Next() {
		var c, p, m string
		var ts int64
		var cost sql.NullInt64
		if err := rows.Scan(&c, &ts, &p, &m, &cost); err != nil {
			t.Fatal(err)
		}
		k := [4]string{c, h.attr.DayOf(c, ts), p, m}
		u := want[k]
		u.CostNanos += cost.Int64
		want[k] = u
	}
	rows.Close()
	if len(want) != len(days) {
		t.Errorf("%d daily rows, want %d (customer, Riyadh day, provider, model)", len(days), len(want))
	}
	sums := map[string]store.Usage{}
	for _, d := range days {
		if w, ok := want[[4]string{d.Customer, d.Day, d.Provider, d.Model}]; !ok || w.CostNanos != d.CostNanos {
			t.Errorf("daily row %s %s %s/%s: %d n$, want %d (found %v)", d.Customer, d.Day, d.Provider, d.Model, d.CostNanos, w.CostNanos, ok)
		}
		s := sums[d.Customer+"|"+d.Period]
		s.Customer, s.Period = d.Customer, d.Period
		s.Requests += d.Requests
		s.FailedRequests += d.FailedRequests
		s.Input += d.Input
		s.Output += d.Output
		s.CacheRead += d.CacheRead
		s.CacheWrite += d.CacheWrite
		s.CostNanos += d.CostNanos
		s.CostUSD = store.USD(s.CostNanos)
		s.Unpriced += d.Unpriced
		sums[d.Customer+"|"+d.Period] = s
	}
	n := 0
	for _, p := range []string{"2026-10", "2026-11", "2026-12"} {
		us, err := st.UsageByPeriod(ctx, p, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range us {
			n++
			if s := sums[u.Customer+"|"+p]; s != u {
				t.Errorf("%s %s: days add up to %+v, the month is %+v", u.Customer, p, s, u)
			}
		}
	}
	if n != len(sums) {
		t.Errorf("%d monthly rows, %d customer-months in the daily rows", n, len(sums))
	}
}
