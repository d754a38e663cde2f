package alerts

import (
	"math"
	"sort"
)

// Recipients of a threshold.
const (
	ToCustomer = "customer"
	ToOperator = "operator"
)

// percentEpsilon absorbs float noise in cost sums, so 79.99999999 of a
// cost limit reached by adding cents counts as 80.
const percentEpsilon = 1e-9

// Decision is what one check decides for one customer and period.
type Decision struct {
	// Send is the threshold to deliver, nil when nothing is due.
	Send *Threshold
	// Skip are thresholds crossed at the same time as Send but lower: they
	// are recorded (so they never fire later) and not sent.
	Skip []Threshold
}

// Empty reports whether nothing is due.
func (d Decision) Empty() bool { return d.Send == nil && len(d.Skip) == 0 }

// Decide returns which thresholds are due at pct: those reached and not yet
// recorded. Only the highest due threshold is sent; the lower ones are
// skipped, so a customer who jumps from 50 % to 130 % in one batch gets one
// message, not three. recorded reports whether a threshold already has a
// row for this customer, period and limit. Decide is pure.
func Decide(thresholds []Threshold, pct float64, recorded func(percent float64) bool) Decision {
	if math.IsNaN(pct) || math.IsInf(pct, 0) {
		return Decision{}
	}
	ts := append([]Threshold(nil), thresholds...)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Percent < ts[j].Percent })
	var due []Threshold
	for _, t := range ts {
		if t.Percent <= 0 || pct+percentEpsilon < t.Percent {
			continue
		}
		if recorded != nil && recorded(t.Percent) {
			continue
		}
		due = append(due, t)
	}
	if len(due) == 0 {
		return Decision{}
	}
	top := due[len(due)-1]
	return Decision{Send: &top, Skip: due[:len(due)-1]}
}
