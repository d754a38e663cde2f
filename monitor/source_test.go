package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/quotawatch/quotawatch/parser"
)

// proxyLine is one generic request log line (the proxy's format).
const proxyLine = `{"id":"%s","time":"2026-11-05T10:00:00Z","customer":"%s","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.25}` + "\n"

// TestBackfillPathOfAConfiguredJSONLLogIsReadWithThatSourcesRules: a
// generic log given to backfill as a PATH (a file, or the directory its
// glob names) that a configured jsonl source's glob matches is read with
// that source's rules (its fields, its name in keys, customers from the
// line), not as a Clawdbot transcript; a transcript PATH beside it is
// still read as a transcript, and the summary has one entry per source.
func TestBackfillPathOfAConfiguredJSONLLogIsReadWithThatSourcesRules(t *testing.T) {
	h := newHarness(t)
	logDir := filepath.Join(t.TempDir(), "proxy")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(logDir, "a.jsonl")
	appendFile(t, a, fmt.Sprintf(proxyLine, "r1", "salon", 10)+fmt.Sprintf(proxyLine, "r2", "+966500000001", 20))
	appendFile(t, filepath.Join(logDir, "b.jsonl"), fmt.Sprintf(proxyLine, "r3", "layla", 40))
	tr := h.path("main", "abab.jsonl")
	appendFile(t, tr, fmt.Sprintf(header, "abab")+call("c1", 5))
	cfg := Config{Sources: []SourceConfig{
		{Type: SourceClawdbot, Dir: filepath.Join(t.TempDir(), "elsewhere")},
		{Type: SourceJSONL, Name: "proxy", Path: filepath.Join(logDir, "*.jsonl"), Fields: parser.DefaultFields()},
	}}
	backfill := func(paths ...string) Stats {
		t.Helper()
		st := h.open()
		defer st.Close()
		s, err := New(cfg, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil))).Backfill(context.Background(), paths, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := backfill(a, tr)
	if s.Inserted != 3 || s.Bad != 0 {
		t.Fatalf("stats %+v: want the log's 2 calls and the transcript's 1, no bad line", s)
	}
	if len(s.Sources) != 2 || s.Sources[0].Source != "jsonl:proxy" || s.Sources[0].Events != 2 || s.Sources[1].Kind != SourceClawdbot || s.Sources[1].Events != 1 {
		t.Errorf("per-source stats %+v: want jsonl:proxy with 2 events, then the transcript's source with 1", s.Sources)
	}
	got := h.usage()
	if got["salon"].Input != 10 || got["omar"].Input != 20 || got["owner"].Input != 5 {
		t.Errorf("usage %+v: the log's customers were not read from its lines", got)
	}
	// The log's directory as PATH: b.jsonl is read with the source's
	// rules, a.jsonl's checkpoint holds.
	s = backfill(logDir)
	if s.Inserted != 1 || s.Lines != 1 || s.Bad != 0 {
		t.Errorf("the log's directory as PATH: %+v; want b.jsonl's one call, nothing of a.jsonl again", s)
	}
	if got := h.usage()["layla"]; got.Input != 40 {
		t.Errorf("layla %+v", got)
	}
	// A relative PATH matches an absolute glob.
	appendFile(t, filepath.Join(logDir, "c.jsonl"), fmt.Sprintf(proxyLine, "r4", "khalid", 80))
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(logDir); err != nil {
		t.Fatal(err)
	}
	if s := backfill("c.jsonl"); s.Inserted != 1 || s.Bad != 0 || len(s.Sources) != 1 || s.Sources[0].Source != "jsonl:proxy" {
		t.Errorf("relative PATH: %+v", s)
	}
	if got := h.usage()["khalid"]; got.Input != 80 {
		t.Errorf("khalid %+v", got)
	}
}

// TestBrokenOpenClawDatabaseNeverHidesTheTranscriptsBesideIt: a state dir
// whose agent database is not a database still has its JSONL transcripts
// read; the database is counted as unreadable, named in the log, whether it
// came from the state dir or as a backfill PATH.
func TestBrokenOpenClawDatabaseNeverHidesTheTranscriptsBesideIt(t *testing.T) {
	h := newHarness(t)
	db := filepath.Join(h.dir, "agents", "main", "agent", "openclaw-agent.sqlite")
	if err := os.MkdirAll(filepath.Dir(db), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, []byte("SQLite format 3\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	appendFile(t, h.path("main", "abab.jsonl"), fmt.Sprintf(header, "abab")+call("c1", 5))
	st := h.open()
	defer st.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(Config{}, st, h.attr, quiet).Backfill(context.Background(), []string{db}, nil)
	if err != nil || s.Unreadable != 1 {
		t.Errorf("backfill of %s: %+v %v; want it counted unreadable", db, s, err)
	}
	s, err = New(Config{}, st, h.attr, quiet).Backfill(context.Background(), []string{h.dir}, nil)
	if err != nil || s.Inserted != 1 || s.Bad != 0 || s.Unreadable != 1 {
		t.Fatalf("state dir: %+v %v; want the transcript's call and the database unreadable", s, err)
	}
}

// TestStatsBreakDownWhatEachSourceRead: Stats.Sources has one entry per
// configured source, in the configuration's order, each counting its own
// files, lines, events and bad lines (the totals are their sums), so an
// operator sees which source fed what and which one is broken.
func TestStatsBreakDownWhatEachSourceRead(t *testing.T) {
	h := newHarness(t)
	appendFile(t, h.path("main", "abab.jsonl"), fmt.Sprintf(header, "abab")+call("c1", 5)+call("c2", 6))
	appendFile(t, h.path("main", "cdcd.jsonl"), fmt.Sprintf(header, "cdcd")+call("c3", 7))
	logDir := filepath.Join(t.TempDir(), "proxy")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(logDir, "a.jsonl"), fmt.Sprintf(proxyLine, "r1", "salon", 10)+"not json\n")
	cfg := Config{Sources: []SourceConfig{
		{Type: SourceJSONL, Name: "proxy", Path: filepath.Join(logDir, "*.jsonl"), Fields: parser.DefaultFields()},
		{Type: SourceClawdbot, Dir: h.dir},
	}}
	st := h.open()
	defer st.Close()
	s, err := New(cfg, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil))).Backfill(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []SourceStats{
		{Source: "jsonl:proxy", Kind: SourceJSONL, Files: 1, Items: 1, Lines: 2, Events: 1, Bad: 1},
		{Source: "clawdbot:" + h.dir, Kind: SourceClawdbot, Files: 2, Items: 2, Lines: 5, Events: 3},
	}
	if len(s.Sources) != len(want) {
		t.Fatalf("sources %+v, want %+v", s.Sources, want)
	}
	var lines, events, bad, files int64
	for i, w := range want {
		if s.Sources[i] != w {
			t.Errorf("source %d: %+v, want %+v", i, s.Sources[i], w)
		}
		lines, events, bad, files = lines+s.Sources[i].Lines, events+s.Sources[i].Events, bad+s.Sources[i].Bad, files+s.Sources[i].Files
	}
	if lines != s.Lines || events != s.Events || bad != s.Bad || files != s.Files {
		t.Errorf("per-source sums (lines %d, events %d, bad %d, files %d) differ from the totals %+v", lines, events, bad, files, s)
	}
}
