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
	// Send are the thresholds to deliver, lowest first: at most one per
	// recipient, so a jump past 100 % and 120 % tells the customer (100 %)
	// and the operator (120 %), in that order.
	Send []Threshold
	// Skip are thresholds crossed at the same time as a higher one to the
	// same recipient: they are recorded (so they never fire later) and not
	// sent.
	Skip []Threshold
}

// Empty reports whether nothing is due.
func (d Decision) Empty() bool { return len(d.Send) == 0 && len(d.Skip) == 0 }

// SentTo is the threshold sent to recipient to, nil when none is.
func (d Decision) SentTo(to string) *Threshold {
	for i := range d.Send {
		if d.Send[i].To == to {
			return &d.Send[i]
		}
	}
	return nil
}

// Decide returns which percent thresholds are due at pct: those reached and
// not yet recorded (pre-warnings are DecidePace's). Per recipient, only the
// highest due threshold is sent and the lower ones are skipped: a customer
// who jumps from 50 % to 130 % in one batch gets the 100 % message (not the
// 80 % one as well), and the operator the 120 % notice. Deciding per
// recipient is what keeps a jump from silencing the customer: the operator's
// notice is no substitute for telling them they are over their limit.
// recorded reports whether a threshold already has a row for this customer,
// period and limit. Decide is pure.
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
	var d Decision
	for i, t := range due {
		higher := false
		for _, u := range due[i+1:] {
			higher = higher || u.To == t.To
		}
		if higher {
			d.Skip = append(d.Skip, t)
		} else {
			d.Send = append(d.Send, t)
		}
	}
	return d
}

// DecidePace returns which pre-warnings are due at pct with forecast f (nil:
// no projection): those whose projected_percent the running period's
// forecast reaches with a day to name, with pct at least their min_percent
// and below 100, not yet recorded, while no threshold of 100 % or more has
// a row for the customer, period and limit (a customer already told they
// reached the limit is never told they will). Of the due pre-warnings only
// the highest is sent (whoever it goes to) and the lower ones are skipped. recorded takes a threshold's
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
	return Decision{Send: due[len(due)-1:], Skip: due[:len(due)-1]}
}
