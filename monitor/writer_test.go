package monitor

import (
	"io"
	"log/slog"
	"testing"

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
