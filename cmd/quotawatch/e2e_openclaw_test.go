package main

// Issue 8's acceptance on the real binary: OpenClaw 2026.9.6 states (agent
// databases with compressed rows, session windows, archives and cold files)
// are metered exactly, once, whether read from SQLite, from their JSONL
// export, or both; an unknown schema is refused by name; and `run` follows a
// database that another connection writes the way OpenClaw does.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/corpus"
)

// e2eOpenClawSample is one of the real OpenClaw samples in testdata.
type e2eOpenClawSample struct {
	name, config string
}

var e2eOpenClawSamples = []e2eOpenClawSample{
	{"openclaw-sample", "../../testdata/openclaw-demo.yaml"},
	{"openclaw-sample2", "../../testdata/openclaw-demo2.yaml"},
}

func (s e2eOpenClawSample) dir() string { return filepath.Join("../../testdata", s.name) }

func (s e2eOpenClawSample) expected(t *testing.T) map[string]e2eTotals {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.dir(), "expected-usage.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]e2eTotals
	if err := json.Unmarshal(data, &want); err != nil || len(want) == 0 {
		t.Fatalf("%s/expected-usage.json: %v", s.name, err)
	}
	return want
}

// config writes the sample's customer config with the given sources.
func (s e2eOpenClawSample) writeConfig(t *testing.T, dir, sources string) string {
	t.Helper()
	base, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "quotawatch.yaml")
	if err := os.WriteFile(path, []byte(string(base)+"\n"+sources), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func e2eOpenClawSourceYAML(stateDir string) string {
	return fmt.Sprintf("sources:\n  - {type: openclaw, dir: %q}\n", stateDir)
}

func TestE2EOpenClawSamplesAreMeteredExactlyOnce(t *testing.T) {
	for _, s := range e2eOpenClawSamples {
		t.Run(s.name, func(t *testing.T) {
			want := s.expected(t)
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			e2eCopyTree(t, filepath.Join(s.dir(), "state"), state)
			cfg := s.writeConfig(t, dir, e2eOpenClawSourceYAML(state))

			db := filepath.Join(dir, "sqlite.db")
			st, r := e2eBackfill(t, cfg, db)
			if st.NewEvents == 0 || st.Bad != 0 {
				t.Fatalf("backfill of the state: %+v\n%s", st, e2eTail(r.Stderr, 20))
			}
			if diff := e2eDiff(e2eUsage(t, cfg, db), want); diff != "" {
				t.Fatalf("backfill of %s/state: usage differs from expected-usage.json:\n%s", s.name, diff)
			}
			if st, _ := e2eBackfill(t, cfg, db); st.NewEvents != 0 {
				t.Fatalf("second backfill of the state added %d events", st.NewEvents)
			}

			// The JSONL export of the same data, alone: the same numbers.
			export := filepath.Join(dir, "export")
			e2eCopyTree(t, filepath.Join(s.dir(), "jsonl-export"), export)
			db2 := filepath.Join(dir, "export.db")
			e2eBackfill(t, cfg, db2, export)
			if diff := e2eDiff(e2eUsage(t, cfg, db2), want); diff != "" {
				t.Fatalf("backfill of %s/jsonl-export: usage differs from expected-usage.json:\n%s", s.name, diff)
			}
			// A half-migrated install holds both: each call counts once.
			st2, _ := e2eBackfill(t, cfg, db, export)
			if st2.NewEvents != 0 {
				t.Fatalf("the JSONL export after the database added %d events (each call must count once)", st2.NewEvents)
			}
			if diff := e2eDiff(e2eUsage(t, cfg, db), want); diff != "" {
				t.Fatalf("database + JSONL export: usage differs:\n%s", diff)
			}
		})
	}
}

// e2eSetSchema makes an agent database claim another schema version.
func e2eSetSchema(t *testing.T, path string, version int) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{fmt.Sprintf("PRAGMA user_version = %d", version), fmt.Sprintf("UPDATE schema_meta SET schema_version = %d", version)} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestE2EOpenClawUnknownSchemaIsRefusedByNameAndTheRestIsRead(t *testing.T) {
	s := e2eOpenClawSamples[0]
	want := s.expected(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, filepath.Join(s.dir(), "state"), state)
	ops := filepath.Join(state, "agents", "ops", "agent", "openclaw-agent.sqlite")
	e2eSetSchema(t, ops, 99)
	cfg := s.writeConfig(t, dir, e2eOpenClawSourceYAML(state))
	db := filepath.Join(dir, "q.db")

	r := e2eExec(t, "--config", cfg, "--db", db, "backfill", "--no-progress")
	if r.Code != 2 || !strings.Contains(r.Stderr, "schema version 99") || !strings.Contains(r.Stderr, ops) {
		t.Fatalf("backfill with an unknown schema: exit %d, want 2 and a message naming version 99 and %s\nstderr:\n%s", r.Code, ops, e2eTail(r.Stderr, 20))
	}
	// Everything but agent ops (salon) is stored.
	delete(want, "salon")
	got := e2eUsage(t, cfg, db)
	if g := got["salon"]; !g.isZero() {
		t.Fatalf("salon's database was refused, yet salon has usage %+v", g)
	}
	delete(got, "salon")
	if diff := e2eDiff(got, want); diff != "" {
		t.Fatalf("the other agent's usage after the refusal:\n%s", diff)
	}

	// run says why it skips the database and follows the others.
	p := e2eStart(t, "--config", cfg, "--db", db, "run")
	p.waitLog(t, "caught up; following", time.Minute)
	if !strings.Contains(p.stderr.String(), "schema version 99") {
		t.Fatalf("run does not say why it skips %s:\n%s", ops, e2eTail(p.stderr.String(), 20))
	}
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, e2eTail(p.stderr.String(), 20))
	}
}

// e2eCorpusTotals converts the generator's totals to usage rows.
func e2eCorpusTotals(t *testing.T, e *corpus.OpenClawExpected) map[string]e2eTotals {
	t.Helper()
	data, err := json.Marshal(e.Totals)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]e2eTotals
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestE2EOpenClawLiveWritesAreCountedOnceWhileRunFollows(t *testing.T) {
	ctx := context.Background()
	s := e2eOpenClawSamples[1]
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, filepath.Join(s.dir(), "state"), state)
	cfg := s.writeConfig(t, dir, e2eOpenClawSourceYAML(state))
	db := filepath.Join(dir, "q.db")

	var mapping struct {
		Customers []struct{ ID, Peer, Agent string }
		Default   string `json:"default_customer"`
	}
	data, err := os.ReadFile(filepath.Join(s.dir(), "mapping.json"))
	if err != nil || json.Unmarshal(data, &mapping) != nil {
		t.Fatalf("mapping.json: %v", err)
	}
	customer := func(agent, key string) string {
		_, peer := corpus.OpenClawKeyPeer(key)
		for _, c := range mapping.Customers {
			if (c.Peer != "" && c.Peer == peer) || (c.Agent != "" && c.Agent == agent) {
				return c.ID
			}
		}
		return mapping.Default
	}
	start := &corpus.OpenClawExpected{}
	start.Month, start.Timezone, start.DefaultCustomer = e2eMonth, "Asia/Riyadh", mapping.Default
	if err := json.Unmarshal(mustRead(t, filepath.Join(s.dir(), "expected-usage.json")), &start.Totals); err != nil {
		t.Fatal(err)
	}

	p := e2eStart(t, "--config", cfg, "--db", db, "run")
	p.waitLog(t, "caught up; following", time.Minute)
	e2eWaitUsage(t, cfg, db, e2eCorpusTotals(t, start), 10*time.Second, p)

	w, err := corpus.OpenOpenClawWriter(ctx, corpus.OpenClawWriterOptions{Dir: state, Expected: start, Seed: 8, Customer: customer})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	idx := w.PickSessions(5)
	if len(idx) < 2 {
		t.Fatalf("only %d sessions to write to", len(idx))
	}
	for step := 0; step < 24; step++ {
		// Every other reply is long enough for OpenClaw to compress it.
		if _, err := w.Turn(ctx, idx[step%len(idx)], step%2 == 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		switch step {
		case 6:
			if err := w.NewWindow(ctx, idx[0]); err != nil { // a daily reset: new session id, same key
				t.Fatal(err)
			}
		case 12:
			// In-place compaction deletes calls: run must have them first,
			// as a live follower does, and keep them.
			e2eWaitUsage(t, cfg, db, e2eCorpusTotals(t, w.Expected()), 10*time.Second, p)
			if n, err := w.Compact(ctx, idx[0], 2, 0); err != nil || n == 0 {
				t.Fatalf("compaction deleted %d calls: %v", n, err)
			}
		case 18:
			if paths, err := w.Delete(ctx, idx[1]); err != nil || len(paths) == 0 { // into .zst archives
				t.Fatalf("delete wrote %v: %v", paths, err)
			}
		}
	}
	e2eWaitUsage(t, cfg, db, e2eCorpusTotals(t, w.Expected()), 20*time.Second, p)
	if busy, errs := w.Busy(); busy != 0 {
		t.Fatalf("OpenClaw's writer met SQLITE_BUSY %d times while quotawatch followed: %v", busy, errs)
	}
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, e2eTail(p.stderr.String(), 20))
	}
	// A restart over the compacted, archived state adds nothing.
	if st, _ := e2eBackfill(t, cfg, db); st.NewEvents != 0 {
		t.Fatalf("backfill after the live run added %d events", st.NewEvents)
	}
	e2eWaitUsage(t, cfg, db, e2eCorpusTotals(t, w.Expected()), 5*time.Second, nil)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
