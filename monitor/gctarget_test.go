package monitor

import (
	"context"
	"io"
	"log/slog"
	"runtime/debug"
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
