package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EBackfillSummaryCarriesWarnings: the real binary's backfill follows
// a symlinked agent dir (agents/ops -> another disk) and counts its calls,
// and a configured source that holds no transcript is named in the
// summary, in text (a "warnings:" count and one line each) and in
// --format json (a "warnings" list beside the existing keys).
func TestE2EBackfillSummaryCarriesWarnings(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	disk2 := filepath.Join(dir, "disk2")
	if err := os.MkdirAll(disk2, 0o755); err != nil {
		t.Fatal(err)
	}
	// The ops agent lives on another disk, reached through a link.
	if err := os.Rename(filepath.Join(state, "agents", "ops"), filepath.Join(disk2, "ops")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(disk2, "ops"), filepath.Join(state, "agents", "ops")); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "moltbot") // a second state dir, with nothing in it yet
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := e2eConfig(t, dir, "sources:\n  - {type: clawdbot, dir: "+jsonQuote(state)+"}\n  - {type: clawdbot, dir: "+jsonQuote(empty)+"}\n")

	st, r := e2eBackfill(t, cfg, filepath.Join(dir, "json.db"))
	var out struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatal(err)
	}
	if st.NewEvents != 16 {
		t.Errorf("new_events = %d, want the sample's 16 (ops read through its link)", st.NewEvents)
	}
	if len(out.Warnings) != 1 || !strings.Contains(out.Warnings[0], filepath.Join(empty, "agents")) {
		t.Errorf("warnings %q: want one naming the empty source %s", out.Warnings, empty)
	}
	if diff := e2eDiff(e2eUsage(t, cfg, filepath.Join(dir, "json.db")), e2eExpected(t)); diff != "" {
		t.Errorf("usage differs from the sample's expected totals:\n%s", diff)
	}

	text := e2eExec(t, "--config", cfg, "--db", filepath.Join(dir, "text.db"), "backfill", "--no-progress")
	if text.Code != 0 {
		t.Fatalf("backfill: exit %d\n%s", text.Code, e2eTail(text.Stderr, 20))
	}
	if !strings.Contains(text.Stdout, "warnings:          1\n") || !strings.Contains(text.Stdout, "  - source holds no transcript") ||
		!strings.Contains(text.Stdout, empty) {
		t.Errorf("text summary does not list the warning:\n%s", text.Stdout)
	}
	if !strings.Contains(text.Stderr, "source holds no transcript") {
		t.Errorf("the warning is not logged:\n%s", e2eTail(text.Stderr, 20))
	}
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
