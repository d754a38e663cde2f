package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
)

// backfillProcess runs one monitor over the state dir, as a fresh process
// would, and returns how many sessions its session store reads handed out.
func (h *harness) backfillProcess() (handed int64) {
	h.t.Helper()
	st := h.open()
	defer st.Close()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, Prices: h.prices}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := m.Backfill(context.Background(), nil, nil); err != nil {
		h.t.Fatal(err)
	}
	if m.follow.rd == nil {
		return 0
	}
	return m.follow.rd.handed.Load()
}

// TestRestartHandsOutNoSessionStoreEntryTheStoreAlreadyHolds: the first
// read of a sessions.json after a start hands out only the sessions whose
// attribution differs from what the store holds (none, when nothing
// changed), since each one handed out is read back from the store.
func TestRestartHandsOutNoSessionStoreEntryTheStoreAlreadyHolds(t *testing.T) {
	h := newHarness(t)
	h.copySample()
	if n := h.backfillProcess(); n == 0 {
		t.Fatal("the first process handed out no session: the sample's session stores were not read")
	}
	if n := h.backfillProcess(); n != 0 {
		t.Errorf("the restart handed out %d sessions the store already held as they are; want 0", n)
	}
	checkSample(t, h.usage())
}

// TestRestartStillAppliesASessionStoreEntryChangedWhileDown: an entry that
// changed while nothing ran is handed out at the next start, and moves the
// session's history to its new customer; the unchanged one is not.
func TestRestartStillAppliesASessionStoreEntryChangedWhileDown(t *testing.T) {
	h := newHarness(t)
	a, b := "77777777-aaaa", "77777777-bbbb"
	appendFile(t, h.path("main", a+".jsonl"), fmt.Sprintf(header, a)+call("a1", 10))
	appendFile(t, h.path("main", b+".jsonl"), fmt.Sprintf(header, b)+call("b1", 10))
	sessions := func(peerA string) {
		t.Helper()
		s := fmt.Sprintf(`{"agent:main:whatsapp:dm:%s":{"sessionId":%q,"updatedAt":1},
			"agent:main:whatsapp:dm:+966500000003":{"sessionId":%q,"updatedAt":1}}`, peerA, a, b)
		if err := os.WriteFile(h.path("main", "sessions.json"), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sessions("+966500000001")
	h.backfillProcess()
	if got := h.usage(); got["omar"].Requests != 1 || got["khalid"].Requests != 1 {
		t.Fatalf("before: %+v", got)
	}
	sessions("+966500000002") // a's chat is now layla's
	if n := h.backfillProcess(); n != 1 {
		t.Errorf("the restart handed out %d sessions; want 1 (the one that changed)", n)
	}
	got := h.usage()
	if got["layla"].Requests != 1 || got["omar"].Requests != 0 || got["khalid"].Requests != 1 {
		t.Errorf("after the change while down: %+v", got)
	}
}

// TestASessionWhoseHashIsStoredButNotItselfIsNew: the stored-session set
// holds 32-bit hashes, so a session never stored can share one with a
// stored session; the store is then asked, finds nothing, and the session
// is new (attributed by its agent, written with the next batch).
func TestASessionWhoseHashIsStoredButNotItselfIsNew(t *testing.T) {
	h := newHarness(t)
	st := h.open()
	defer st.Close()
	failed := func(err error) { t.Errorf("read back: %v", err) }
	s, err := newStoredSessions(context.Background(), h.attr, st, failed)
	if err != nil {
		t.Fatal(err)
	}
	s.stored.sorted = append(s.stored.sorted, s.hash("ops", "ghost")) // as if a stored session shared it
	st0 := s.get("ops", "ghost", 1)
	if st0.Origin != originName || st0.Customer != "salon" || !st0.dirty {
		t.Errorf("session sharing a stored hash: %+v; want a new session of agent ops, billed to salon, to be written", st0)
	}
}
