// Package report is the one room every output reads: the customer and
// period model, usage rows, percent of limit, the forecast and the digest's
// content. The CLI, the alerts, the digest and the dashboard render what it
// computes; none of them computes usage on its own.
package report

import (
	"strconv"
	"strings"
	"time"
)

// Unassigned is the customer of calls that match no rule when no
// default_customer is configured.
const Unassigned = "unassigned"

// Tier is a monthly limit; a zero field is no limit on that measure, and a
// tier with no limit at all is unlimited (tracked, never warned).
//
// A tier is also a plan the operator sells: DisplayName, Price and Currency
// are what an upgrade offer names when another tier's UpgradeTo points at
// it. None of them is part of LimitKey: renaming or repricing a plan is not
// a new limit and warns nobody again.
type Tier struct {
	Requests int64   `mapstructure:"requests" json:"requests,omitempty"`
	Tokens   int64   `mapstructure:"tokens" json:"tokens,omitempty"`
	CostUSD  float64 `mapstructure:"cost_usd" json:"cost_usd,omitempty"`
	// UpgradeTo is the key of the tier the warnings offer (none: no offer).
	UpgradeTo string `mapstructure:"upgrade_to" json:"upgrade_to,omitempty"`
	// DisplayName is the plan's name as messages say it, e.g. "Pro".
	DisplayName string `mapstructure:"display_name" json:"display_name,omitempty"`
	// Price is the plan's monthly price in Currency (0: the offer names no price).
	Price float64 `mapstructure:"price" json:"price,omitempty"`
	// Currency is the ISO 4217 code of Price, e.g. SAR.
	Currency string `mapstructure:"currency" json:"currency,omitempty"`
	// Enforce overrides the global hard-limit policy for the tier's customers.
	Enforce *Enforce `mapstructure:"enforce" json:"enforce,omitempty"`
}

// Unlimited reports whether the tier sets no limit.
func (t Tier) Unlimited() bool { return t.Requests <= 0 && t.Tokens <= 0 && t.CostUSD <= 0 }

// LimitKey names the limits in force, canonically. It is part of an alert's
// unique key, so a customer whose tier changes mid-month is warned again
// against the new limits and never twice against the same ones.
func (t Tier) LimitKey() string {
	var parts []string
	if t.Requests > 0 {
		parts = append(parts, "requests="+strconv.FormatInt(t.Requests, 10))
	}
	if t.Tokens > 0 {
		parts = append(parts, "tokens="+strconv.FormatInt(t.Tokens, 10))
	}
	if t.CostUSD > 0 {
		parts = append(parts, "cost_usd="+strconv.FormatFloat(t.CostUSD, 'f', -1, 64))
	}
	return strings.Join(parts, ",")
}

// Match selects the sessions billed to a customer. Every field that is set
// must match; a Match with no field set matches nothing.
type Match struct {
	Agent      string `mapstructure:"agent" json:"agent,omitempty"`
	SessionKey string `mapstructure:"session_key" json:"session_key,omitempty"` // glob, e.g. agent:main:whatsapp:dm:+9665*
	Peer       string `mapstructure:"peer" json:"peer,omitempty"`
	Channel    string `mapstructure:"channel" json:"channel,omitempty"`
}

// Empty reports whether no field is set.
func (m Match) Empty() bool {
	return m.Agent == "" && m.SessionKey == "" && m.Peer == "" && m.Channel == ""
}

// Customer is one configured customer: the one model the config decodes,
// attribution matches, alerts warn and reports list. Limits and Location
// are resolved from the tiers and the timezone when the config is
// validated.
type Customer struct {
	ID       string `mapstructure:"id" json:"id"`
	Name     string `mapstructure:"name" json:"name,omitempty"`
	Phone    string `mapstructure:"phone" json:"phone,omitempty"` // E.164
	Tier     string `mapstructure:"tier" json:"tier"`
	Timezone string `mapstructure:"timezone" json:"timezone,omitempty"`
	Language string `mapstructure:"language" json:"language,omitempty"` // "" = alerts.language
	Match    Match  `mapstructure:"match" json:"match"`
	// Enforce overrides the tier's and the global hard-limit policy.
	Enforce *Enforce `mapstructure:"enforce" json:"enforce,omitempty"`

	// Limits is the tier's limits, shared by the customers of the tier
	// (nil = unlimited, also for no tier): a copy in each customer was 80
	// bytes more a customer, 0.66 MB of run's idle heap at 8,250. Read it
	// through TierLimits.
	Limits *Tier `mapstructure:"-" json:"-"`
	// Location is the customer's own timezone; nil = the global one.
	Location *time.Location `mapstructure:"-" json:"-"`
}

// TierLimits is the customer's limits (zero = unlimited, also for no tier).
func (c *Customer) TierLimits() Tier {
	if c == nil || c.Limits == nil {
		return Tier{}
	}
	return *c.Limits
}

// In is the timezone of the customer's billing periods: its own, else the
// global one, else UTC. It is the only place that fallback is written.
func (c *Customer) In(global *time.Location) *time.Location {
	switch {
	case c != nil && c.Location != nil:
		return c.Location
	case global != nil:
		return global
	}
	return time.UTC
}

// DisplayName is the name to show, or the id when none is configured.
func (c *Customer) DisplayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// Book is the configured customers with the global timezone: what every
// report reads to turn stored usage into rows.
type Book struct {
	Customers []Customer
	// Location is the global timezone.
	Location *time.Location
	byID     map[string]int
}

// NewBook indexes customers (kept in their configured order).
func NewBook(customers []Customer, global *time.Location) *Book {
	b := &Book{Customers: customers, Location: global, byID: make(map[string]int, len(customers))}
	for i := range customers {
		if _, dup := b.byID[customers[i].ID]; !dup {
			b.byID[customers[i].ID] = i
		}
	}
	return b
}

// Customer returns the configured customer with that id.
func (b *Book) Customer(id string) (*Customer, bool) {
	i, ok := b.byID[id]
	if !ok {
		return nil, false
	}
	return &b.Customers[i], true
}

// LocationOf is the timezone of a customer id's periods; an id that is not
// configured (unassigned, a removed customer) uses the global timezone.
func (b *Book) LocationOf(id string) *time.Location {
	c, _ := b.Customer(id)
	return c.In(b.Location)
}
