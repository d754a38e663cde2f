// Package alerts decides, composes and delivers quota warnings: tiers and
// periods, threshold decisions, message templates and notifiers.
package alerts

// Tier is a monthly limit; a zero field is no limit on that measure, and a
// tier with no limit at all is unlimited (tracked, never warned).
type Tier struct {
	Requests int64   `mapstructure:"requests" json:"requests,omitempty"`
	Tokens   int64   `mapstructure:"tokens" json:"tokens,omitempty"`
	CostUSD  float64 `mapstructure:"cost_usd" json:"cost_usd,omitempty"`
}

// Unlimited reports whether the tier sets no limit.
func (t Tier) Unlimited() bool { return t.Requests <= 0 && t.Tokens <= 0 && t.CostUSD <= 0 }

// Threshold is one warning level.
type Threshold struct {
	Percent float64 `mapstructure:"percent" json:"percent"`
	To      string  `mapstructure:"to" json:"to"` // customer | operator
	Flag    bool    `mapstructure:"flag" json:"flag,omitempty"`
}

// Config is the alerts part of the configuration.
type Config struct {
	Schedule           string            `mapstructure:"schedule" json:"schedule"`
	DigestSchedule     string            `mapstructure:"digest_schedule" json:"digest_schedule"`
	Language           string            `mapstructure:"language" json:"language"`
	UpgradeURL         string            `mapstructure:"upgrade_url" json:"upgrade_url"`
	OperatorPhone      string            `mapstructure:"operator_phone" json:"operator_phone"`
	DegradedAfterLimit bool              `mapstructure:"degraded_after_limit" json:"degraded_after_limit"`
	Thresholds         []Threshold       `mapstructure:"thresholds" json:"thresholds"`
	Templates          map[string]string `mapstructure:"templates" json:"templates,omitempty"`
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
	Template      string `mapstructure:"template" json:"template,omitempty"`
	TemplateLang  string `mapstructure:"template_language" json:"template_language,omitempty"`
}

// Clawdbot configures the notifier that runs Clawdbot's own sender.
type Clawdbot struct {
	Command string   `mapstructure:"command" json:"command"`
	Args    []string `mapstructure:"args" json:"args,omitempty"`
	Timeout string   `mapstructure:"timeout" json:"timeout,omitempty"`
}

// Webhook configures the JSON webhook notifier.
type Webhook struct {
	URL string `mapstructure:"url" json:"url"`
}

// NotifyConfig chooses and configures the notifier.
type NotifyConfig struct {
	Channel  string   `mapstructure:"channel" json:"channel"` // log | whatsapp | clawdbot | webhook
	WhatsApp WhatsApp `mapstructure:"whatsapp" json:"whatsapp"`
	Clawdbot Clawdbot `mapstructure:"clawdbot" json:"clawdbot"`
	Webhook  Webhook  `mapstructure:"webhook" json:"webhook"`
}
