package alerts

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

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
	// ProjectedPercent is the forecast's month-end usage, whole percent
	// rounded down, e.g. "127" ("" with no projection).
	ProjectedPercent string
	// LimitDate is the day the limit is reached at this pace, in the
	// message's language with Western digits: "21 December", "21 ديسمبر"
	// ("" when the forecast has it last, or with no projection).
	LimitDate string
	// LimitDay is the day of the month of LimitDate, e.g. "21".
	LimitDay string
	// ForecastAgrees is true when there is a projection and it stays
	// within the limit to the end of the month: only then does the 80 %
	// message say "it should last until the end of the month".
	ForecastAgrees bool
}

// Vars is the data as a flat map: the WhatsApp template's body parameters
// and the webhook document are picked from it by name.
func (d MessageData) Vars() map[string]string {
	return map[string]string{
		"customer": d.Customer, "name": d.Name, "tier": d.Tier, "period": d.Period, "threshold": d.Threshold,
		"percent": d.Percent, "used": d.Used, "limit": d.Limit, "unit": d.Unit, "upgrade_url": d.UpgradeURL,
		"language": d.Language, "projected_percent": d.ProjectedPercent, "limit_date": d.LimitDate,
	}
}

// VarNames are the keys of Vars, for validating template_params.
var VarNames = []string{"customer", "name", "tier", "period", "threshold", "percent", "used", "limit", "unit", "upgrade_url", "language",
	"projected_percent", "limit_date"}

// monthNames are the Gregorian months as the messages name them.
var monthNames = map[string][12]string{
	"ar": {"يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"},
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
}

// FormatDay prints a YYYY-MM-DD day as a message says it in lang, with
// Western digits: "21 December", "21 ديسمبر". A malformed day is returned
// as it is.
func FormatDay(day, lang string) string {
	t, err := time.Parse("2006-01-02", day)
	if err != nil {
		return day
	}
	names, ok := monthNames[lang]
	if !ok {
		names = monthNames["en"]
	}
	return strconv.Itoa(t.Day()) + " " + names[t.Month()-1]
}

// WithForecast fills the forecast fields from f (nil: no projection).
func (d *MessageData) WithForecast(f *report.Forecast) {
	d.ProjectedPercent, d.LimitDate, d.LimitDay, d.ForecastAgrees = "", "", "", f.Agrees()
	if f == nil {
		return
	}
	d.ProjectedPercent = FormatPercent(math.Floor(f.ProjectedPercent + percentEpsilon))
	if f.LimitDate != "" {
		d.LimitDate = FormatDay(f.LimitDate, d.Language)
		d.LimitDay = strings.TrimLeft(f.LimitDate[8:], "0")
	}
}

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
	kindWarning      = "warning"       // customer, below 100 %: the seed's 80 % text
	kindLimit        = "limit"         // customer, 100 % and above: the seed's 100 % text
	kindOperator     = "operator"      // operator: review by hand
	kindPace         = "pace"          // customer pre-warning: the limit is reached on a day
	kindPaceOperator = "pace_operator" // operator pre-warning
)

func kindOf(t Threshold) string {
	switch {
	case t.Pace() && t.To == ToOperator:
		return kindPaceOperator
	case t.Pace():
		return kindPace
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

{{if .ForecastAgrees}}متوقع تكفيك لنهاية الشهر، بس لو تحتاج أكثر، ترقى للباقة Pro.
{{- else if .LimitDate}}بهالمعدل راح توصل لحدك الشهري يوم {{.LimitDate}}، ولو تحتاج أكثر، ترقى للباقة Pro.
{{- else}}لو تحتاج أكثر، ترقى للباقة Pro.{{end}}
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
	kindPace + "_ar": `مرحبا {{.Name}}! 👋

استهلكت {{.Percent}}% من حدك الشهري للذكاء الاصطناعي ({{.Used}} من {{.Limit}} {{.Unit}})، وبهالمعدل راح توصل للحد يوم {{.LimitDate}}.

لو تحتاج أكثر، ترقى للباقة Pro.
{{- with .UpgradeURL}}

للترقية: {{.}}{{end}}`,
	kindPaceOperator + "_ar": `⚠️ quotawatch: العميل {{.Name}} ({{.Customer}}، باقة {{.Tier}}) عند {{.Percent}}% من حده الشهري ({{.Used}} من {{.Limit}} {{.Unit}}) لشهر {{.Period}}، وبهالمعدل يوصل للحد يوم {{.LimitDate}} (المتوقع {{.ProjectedPercent}}% بنهاية الشهر).`,
	kindWarning + "_en": `Hi {{.Name}}! 👋

You have used {{.Threshold}}% of your monthly AI limit ({{.Used}} of {{.Limit}} {{.Unit}}).

{{if .ForecastAgrees}}It should last you to the end of the month, but if you need more, upgrade to the Pro plan.
{{- else if .LimitDate}}At this pace you will reach your limit on {{.LimitDate}}; if you need more, upgrade to the Pro plan.
{{- else}}If you need more, upgrade to the Pro plan.{{end}}
{{- with .UpgradeURL}}

To upgrade: {{.}}{{end}}`,
	kindLimit + "_en": `{{.Name}}, you have reached your monthly limit ({{.Limit}} {{.Unit}}). 🚦
{{- if .Degraded}}

Your assistant will keep working, but with slower replies (without AI).{{end}}

For unlimited use, upgrade to the Pro plan for 199 SAR/month.
{{- with .UpgradeURL}}

Contact us: {{.}}{{end}}`,
	kindPace + "_en": `Hi {{.Name}}! 👋

You have used {{.Percent}}% of your monthly AI limit ({{.Used}} of {{.Limit}} {{.Unit}}). At this pace you will reach your limit on {{.LimitDate}}.

If you need more, upgrade to the Pro plan.
{{- with .UpgradeURL}}

To upgrade: {{.}}{{end}}`,
	kindPaceOperator + "_en": `⚠️ quotawatch: customer {{.Name}} ({{.Customer}}, tier {{.Tier}}) is at {{.Percent}}% of the monthly limit ({{.Used}} of {{.Limit}} {{.Unit}}) for {{.Period}} and, at this pace, reaches it on {{.LimitDate}} ({{.ProjectedPercent}}% projected by the end of the month).`,
	kindOperator + "_en": `⚠️ quotawatch: customer {{.Name}} ({{.Customer}}, tier {{.Tier}}) is at {{.Percent}}% of the monthly limit ({{.Used}} of {{.Limit}} {{.Unit}}) for {{.Period}}.

Over the {{.Threshold}}% threshold: review this customer by hand.`,
}

// Templates renders messages: per-threshold overrides from the config
// first, then the embedded defaults.
type Templates struct {
	byKey map[string]*template.Template
}

var overrideKey = regexp.MustCompile(`^(projected_)?([0-9]+(?:\.[0-9]+)?)(?:_([a-z]{2,3}))?$`)

// ParseOverrideKey splits an alerts.templates key ("80", "100_en",
// "projected_100_ar") into the threshold's Key (negative for a
// pre-warning) and the language ("" = every language).
func ParseOverrideKey(k string) (key float64, lang string, err error) {
	m := overrideKey.FindStringSubmatch(strings.ToLower(k))
	if m == nil {
		return 0, "", fmt.Errorf("template key %q: want <percent>, <percent>_<language> or projected_<percent>[_<language>], e.g. 80, 100_en or projected_100", k)
	}
	p, err := strconv.ParseFloat(m[2], 64)
	if err != nil {
		return 0, "", fmt.Errorf("template key %q: %w", k, err)
	}
	if m[1] != "" {
		p = -p
	}
	return p, m[3], nil
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
		Used: "2400", Limit: "3000", Unit: "طلب", UpgradeURL: "https://wa.me/966500000000", Language: "ar",
		ProjectedPercent: "127", LimitDate: "21 نوفمبر", LimitDay: "21"}
}

// Render produces the message for threshold t in lang.
func (ts *Templates) Render(t Threshold, lang string, d MessageData) (string, error) {
	p := FormatPercent(t.Key())
	candidates := []string{"override_" + p + "_" + lang, "override_" + p, "default_" + kindOf(t) + "_" + lang, "default_" + kindOf(t) + "_en"}
	for _, k := range candidates {
		tpl := ts.byKey[k]
		if tpl == nil {
			continue
		}
		var buf bytes.Buffer
		if err := tpl.Execute(&buf, d); err != nil {
			return "", fmt.Errorf("render %s%% message for %s: %w", FormatThreshold(t.Key()), d.Customer, err)
		}
		return strings.TrimSpace(buf.String()), nil
	}
	return "", fmt.Errorf("render %s%% message for %s: no template", FormatThreshold(t.Key()), d.Customer)
}
