package alerts

import (
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/report"
)

func sample(lang string) MessageData {
	return MessageData{Customer: "omar-001", Name: "عمر", Tier: "standard", Period: "2026-11", Threshold: "80", Percent: "80",
		Used: "2400", Limit: "3000", Unit: UnitName(report.UnitRequests, lang), UpgradeURL: "https://wa.me/966507407827", Language: lang,
		ForecastAgrees: true}
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
