package alerts

import (
	"fmt"
	"strconv"
	"strings"
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

// Units a limit can count in.
const (
	UnitRequests = "requests"
	UnitTokens   = "tokens"
	UnitCostUSD  = "cost_usd"
)

// Reading is where a customer stands against the tier limit that is
// closest to being used up: the one that decides the percentage.
type Reading struct {
	Percent float64
	Unit    string
	Used    float64
	Limit   float64
}

// Read is Percent with the limit that produced it; ok is false for an
// unlimited tier. On a tie the first of requests, tokens, cost wins, so the
// message speaks of the unit customers know best.
func Read(t Tier, u Used) (r Reading, ok bool) {
	consider := func(unit string, used, limit float64) {
		if limit <= 0 {
			return
		}
		pct := used * 100 / limit
		if !ok || pct > r.Percent {
			r, ok = Reading{Percent: pct, Unit: unit, Used: used, Limit: limit}, true
		}
	}
	consider(UnitRequests, float64(u.Requests), float64(t.Requests))
	consider(UnitTokens, float64(u.Tokens), float64(t.Tokens))
	consider(UnitCostUSD, u.CostUSD, t.CostUSD)
	return r, ok
}

// LimitKey names the limits in force, canonically. It is part of an alert's
// unique key, so a customer whose tier changes mid-month is warned again
// against the new limits and never twice against the same ones.
func (t Tier) LimitKey() string {
	var parts []string
	if t.Requests > 0 {
		parts = append(parts, "requests="+strconv.FormatInt(t.Requests, 10))
	}
	if t.Tokens > 0 {
		parts = append(parts, "tokens="+strconv.FormatInt(t.Tokens, 10))
	}
	if t.CostUSD > 0 {
		parts = append(parts, "cost_usd="+strconv.FormatFloat(t.CostUSD, 'f', -1, 64))
	}
	return strings.Join(parts, ",")
}

// PeriodOpen reports whether now falls inside period in loc: only the
// running period alerts, so backfilling an ended month is silent.
func PeriodOpen(period string, loc *time.Location, now time.Time) bool {
	start, end, err := PeriodBounds(period, loc)
	if err != nil {
		return false
	}
	return !now.Before(start) && now.Before(end)
}
