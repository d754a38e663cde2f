package report

import (
	"math/big"
	"math/bits"
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

// cmp compares two readings' fractions exactly (used/limit). The dashboard
// sorts every customer after each commit: non-negative operands compare
// as 128-bit products without an allocation, the rest through big.Int.
func (r Reading) cmp(o Reading) int {
	if r.Used >= 0 && r.Limit >= 0 && o.Used >= 0 && o.Limit >= 0 {
		ah, al := bits.Mul64(uint64(r.Used), uint64(o.Limit))
		bh, bl := bits.Mul64(uint64(o.Used), uint64(r.Limit))
		switch {
		case ah != bh:
			return cmpUint(ah, bh)
		default:
			return cmpUint(al, bl)
		}
	}
	return r.cmpBig(o)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpBig is cmp for any operands.
func (r Reading) cmpBig(o Reading) int {
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
	if f, ok := round2Int(r.Used, r.Limit, 10000); ok {
		return f
	}
	q := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(r.Used), big.NewInt(100)), big.NewInt(r.Limit))
	return round2(q)
}

// Round2 is num/den rounded exactly to two decimals, half away from zero.
func Round2(num, den int64) float64 {
	if den == 0 {
		return 0
	}
	if f, ok := round2Int(num, den, 100); ok {
		return f
	}
	return round2(new(big.Rat).SetFrac(big.NewInt(num), big.NewInt(den)))
}

// exactInt is the largest integer below which every integer is a float64.
const exactInt = 1 << 53

// round2Int is num×scale/den in hundredths, rounded half away from zero,
// in integers (ok false where they could overflow): the exact result
// round2 gives, without its allocations, for the operands a usage row
// holds. float64(n)/100 is the float64 nearest n/100, as big.Rat's is,
// while n is below 2^53.
func round2Int(num, den, scale int64) (float64, bool) {
	neg := (num < 0) != (den < 0)
	if num == -num && num != 0 || den == -den {
		return 0, false // MinInt64 has no absolute value
	}
	if num < 0 {
		num = -num
	}
	if den < 0 {
		den = -den
	}
	hi, lo := bits.Mul64(uint64(num), uint64(scale)*2)
	if hi != 0 || lo > 1<<62 || den > 1<<61 {
		return 0, false
	}
	n := (lo + uint64(den)) / (2 * uint64(den))
	if n >= exactInt {
		return 0, false
	}
	f := float64(n) / 100
	if neg && num != 0 {
		f = -f // -0 where a negative ratio rounds to zero, as round2 gives
	}
	return f, true
}

// RoundFloat2 rounds a float (a projection, which is not a ratio of
// stored integers) by its shortest decimal form, the same way as Round2:
// 0.125 → 0.13.
func RoundFloat2(f float64) float64 {
	if r, ok := roundFloat2Int(f); ok {
		return r
	}
	q, ok := new(big.Rat).SetString(ratString(f))
	if !ok {
		return f // NaN or ±Inf: nothing to round
	}
	return round2(q)
}

// roundFloat2Int is RoundFloat2 in integers on f's shortest decimal digits
// D and exponent (f = ±D×10^k, k counting from the last digit): round(D×10^(k+2))
// half away from zero. ok is false where that could overflow, or for NaN
// and ±Inf.
func roundFloat2Int(f float64) (float64, bool) {
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	e := -1
	for i, c := range b {
		if c == 'e' {
			e = i
			break
		}
	}
	if e < 1 {
		return 0, false // NaN, Inf
	}
	exp, err := strconv.Atoi(string(b[e+1:]))
	if err != nil {
		return 0, false
	}
	var d uint64
	digits := 0
	for _, c := range b[:e] {
		if c == '.' {
			continue
		}
		d = d*10 + uint64(c-'0') // at most 17 digits: no overflow
		digits++
	}
	// f = D × 10^(exp-(digits-1)); in hundredths, D × 10^k:
	k := exp - (digits - 1) + 2
	var n uint64
	switch {
	case k >= 0:
		if k > 15 {
			return 0, false
		}
		hi, lo := bits.Mul64(d, pow10[k])
		if hi != 0 {
			return 0, false
		}
		n = lo
	case -k > digits:
		n = 0 // below a thousandth of the last hundredth's half: rounds to 0
	default:
		p := pow10[-k]
		n = (d + p/2) / p
	}
	if n >= exactInt {
		return 0, false
	}
	r := float64(n) / 100
	if neg && d != 0 {
		r = -r // -0 where a negative number rounds to zero, as round2 gives
	}
	return r, true
}

// pow10 are the powers of ten up to 10^17.
var pow10 = func() (p [18]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

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
