// Package alerts decides, composes and delivers quota warnings: tiers and
// periods, threshold decisions, message templates and notifiers.
package alerts

import (
	"encoding/json"
	"net/url"
)

// Threshold is one warning level: a percent of the limit reached, or a
// pre-warning (ProjectedPercent set, Percent zero) when the forecast
// reaches ProjectedPercent by the end of the month while the actual usage
// is at least MinPercent and below 100 %.
type Threshold struct {
	Percent float64 `mapstructure:"percent" json:"percent"`
	// ProjectedPercent makes the threshold a pre-warning on the forecast.
	ProjectedPercent float64 `mapstructure:"projected_percent" json:"projected_percent,omitempty"`
	// MinPercent is the least actual usage a pre-warning needs.
	MinPercent float64 `mapstructure:"min_percent" json:"min_percent,omitempty"`
	To         string  `mapstructure:"to" json:"to"` // customer | operator
	Flag       bool    `mapstructure:"flag" json:"flag,omitempty"`
}

// Pace reports whether the threshold is a pre-warning on the forecast.
func (t Threshold) Pace() bool { return t.ProjectedPercent > 0 }

// Key is the threshold's value in the outbox's unique key: Percent, or
// minus ProjectedPercent for a pre-warning. The sign keeps a pre-warning's
// row apart from the warning at the same number (projected 100 % is not
// 100 % reached) without a new column, every row written before stays
// valid, and the outbox's "a higher threshold sent later supersedes a
// pending lower one" never lets a pre-warning silence a real warning.
func (t Threshold) Key() float64 {
	if t.Pace() {
		return -t.ProjectedPercent
	}
	return t.Percent
}

// FormatThreshold prints an outbox threshold value for people: "80", or
// "projected 100" for a pre-warning's negative key.
func FormatThreshold(key float64) string {
	if key < 0 {
		return "projected " + FormatPercent(-key)
	}
	return FormatPercent(key)
}

// Config is the alerts part of the configuration.
type Config struct {
	Schedule           string      `mapstructure:"schedule" json:"schedule"`
	DigestSchedule     string      `mapstructure:"digest_schedule" json:"digest_schedule"`
	Language           string      `mapstructure:"language" json:"language"`
	UpgradeURL         string      `mapstructure:"upgrade_url" json:"upgrade_url"`
	OperatorPhone      string      `mapstructure:"operator_phone" json:"operator_phone"`
	DegradedAfterLimit bool        `mapstructure:"degraded_after_limit" json:"degraded_after_limit"`
	Thresholds         []Threshold `mapstructure:"thresholds" json:"thresholds"`
	// Templates overrides the message of a threshold: key "<percent>" for
	// every language or "<percent>_<language>" (e.g. "80", "100_en"), or
	// "projected_<percent>[_<language>]" for a pre-warning; value a Go
	// text/template (see docs/alerts.md for the fields).
	Templates map[string]string `mapstructure:"templates" json:"templates,omitempty"`
}

// DefaultThresholds are the seed's 80 % and 100 % customer warnings and the
// 120 % operator review with flag.
func DefaultThresholds() []Threshold {
	return []Threshold{{Percent: 80, To: "customer"}, {Percent: 100, To: "customer"}, {Percent: 120, To: "operator", Flag: true}}
}

// FlagPercent is the lowest threshold that flags a customer (0 = none).
func (c Config) FlagPercent() float64 {
	for _, t := range c.Thresholds {
		if t.Flag {
			return t.Percent
		}
	}
	return 0
}

// WhatsApp configures the WhatsApp Business Cloud API notifier.
type WhatsApp struct {
	APIBase       string `mapstructure:"api_base" json:"api_base"`
	PhoneNumberID string `mapstructure:"phone_number_id" json:"phone_number_id"`
	TokenEnv      string `mapstructure:"token_env" json:"token_env"`
	TokenFile     string `mapstructure:"token_file" json:"token_file,omitempty"`
	// Template names an approved message template. By default a text
	// message is tried first and the template is the fallback when Meta
	// answers 131047 (the 24-hour window is closed); TemplateMode "always"
	// sends the template straight away.
	Template     string `mapstructure:"template" json:"template,omitempty"`
	TemplateLang string `mapstructure:"template_language" json:"template_language,omitempty"`
	// TemplateMode is "fallback" (default) or "always".
	TemplateMode string `mapstructure:"template_mode" json:"template_mode,omitempty"`
	// TemplateParams lists, in order, the variables sent as the template's
	// body parameters (default: name, threshold, used, limit, unit).
	TemplateParams []string `mapstructure:"template_params" json:"template_params,omitempty"`
	// OperatorTemplate is the template for operator notices (none = operator
	// notices are text only).
	OperatorTemplate string `mapstructure:"operator_template" json:"operator_template,omitempty"`
	// Timeout bounds one HTTP request (default 20s).
	Timeout string `mapstructure:"timeout" json:"timeout,omitempty"`
}

// Clawdbot configures the notifier that runs Clawdbot's own sender.
type Clawdbot struct {
	Command string   `mapstructure:"command" json:"command"`
	Args    []string `mapstructure:"args" json:"args,omitempty"`
	Timeout string   `mapstructure:"timeout" json:"timeout,omitempty"`
}

// Webhook configures the JSON webhook notifier.
type Webhook struct {
	URL     string `mapstructure:"url" json:"url"`
	Timeout string `mapstructure:"timeout" json:"timeout,omitempty"`
}

// MarshalJSON shows the webhook's host only: Slack-style webhook URLs carry
// their secret in the path, and `config check` must not print it.
func (w Webhook) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		URL     string `json:"url"`
		Timeout string `json:"timeout,omitempty"`
	}{RedactURL(w.URL), w.Timeout})
}

// RedactURL keeps a URL's scheme and host and hides the rest.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		if s == "" {
			return ""
		}
		return "[redacted]"
	}
	if u.Path == "" && u.RawQuery == "" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/[redacted]"
}

// Retry is the delivery retry policy: exponential backoff from Base,
// doubling up to Max, giving up after Attempts attempts.
type Retry struct {
	Base     string `mapstructure:"base" json:"base"`
	Max      string `mapstructure:"max" json:"max"`
	Attempts int    `mapstructure:"attempts" json:"attempts"`
}

// NotifyConfig chooses and configures the notifier.
type NotifyConfig struct {
	Channel  string   `mapstructure:"channel" json:"channel"` // log | whatsapp | clawdbot | webhook
	WhatsApp WhatsApp `mapstructure:"whatsapp" json:"whatsapp"`
	Clawdbot Clawdbot `mapstructure:"clawdbot" json:"clawdbot"`
	Webhook  Webhook  `mapstructure:"webhook" json:"webhook"`
	Retry    Retry    `mapstructure:"retry" json:"retry"`
}
