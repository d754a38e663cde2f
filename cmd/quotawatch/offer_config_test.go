package main

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/alerts"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// TestUpgradeOfferIsConfigurationValidatedWithItsKey: the offer lives on
// the tiers (upgrade_to + the target's display_name, price, currency),
// normalised like tier keys, and each mistake is refused naming its key.
func TestUpgradeOfferIsConfigurationValidatedWithItsKey(t *testing.T) {
	const tiers = "tiers: {basic: {requests: 500, upgrade_to: GOLD}, gold: {requests: 5000, display_name: Gold, price: 49.5, currency: aed}, Pro: {}}"
	body := strings.Replace(goodConfig, "tiers: {basic: {requests: 500}, Pro: {}}", tiers, 1)
	c, err := loadConfig(writeConfig(t, body), "")
	if err != nil {
		t.Fatal(err)
	}
	if b, g := c.Tiers["basic"], c.Tiers["gold"]; b.UpgradeTo != "gold" || g.DisplayName != "Gold" || g.Price != 49.5 || g.Currency != "AED" {
		t.Fatalf("tiers %+v", c.Tiers)
	}
	if cu, _ := c.book().Customer("a"); cu.Limits.UpgradeTo != "gold" || cu.Limits.LimitKey() != "requests=500" {
		t.Fatalf("customer a's tier %+v (limit key %q)", cu.Limits, cu.Limits.LimitKey())
	}
	for _, tt := range []struct{ name, old, new, key string }{
		{"unknown target", "upgrade_to: GOLD", "upgrade_to: platinum", "tiers.basic.upgrade_to"},
		{"itself", "upgrade_to: GOLD", "upgrade_to: basic", "tiers.basic.upgrade_to"},
		{"a smaller plan", "requests: 5000", "requests: 100", "tiers.basic.upgrade_to"},
		{"target without a name", "display_name: Gold, ", "", "tiers.gold.display_name"},
		{"price without currency", ", currency: aed", "", "tiers.gold.currency"},
		{"currency without price", "price: 49.5, ", "", "tiers.gold.price"},
		{"not a currency", "currency: aed", "currency: riyal", "tiers.gold.currency"},
		{"negative price", "price: 49.5", "price: -1", "tiers.gold.price"},
		{"name on two lines", "display_name: Gold", `display_name: "Gold\nPlus"`, "tiers.gold.display_name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(body, tt.old) {
				t.Fatalf("config lacks %q", tt.old)
			}
			_, err := loadConfig(writeConfig(t, strings.Replace(body, tt.old, tt.new, 1)), "")
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.key {
				t.Fatalf("got %v, want a ConfigError naming %s", err, tt.key)
			}
		})
	}
}

// TestExampleConfigCarriesTheSeedsOffer: the seed's plan and price (Pro,
// 199 SAR a month) are in the example config, and a customer of it at
// 100 % gets the seed's 100 % sentence from it word for word.
func TestExampleConfigCarriesTheSeedsOffer(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	c, err := loadConfig("../../quotawatch.example.yaml", filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Tiers["pro"]; p.DisplayName != "Pro" || p.Price != 199 || p.Currency != "SAR" || !p.Unlimited() {
		t.Fatalf("example tier pro: %+v", p)
	}
	for _, name := range []string{"basic", "standard"} {
		if c.Tiers[name].UpgradeTo != "pro" {
			t.Errorf("example tier %s upgrades to %q, want pro", name, c.Tiers[name].UpgradeTo)
		}
	}
	ctx := context.Background()
	st, err := store.Open(ctx, c.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, c.loc)
	b := &store.Batch{}
	for i := range 3000 {
		b.Events = append(b.Events, store.Event{Key: "t:" + strconv.Itoa(i), Agent: "main", SessionID: "s", TimeMs: now.UnixMilli(),
			Period: "2026-11", Customer: "omar-001", Provider: "p", Model: "m", Input: 1, Priced: true})
	}
	if _, err := st.Commit(ctx, b, func(string, int64) string { return report.DayOf(now, c.loc) }); err != nil {
		t.Fatal(err)
	}
	ts, err := alerts.NewTemplates(c.Alerts.Templates)
	if err != nil {
		t.Fatal(err)
	}
	ch := &alerts.Checker{Store: st, Config: c.Alerts, Customers: c.Customers, Location: c.loc, Channel: "log", Templates: ts,
		Now: func() time.Time { return now }, Tiers: c.Tiers}
	plan, err := ch.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const seed = "للاستخدام غير المحدود، ترقى للباقة Pro بـ 199 ريال/شهر."
	for _, a := range plan {
		if a.Customer == "omar-001" && a.Threshold == 100 {
			if !strings.Contains(a.Message, seed) {
				t.Fatalf("100 %% message from the example config:\n%s\nwant it to say %s", a.Message, seed)
			}
			return
		}
	}
	t.Fatalf("no 100 %% warning for omar-001 planned: %+v", plan)
}
