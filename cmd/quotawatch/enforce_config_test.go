package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/enforce"
	"github.com/quotawatch/quotawatch/report"
)

func TestEnforceConfigMistakesNameTheKey(t *testing.T) {
	hash := enforce.HashKey("sk-a-key")
	for _, tt := range []struct{ name, body, key string }{
		{"bad mode", goodConfig + "enforce: {mode: block}\n", "enforce.mode"},
		{"grace below 100", goodConfig + "enforce: {grace_percent: 90}\n", "enforce.grace_percent"},
		{"bad unknown policy", goodConfig + "enforce: {unknown_customer: maybe}\n", "enforce.unknown_customer"},
		{"bare-number timeout", goodConfig + "enforce: {inflight_timeout: 30}\n", "enforce.inflight_timeout"},
		{"a plain key", goodConfig + "enforce: {api_keys: [{sha256: sk-a-key, customer: a}]}\n", "enforce.api_keys[0].sha256"},
		{"key of nobody", goodConfig + "enforce: {api_keys: [{sha256: " + hash + ", customer: zz}]}\n", "enforce.api_keys[0].customer"},
		{"bad tier mode", strings.Replace(goodConfig, "basic: {requests: 500}", "basic: {requests: 500, enforce: {mode: soft}}", 1), "tiers.basic.enforce.mode"},
		{"bad customer grace", strings.Replace(goodConfig, "{id: b, tier: pro}", "{id: b, tier: pro, enforce: {grace_percent: 50}}", 1), "customers[1].enforce.grace_percent"},
		{"unknown enforce key", goodConfig + "enforce: {grace: 110}\n", "enforce.grace"},
		{"redis resync too fast", goodConfig + "redis: {addr: 127.0.0.1:6379, resync_interval: 10ms}\n", "redis.resync_interval"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(writeConfig(t, tt.body), "")
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("want a ConfigError, got %v", err)
			}
			if ce.Key != tt.key {
				t.Errorf("key %q (%v), want %q", ce.Key, err, tt.key)
			}
			if strings.Contains(err.Error(), "sk-a-key") {
				t.Errorf("the error echoes a key: %v", err)
			}
		})
	}
}

func TestEnforcementIsOffUnlessConfigured(t *testing.T) {
	c, err := loadConfig(writeConfig(t, goodConfig), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Enforce.Mode != report.EnforceOff || c.Enforce.Listen != "" || c.Redis.Enabled() {
		t.Fatalf("defaults: enforce %+v, redis %+v; want off, not served, no mirror", c.Enforce, c.Redis)
	}
	if c.Enforce.GracePercent != 110 || c.Enforce.UnknownCustomer != enforce.UnknownAllow {
		t.Fatalf("defaults: grace %g, unknown %q; want the seed's 110 and allow", c.Enforce.GracePercent, c.Enforce.UnknownCustomer)
	}
	on := strings.Replace(goodConfig, "{id: a, tier: basic,", "{id: a, tier: basic, enforce: {mode: hard},", 1) +
		"enforce: {listen: 127.0.0.1:9478, grace_percent: 120}\n"
	c, err = loadConfig(writeConfig(t, on), "")
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Customers[0].Enforce; p == nil || p.Mode != report.EnforceHard {
		t.Fatalf("customers[0].enforce: %+v", p)
	}
	if c.Enforce.GracePercent != 120 {
		t.Fatalf("enforce.grace_percent: %g", c.Enforce.GracePercent)
	}
}

func TestRedisPasswordVariableIsNotWarnedAboutAsUnknown(t *testing.T) {
	t.Setenv("QUOTAWATCH_REDIS_PASSWORD", "secret")
	t.Setenv("QUOTAWATCH_REDIS_PASWORD", "typo")
	c, err := loadConfig(writeConfig(t, goodConfig+"redis: {addr: 127.0.0.1:6379}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.warnings, "\n")
	if strings.Contains(w, "QUOTAWATCH_REDIS_PASSWORD ") || !strings.Contains(w, "QUOTAWATCH_REDIS_PASWORD") {
		t.Fatalf("warnings: %q; want the typo warned about and the password variable not", w)
	}
}
