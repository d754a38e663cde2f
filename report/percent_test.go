package report

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// bigRounded, bigRound2 and bigRoundFloat2 are the exact big.Rat paths the
// integer fast paths must agree with.
func bigRounded(r Reading) float64 {
	return round2(new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(r.Used), big.NewInt(100)), big.NewInt(r.Limit)))
}

func bigRoundFloat2(f float64) float64 {
	q, ok := new(big.Rat).SetString(ratString(f))
	if !ok {
		return f
	}
	return round2(q)
}

func sameFloat(a, b float64) bool {
	return a == b && math.Signbit(a) == math.Signbit(b) || math.IsNaN(a) && math.IsNaN(b)
}

// TestIntegerRoundingIsTheExactRationalRounding: the percentages every
// output prints are rounded in integers where they fit (the dashboard
// rounds thousands after each commit); each must be bit for bit what the
// exact big.Rat rounding gives, halves (0.125 → 0.13) and signs included.
func TestIntegerRoundingIsTheExactRationalRounding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ints := []int64{0, 1, 2, 3, 7, 8, 99, 100, 101, 125, 1000, 3000, 12345, 1 << 31, 1e9, 1e12, 4.6e14, 1e15, 1e17, 1 << 53, 1<<62 + 1, math.MaxInt64}
	pick := func() int64 {
		switch rng.IntN(3) {
		case 0:
			return ints[rng.IntN(len(ints))]
		case 1:
			return rng.Int64N(10_000)
		}
		return rng.Int64() >> rng.IntN(63)
	}
	for i := 0; i < 200_000; i++ {
		used, limit := pick(), pick()
		if limit == 0 {
			limit = 1
		}
		r := Reading{Used: used, Limit: limit}
		if got, want := r.Rounded(), bigRounded(r); !sameFloat(got, want) {
			t.Fatalf("Rounded(%d/%d) = %v, want %v", used, limit, got, want)
		}
		if rng.IntN(2) == 0 {
			used = -used
		}
		if got, want := Round2(used, limit), round2(new(big.Rat).SetFrac(big.NewInt(used), big.NewInt(limit))); !sameFloat(got, want) {
			t.Fatalf("Round2(%d, %d) = %v, want %v", used, limit, got, want)
		}
		o := Reading{Used: pick(), Limit: max(pick(), 1)}
		if got, want := r.cmp(o), r.cmpBig(o); got != want {
			t.Fatalf("cmp(%d/%d, %d/%d) = %d, want %d", r.Used, r.Limit, o.Used, o.Limit, got, want)
		}
	}
	floats := []float64{0, math.Copysign(0, -1), 0.005, 0.015, 0.125, 0.135, 1.005, 2.675, 99.995, 100, 100.005, -0.004, -0.005, -0.125,
		1e-300, 5e-324, 1e15, 1e16 + 0.5, 9.007199254740993e13, 1e300, math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat64}
	for i := 0; i < 200_000; i++ {
		var f float64
		switch rng.IntN(4) {
		case 0:
			f = floats[rng.IntN(len(floats))]
		case 1:
			f = float64(rng.IntN(1_000_000)) / 1000 // three decimals: every half
		case 2:
			f = rng.Float64() * math.Pow(10, float64(rng.IntN(30)-10))
		default:
			f = math.Float64frombits(rng.Uint64())
		}
		if rng.IntN(2) == 0 {
			f = -f
		}
		if got, want := RoundFloat2(f), bigRoundFloat2(f); !sameFloat(got, want) {
			t.Fatalf("RoundFloat2(%v) = %v, want %v", f, got, want)
		}
	}
}

func BenchmarkRounded(b *testing.B) {
	r := Reading{Used: 123457, Limit: 500000}
	b.ReportAllocs()
	for range b.N {
		_ = r.Rounded()
		_ = RoundFloat2(87.12345678)
	}
}
