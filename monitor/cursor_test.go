package monitor

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/quotawatch/quotawatch/parser"
)

// TestCursorTravelsWithTheEventsOfItsBatch: a source that is not read by
// byte offset records its position with setCursor; the cursor is committed
// by the writer in the same batch as the events added before it, a second
// setCursor for the same item in one batch replaces the first, and a
// monitor started later finds the last committed state at load.
func TestCursorTravelsWithTheEventsOfItsBatch(t *testing.T) {
	h := newHarness(t)
	st := h.open()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}}, st, h.attr, quiet)
	ctx := context.Background()
	if err := m.load(ctx); err != nil {
		t.Fatal(err)
	}
	m.startWriter()
	fs := &fileState{}
	sess := m.sess.get("main", "s1", m.now().UnixMilli())
	ev := parser.Event{Provider: "p", Model: "m", Input: 10, Output: 1, CostUSD: 0.25, Priced: true}
	m.addEvent(fs, sess, "oc/main/s1/e1", &ev)
	m.setCursor("openclaw", "/db", `{"s1":1}`)
	m.addEvent(fs, sess, "oc/main/s1/e2", &ev)
	m.setCursor("openclaw", "/db", `{"s1":2}`)
	if n := len(m.batch.Cursors); n != 1 {
		t.Errorf("%d cursors in the batch for one item, want 1 (the last)", n)
	}
	if err := m.finish(); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.EventCount(ctx); n != 2 {
		t.Errorf("%d events committed, want 2", n)
	}
	st.Close()

	st = h.open()
	defer st.Close()
	m = New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}}, st, h.attr, quiet)
	if err := m.load(ctx); err != nil {
		t.Fatal(err)
	}
	if got, ok := m.cursor("openclaw", "/db"); !ok || got != `{"s1":2}` {
		t.Errorf("cursor after restart %q %v, want the last committed state", got, ok)
	}
	if _, ok := m.cursor("openclaw", "/other"); ok {
		t.Error("a cursor never written was found")
	}
}
