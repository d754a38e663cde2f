package report

import (
	"math/big"
	"strconv"

	"github.com/quotawatch/quotawatch/store"
)

// Used is what a customer consumed in a period, in the measures tiers limit.
type Used struct {
	Requests int64
	Tokens   int64
	Cost     Money
}

// UsedOf is the measures of stored usage.
func UsedOf(u store.Usage) Used {
	return Used{Requests: u.Requests, Tokens: u.TotalTokens(), Cost: CostOf(u)}
}

// Units a limit can count in.
const (
	UnitRequests = "requests"
	UnitTokens   = "tokens"
	UnitCostUSD  = "cost_usd"
)

// Reading is where a customer stands against the tier limit that is
// closest to being used up: the one that decides the percentage. Used and
// Limit are in the unit's base measure (requests, tokens, nano-dollars).
type Reading struct {
	Unit  string
	Used  int64
	Limit int64
}

// Read picks the limit closest to being used up; ok is false for an
// unlimited tier. On a tie the first of requests, tokens, cost wins, so the
// message speaks of the unit customers know best.
func Read(t Tier, u Used) (r Reading, ok bool) {
	consider := func(unit string, used, limit int64) {
		if limit <= 0 {
			return
		}
		c := Reading{Unit: unit, Used: used, Limit: limit}
		if !ok || c.cmp(r) > 0 {
			r, ok = c, true
		}
	}
	consider(UnitRequests, u.Requests, t.Requests)
	consider(UnitTokens, u.Tokens, t.Tokens)
	if t.CostUSD > 0 {
		consider(UnitCostUSD, int64(u.Cost), int64(USD(t.CostUSD)))
	}
	return r, ok
}

// cmp compares two readings' fractions exactly (used/limit).
func (r Reading) cmp(o Reading) int {
	a := new(big.Int).Mul(big.NewInt(r.Used), big.NewInt(o.Limit))
	b := new(big.Int).Mul(big.NewInt(o.Used), big.NewInt(r.Limit))
	return a.Cmp(b)
}

// Percent is used/limit in percent, as a float for deciding thresholds and
// projecting. Display uses Rounded.
func (r Reading) Percent() float64 {
	if r.Limit <= 0 {
		return 0
	}
	return float64(r.Used) * 100 / float64(r.Limit)
}

// Rounded is the percentage rounded once, exactly, to two decimals, half
// away from zero (0.125 → 0.13): the number every output prints.
func (r Reading) Rounded() float64 {
	if r.Limit <= 0 {
		return 0
	}
	q := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(r.Used), big.NewInt(100)), big.NewInt(r.Limit))
	return round2(q)
}

// Round2 is num/den rounded exactly to two decimals, half away from zero.
func Round2(num, den int64) float64 {
	if den == 0 {
		return 0
	}
	return round2(new(big.Rat).SetFrac(big.NewInt(num), big.NewInt(den)))
}

// RoundFloat2 rounds a float (a projection, which is not a ratio of
// stored integers) by its shortest decimal form, the same way as Round2:
// 0.125 → 0.13.
func RoundFloat2(f float64) float64 {
	q, ok := new(big.Rat).SetString(ratString(f))
	if !ok {
		return f // NaN or ±Inf: nothing to round
	}
	return round2(q)
}

// round2 rounds q to two decimals, half away from zero.
func round2(q *big.Rat) float64 {
	neg := q.Sign() < 0
	a := new(big.Rat).Abs(q)
	a.Mul(a, big.NewRat(100, 1))
	a.Add(a, big.NewRat(1, 2))
	n := new(big.Int).Quo(a.Num(), a.Denom())
	f, _ := new(big.Rat).SetFrac(n, big.NewInt(100)).Float64()
	if neg {
		f = -f
	}
	return f
}

// ratString is a float's shortest decimal form, which big.Rat reads exactly
// (0.125 stays 0.125, not its binary neighbour).
func ratString(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
