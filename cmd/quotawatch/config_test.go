package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t testing.TB, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "qw.yaml")
	body = strings.ReplaceAll(body, "STATE", filepath.Join(dir, "state"))
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConfig = `
timezone: Asia/Riyadh
sources: [{type: clawdbot, dir: STATE}]
tiers: {basic: {requests: 500}, Pro: {}}
customers:
  - {id: a, tier: basic, match: {peer: "+966500000001"}}
  - {id: b, tier: pro}
default_customer: b
`

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, tt := range []struct{ name, body, key string }{
		{"unknown tier", strings.Replace(goodConfig, "tier: basic", "tier: gold", 1), "customers[0].tier"},
		{"bad timezone", strings.Replace(goodConfig, "Asia/Riyadh", "Mars/Olympus", 1), "timezone"},
		{"duplicate id", strings.Replace(goodConfig, "id: b", "id: a", 1), "customers[1].id"},
		{"unknown key", goodConfig + "colour: blue\n", "colour"},
		{"unknown source type", strings.Replace(goodConfig, "type: clawdbot", "type: syslog", 1), "sources[0].type"},
		{"bad default", strings.Replace(goodConfig, "default_customer: b", "default_customer: zz", 1), "default_customer"},
		{"negative limit", strings.Replace(goodConfig, "requests: 500", "requests: -1", 1), "tiers.basic"},
		{"bad channel", goodConfig + "notify: {channel: pigeon}\n", "notify.channel"},
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
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			var out, errOut bytes.Buffer
			if code := Main(context.Background(), []string{"--config", writeConfig(t, tt.body), "config", "check"}, &out, &errOut); code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, errOut.String())
			}
			if lines := strings.Count(strings.TrimSpace(errOut.String()), "\n"); lines != 0 || !strings.Contains(errOut.String(), tt.key) {
				t.Errorf("stderr %q: want one line naming %s", errOut.String(), tt.key)
			}
		})
	}
}

func TestConfigGoodAndEnvironment(t *testing.T) {
	p := writeConfig(t, goodConfig)
	t.Setenv("QUOTAWATCH_STORE_PATH", "/tmp/from-env.db")
	t.Setenv("QUOTAWATCH_MONITOR_BATCH_EVENTS", "77")
	c, err := loadConfig(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Path != "/tmp/from-env.db" || c.Monitor.BatchEvents != 77 {
		t.Errorf("environment overrides not applied: %q %d", c.Store.Path, c.Monitor.BatchEvents)
	}
	if _, ok := c.Tiers["pro"]; !ok || !c.Tiers["pro"].Unlimited() {
		t.Errorf("empty tier `Pro: {}` must exist as unlimited: %+v", c.Tiers)
	}
	if c.Customers[1].Tier != "pro" {
		t.Errorf("tier names are case-insensitive: %q", c.Customers[1].Tier)
	}
	c, err = loadConfig(p, "/tmp/flag.db")
	if err != nil || c.Store.Path != "/tmp/flag.db" {
		t.Errorf("--db must win: %v %v", c, err)
	}
}

func TestUnknownCommandAndFlagExit2(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"usage", "--bogus"}, {"usage", "--format", "xml"}, {"usage", "--month", "11-2026"}} {
		var out, errOut bytes.Buffer
		if code := Main(context.Background(), append([]string{"--config", writeConfig(t, goodConfig), "--db", filepath.Join(t.TempDir(), "x.db")}, args...), &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}

// TestOpenClawSourceIsAcceptedWithItsStateDir: a source of type openclaw
// (refused until the OpenClaw issue) is valid with a dir, like clawdbot,
// and keeps its type.
func TestOpenClawSourceIsAcceptedWithItsStateDir(t *testing.T) {
	c, err := loadConfig(writeConfig(t, strings.Replace(goodConfig, "type: clawdbot", "type: openclaw", 1)), "")
	if err != nil {
		t.Fatalf("an openclaw source with a dir was refused: %v", err)
	}
	if got := c.monitorConfig().Sources; len(got) != 1 || got[0].Type != "openclaw" || !strings.HasSuffix(got[0].Dir, "state") {
		t.Errorf("sources %+v", got)
	}
}

// TestStateSourceWithoutDirUsesTheFirstDefaultStateDirThatExists: a
// clawdbot or openclaw source without dir reads $OPENCLAW_STATE_DIR,
// ~/.openclaw, $CLAWDBOT_STATE_DIR, ~/.clawdbot, ~/.moltbot: the first of
// them that is a directory; when none is, the error names them all.
func TestStateSourceWithoutDirUsesTheFirstDefaultStateDirThatExists(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	envOC := filepath.Join(t.TempDir(), "oc-state")
	envCB := filepath.Join(t.TempDir(), "cb-state")
	t.Setenv("OPENCLAW_STATE_DIR", envOC)
	t.Setenv("CLAWDBOT_STATE_DIR", envCB)
	body := strings.Replace(goodConfig, "{type: clawdbot, dir: STATE}", "{type: openclaw}", 1)
	dirOf := func() (string, error) {
		c, err := loadConfig(writeConfig(t, body), "")
		if err != nil {
			return "", err
		}
		if err := c.sourcesReady("run"); err != nil {
			return "", err
		}
		return c.monitorConfig().Sources[0].Dir, nil
	}
	_, err := dirOf()
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "sources[0].dir" || !strings.Contains(err.Error(), envOC) || !strings.Contains(err.Error(), filepath.Join(home, ".moltbot")) {
		t.Fatalf("no state dir exists: %v; want an error on sources[0].dir naming every candidate", err)
	}
	// Made to exist from the last to the first: each one takes over.
	for _, d := range []string{filepath.Join(home, ".moltbot"), filepath.Join(home, ".clawdbot"), envCB, filepath.Join(home, ".openclaw"), envOC} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if got, err := dirOf(); err != nil || got != d {
			t.Errorf("with %s present: dir %q %v, want it", d, got, err)
		}
	}
}

// TestMissingSourceDirStopsOnlyTheCommandsThatReadIt: a state dir that does
// not exist yet is a warning for `config check`, refuses `run` and
// `backfill` (exit 2, naming the key), and does not concern `usage`, which
// reads only the database.
func TestMissingSourceDirStopsOnlyTheCommandsThatReadIt(t *testing.T) {
	cfg := writeConfig(t, strings.Replace(goodConfig, "dir: STATE", "dir: /nonexistent/x", 1))
	db := filepath.Join(t.TempDir(), "qw.db")
	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append([]string{"--config", cfg, "--db", db}, args...), &out, &errOut)
		return code, errOut.String()
	}
	if code, errOut := run("config", "check"); code != 0 || !strings.Contains(errOut, "level=WARN") || !strings.Contains(errOut, "sources[0].dir: /nonexistent/x is not a directory") {
		t.Errorf("config check: exit %d, stderr %q; want 0 with a warning naming sources[0].dir", code, errOut)
	}
	for _, cmd := range []string{"run", "backfill"} {
		if code, errOut := run(cmd); code != 2 || !strings.Contains(errOut, "quotawatch: config: sources[0].dir: /nonexistent/x is not a directory") {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming sources[0].dir", cmd, code, errOut)
		}
	}
	if code, errOut := run("usage"); code != 1 || !strings.Contains(errOut, "no database") {
		t.Errorf("usage: exit %d, stderr %q; want 1 for the missing database, not a config error", code, errOut)
	}
}

// TestPeerShapeIsCheckedOnlyWhereItIsAWhatsAppNumber: a peer that is not
// E.164 or a group id is refused when transcripts are read (or the match
// says whatsapp), and accepted as another channel's id or as a generic
// log's free-form customer value.
func TestPeerShapeIsCheckedOnlyWhereItIsAWhatsAppNumber(t *testing.T) {
	logs := t.TempDir()
	jsonlOnly := fmt.Sprintf("sources: [{type: jsonl, path: %s/*.jsonl}]\ncustomers: [{id: a, match: {peer: \"0555\"}}, {id: b, match: {peer: acme-corp}}]\n", logs)
	if _, err := loadConfig(writeConfig(t, jsonlOnly), ""); err != nil {
		t.Errorf("a jsonl-only config's customer values: %v", err)
	}
	for _, tt := range []struct {
		match string
		ok    bool
	}{
		{`{peer: "0555"}`, false},
		{`{peer: "+9665"}`, false},
		{`{peer: "966500000001"}`, false},
		{`{peer: "+966500000001"}`, true},
		{`{peer: "whatsapp:+966500000001"}`, true},
		{`{peer: "120363025550001111@g.us"}`, true},
		{`{peer: "966500000001-1600000000@G.US"}`, true},
		{`{peer: "0555", channel: whatsapp}`, false},
		{`{peer: "123456789", channel: Telegram}`, true},
	} {
		body := strings.Replace(goodConfig, `{peer: "+966500000001"}`, tt.match, 1)
		_, err := loadConfig(writeConfig(t, body), "")
		var ce *ConfigError
		if tt.ok != (err == nil) || (err != nil && (!errors.As(err, &ce) || ce.Key != "customers[0].match.peer")) {
			t.Errorf("match %s: %v, want ok=%v (or an error on customers[0].match.peer)", tt.match, err, tt.ok)
		}
	}
}
