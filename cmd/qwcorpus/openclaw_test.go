package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/internal/corpus"
)

// TestKindOpenClawWritesAStateItsTotalsAndAnOpenClawConfig: `qwcorpus -kind
// openclaw` writes the agent databases, expected.json (source openclaw,
// the state's counts) and a quotawatch.yaml reading an openclaw source.
func TestKindOpenClawWritesAStateItsTotalsAndAnOpenClawConfig(t *testing.T) {
	for _, args := range [][]string{{"-kind", "openclaw"}, {"-kind=openclaw"}, {"--kind", "openclaw"}} {
		if k := kindOf(append(args, "-out", "x")); k != "openclaw" {
			t.Errorf("kindOf(%q) = %q", args, k)
		}
	}
	if k := kindOf([]string{"-out", "x", "-size", "3"}); k != "clawdbot" {
		t.Errorf("default kind %q", k)
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := generateOpenClaw([]string{"-kind", "openclaw", "-out", dir, "-size", "0.5", "-agents", "2", "-cold",
		"-custom-location", "-seed", "4"}); err != nil {
		t.Fatal(err)
	}
	exp, err := corpus.ReadOpenClawExpected(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if exp.Source != "openclaw" || exp.Calls == 0 || len(exp.OpenClaw.Databases) != 2 || exp.OpenClaw.StateDB == "" {
		t.Errorf("expected.json: source %q, %d calls, %d databases, state db %q", exp.Source, exp.Calls,
			len(exp.OpenClaw.Databases), exp.OpenClaw.StateDB)
	}
	for _, d := range exp.OpenClaw.Databases {
		if _, err := os.Stat(d.Path); err != nil || !strings.Contains(d.Path, "custom-store") {
			t.Errorf("database %s: %v", d.Path, err)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "quotawatch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "{type: openclaw, dir: ") {
		t.Errorf("quotawatch.yaml:\n%s", cfg)
	}
}
