package monitor

import (
	"context"
	"io"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// TestFollowingLowersTheGCTargetUnlessGOGCIsSet: once Run follows, the
// collector's target is followGCPercent, the previous one comes back when
// Run returns, and a GOGC the user set is left alone.
func TestFollowingLowersTheGCTargetUnlessGOGCIsSet(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	restore := followGCTarget(func(string) string { return "" })
	if got := debug.SetGCPercent(followGCPercent); got != followGCPercent {
		t.Errorf("following: GC percent %d, want %d", got, followGCPercent)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after Run: GC percent %d, want 100 (restored)", got)
	}
	restore = followGCTarget(func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	defer restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=100 set: GC percent %d, want 100 (the user's)", got)
	}
}

// TestRunFollowsAtTheLowerGCTarget: Run sets it after its catch-up and
// gives the previous one back when it returns.
func TestRunFollowsAtTheLowerGCTarget(t *testing.T) {
	t.Setenv("GOGC", "")
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	h := newHarness(t)
	h.copySample()
	st := h.open()
	defer st.Close()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, Rescan: time.Hour}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan int)
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, func() {
			p := debug.SetGCPercent(-1)
			debug.SetGCPercent(p)
			ready <- p
		})
	}()
	if got := <-ready; got != followGCPercent {
		t.Errorf("following: GC percent %d, want %d", got, followGCPercent)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after Run returned: GC percent %d, want 100", got)
	}
}

// forcedGCs is how many collections were forced (debug.FreeOSMemory is one).
func forcedGCs() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestRunGivesEachScansGarbageBackAWhileAfterIt: a while after the
// catch-up, and again after every rescan, Run gives the heap's free pages
// back to the system (a forced collection each time).
func TestRunGivesEachScansGarbageBackAWhileAfterIt(t *testing.T) {
	defer func(d time.Duration) { releaseAfter = d }(releaseAfter)
	releaseAfter = 10 * time.Millisecond
	h := newHarness(t)
	h.copySample()
	st := h.open()
	defer st.Close()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, Rescan: 100 * time.Millisecond}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan uint64, 1)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, func() { ready <- forcedGCs() }) }()
	base := <-ready
	deadline := time.Now().Add(10 * time.Second)
	for forcedGCs() < base+3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := forcedGCs() - base
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got < 3 {
		t.Errorf("%d forced collections after the catch-up in 10 s of 100 ms rescans; want one after the catch-up and one after each rescan (3 or more)", got)
	}
}

// TestAFollowWithNoSessionStoreChangeHoldsNoReadBuffer: the sessions.json
// reader keeps its 256 KiB read buffer between reads to save allocations;
// the scan's release (releaseAfter) drops it, so a follow that reads no
// sessions.json holds none of it, and the next read works as before.
func TestAFollowWithNoSessionStoreChangeHoldsNoReadBuffer(t *testing.T) {
	old := releaseAfter
	releaseAfter = 20 * time.Millisecond
	t.Cleanup(func() { releaseAfter = old })
	h := newHarness(t)
	h.copySample()
	st := h.open()
	defer st.Close()
	m, stop := runUntilReady(t, h, st)
	defer stop()
	rd := m.storeReader()
	if rd.reads.Load() == 0 {
		t.Fatal("the catch-up read no sessions.json")
	}
	held := func() bool {
		rd.mu.Lock()
		defer rd.mu.Unlock()
		return rd.sc.buf != nil
	}
	for deadline := time.Now().Add(5 * time.Second); held(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%v after the catch-up the sessions.json reader still holds its %d-byte read buffer", 5*time.Second, storeReadBuf)
		}
	}
	if res := rd.read(context.Background(), h.path("main", "sessions.json")); res.err != nil || len(res.entries) != 0 {
		t.Errorf("a read after the release: %d entries, err %v; want none changed, no error", len(res.entries), res.err)
	}
}
