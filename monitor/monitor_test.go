package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/parser"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// sampleCustomers is testdata/clawdbot-sample/mapping.json.
func sampleAttributor() *Attributor {
	riyadh, _ := time.LoadLocation("Asia/Riyadh")
	return NewAttributor([]report.Customer{
		{ID: "omar", Match: report.Match{Peer: "+966500000001"}},
		{ID: "layla", Match: report.Match{Peer: "+966500000002"}},
		{ID: "khalid", Match: report.Match{Peer: "+966500000003"}},
		{ID: "salon", Match: report.Match{Agent: "ops"}},
		{ID: "owner"},
	}, "owner", riyadh)
}

type harness struct {
	t      *testing.T
	dir    string // state dir
	db     string
	attr   *Attributor
	prices []Price
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	root := t.TempDir()
	h := &harness{t: t, dir: filepath.Join(root, "state"), db: filepath.Join(root, "qw.db"), attr: sampleAttributor()}
	if err := os.MkdirAll(filepath.Join(h.dir, "agents", "main", "sessions"), 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

// copySample copies the real sample state into the harness's state dir.
func (h *harness) copySample() {
	h.t.Helper()
	src := filepath.Join("..", "testdata", "clawdbot-sample", "agents")
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(h.dir, "agents", rel)
		if fi.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) path(agent, name string) string {
	return filepath.Join(h.dir, "agents", agent, "sessions", name)
}

func (h *harness) open() *store.Store {
	h.t.Helper()
	st, err := store.Open(context.Background(), h.db)
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// backfill runs one monitor over the state dir, as a fresh process would.
func (h *harness) backfill() Stats {
	h.t.Helper()
	st := h.open()
	defer st.Close()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, Prices: h.prices}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s, err := m.Backfill(context.Background(), nil, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) usage() map[string]store.Usage {
	h.t.Helper()
	st := h.open()
	defer st.Close()
	us, err := st.UsageByPeriod(context.Background(), "2026-11", "")
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]store.Usage{}
	for _, u := range us {
		out[u.Customer] = u
	}
	return out
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

type expected struct {
	Requests   int64   `json:"requests"`
	Failed     int64   `json:"failed_requests"`
	Input      int64   `json:"input_tokens"`
	Output     int64   `json:"output_tokens"`
	CacheRead  int64   `json:"cache_read_tokens"`
	CacheWrite int64   `json:"cache_write_tokens"`
	Cost       float64 `json:"cost_usd"`
}

func sampleExpected(t *testing.T) map[string]expected {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "clawdbot-sample", "expected-usage.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp map[string]expected
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	return exp
}

func checkSample(t *testing.T, got map[string]store.Usage) {
	t.Helper()
	exp := sampleExpected(t)
	if len(got) != len(exp) {
		t.Errorf("customers: got %d %v, want %d", len(got), got, len(exp))
	}
	for id, e := range exp {
		g := got[id]
		if g.Requests != e.Requests || g.FailedRequests != e.Failed || g.Input != e.Input || g.Output != e.Output ||
			g.CacheRead != e.CacheRead || g.CacheWrite != e.CacheWrite || math.Abs(g.CostUSD-e.Cost) > 1e-9 || g.Unpriced != 0 {
			t.Errorf("%s: got %+v, want %+v", id, g, e)
		}
	}
}

func TestBackfillSampleExact(t *testing.T) {
	h := newHarness(t)
	h.copySample()
	s := h.backfill()
	if s.Inserted != 16 || s.Duplicates != 0 || s.Synthetic != 3 || s.Bad != 0 || s.Files != 7 {
		t.Errorf("stats %+v", s)
	}
	checkSample(t, h.usage())
	// A restart re-reads nothing: checkpoints, not re-parsing.
	s = h.backfill()
	if s.Lines != 0 || s.Inserted != 0 {
		t.Errorf("second backfill read %d lines, inserted %d", s.Lines, s.Inserted)
	}
	checkSample(t, h.usage())
}

func TestBackfillOfACopyAddsNothing(t *testing.T) {
	h := newHarness(t)
	h.copySample()
	h.backfill()
	// Same content at other inodes (a restored backup): ids dedupe it.
	other := filepath.Join(t.TempDir(), "copy")
	if err := os.Rename(h.dir, other); err != nil {
		t.Fatal(err)
	}
	h.copySample()
	s := h.backfill()
	if s.Inserted != 0 || s.Duplicates != 16 {
		t.Errorf("copy: inserted %d duplicates %d", s.Inserted, s.Duplicates)
	}
	checkSample(t, h.usage())
}

const header = `{"type":"session","version":3,"id":"%s","timestamp":"2026-11-10T10:00:00.000Z","cwd":"/w"}` + "\n"

func call(id string, input int) string {
	return fmt.Sprintf(`{"type":"message","id":"%s","parentId":"p","timestamp":"2026-11-10T10:00:01.000Z","message":{"role":"assistant","content":[],"provider":"fakeoai","model":"fake-gpt","usage":{"input":%d,"output":1,"cacheRead":0,"cacheWrite":0,"totalTokens":%d,"cost":{"total":0.5}},"stopReason":"stop","timestamp":1794304800000}}`+"\n", id, input, input+1)
}

func user(peer string) string {
	return fmt.Sprintf(`{"type":"message","id":"u1","parentId":"p","timestamp":"2026-11-10T10:00:00.500Z","message":{"role":"user","content":[{"type":"text","text":"[WhatsApp %s +1m 2026-11-10 13:00 GMT+3] مرحبا"}]}}`+"\n", peer)
}

func TestPartialLineIsNotConsumed(t *testing.T) {
	h := newHarness(t)
	p := h.path("main", "11111111-aaaa.jsonl")
	line := call("c1", 10)
	appendFile(t, p, fmt.Sprintf(header, "11111111-aaaa")+line[:40])
	if s := h.backfill(); s.Inserted != 0 || s.Bad != 0 {
		t.Fatalf("half a line was consumed: %+v", s)
	}
	appendFile(t, p, line[40:])
	if s := h.backfill(); s.Inserted != 1 || s.Bad != 0 {
		t.Fatalf("completed line: %+v", s)
	}
	if got := h.usage()["owner"]; got.Requests != 1 || got.Input != 10 {
		t.Errorf("owner %+v", got)
	}
}

func TestRenameKeepsPlaceAndReadsLateLines(t *testing.T) {
	h := newHarness(t)
	p := h.path("main", "22222222-bbbb.jsonl")
	appendFile(t, p, fmt.Sprintf(header, "22222222-bbbb")+user("+966500000002")+call("c1", 10))
	h.backfill()
	// sessions.delete renames the transcript; a writer still holding it
	// appends one more line to the renamed file.
	archived := p + ".deleted.2026-11-27T00-11-19.326Z"
	if err := os.Rename(p, archived); err != nil {
		t.Fatal(err)
	}
	appendFile(t, archived, call("c2", 20))
	s := h.backfill()
	if s.Lines != 1 || s.Inserted != 1 {
		t.Errorf("after rename: read %d lines, inserted %d (want only the late line)", s.Lines, s.Inserted)
	}
	if got := h.usage()["layla"]; got.Requests != 2 || got.Input != 30 {
		t.Errorf("layla %+v", got)
	}
}

func TestTruncateAndRewriteSamePrefix(t *testing.T) {
	h := newHarness(t)
	p := h.path("main", "33333333-cccc.jsonl")
	head := fmt.Sprintf(header, "33333333-cccc") + user("+966500000001")
	appendFile(t, p, head+call("c1", 10)+call("c2", 20))
	h.backfill()
	// Clawdbot's pre-run fix-up: truncate to 0 and re-flush the same header
	// and lines, then a new call — longer than before, same first bytes.
	if err := os.WriteFile(p, []byte(head+call("c1", 10)+`{"type":"custom","id":"x"}`+"\n"+call("c3", 40)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := h.backfill()
	if s.Inserted != 1 || s.Duplicates != 1 {
		t.Errorf("rewrite: inserted %d duplicates %d", s.Inserted, s.Duplicates)
	}
	if got := h.usage()["omar"]; got.Requests != 3 || got.Input != 70 {
		t.Errorf("omar %+v", got)
	}
}

func TestTruncatedShorter(t *testing.T) {
	h := newHarness(t)
	p := h.path("main", "44444444-dddd.jsonl")
	appendFile(t, p, fmt.Sprintf(header, "44444444-dddd")+call("c1", 10)+call("c2", 20))
	h.backfill()
	if err := os.WriteFile(p, []byte("\n"+call("c3", 5)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := h.backfill()
	if s.Inserted != 1 {
		t.Errorf("after truncation: inserted %d", s.Inserted)
	}
	if got := h.usage()["owner"]; got.Requests != 3 || got.Input != 35 {
		t.Errorf("owner %+v", got)
	}
}

func TestCompactionIntoHeaderlessFile(t *testing.T) {
	h := newHarness(t)
	id := "55555555-eeee"
	p := h.path("main", id+".jsonl")
	appendFile(t, p, fmt.Sprintf(header, id)+user("+966500000003")+call("c1", 10)+call("c2", 20))
	h.backfill()
	// sessions.compact: the original moves to .bak, a new header-less file
	// with copied lines (same ids) takes its path, then a new call lands.
	if err := os.Rename(p, p+".bak.2026-11-27T00-11-16.266Z"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, user("+966500000003")+call("c1", 10)+call("c2", 20)+call("c3", 30))
	s := h.backfill()
	if s.Inserted != 1 || s.Duplicates != 2 {
		t.Errorf("compaction: inserted %d duplicates %d", s.Inserted, s.Duplicates)
	}
	if got := h.usage()["khalid"]; got.Requests != 3 || got.Input != 60 {
		t.Errorf("khalid %+v", got)
	}
}

func TestLateSessionStoreMovesHistory(t *testing.T) {
	h := newHarness(t)
	id := "66666666-ffff"
	// No envelope, no store: billed to the default customer for now.
	appendFile(t, h.path("main", id+".jsonl"), fmt.Sprintf(header, id)+call("c1", 10))
	h.backfill()
	if got := h.usage(); got["owner"].Requests != 1 || got["omar"].Requests != 0 {
		t.Fatalf("before store: %+v", got)
	}
	store := fmt.Sprintf(`{"agent:main:whatsapp:dm:+966500000001":{"sessionId":%q,"updatedAt":1}}`, id)
	if err := os.WriteFile(h.path("main", "sessions.json"), []byte(store), 0o600); err != nil {
		t.Fatal(err)
	}
	h.backfill()
	got := h.usage()
	if got["omar"].Requests != 1 || got["omar"].Input != 10 || got["owner"].Requests != 0 {
		t.Errorf("after store: %+v", got)
	}
	// The store forgets the session (/new); quotawatch does not.
	if err := os.WriteFile(h.path("main", "sessions.json"), []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	appendFile(t, h.path("main", id+".jsonl"), call("c2", 5))
	h.backfill()
	if got := h.usage()["omar"]; got.Requests != 2 {
		t.Errorf("forgotten session: %+v", got)
	}
}

func TestMappingChangeReattributesHistory(t *testing.T) {
	h := newHarness(t)
	h.copySample()
	h.backfill()
	riyadh, _ := time.LoadLocation("Asia/Riyadh")
	// omar now also gets the ops agent; owner becomes unassigned.
	h.attr = NewAttributor([]report.Customer{
		{ID: "omar", Match: report.Match{Peer: "+966500000001"}},
		{ID: "omar2", Match: report.Match{Agent: "ops"}},
	}, "", riyadh)
	st := h.open()
	changed, err := st.Reattribute(context.Background(), h.attr.Fingerprint(), h.attr.CustomerOf, h.attr.DayOf)
	st.Close()
	if err != nil || !changed {
		t.Fatalf("reattribute: %v %v", changed, err)
	}
	got := h.usage()
	if got["omar"].Requests != 4 || got["omar2"].Requests != 2 || got[Unassigned].Requests != 6 || got[Unassigned].FailedRequests != 4 {
		t.Errorf("after mapping change: %+v", got)
	}
	if _, ok := got["owner"]; ok {
		t.Error("owner must disappear from totals")
	}
}

func TestPriceTableFillsMissingCost(t *testing.T) {
	h := newHarness(t)
	h.prices = []Price{{Model: "m1", Input: 2, Output: 10}}
	line := `{"type":"message","id":"%s","timestamp":"2026-11-10T10:00:01.000Z","message":{"role":"assistant","provider":"p","model":"%s","usage":{"input":1000000,"output":100000},"stopReason":"stop"}}` + "\n"
	appendFile(t, h.path("main", "77777777.jsonl"), fmt.Sprintf(header, "77777777")+fmt.Sprintf(line, "a", "m1")+fmt.Sprintf(line, "b", "unknown-model"))
	h.backfill()
	got := h.usage()["owner"]
	if math.Abs(got.CostUSD-3) > 1e-12 || got.Unpriced != 1 || got.Requests != 2 {
		t.Errorf("owner %+v (want $3 priced from the table, 1 unpriced)", got)
	}
}

func TestBadInputIsCountedAndSkipped(t *testing.T) {
	h := newHarness(t)
	p := h.path("main", "88888888.jsonl")
	big := `{"type":"message","message":{"role":"user","content":"` + strings.Repeat("x", 10<<20) + `"}}`
	appendFile(t, p, fmt.Sprintf(header, "88888888")+
		"\x00\x01\x02\xff binary\n"+
		`{"type":"message","id":"t","message":{"role":"assistant","usage":{"input":4`+"\n"+
		call("c1", 10)+
		big+"\n"+
		`{"type":"message","id":"w","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":"abc"}}}`+"\n"+
		call("c2", 20))
	st := h.open()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, MaxLineBytes: 1 << 20}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s, err := m.Backfill(context.Background(), nil, nil)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s.Bad != 4 || s.Inserted != 2 {
		t.Errorf("stats %+v: want 4 bad (binary, truncated, oversized, wrong type) and 2 events", s)
	}
	if got := h.usage()["owner"]; got.Input != 30 {
		t.Errorf("owner %+v", got)
	}
}

func TestRunFollowsLiveFiles(t *testing.T) {
	h := newHarness(t)
	st := h.open()
	defer st.Close()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, Rescan: time.Hour}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, func() { close(ready) }) }()
	<-ready
	requests := func(c string) int64 {
		us, _ := st.UsageByPeriod(context.Background(), "2026-11", c)
		if len(us) == 0 {
			return 0
		}
		return us[0].Requests
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	p := h.path("main", "99999999.jsonl")
	appendFile(t, p, fmt.Sprintf(header, "99999999")+user("+966500000001")+call("c1", 10))
	waitFor("first call", func() bool { return requests("omar") == 1 })
	// A new agent directory appears while running.
	if err := os.MkdirAll(filepath.Join(h.dir, "agents", "ops", "sessions"), 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the new directory's watch be added
	appendFile(t, h.path("ops", "aaaaaaaa.jsonl"), fmt.Sprintf(header, "aaaaaaaa")+call("o1", 10))
	waitFor("new agent's call", func() bool { return requests("salon") == 1 })
	// Rename while following, then the writer appends to the archive.
	if err := os.Rename(p, p+".deleted.2026-11-27T00-00-00.000Z"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p+".deleted.2026-11-27T00-00-00.000Z", call("c2", 10))
	waitFor("call appended after rename", func() bool { return requests("omar") == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Duplicates != 0 || s.Bad != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestSameSizeRewriteWhileRunningIsNoticed(t *testing.T) {
	h := newHarness(t)
	st := h.open()
	defer st.Close()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, Rescan: time.Hour}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	p := h.path("main", "abababab.jsonl")
	appendFile(t, p, fmt.Sprintf(header, "abababab")+call("c1", 10))
	ctx := context.Background()
	m.load(ctx)
	m.startWriter()
	src := m.sources[0]
	src.read(m, p)
	// Rewritten in place to exactly the same size: a different call.
	time.Sleep(10 * time.Millisecond) // a distinct mtime
	if err := os.WriteFile(p, []byte(fmt.Sprintf(header, "abababab")+call("c2", 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	src.read(m, p)
	if err := m.finish(); err != nil {
		t.Fatal(err)
	}
	if got := h.usage()["owner"]; got.Requests != 2 || got.Input != 30 {
		t.Errorf("owner %+v: the same-size rewrite was missed", got)
	}
}

func TestUnreadableFileReportedOnce(t *testing.T) {
	h := newHarness(t)
	if err := syscall.Mkfifo(h.path("main", "fifo.jsonl"), 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	appendFile(t, h.path("main", "cdcdcdcd.jsonl"), fmt.Sprintf(header, "cdcdcdcd")+call("c1", 10))
	st := h.open()
	defer st.Close()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, Rescan: 20 * time.Millisecond}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, nil) }()
	time.Sleep(300 * time.Millisecond) // about 15 rescans
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := m.Stats(); s.Unreadable != 1 || s.Inserted != 1 {
		t.Errorf("stats %+v: the FIFO must be reported once, the good file read", s)
	}
}

func TestJSONLSource(t *testing.T) {
	h := newHarness(t)
	logDir := filepath.Join(t.TempDir(), "proxy")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := SourceConfig{Type: SourceJSONL, Name: "proxy", Path: filepath.Join(logDir, "*.jsonl"), Fields: parser.DefaultFields()}
	line := `{"id":"%s","time":"2026-11-05T10:00:00Z","customer":"%s","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.25}` + "\n"
	// One log with request ids, one without (keyed by file and offset).
	appendFile(t, filepath.Join(logDir, "a.jsonl"), fmt.Sprintf(line, "r1", "salon", 10)+fmt.Sprintf(line, "r2", "+966500000001", 20))
	appendFile(t, filepath.Join(logDir, "b.jsonl"), strings.ReplaceAll(fmt.Sprintf(line, "", "layla", 5), `"id":"",`, "")+"not json\n")
	backfill := func() Stats {
		st := h.open()
		defer st.Close()
		m := New(Config{Sources: []SourceConfig{src}}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
		s, err := m.Backfill(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := backfill(); s.Inserted != 3 || s.Bad != 1 {
		t.Fatalf("stats %+v", s)
	}
	appendFile(t, filepath.Join(logDir, "b.jsonl"), strings.ReplaceAll(fmt.Sprintf(line, "", "layla", 7), `"id":"",`, ""))
	if s := backfill(); s.Inserted != 1 || s.Lines != 1 {
		t.Fatalf("append: stats %+v", s)
	}
	got := h.usage()
	if got["salon"].Input != 10 || got["omar"].Input != 20 || got["layla"].Input != 12 || math.Abs(got["layla"].CostUSD-0.5) > 1e-12 {
		t.Errorf("usage %+v", got)
	}
}

func TestAFileCreatedBeforeItsNewDirectoryIsWatchedIsReadAtOnce(t *testing.T) {
	h := newHarness(t)
	st := h.open()
	defer st.Close()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, Rescan: time.Hour}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	// The file lands in the window between the rescan's listing of the new
	// agent dir and its watch: no event reports it, and the next rescan is
	// an hour away.
	var once sync.Once
	afterListing = func() {
		// MkdirAll below makes ops/ and then ops/sessions/: a rescan woken
		// by the first can list before the second exists.
		if !isDir(filepath.Join(h.dir, "agents", "ops", "sessions")) {
			return
		}
		once.Do(func() {
			appendFile(t, h.path("ops", "bbbbbbbb.jsonl"), fmt.Sprintf(header, "bbbbbbbb")+call("o1", 10))
		})
	}
	defer func() { afterListing = nil }()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, func() { close(ready) }) }()
	<-ready
	if err := os.MkdirAll(filepath.Join(h.dir, "agents", "ops", "sessions"), 0o755); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		us, _ := st.UsageByPeriod(context.Background(), "2026-11", "salon")
		if len(us) == 1 && us[0].Requests == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call in a file created while its new directory was being listed was not read (it waits for the next rescan)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
