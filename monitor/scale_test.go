package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// inotifyWatches counts the inotify watches this process holds.
func inotifyWatches(t *testing.T) int {
	t.Helper()
	fds, err := filepath.Glob("/proc/self/fdinfo/*")
	if err != nil || len(fds) == 0 {
		t.Skip("no /proc/self/fdinfo here")
	}
	n := 0
	for _, fd := range fds {
		data, err := os.ReadFile(fd)
		if err != nil {
			continue
		}
		n += strings.Count(string(data), "inotify wd:")
	}
	return n
}

// TestThousandFilesFewGoroutinesFewWatches follows 1,000 session files in
// 4 agents: the goroutines and inotify watches must not grow with files.
func TestThousandFilesFewGoroutinesFewWatches(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 1000; i++ {
		agent := fmt.Sprintf("agent%d", i%4)
		id := fmt.Sprintf("%08d-0000", i)
		p := h.path(agent, id+".jsonl")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		appendFile(t, p, fmt.Sprintf(header, id)+call("c", 1))
	}
	before := runtime.NumGoroutine()
	watchesBefore := inotifyWatches(t)
	st := h.open()
	defer st.Close()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, Rescan: time.Hour}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, func() { close(ready) }) }()
	<-ready
	goroutines := runtime.NumGoroutine() - before
	watches := inotifyWatches(t) - watchesBefore
	if n, _ := st.EventCount(context.Background()); n != 1000 {
		t.Errorf("%d events, want 1000", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// state dir + agents dir + 5 × (agent dir + sessions dir) = 12 watches
	// (the harness's own agent "main" and the 4 agents here).
	if watches > 12 {
		t.Errorf("%d inotify watches for 1,000 files in 5 agents, want at most 12", watches)
	}
	if goroutines > 20 {
		t.Errorf("%d extra goroutines while following 1,000 files", goroutines)
	}
	t.Logf("1,000 files: %d extra goroutines, %d inotify watches", goroutines, watches)
}
