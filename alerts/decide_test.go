package alerts

import (
	"fmt"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
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
		send     float64 // 0 = none
		skip     []float64
	}{
		{"below", 79.99, nil, 0, nil},
		{"at 80", 80, nil, 80, nil},
		{"float noise just under 80", 79.9999999999, nil, 80, nil},
		{"80 again", 95, rec(80), 0, nil},
		{"at 100", 100, rec(80), 100, nil},
		{"50 to 130 at once", 130, nil, 120, []float64{80, 100}},
		{"80 sent, jump to 125", 125, rec(80), 120, []float64{100}},
		{"all recorded", 500, rec(80, 100, 120), 0, nil},
		{"zero", 0, nil, 0, nil},
		{"NaN", nanF(), nil, 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(def, tt.pct, tt.recorded)
			got := 0.0
			if d.Send != nil {
				got = d.Send.Percent
			}
			if got != tt.send || fmt.Sprint(percents(d.Skip)) != fmt.Sprint(tt.skip) {
				t.Fatalf("Decide(%g) = send %g skip %v, want %g %v", tt.pct, got, percents(d.Skip), tt.send, tt.skip)
			}
		})
	}
	// Unsorted configuration is decided in order anyway.
	d := Decide([]Threshold{{Percent: 120, To: ToOperator}, {Percent: 80, To: ToCustomer}}, 130, nil)
	if d.Send.Percent != 120 || len(d.Skip) != 1 || d.Skip[0].Percent != 80 {
		t.Fatalf("unsorted: %+v", d)
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
