package report

import (
	"encoding/json"
	"testing"
)

func TestMoneyPrintsExactlyWhatWasSummed(t *testing.T) {
	// Three calls a float sum turns into 0.10131000000000001.
	var f float64
	var m Money
	for _, c := range []float64{0.03377, 0.03377, 0.03377} {
		f += c
		m += USD(c)
	}
	if f == 0.10131 {
		t.Fatal("the float sum no longer shows the noise this test is about")
	}
	b, err := json.Marshal(struct {
		Cost Money `json:"cost_usd"`
	}{m})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"cost_usd":0.10131}` || m.String() != "0.10131" {
		t.Fatalf("got %s / %s, want 0.10131", b, m)
	}
	for _, tt := range []struct {
		m    Money
		want string
	}{{0, "0.00"}, {1, "0.000000001"}, {1_500_000_000, "1.50"}, {12_345_678_900, "12.3456789"}, {-250_000_000, "-0.25"}} {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("Money(%d) = %q, want %q", int64(tt.m), got, tt.want)
		}
	}
}

func TestPercentIsRoundedOnceHalfAwayFromZero(t *testing.T) {
	for _, tt := range []struct {
		num, den int64
		want     float64
	}{
		{1, 8, 0.13},          // 0.125: an exact half rounds up
		{1, 16, 0.06},         // 0.0625
		{240000, 3000, 80},    // exact
		{239900, 3000, 79.97}, // 79.9666…
		{100, 3, 33.33},
		{200, 3, 66.67},
		{-1, 8, -0.13},
	} {
		if got := Round2(tt.num, tt.den); got != tt.want {
			t.Errorf("Round2(%d, %d) = %v, want %v", tt.num, tt.den, got, tt.want)
		}
	}
	if got := RoundFloat2(0.125); got != 0.13 {
		t.Errorf("RoundFloat2(0.125) = %v, want 0.13 (the same rule as Round2)", got)
	}
	if got := (Reading{Unit: UnitRequests, Used: 1, Limit: 800}).Rounded(); got != 0.13 {
		t.Errorf("1 of 800 requests = %v %%, want 0.13", got)
	}
	if got := (Reading{Unit: UnitCostUSD, Used: int64(USD(0.00125)), Limit: int64(USD(1))}).Rounded(); got != 0.13 {
		t.Errorf("0.00125 of 1 USD = %v %%, want 0.13", got)
	}
}
