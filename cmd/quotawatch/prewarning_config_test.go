package main

import (
	"errors"
	"testing"
)

// A pre-warning threshold is accepted anywhere in the list, and its
// mistakes are refused at start with their key.
func TestPreWarningThresholdConfigIsValidatedWithItsKey(t *testing.T) {
	const th = "alerts:\n  thresholds:\n    - {percent: 80, to: customer}\n    - {projected_percent: 100, min_percent: 50, to: customer}\n    - {percent: 100, to: customer}\n"
	c, err := loadConfig(writeConfig(t, goodConfig+th+"  templates: {projected_100_en: \"{{.LimitDate}}\"}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if ts := c.Alerts.Thresholds; len(ts) != 3 || !ts[1].Pace() || ts[1].Key() != -100 || ts[1].MinPercent != 50 {
		t.Fatalf("thresholds %+v", ts)
	}
	for _, tt := range []struct{ name, threshold, key string }{
		{"below 100", "{projected_percent: 90, min_percent: 50, to: customer}", "alerts.thresholds[1].projected_percent"},
		{"with percent", "{projected_percent: 100, percent: 90, to: customer}", "alerts.thresholds[1].percent"},
		{"min_percent 100", "{projected_percent: 100, min_percent: 100, to: customer}", "alerts.thresholds[1].min_percent"},
		{"min_percent alone", "{percent: 90, min_percent: 50, to: customer}", "alerts.thresholds[1].min_percent"},
		{"flag", "{projected_percent: 100, flag: true, to: operator}", "alerts.thresholds[1].flag"},
		{"recipient", "{projected_percent: 100, to: everyone}", "alerts.thresholds[1].to"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := goodConfig + "alerts:\n  thresholds:\n    - {percent: 80, to: customer}\n    - " + tt.threshold + "\n"
			_, err := loadConfig(writeConfig(t, body), "")
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.key {
				t.Fatalf("got %v, want a ConfigError naming %s", err, tt.key)
			}
		})
	}
	body := goodConfig + th + "    - {projected_percent: 100, to: operator}\n"
	if _, err := loadConfig(writeConfig(t, body), ""); err == nil {
		t.Fatal("two pre-warnings at projected 100 % accepted")
	}
	if _, err := loadConfig(writeConfig(t, goodConfig+th+"  templates: {projected_150: x}\n"), ""); err == nil {
		t.Fatal("a template for a pre-warning that is not configured accepted")
	}
}
