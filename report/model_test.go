package report

import (
	"testing"
	"time"
)

var riyadh = func() *time.Location {
	l, err := time.LoadLocation("Asia/Riyadh")
	if err != nil {
		panic(err)
	}
	return l
}()

func TestReadPicksTheLimitClosestToBeingUsedUp(t *testing.T) {
	for _, tt := range []struct {
		tier Tier
		used Used
		pct  float64
		unit string
		ok   bool
	}{
		{Tier{}, Used{Requests: 1e6}, 0, "", false},
		{Tier{Requests: 3000}, Used{Requests: 2400, Tokens: 1e9}, 80, UnitRequests, true},
		{Tier{Requests: 3000, Tokens: 1000}, Used{Requests: 300, Tokens: 900}, 90, UnitTokens, true},
		{Tier{Requests: 3000, CostUSD: 10}, Used{Requests: 300, Cost: USD(12.5)}, 125, UnitCostUSD, true},
		{Tier{Requests: 100, Tokens: 1000}, Used{Requests: 50, Tokens: 500}, 50, UnitRequests, true}, // tie: requests
	} {
		r, ok := Read(tt.tier, tt.used)
		if ok != tt.ok || r.Percent() != tt.pct || r.Unit != tt.unit {
			t.Errorf("Read(%+v, %+v) = %+v %v, Percent %g; want %g %s", tt.tier, tt.used, r, ok, r.Percent(), tt.pct, tt.unit)
		}
	}
}

func TestLimitKey(t *testing.T) {
	for _, tt := range []struct {
		t    Tier
		want string
	}{
		{Tier{Requests: 3000}, "requests=3000"},
		{Tier{Requests: 3000, Tokens: 5, CostUSD: 12.5}, "requests=3000,tokens=5,cost_usd=12.5"},
		{Tier{}, ""},
	} {
		if got := tt.t.LimitKey(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestPeriodsFollowTheCustomersTimezone(t *testing.T) {
	// 2026-11-30 21:30 UTC is already December in Riyadh (UTC+3).
	at := time.Date(2026, 11, 30, 21, 30, 0, 0, time.UTC)
	if PeriodOf(at, riyadh) != "2026-12" || PeriodOpen("2026-11", riyadh, at) || !PeriodOpen("2026-12", riyadh, at) {
		t.Fatal("period boundaries must follow the configured timezone")
	}
	if !PeriodOpen("2026-11", time.UTC, at) || PeriodOpen("bogus", time.UTC, at) {
		t.Fatal("UTC period")
	}
}
