package alerts

import (
	"math"
	"sort"

	"github.com/quotawatch/quotawatch/report"
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

// Decide returns which percent thresholds are due at pct: those reached and
// not yet recorded (pre-warnings are DecidePace's). Only the highest due threshold is sent; the lower ones are
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
		if t.Pace() || t.Percent <= 0 || pct+percentEpsilon < t.Percent {
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

// DecidePace returns which pre-warnings are due at pct with forecast f (nil:
// no projection): those whose projected_percent the running period's
// forecast reaches with a day to name, with pct at least their min_percent
// and below 100, not yet recorded, while no threshold of 100 % or more has
// a row for the customer, period and limit (a customer already told they
// reached the limit is never told they will). As with Decide, the highest
// due is sent and the lower ones are skipped. recorded takes a threshold's
// Key. DecidePace is pure.
func DecidePace(thresholds []Threshold, pct float64, f *report.Forecast, recorded func(key float64) bool) Decision {
	if f == nil || f.Ended || f.LimitDate == "" || math.IsNaN(pct) || math.IsInf(pct, 0) || pct+percentEpsilon >= 100 {
		return Decision{}
	}
	var due []Threshold
	for _, t := range thresholds {
		if !t.Pace() && t.Percent >= 100 && recorded != nil && recorded(t.Key()) {
			return Decision{}
		}
		if !t.Pace() || pct+percentEpsilon < t.MinPercent || f.ProjectedPercent+percentEpsilon < t.ProjectedPercent {
			continue
		}
		if recorded != nil && recorded(t.Key()) {
			continue
		}
		due = append(due, t)
	}
	if len(due) == 0 {
		return Decision{}
	}
	sort.SliceStable(due, func(i, j int) bool { return due[i].ProjectedPercent < due[j].ProjectedPercent })
	top := due[len(due)-1]
	return Decision{Send: &top, Skip: due[:len(due)-1]}
}
