package alerts

import (
	"fmt"
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/report"
)

var preWarning = Threshold{ProjectedPercent: 100, MinPercent: 50, To: ToCustomer}

func TestPreWarningIsDueOnlyWhenThePaceReachesTheLimitBeforeTheLimitIsReached(t *testing.T) {
	ths := append(DefaultThresholds(), preWarning, Threshold{ProjectedPercent: 150, MinPercent: 60, To: ToCustomer})
	over := &report.Forecast{Basis: report.BasisLast7Days, ProjectedPercent: 140, LimitDate: "2026-11-21"}
	rec := func(keys ...float64) func(float64) bool {
		return func(k float64) bool {
			for _, x := range keys {
				if x == k {
					return true
				}
			}
			return false
		}
	}
	for _, tt := range []struct {
		name     string
		pct      float64
		f        *report.Forecast
		recorded func(float64) bool
		send     float64 // the Key sent, 0 = none
		skip     []float64
	}{
		{"due", 55, over, nil, -100, nil},
		{"below min_percent", 49.9, over, nil, 0, nil},
		{"projection within the limit", 55, &report.Forecast{ProjectedPercent: 99.9}, nil, 0, nil},
		{"no projection", 55, nil, nil, 0, nil},
		{"no day to name", 55, &report.Forecast{ProjectedPercent: 100}, nil, 0, nil},
		{"ended period", 55, &report.Forecast{ProjectedPercent: 140, LimitDate: "2026-11-21", Ended: true}, nil, 0, nil},
		{"already recorded", 55, over, rec(-100), 0, nil},
		{"limit reached", 100, over, nil, 0, nil},
		{"100 % already recorded", 90, over, rec(80, 100), 0, nil},
		{"80 % recorded does not stop it", 85, over, rec(80), -100, nil},
		{"two due: the higher sent", 65, &report.Forecast{ProjectedPercent: 160, LimitDate: "2026-11-20"}, nil, -150, []float64{-100}},
		{"NaN", nanF(), over, nil, 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := DecidePace(ths, tt.pct, tt.f, tt.recorded)
			got := 0.0
			if d.Send != nil {
				got = d.Send.Key()
			}
			var skip []float64
			for _, s := range d.Skip {
				skip = append(skip, s.Key())
			}
			if got != tt.send || fmt.Sprint(skip) != fmt.Sprint(tt.skip) {
				t.Fatalf("DecidePace(%g) = send %g skip %v, want %g %v", tt.pct, got, skip, tt.send, tt.skip)
			}
		})
	}
	// Decide never sends a pre-warning as a percent threshold.
	if d := Decide(ths, 99, nil); d.Send == nil || d.Send.Percent != 80 || len(d.Skip) != 0 {
		t.Fatalf("Decide with pre-warnings configured: %+v", d)
	}
}

func TestEightyPercentTextTellsTheTruthAboutTheForecast(t *testing.T) {
	ts, err := NewTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	eighty := DefaultThresholds()[0]
	for _, tt := range []struct {
		name, lang string
		f          *report.Forecast
		want, not  string
	}{
		{"agrees ar", "ar", &report.Forecast{ProjectedPercent: 95}, "متوقع تكفيك لنهاية الشهر، بس لو تحتاج أكثر، ترقى للباقة Pro.", "بهالمعدل"},
		{"disagrees ar", "ar", &report.Forecast{ProjectedPercent: 127, LimitDate: "2026-12-21"},
			"بهالمعدل راح توصل لحدك الشهري يوم 21 ديسمبر، ولو تحتاج أكثر، ترقى للباقة Pro.", "متوقع تكفيك"},
		{"no projection ar", "ar", nil, "\n\nلو تحتاج أكثر، ترقى للباقة Pro.", "تكفيك"},
		{"agrees en", "en", &report.Forecast{ProjectedPercent: 100}, "It should last you to the end of the month", "At this pace"},
		{"disagrees en", "en", &report.Forecast{ProjectedPercent: 127, LimitDate: "2026-12-21"},
			"At this pace you will reach your limit on 21 December; if you need more, upgrade to the Pro plan.", "should last"},
		{"no projection en", "en", nil, "\n\nIf you need more, upgrade to the Pro plan.", "should last"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := sample(tt.lang)
			d.WithForecast(tt.f)
			got, err := ts.Render(eighty, tt.lang, d)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(got, tt.want) || strings.Contains(got, tt.not) || strings.ContainsAny(got, "٠١٢٣٤٥٦٧٨٩") {
				t.Fatalf("%q\nwant it to say %q and not %q, in Western digits", got, tt.want, tt.not)
			}
		})
	}
	// The pre-warning texts name the day, in both languages.
	for lang, want := range map[string]string{"ar": "وبهالمعدل راح توصل للحد يوم 21 ديسمبر.", "en": "At this pace you will reach your limit on 21 December."} {
		d := sample(lang)
		d.Percent = "55"
		d.WithForecast(&report.Forecast{ProjectedPercent: 127.9, LimitDate: "2026-12-21"})
		got, err := ts.Render(preWarning, lang, d)
		if err != nil || !strings.Contains(got, want) || !strings.Contains(got, "55%") {
			t.Errorf("%s pre-warning: %q, %v; want %q", lang, got, err, want)
		}
		op, err := ts.Render(Threshold{ProjectedPercent: 100, MinPercent: 50, To: ToOperator}, lang, d)
		if err != nil || !strings.Contains(op, "omar-001") || !strings.Contains(op, "127%") || !strings.Contains(op, "21 ") {
			t.Errorf("%s operator pre-warning: %q, %v", lang, op, err)
		}
	}
	// A pre-warning's override key is projected_<percent>, apart from the
	// 100 % warning's.
	ts, err = NewTemplates(map[string]string{"projected_100": "pace {{.LimitDay}} {{.ProjectedPercent}}", "100": "limit"})
	if err != nil {
		t.Fatal(err)
	}
	d := sample("ar")
	d.WithForecast(&report.Forecast{ProjectedPercent: 127.9, LimitDate: "2026-12-01"})
	if got, _ := ts.Render(preWarning, "ar", d); got != "pace 1 127" {
		t.Errorf("pre-warning override: %q", got)
	}
	if got, _ := ts.Render(DefaultThresholds()[1], "ar", d); got != "limit" {
		t.Errorf("100 %% override: %q", got)
	}
}
