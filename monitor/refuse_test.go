package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/parser"
)

// modelCall is an assistant line of a given model; cost "" leaves the cost
// out (the price table then fills it).
func modelCall(id, model string, input int, cost string) string {
	c := ""
	if cost != "" {
		c = `,"cost":{"total":` + cost + `}`
	}
	return fmt.Sprintf(`{"type":"message","id":"%s","timestamp":"2026-11-10T10:00:01.000Z","message":{"role":"assistant","provider":"p","model":"%s","usage":{"input":%d,"output":1%s},"stopReason":"stop"}}`+"\n", id, model, input, c)
}

// TestRefusedEventsAreBadLinesAndIngestGoesOn: events the store refuses
// (SQLite refuses one model's rows; the price table makes another model's
// cost +Inf; a generic log writes "cost":"NaN") are counted as bad lines,
// backfill succeeds, run keeps following, and the totals are exactly those
// of the good calls. Before, one such event failed its batch eight times
// and stopped all metering.
func TestRefusedEventsAreBadLinesAndIngestGoesOn(t *testing.T) {
	h := newHarness(t)
	st := h.open()
	defer st.Close()
	if _, err := st.DB().Exec(`CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.model = 'poison'
		BEGIN SELECT RAISE(ABORT, 'poisoned model'); END`); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(t.TempDir(), "proxy")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	jl := `{"id":"%s","time":"2026-11-05T10:00:00Z","customer":"salon","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":%s}` + "\n"
	appendFile(t, filepath.Join(logDir, "a.jsonl"), fmt.Sprintf(jl, "r1", 100, "0.25")+fmt.Sprintf(jl, "r2", 200, `"NaN"`)+fmt.Sprintf(jl, "r3", 400, "0.25"))
	p := h.path("main", "dededede.jsonl")
	appendFile(t, p, fmt.Sprintf(header, "dededede")+
		modelCall("c1", "m", 10, "0.5")+
		modelCall("c2", "poison", 1000, "0.5")+
		modelCall("c3", "inf-priced", 2000, "")+
		modelCall("c4", "m", 20, "0.5"))
	cfg := Config{
		Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}, {Type: SourceJSONL, Name: "proxy", Path: filepath.Join(logDir, "*.jsonl"), Fields: parser.DefaultFields()}},
		Prices:  []Price{{Model: "inf-priced", Input: math.Inf(1)}},
		Rescan:  time.Hour,
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg, st, h.attr, quiet).Backfill(context.Background(), nil, nil)
	if err != nil {
		t.Fatalf("backfill failed on refused events: %v", err)
	}
	if s.Bad != 3 || s.Inserted != 4 || s.Duplicates != 0 {
		t.Errorf("backfill stats %+v: want 3 bad (poison, +Inf cost, NaN cost) and 4 events", s)
	}
	checkTotals := func(when string, ownerInput int64, ownerRequests int64) {
		t.Helper()
		got := h.usage()
		if o := got["owner"]; o.Requests != ownerRequests || o.Input != ownerInput || math.Abs(o.CostUSD-0.5*float64(ownerRequests)) > 1e-9 || o.Unpriced != 0 {
			t.Errorf("%s: owner %+v, want %d requests, %d input, $%g", when, o, ownerRequests, ownerInput, 0.5*float64(ownerRequests))
		}
		if sa := got["salon"]; sa.Requests != 2 || sa.Input != 500 || math.Abs(sa.CostUSD-0.5) > 1e-9 {
			t.Errorf("%s: salon %+v, want 2 requests, 500 input, $0.5", when, sa)
		}
	}
	checkTotals("after backfill", 30, 2)

	// run: a refused event in a live batch neither stops it nor hides the
	// good call written after it.
	m := New(cfg, st, h.attr, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, func() { close(ready) }) }()
	<-ready
	appendFile(t, p, modelCall("c5", "poison", 1000, "0.5")+modelCall("c6", "m", 40, "0.5"))
	deadline := time.Now().Add(20 * time.Second)
	for h.usage()["owner"].Requests != 3 {
		select {
		case err := <-done:
			t.Fatalf("run stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the good call after a refused one was never counted; stats %+v", m.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	appendFile(t, p, modelCall("c7", "m", 80, "0.5"))
	for h.usage()["owner"].Requests != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("run stopped following after a refused event; stats %+v", m.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if s := m.Stats(); s.Bad != 1 || s.Inserted != 2 {
		t.Errorf("run stats %+v: want 1 bad (the live poison line) and 2 events", s)
	}
	checkTotals("after run", 150, 4)
}
