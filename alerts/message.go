package alerts

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/quotawatch/quotawatch/report"
)

// Languages with embedded default messages.
var Languages = []string{"ar", "en"}

// KnownLanguage reports whether lang has embedded default messages.
func KnownLanguage(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// MessageData is what a message template can use. Numbers are already
// formatted, with Western digits as in the seed's texts.
type MessageData struct {
	Customer   string // customer id
	Name       string // customer name (the id when no name is configured)
	Tier       string
	Period     string // YYYY-MM
	Threshold  string // the threshold crossed, e.g. "80"
	Percent    string // the actual usage, whole percent rounded down, e.g. "130"
	Used       string // e.g. "2400"
	Limit      string // e.g. "3000"
	Unit       string // localized: "طلب", "requests", ...
	UpgradeURL string
	// Degraded is alerts.degraded_after_limit: only then does the 100 %
	// message promise "slower replies (without AI)".
	Degraded bool
	Language string
}

// Vars is the data as a flat map: the WhatsApp template's body parameters
// and the webhook document are picked from it by name.
func (d MessageData) Vars() map[string]string {
	return map[string]string{
		"customer": d.Customer, "name": d.Name, "tier": d.Tier, "period": d.Period, "threshold": d.Threshold,
		"percent": d.Percent, "used": d.Used, "limit": d.Limit, "unit": d.Unit, "upgrade_url": d.UpgradeURL,
		"language": d.Language,
	}
}

// VarNames are the keys of Vars, for validating template_params.
var VarNames = []string{"customer", "name", "tier", "period", "threshold", "percent", "used", "limit", "unit", "upgrade_url", "language"}

// FormatAmount prints a used or limit amount in its unit: whole numbers for
// requests and tokens, cents for money.
func FormatAmount(v int64, unit string) string {
	if unit == report.UnitCostUSD {
		return report.Money(v).Cents()
	}
	return strconv.FormatInt(v, 10)
}

// FormatRecorded prints an amount as the outbox records it (dollars for
// money, counts otherwise), the way FormatAmount prints a reading.
func FormatRecorded(v float64, unit string) string {
	if unit == report.UnitCostUSD {
		return report.USD(v).Cents()
	}
	return strconv.FormatFloat(math.Round(v), 'f', 0, 64)
}

// unitValue is a reading's base measure in the unit the outbox records:
// dollars for money, counts otherwise.
func unitValue(v int64, unit string) float64 {
	if unit == report.UnitCostUSD {
		return report.Money(v).Float()
	}
	return float64(v)
}

// FormatPercent prints a threshold (80, 100, 92.5).
func FormatPercent(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) }

// unitNames localizes units.
var unitNames = map[string]map[string]string{
	"ar": {report.UnitRequests: "طلب", report.UnitTokens: "توكن", report.UnitCostUSD: "دولار"},
	"en": {report.UnitRequests: "requests", report.UnitTokens: "tokens", report.UnitCostUSD: "USD"},
}

// UnitName is the unit as the message says it in lang.
func UnitName(unit, lang string) string {
	if n, ok := unitNames[lang][unit]; ok {
		return n
	}
	return unitNames["en"][unit]
}

// Message kinds: which default text a threshold uses.
const (
	kindWarning  = "warning"  // customer, below 100 %: the seed's 80 % text
	kindLimit    = "limit"    // customer, 100 % and above: the seed's 100 % text
	kindOperator = "operator" // operator: review by hand
)

func kindOf(t Threshold) string {
	switch {
	case t.To == ToOperator:
		return kindOperator
	case t.Percent >= 100:
		return kindLimit
	}
	return kindWarning
}

// defaultTemplates are the embedded texts. The Arabic customer texts are the
// seed's ("Customer Communication"), with the placeholders filled; the
// "slower replies (without AI)" sentence is conditional because Phase 1
// degrades nothing.
var defaultTemplates = map[string]string{
	kindWarning + "_ar": `مرحبا {{.Name}}! 👋

لقد استهلكت {{.Threshold}}% من حدك الشهري للذكاء الاصطناعي ({{.Used}} من {{.Limit}} {{.Unit}}).

متوقع تكفيك لنهاية الشهر، بس لو تحتاج أكثر، ترقى للباقة Pro.
{{- with .UpgradeURL}}

للترقية: {{.}}{{end}}`,
	kindLimit + "_ar": `{{.Name}}، وصلت للحد الشهري ({{.Limit}} {{.Unit}}). 🚦
{{- if .Degraded}}

مساعدك الذكي راح يستمر يشتغل بس بردود أبطأ (بدون AI).{{end}}

للاستخدام غير المحدود، ترقى للباقة Pro بـ 199 ريال/شهر.
{{- with .UpgradeURL}}

تواصل معنا: {{.}}{{end}}`,
	kindOperator + "_ar": `⚠️ quotawatch: العميل {{.Name}} ({{.Customer}}، باقة {{.Tier}}) وصل {{.Percent}}% من حده الشهري ({{.Used}} من {{.Limit}} {{.Unit}}) لشهر {{.Period}}.

تجاوز حد {{.Threshold}}%: راجع حسابه يدوياً.`,
	kindWarning + "_en": `Hi {{.Name}}! 👋

You have used {{.Threshold}}% of your monthly AI limit ({{.Used}} of {{.Limit}} {{.Unit}}).

It should last you to the end of the month, but if you need more, upgrade to the Pro plan.
{{- with .UpgradeURL}}

To upgrade: {{.}}{{end}}`,
	kindLimit + "_en": `{{.Name}}, you have reached your monthly limit ({{.Limit}} {{.Unit}}). 🚦
{{- if .Degraded}}

Your assistant will keep working, but with slower replies (without AI).{{end}}

For unlimited use, upgrade to the Pro plan for 199 SAR/month.
{{- with .UpgradeURL}}

Contact us: {{.}}{{end}}`,
	kindOperator + "_en": `⚠️ quotawatch: customer {{.Name}} ({{.Customer}}, tier {{.Tier}}) is at {{.Percent}}% of the monthly limit ({{.Used}} of {{.Limit}} {{.Unit}}) for {{.Period}}.

Over the {{.Threshold}}% threshold: review this customer by hand.`,
}

// Templates renders messages: per-threshold overrides from the config
// first, then the embedded defaults.
type Templates struct {
	byKey map[string]*template.Template
}

var overrideKey = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(?:_([a-z]{2,3}))?$`)

// ParseOverrideKey splits an alerts.templates key ("80", "100_en") into the
// threshold and the language ("" = every language).
func ParseOverrideKey(k string) (percent float64, lang string, err error) {
	m := overrideKey.FindStringSubmatch(strings.ToLower(k))
	if m == nil {
		return 0, "", fmt.Errorf("template key %q: want <percent> or <percent>_<language>, e.g. 80 or 100_en", k)
	}
	p, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, "", fmt.Errorf("template key %q: %w", k, err)
	}
	return p, m[2], nil
}

// NewTemplates parses the embedded defaults and the configured overrides.
func NewTemplates(overrides map[string]string) (*Templates, error) {
	ts := &Templates{byKey: map[string]*template.Template{}}
	for k, body := range defaultTemplates {
		t, err := template.New(k).Option("missingkey=error").Parse(body)
		if err != nil {
			return nil, fmt.Errorf("parse embedded template %s: %w", k, err)
		}
		ts.byKey["default_"+k] = t
	}
	for k, body := range overrides {
		p, lang, err := ParseOverrideKey(k)
		if err != nil {
			return nil, err
		}
		t, err := template.New(k).Option("missingkey=error").Parse(body)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", k, err)
		}
		// Render once with sample data so a template naming an unknown
		// field fails at start, not at 80 % of a customer's month.
		var buf bytes.Buffer
		if err := t.Execute(&buf, sampleData()); err != nil {
			return nil, fmt.Errorf("template %s: %w", k, err)
		}
		key := "override_" + FormatPercent(p)
		if lang != "" {
			key += "_" + lang
		}
		ts.byKey[key] = t
	}
	return ts, nil
}

func sampleData() MessageData {
	return MessageData{Customer: "omar-001", Name: "عمر", Tier: "standard", Period: "2026-11", Threshold: "80", Percent: "80",
		Used: "2400", Limit: "3000", Unit: "طلب", UpgradeURL: "https://wa.me/966500000000", Language: "ar"}
}

// Render produces the message for threshold t in lang.
func (ts *Templates) Render(t Threshold, lang string, d MessageData) (string, error) {
	p := FormatPercent(t.Percent)
	candidates := []string{"override_" + p + "_" + lang, "override_" + p, "default_" + kindOf(t) + "_" + lang, "default_" + kindOf(t) + "_en"}
	for _, k := range candidates {
		tpl := ts.byKey[k]
		if tpl == nil {
			continue
		}
		var buf bytes.Buffer
		if err := tpl.Execute(&buf, d); err != nil {
			return "", fmt.Errorf("render %s message for %s: %w", p+"%", d.Customer, err)
		}
		return strings.TrimSpace(buf.String()), nil
	}
	return "", fmt.Errorf("render %s%% message for %s: no template", p, d.Customer)
}
