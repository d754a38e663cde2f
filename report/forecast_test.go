package report

import (
	"fmt"
	"testing"
	"time"
)

// series is n requests a day (2 tokens and 1 milli-dollar each) on the days
// of period from..to (day of month), and today's partial usage after it.
func series(period string, from, to int, perDay int64) []Daily {
	var out []Daily
	for d := from; d <= to; d++ {
		out = append(out, day(fmt.Sprintf("%s-%02d", period, d), perDay))
	}
	return out
}

func day(d string, n int64) Daily {
	return Daily{Day: d, Used: Used{Requests: n, Tokens: 2 * n, Cost: Money(n) * 1_000_000}}
}

func cat(ss ...[]Daily) []Daily {
	var out []Daily
	for _, s := range ss {
		out = append(out, s...)
	}
	return out
}

func TestForecastProjectsAtTheCurrentPaceAndNeverGuessesFromTooLittleData(t *testing.T) {
	std := Tier{Requests: 3000}
	nov := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, riyadh) }
	type want struct {
		basis     string
		pace      float64 // in the reading's unit per day, rounded to 2 decimals
		reqPerDay float64
		projected float64 // percent, rounded to 2 decimals
		date      string
		ended     bool
	}
	for _, tt := range []struct {
		name   string
		tier   Tier
		days   []Daily
		period string
		loc    *time.Location
		now    time.Time
		want   *want // nil: no projection
	}{
		{
			// 90 a day for 14 days and half of today: 1305 used, 90 a day
			// over the 15.5 days left = 2700 = 90 %, which lasts.
			name: "steady pace", tier: std, period: "2026-11", loc: riyadh, now: nov(15, 12, 0),
			days: cat(series("2026-11", 1, 14, 90), []Daily{day("2026-11-15", 45)}),
			want: &want{basis: BasisLast7Days, pace: 90, reqPerDay: 90, projected: 90},
		},
		{
			// 50 a day, then 150 a day in the last week: the last week's pace
			// (150) is used, not the month's average (~102), and the limit
			// falls on the 25th: 1525 left / 150 a day = 10 d 4 h after the
			// 15th at noon.
			name: "spike in the last week", tier: std, period: "2026-11", loc: riyadh, now: nov(15, 12, 0),
			days: cat(series("2026-11", 1, 7, 50), series("2026-11", 8, 14, 150), []Daily{day("2026-11-15", 75)}),
			want: &want{basis: BasisLast7Days, pace: 150, reqPerDay: 150, projected: 126.67, date: "2026-11-25"},
		},
		{
			// Three full days and a half: month to date (the 7-day window is
			// never reached back into October), today's half day counted
			// over half a day elapsed.
			name: "start of the month uses month to date", tier: std, period: "2026-11", loc: riyadh, now: nov(4, 12, 0),
			days: cat(series("2026-11", 1, 3, 200), []Daily{day("2026-11-04", 100)}),
			want: &want{basis: BasisMonthToDate, pace: 200, reqPerDay: 200, projected: 200, date: "2026-11-16"},
		},
		{
			// 2500 requests by 20:00 on the 1st used to project to 2637 %:
			// less than a day is too little to extend to a month.
			name: "first day of the month", tier: std, period: "2026-11", loc: riyadh, now: nov(1, 20, 0),
			days: []Daily{day("2026-11-01", 2500)},
		},
		{
			name: "exactly one day elapsed is enough", tier: std, period: "2026-11", loc: riyadh, now: nov(2, 0, 0),
			days: []Daily{day("2026-11-01", 100)},
			want: &want{basis: BasisMonthToDate, pace: 100, reqPerDay: 100, projected: 100},
		},
		{
			name: "too few requests", tier: std, period: "2026-11", loc: riyadh, now: nov(20, 9, 0),
			days: []Daily{day("2026-11-03", 4), day("2026-11-19", 5)},
		},
		{
			name: "empty month", tier: std, period: "2026-11", loc: riyadh, now: nov(20, 9, 0),
		},
		{
			name: "unlimited tier", tier: Tier{}, period: "2026-11", loc: riyadh, now: nov(20, 9, 0),
			days: series("2026-11", 1, 19, 500),
		},
		{
			name: "period not started", tier: std, period: "2026-12", loc: riyadh, now: nov(20, 9, 0),
		},
		{
			// Over the limit already: the date is today. 200 a day, today's
			// 9 hours included (75): 3875 + 200 × 10.625 days left = 200 %.
			name: "already over the limit", tier: std, period: "2026-11", loc: riyadh, now: nov(20, 9, 0),
			days: cat(series("2026-11", 1, 19, 200), []Daily{day("2026-11-20", 75)}),
			want: &want{basis: BasisLast7Days, pace: 200, reqPerDay: 200, projected: 200, date: "2026-11-20"},
		},
		{
			// A burst today after a quiet week counts at once: today so far is
			// in the window (2400 over 7.5 days), or 80 % used in one morning
			// would be told "it should last".
			name: "burst today", tier: std, period: "2026-11", loc: riyadh, now: nov(10, 12, 0),
			days: []Daily{day("2026-11-10", 2400)},
			want: &want{basis: BasisLast7Days, pace: 320, reqPerDay: 320, projected: 298.67, date: "2026-11-12"},
		},
		{
			// No use in the last 7 days: the pace is 0, the month ends where
			// it stands, and no date.
			name: "quiet last week", tier: std, period: "2026-11", loc: riyadh, now: nov(20, 9, 0),
			days: series("2026-11", 1, 12, 100),
			want: &want{basis: BasisLast7Days, pace: 0, reqPerDay: 0, projected: 40},
		},
		{
			// An ended month is what it used; the date is the day the
			// running total reached the limit.
			name: "ended period", tier: std, period: "2026-10", loc: riyadh, now: nov(3, 9, 0),
			days: series("2026-10", 1, 31, 124),
			want: &want{basis: BasisMonthToDate, pace: 124, reqPerDay: 124, projected: 128.13, date: "2026-10-25", ended: true},
		},
		{
			name: "ended empty period", tier: std, period: "2026-10", loc: riyadh, now: nov(3, 9, 0),
			want: &want{basis: BasisMonthToDate, ended: true},
		},
		{
			// The cost limit decides: the pace is in nano-dollars a day.
			name: "cost limit", tier: Tier{Requests: 100000, CostUSD: 1}, period: "2026-11", loc: riyadh, now: nov(11, 0, 0),
			days: series("2026-11", 1, 10, 60), // 0.06 USD a day
			want: &want{basis: BasisLast7Days, pace: 60_000_000, reqPerDay: 60, projected: 180, date: "2026-11-17"},
		},
		{
			// Days of other months in the series are ignored.
			name: "other months ignored", tier: std, period: "2026-11", loc: riyadh, now: nov(15, 12, 0),
			days: cat(series("2026-10", 20, 31, 5000), series("2026-11", 1, 14, 90), []Daily{day("2026-11-15", 45)}, series("2026-12", 1, 2, 5000)),
			want: &want{basis: BasisLast7Days, pace: 90, reqPerDay: 90, projected: 90},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := ForecastOf(tt.tier, tt.days, tt.period, tt.loc, tt.now)
			if tt.want == nil {
				if f != nil {
					t.Fatalf("got %+v, want no projection", *f)
				}
				return
			}
			if f == nil {
				t.Fatalf("got no projection, want %+v", *tt.want)
			}
			got := want{basis: f.Basis, pace: RoundFloat2(f.Pace), reqPerDay: RoundFloat2(f.RequestsPerDay),
				projected: RoundFloat2(f.ProjectedPercent), date: f.LimitDate, ended: f.Ended}
			w := *tt.want
			w.projected = RoundFloat2(w.projected)
			if got != w {
				t.Fatalf("got  %+v\nwant %+v", got, w)
			}
			if f.Agrees() != (f.ProjectedPercent <= 100) || (f.LimitDate == "") != (f.ProjectedPercent <= 100 || f.Ended && f.ProjectedPercent < 100) {
				t.Fatalf("Agrees %v / LimitDate %q disagree with %g %%", f.Agrees(), f.LimitDate, f.ProjectedPercent)
			}
		})
	}
}

// The days and the month are the customer's: at 2026-11-30 21:30 UTC a
// Riyadh customer is in December (30 minutes old: no projection) and its
// November has ended, while a UTC customer's November still runs.
func TestForecastFollowsTheCustomersTimezone(t *testing.T) {
	std := Tier{Requests: 3000}
	at := time.Date(2026, 11, 30, 21, 30, 0, 0, time.UTC)
	nov := series("2026-11", 1, 30, 80)
	if f := ForecastOf(std, append(nov, day("2026-12-01", 40)), PeriodOf(at, riyadh), riyadh, at); f != nil {
		t.Fatalf("Riyadh's December, 30 minutes old: %+v, want no projection", *f)
	}
	f := ForecastOf(std, nov, "2026-11", riyadh, at)
	if f == nil || !f.Ended || f.ProjectedPercent != 80 {
		t.Fatalf("Riyadh's November at %s: %+v, want ended at 80 %%", at, f)
	}
	f = ForecastOf(std, nov, PeriodOf(at, time.UTC), time.UTC, at)
	if f == nil || f.Ended || f.Basis != BasisLast7Days || RoundFloat2(f.Pace) != 81.06 || RoundFloat2(f.ProjectedPercent) != 80.28 {
		t.Fatalf("UTC's November at %s: %+v, want running, (7 × 80 + 80) / (7 + 21.5 h) a day, 2400 + that × 2.5 h", at, f)
	}
	// The 7-day window is the customer's days: on 9 December 01:00 in
	// Riyadh (8 December 22:00 UTC) it is 2–8 December and 1 hour of the
	// 9th, in UTC 1–7 December and 22 hours of the 8th.
	at = time.Date(2026, 12, 8, 22, 0, 0, 0, time.UTC)
	dec := cat([]Daily{day("2026-12-01", 700)}, series("2026-12", 2, 8, 10))
	if f := ForecastOf(std, dec, "2026-12", riyadh, at); f == nil || f.Basis != BasisLast7Days || RoundFloat2(f.Pace) != 9.94 {
		t.Fatalf("Riyadh window: %+v, want 70 / (7 + 1 h) a day", f)
	}
	if f := ForecastOf(std, dec, "2026-12", time.UTC, at); f == nil || f.Basis != BasisLast7Days || RoundFloat2(f.Pace) != 97.26 {
		t.Fatalf("UTC window: %+v, want 770 / (7 + 22 h) a day", f)
	}
}

func BenchmarkForecastOf(b *testing.B) {
	days := series("2026-11", 1, 29, 90)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, riyadh)
	b.ReportAllocs()
	for b.Loop() {
		if ForecastOf(Tier{Requests: 3000}, days, "2026-11", riyadh, now) == nil {
			b.Fatal("no forecast")
		}
	}
}
