package alerts

import (
	"regexp"
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/report"
)

// seedOffer is the seed's upgrade offer, as configured on the tiers.
var seedOffer = Offer{Plan: "Pro", Price: 199, Currency: "SAR", Unlimited: true}

func sample(lang string) MessageData {
	d := MessageData{Customer: "omar-001", Name: "عمر", Tier: "standard", Period: "2026-11", Threshold: "80", Percent: "80",
		Used: "2400", Limit: "3000", Unit: UnitName(report.UnitRequests, lang), UpgradeURL: "https://wa.me/966507407827", Language: lang,
		ForecastAgrees: true}
	d.WithOffer(seedOffer)
	return d
}

func TestDefaultMessages(t *testing.T) {
	ts, err := NewTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	th := DefaultThresholds()
	// The seed's 80 % text, placeholders filled (the forecast agrees).
	got, err := ts.Render(th[0], "ar", sample("ar"))
	if err != nil {
		t.Fatal(err)
	}
	want := "مرحبا عمر! 👋\n\nلقد استهلكت 80% من حدك الشهري للذكاء الاصطناعي (2400 من 3000 طلب).\n\n" +
		"متوقع تكفيك لنهاية الشهر، بس لو تحتاج أكثر، ترقى للباقة Pro.\n\nللترقية: https://wa.me/966507407827"
	if got != want {
		t.Fatalf("Arabic 80%%:\n%q\nwant\n%q", got, want)
	}
	// The 100 % text: the degraded sentence only when configured.
	d := sample("ar")
	d.Threshold = "100"
	got, _ = ts.Render(th[1], "ar", d)
	want = "عمر، وصلت للحد الشهري (3000 طلب). 🚦\n\nللاستخدام غير المحدود، ترقى للباقة Pro بـ 199 ريال/شهر.\n\nتواصل معنا: https://wa.me/966507407827"
	if got != want {
		t.Fatalf("Arabic 100%%:\n%q\nwant\n%q", got, want)
	}
	d.Degraded = true
	got, _ = ts.Render(th[1], "ar", d)
	if !strings.Contains(got, "\n\nمساعدك الذكي راح يستمر يشتغل بس بردود أبطأ (بدون AI).\n\n") {
		t.Fatalf("degraded 100%%:\n%s", got)
	}
	// English and operator texts.
	got, _ = ts.Render(th[0], "en", sample("en"))
	if !strings.Contains(got, "You have used 80% of your monthly AI limit (2400 of 3000 requests).") {
		t.Fatalf("English 80%%:\n%s", got)
	}
	op := sample("en")
	op.Threshold, op.Percent, op.Used = "120", "121", "3630"
	got, _ = ts.Render(th[2], "en", op)
	if !strings.Contains(got, "omar-001") || !strings.Contains(got, "121%") || !strings.Contains(got, "review this customer by hand") {
		t.Fatalf("operator:\n%s", got)
	}
	// No upgrade URL: the line goes, not just the link.
	d = sample("ar")
	d.UpgradeURL = ""
	got, _ = ts.Render(th[0], "ar", d)
	if strings.Contains(got, "للترقية") || strings.HasSuffix(got, "\n") {
		t.Fatalf("without upgrade URL:\n%q", got)
	}
	// Unknown language falls back to English.
	if got, _ = ts.Render(th[0], "fr", sample("fr")); !strings.HasPrefix(got, "Hi ") {
		t.Fatalf("fallback language: %s", got)
	}
	// Western digits only.
	for _, lang := range Languages {
		for _, tt := range th {
			got, _ := ts.Render(tt, lang, sample(lang))
			if strings.ContainsAny(got, "٠١٢٣٤٥٦٧٨٩") {
				t.Errorf("%s %g%%: Eastern Arabic digits in %q", lang, tt.Percent, got)
			}
		}
	}
}

func TestTemplateOverrides(t *testing.T) {
	ts, err := NewTemplates(map[string]string{"80": "all {{.Used}}/{{.Limit}}", "80_en": "en {{.Name}}"})
	if err != nil {
		t.Fatal(err)
	}
	th := DefaultThresholds()[0]
	if got, _ := ts.Render(th, "ar", sample("ar")); got != "all 2400/3000" {
		t.Errorf("override: %q", got)
	}
	if got, _ := ts.Render(th, "en", sample("en")); got != "en عمر" {
		t.Errorf("language override: %q", got)
	}
	for _, bad := range []map[string]string{{"80": "{{.Nope}}"}, {"80": "{{"}, {"eighty": "x"}} {
		if _, err := NewTemplates(bad); err == nil {
			t.Errorf("NewTemplates(%v) accepted", bad)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	for _, tt := range []struct {
		v    int64
		unit string
		want string
	}{{2400, report.UnitRequests, "2400"}, {1234567, report.UnitTokens, "1234567"}, {12_500_000_000, report.UnitCostUSD, "12.50"},
		{12_344_999_999, report.UnitCostUSD, "12.34"}, {12_345_000_000, report.UnitCostUSD, "12.35"}} {
		if got := FormatAmount(tt.v, tt.unit); got != tt.want {
			t.Errorf("FormatAmount(%v, %s) = %q, want %q", tt.v, tt.unit, got, tt.want)
		}
	}
}

// TestNoPlanOrPriceInTheTemplates: the upgrade offer is the operator's: no
// embedded text names a plan, a price or a currency (the seed's "Pro" and
// "199 ريال" come from the tiers of the configuration).
func TestNoPlanOrPriceInTheTemplates(t *testing.T) {
	actions := regexp.MustCompile(`\{\{[^}]*\}\}`)
	for k, body := range defaultTemplates {
		text := actions.ReplaceAllString(body, "")
		for _, lit := range []string{"Pro", "199", "SAR", "ريال", "$", "USD", "دولار"} {
			if strings.Contains(text, lit) {
				t.Errorf("template %s has the literal %q:\n%s", k, lit, body)
			}
		}
		if m := regexp.MustCompile(`[0-9]+`).FindString(text); m != "" {
			t.Errorf("template %s has the number %s outside its fields", k, m)
		}
	}
}

// TestUpgradeSentenceLeftOutWithoutAnOffer: a tier with no upgrade_to gets
// every message without the upgrade sentence (and without an empty
// paragraph), as the link without upgrade_url.
func TestUpgradeSentenceLeftOutWithoutAnOffer(t *testing.T) {
	ts, err := NewTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	ths := append(DefaultThresholds(), preWarning)
	for _, lang := range Languages {
		for _, f := range []*report.Forecast{nil, {ProjectedPercent: 95}, {ProjectedPercent: 127, LimitDate: "2026-11-21"}} {
			for _, th := range ths {
				d := sample(lang)
				d.WithForecast(f)
				d.WithOffer(Offer{})
				got, err := ts.Render(th, lang, d)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range []string{"Pro", "ترقى", "upgrade to", "199", "\n\n\n"} {
					if strings.Contains(got, s) {
						t.Errorf("%s %s%% (forecast %+v) without an offer says %q:\n%q", lang, FormatThreshold(th.Key()), f, s, got)
					}
				}
			}
		}
	}
	// Without the offer and the link the 100 % text is its first line.
	d := sample("en")
	d.WithOffer(Offer{})
	d.UpgradeURL = ""
	if got, _ := ts.Render(DefaultThresholds()[1], "en", d); got != "عمر, you have reached your monthly limit (3000 requests). 🚦" {
		t.Errorf("bare 100%%: %q", got)
	}
}

// TestOfferNamesTheConfiguredPlan: the offer says the configured plan,
// price and currency (Arabic currency names, ISO codes in English); a plan
// with limits is not "unlimited"; an offer without a price names none.
func TestOfferNamesTheConfiguredPlan(t *testing.T) {
	ts, err := NewTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	hundred := DefaultThresholds()[1]
	for _, tt := range []struct {
		lang string
		o    Offer
		want string
	}{
		{"ar", Offer{Plan: "Gold", Price: 49.5, Currency: "AED"}, "\n\nلو تحتاج أكثر، ترقى للباقة Gold بـ 49.5 درهم/شهر.\n\n"},
		{"en", Offer{Plan: "Gold", Price: 49.5, Currency: "AED"}, "\n\nIf you need more, upgrade to the Gold plan for 49.5 AED/month.\n\n"},
		{"ar", Offer{Plan: "Max", Unlimited: true}, "\n\nللاستخدام غير المحدود، ترقى للباقة Max.\n\n"},
		{"en", Offer{Plan: "Max", Price: 25, Currency: "GBP", Unlimited: true}, "\n\nFor unlimited use, upgrade to the Max plan for 25 GBP/month.\n\n"},
	} {
		d := sample(tt.lang)
		d.WithOffer(tt.o)
		got, err := ts.Render(hundred, tt.lang, d)
		if err != nil || !strings.Contains(got, tt.want) {
			t.Errorf("%s %+v: %q, %v; want it to contain %q", tt.lang, tt.o, got, err, tt.want)
		}
	}
	d := sample("en")
	d.WithOffer(Offer{Plan: "Gold", Price: 49.5, Currency: "AED"})
	if v := d.Vars(); v["upgrade_plan"] != "Gold" || v["upgrade_price"] != "49.5" || v["upgrade_currency"] != "AED" {
		t.Errorf("vars %v", v)
	}
}
