package alerts

import (
	"fmt"
	"testing"
	"time"
)

// TestDecideSendsTheHighestDuePerRecipient: per recipient only the highest
// due threshold is sent, the lower ones to that recipient are skipped, and a
// jump past the customer's 100 % and the operator's 120 % sends both,
// lowest first.
func TestDecideSendsTheHighestDuePerRecipient(t *testing.T) {
	def := DefaultThresholds()
	rec := func(ps ...float64) func(float64) bool {
		return func(p float64) bool {
			for _, x := range ps {
				if x == p {
					return true
				}
			}
			return false
		}
	}
	for _, tt := range []struct {
		name     string
		pct      float64
		recorded func(float64) bool
		send     []float64
		skip     []float64
	}{
		{"below", 79.99, nil, nil, nil},
		{"at 80", 80, nil, []float64{80}, nil},
		{"float noise just under 80", 79.9999999999, nil, []float64{80}, nil},
		{"80 again", 95, rec(80), nil, nil},
		{"at 100", 100, rec(80), []float64{100}, nil},
		{"50 to 105 at once: 80 skipped", 105, nil, []float64{100}, []float64{80}},
		{"50 to 130 at once: the customer's 100 and the operator's 120", 130, nil, []float64{100, 120}, []float64{80}},
		{"80 sent, jump to 125", 125, rec(80), []float64{100, 120}, nil},
		{"100 sent, at 120", 120, rec(80, 100), []float64{120}, nil},
		{"all recorded", 500, rec(80, 100, 120), nil, nil},
		{"zero", 0, nil, nil, nil},
		{"NaN", nanF(), nil, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(def, tt.pct, tt.recorded)
			if fmt.Sprint(percents(d.Send)) != fmt.Sprint(tt.send) || fmt.Sprint(percents(d.Skip)) != fmt.Sprint(tt.skip) {
				t.Fatalf("Decide(%g) = send %v skip %v, want %v %v", tt.pct, percents(d.Send), percents(d.Skip), tt.send, tt.skip)
			}
		})
	}
	// Unsorted configuration is decided in order anyway; two thresholds to
	// the operator: the lower is skipped.
	d := Decide([]Threshold{{Percent: 150, To: ToOperator}, {Percent: 120, To: ToOperator}, {Percent: 80, To: ToCustomer}}, 160, nil)
	if fmt.Sprint(percents(d.Send)) != "[80 150]" || fmt.Sprint(percents(d.Skip)) != "[120]" {
		t.Fatalf("unsorted: send %v skip %v", percents(d.Send), percents(d.Skip))
	}
}

func nanF() float64 { z := 0.0; return z / z }

func percents(ts []Threshold) []float64 {
	var out []float64
	for _, t := range ts {
		out = append(out, t.Percent)
	}
	return out
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: 30 * time.Second, Max: 10 * time.Minute, Attempts: 10, Jitter: func(time.Duration) time.Duration { return 0 }}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	for i, w := range want {
		if got := b.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %s, want %s", i+1, got, w)
		}
	}
	b.Jitter = nil
	for range 100 {
		if d := b.Delay(1); d < 30*time.Second || d >= 36*time.Second {
			t.Fatalf("jittered delay %s out of [30s, 36s)", d)
		}
	}
}
