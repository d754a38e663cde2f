package report

import (
	"math"
	"strconv"

	"github.com/quotawatch/quotawatch/store"
)

// Money is an amount of US dollars in nano-dollars (1e-9 USD): the unit the
// store sums in, so a total is exactly the sum of its calls, each rounded
// once on ingest, and printing it never shows float noise.
type Money int64

// nanosPerUSD is the scale of Money.
const nanosPerUSD = 1_000_000_000

// USD converts a dollar amount (a configured limit or price) to Money,
// rounded to the nearest nano-dollar.
func USD(f float64) Money { return Money(math.Round(f * nanosPerUSD)) }

// CostOf is the exact cost of stored usage.
func CostOf(u store.Usage) Money { return Money(u.CostNanos) }

// Float is the amount in dollars, for arithmetic that is shown rounded.
func (m Money) Float() float64 { return float64(m) / nanosPerUSD }

// String is the exact decimal amount with at least two decimals and no
// trailing zeros beyond them: 0.10131, 1.50, 0.00. JSON, CSV and tables all
// print it this way.
func (m Money) String() string {
	neg := m < 0
	n := uint64(m)
	if neg {
		n = uint64(-m)
	}
	whole, frac := n/nanosPerUSD, n%nanosPerUSD
	f := strconv.FormatUint(frac+nanosPerUSD, 10)[1:] // 9 digits, zero-padded
	for len(f) > 2 && f[len(f)-1] == '0' {
		f = f[:len(f)-1]
	}
	s := strconv.FormatUint(whole, 10) + "." + f
	if neg {
		s = "-" + s
	}
	return s
}

// Cents is the amount rounded half away from zero to cents, as a customer
// reads it in a message ("12.35").
func (m Money) Cents() string {
	c := (int64(m) + sign(int64(m))*5_000_000) / 10_000_000
	neg := c < 0
	if neg {
		c = -c
	}
	s := strconv.FormatInt(c/100, 10) + "." + strconv.FormatInt(c%100+100, 10)[1:]
	if neg {
		s = "-" + s
	}
	return s
}

func sign(n int64) int64 {
	if n < 0 {
		return -1
	}
	return 1
}

// MarshalJSON writes the exact decimal as a JSON number.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }
