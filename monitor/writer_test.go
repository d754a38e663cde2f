package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// A batch the writer hands back is refilled by flush: nothing it carried
// may be written again (its events counted twice, an old checkpoint
// moving a file back), and its backing arrays must not keep the committed
// events' strings alive.
func TestRecycledBatchIsEmptyAndHoldsNoStrings(t *testing.T) {
	h := newHarness(t)
	st := h.open()
	defer st.Close()
	m := New(Config{BatchEvents: 4}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.spare = make(chan *store.Batch, 1)
	b := &store.Batch{Events: make([]store.Event, 0, 4)}
	b.Events = append(b.Events, store.Event{Key: "k1", Agent: "main", SessionID: "s1", Model: "m"}, store.Event{Key: "k2"})
	b.Checkpoints = append(b.Checkpoints, store.Checkpoint{Path: "/a/b.jsonl", Offset: 10})
	b.Cursors = append(b.Cursors, store.Cursor{Source: "src", Item: "i", State: "{}"})
	b.Sessions = append(b.Sessions, store.Session{Agent: "main", SessionID: "s1"})
	b.Moves = append(b.Moves, store.Move{Agent: "main", SessionID: "s1", Customer: "c"})
	m.recycle(b)
	got := m.newBatch()
	if got != b {
		t.Fatalf("newBatch did not reuse the recycled batch")
	}
	if !got.Empty() {
		t.Fatalf("recycled batch carries %d events, %d checkpoints, %d cursors, %d sessions, %d moves",
			len(got.Events), len(got.Checkpoints), len(got.Cursors), len(got.Sessions), len(got.Moves))
	}
	for i, e := range got.Events[:cap(got.Events)] {
		if e != (store.Event{}) {
			t.Errorf("event slot %d still holds %+v", i, e)
		}
	}
	for i, c := range got.Checkpoints[:cap(got.Checkpoints)] {
		if c.Path != "" {
			t.Errorf("checkpoint slot %d still holds %q", i, c.Path)
		}
	}
	// A batch grown far past BatchEvents is not kept: it would hold its
	// size for the rest of the process.
	big := &store.Batch{Events: make([]store.Event, 0, 9)}
	m.recycle(big)
	if again := m.newBatch(); again == big {
		t.Errorf("a batch of capacity %d (BatchEvents 4) was kept for reuse", cap(big.Events))
	}
}

// A backfill refills the batches the writer has committed instead of
// allocating one (a BatchEvents-long array) for every flush: the batches
// it allocates stay a handful however many it commits.
func TestBackfillReusesCommittedBatches(t *testing.T) {
	h := newHarness(t)
	for f := range 40 {
		id := fmt.Sprintf("abcdef%02d", f)
		lines := fmt.Sprintf(header, id)
		for c := range 20 {
			lines += modelCall(fmt.Sprintf("c%d", c), "m", 10+c, "0.5")
		}
		appendFile(t, h.path("main", id+".jsonl"), lines)
	}
	st := h.open()
	defer st.Close()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, BatchEvents: 4}, st, h.attr,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	s, err := m.Backfill(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Inserted != 800 || m.flushed < 200 {
		t.Fatalf("the sample gave %d events in %d batches: too few to tell reuse from allocation", s.Inserted, m.flushed)
	}
	// In flight at once: one being filled, one queued, one being
	// committed, one spare; a batch that is neither full nor followed by
	// another (a settle's, the last) is not kept.
	if m.made > 8 {
		t.Errorf("backfill allocated %d batches for %d flushes (%d events): committed batches are not reused", m.made, m.flushed, s.Inserted)
	}
}

// A writer with nothing to do drops its spare batches: a following run
// that waits for lines must not hold BatchEvents-long arrays for nothing.
func TestAnIdleWriterKeepsNoSpareBatches(t *testing.T) {
	defer func(d time.Duration) { spareIdle = d }(spareIdle)
	spareIdle = 50 * time.Millisecond
	h := newHarness(t)
	st := h.open()
	defer st.Close()
	m := New(Config{BatchEvents: 4}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.startWriter()
	for range 3 {
		b := m.newBatch()
		b.Events = append(b.Events, store.Event{Key: fmt.Sprintf("k%d", len(m.spare)), Agent: "main", SessionID: "s1", TimeMs: 1, Customer: "c", Day: "2026-11-05", Period: "2026-11"})
		m.batches <- job{b: b}
	}
	<-m.barrier()
	if len(m.spare) == 0 {
		t.Fatalf("the writer kept no committed batch to refill")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(m.spare) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(m.spare); n > 0 {
		t.Errorf("an idle writer still holds %d spare batches after %v", n, 5*time.Second)
	}
	close(m.batches)
	m.wg.Wait()
}

// A large history settles less often than a small one: a settle sorts and
// copies every mark, so with 150,000 marks a settle every settleFiles files
// cost a first backfill 10-20 % more CPU. The threshold rises with the
// marks and stays bounded, so the files held whole stay bounded too.
func TestSettleThresholdRisesWithTheMarksAndIsBounded(t *testing.T) {
	h := newHarness(t)
	st := h.open()
	defer st.Close()
	m := New(Config{}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got := m.settleAt(); got != settleFiles {
		t.Errorf("with no marks a settle comes after %d files, want settleFiles (%d)", got, settleFiles)
	}
	m.quiet.recs = make([]quietRec, 16*settleFiles)
	if got := m.settleAt(); got <= settleFiles || got > 4*settleFiles {
		t.Errorf("with %d marks a settle comes after %d files, want more than %d and at most %d", len(m.quiet.recs), got, settleFiles, 4*settleFiles)
	}
	m.quiet.recs = make([]quietRec, 1000*settleFiles)
	if got := m.settleAt(); got != 4*settleFiles {
		t.Errorf("with %d marks a settle comes after %d files, want the bound %d", len(m.quiet.recs), got, 4*settleFiles)
	}
}

// TestSettlesLetGoOfWhatIsCommittedWithoutWaitingForTheWriter: a backfill
// settles every settleFiles files without stopping to wait for the writer
// (it waited 0.33-0.37 s of a 2.2 s sparse backfill, and the writer then
// waited for the next batch): the files and sessions of committed batches
// are let go at once and those of the batches in flight (at most three
// here, 30 files) at a later settle. The totals stay exact, and a second
// backfill reads nothing.
func TestSettlesLetGoOfWhatIsCommittedWithoutWaitingForTheWriter(t *testing.T) {
	defer func(n int) { settleFiles = n }(settleFiles)
	settleFiles = 64
	h := newHarness(t)
	const files = 400
	for f := range files {
		id := fmt.Sprintf("5e771e%04d", f)
		appendFile(t, h.path("main", id+".jsonl"), fmt.Sprintf(header, id)+modelCall("c1", "m", 10, "0.5"))
	}
	st := h.open()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, BatchEvents: 10}, st, h.attr,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	s, err := m.Backfill(context.Background(), nil, nil)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s.Inserted != files {
		t.Fatalf("inserted %d events, want %d", s.Inserted, files)
	}
	if len(m.quiet.recs) < files/2 {
		t.Errorf("%d files kept as marks after a backfill of %d with a settle every %d: the settles let nothing go", len(m.quiet.recs), files, settleFiles)
	}
	if m.waits != 0 {
		t.Errorf("the backfill's settles waited for the writer %d times, want none", m.waits)
	}
	var req int64
	for _, u := range h.usage() {
		req += u.Requests
	}
	if req != files {
		t.Errorf("usage shows %d requests, want %d", req, files)
	}
	if s := h.backfill(); s.Lines != 0 || s.Inserted != 0 {
		t.Errorf("a second backfill read %d lines and inserted %d", s.Lines, s.Inserted)
	}
}
