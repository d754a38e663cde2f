package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EBackfillPathIsReadByTheKindItIs: the real binary's `backfill PATH`
// reads a generic log that a configured jsonl source's glob matches with
// that source's rules (customers from its lines), a transcript as a
// transcript, and refuses an OpenClaw *.sqlite it cannot read yet with
// exit 2 naming the file. The summary lists what each source read, in
// --format json ("sources", beside the existing keys) and in text.
func TestE2EBackfillPathIsReadByTheKindItIs(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "proxy")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	line := `{"id":"%s","time":"2026-11-05T10:00:00Z","customer":"%s","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.25}` + "\n"
	log := filepath.Join(logs, "a.jsonl")
	if err := os.WriteFile(log, []byte(fmt.Sprintf(line, "r1", "+966500000001", 100)+fmt.Sprintf(line, "r2", "+966500000002", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	cfg := e2eConfig(t, dir, "sources:\n  - {type: jsonl, name: proxy, path: "+jsonQuote(filepath.Join(logs, "*.jsonl"))+"}\n")
	db := filepath.Join(dir, "qw.db")

	st, r := e2eBackfill(t, cfg, db, log)
	if st.NewEvents != 2 || st.Bad != 0 {
		t.Fatalf("backfill %s: %+v; want its 2 calls read as the proxy's log\n%s", log, st, r.Stdout)
	}
	var out struct {
		Sources []struct {
			Source string `json:"source"`
			Kind   string `json:"kind"`
			Files  int64  `json:"files"`
			Lines  int64  `json:"lines"`
			Events int64  `json:"events"`
			Bad    int64  `json:"bad"`
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Sources) != 1 || out.Sources[0].Source != "jsonl:proxy" || out.Sources[0].Kind != "jsonl" ||
		out.Sources[0].Files != 1 || out.Sources[0].Lines != 2 || out.Sources[0].Events != 2 {
		t.Errorf("sources %+v: want jsonl:proxy with 1 file, 2 lines, 2 events", out.Sources)
	}
	u := e2eUsage(t, cfg, db)
	if u["omar"].InputTokens != 100 || u["layla"].InputTokens != 200 {
		t.Errorf("usage %+v: the log's customers were not read from its lines", u)
	}

	// A state dir PATH beside the configured source: the text summary
	// lists it as its own source.
	text := e2eExec(t, "--config", cfg, "--db", db, "backfill", "--no-progress", state)
	if text.Code != 0 {
		t.Fatalf("backfill %s: exit %d\n%s", state, text.Code, e2eTail(text.Stderr, 20))
	}
	if !strings.Contains(text.Stdout, "sources:           1\n") || !strings.Contains(text.Stdout, "  - clawdbot:"+state+": ") {
		t.Errorf("text summary does not list the state dir's source:\n%s", text.Stdout)
	}

	// An OpenClaw agent database given as a PATH is read as one.
	ocState := filepath.Join(t.TempDir(), "oc")
	e2eCopyTree(t, "../../testdata/openclaw-sample/state", ocState)
	sqlite := filepath.Join(ocState, "agents", "ops", "agent", "openclaw-agent.sqlite")
	st, r2 := e2eBackfill(t, cfg, db, sqlite)
	if st.NewEvents != 3 || st.Unreadable != 0 {
		t.Errorf("backfill %s: %+v, want salon's 3 calls\n%s", sqlite, st, e2eTail(r2.Stderr, 10))
	}
	// A file named like one that is not a database is an unreadable file,
	// named in the log; the run is not stopped by it.
	bogus := filepath.Join(state, "agents", "main", "agent", "openclaw-agent.sqlite")
	if err := os.MkdirAll(filepath.Dir(bogus), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bogus, []byte("SQLite format 3\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, r2 = e2eBackfill(t, cfg, db, bogus)
	if st.Unreadable != 1 || !strings.Contains(r2.Stderr, bogus) {
		t.Errorf("backfill %s: unreadable_files %d, want 1 and a warning naming it\n%s", bogus, st.Unreadable, e2eTail(r2.Stderr, 10))
	}
}
