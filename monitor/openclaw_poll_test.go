package monitor

import (
	"context"
	"io"
	"log/slog"
	"math/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// TestAQuietWatchedOpenClawDatabaseIsPolledOnceASecondAndStillCountsACommit:
// following a database whose directory is watched, run asks SQLite about
// once a second while nothing happens (ten wake-ups a second were the idle
// CPU of following quiet databases), and a commit from another connection
// is still counted: its -wal write is an event, and the polls after it
// run every pollEvery again.
func TestAQuietWatchedOpenClawDatabaseIsPolledOnceASecondAndStillCountsACommit(t *testing.T) {
	root := ocFixture(t, "openclaw-sample")
	db := filepath.Join(root, "state", "agents", "main", "agent", "openclaw-agent.sqlite")
	w := ocWriter(t, db)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := New(Config{Sources: []SourceConfig{{Type: SourceOpenClaw, Dir: filepath.Join(root, "state")}}, Rescan: time.Hour},
		st, ocMapping(t, root), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, func() { close(ready) }) }()
	<-ready
	events := func() int64 {
		n, err := st.EventCount(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := events()

	// The catch-up's read keeps the database hot for ocHotFor; then quiet.
	time.Sleep(ocHotFor + 200*time.Millisecond)
	p0 := ocPolls.Load()
	const quiet = 3 * time.Second
	time.Sleep(quiet)
	polls := ocPolls.Load() - p0
	dbs, _ := filepath.Glob(filepath.Join(root, "state", "agents", "*", "agent", "openclaw-agent.sqlite"))
	n := int64(len(dbs))
	if max := n * (int64(quiet/ocQuietPoll) + 1); polls > max || polls < n {
		t.Errorf("%d polls of %d quiet databases in %v, want %d..%d (one a second each; every %v would be %d)",
			polls, n, quiet, n, max, pollEvery, n*int64(quiet/pollEvery))
	}

	ocAppend(t, w, ocOwnerSession, ocAssistant(ocNewID(rand.New(rand.NewSource(9))), time.Now(), 5, 7, 0.001, 10))
	deadline := time.Now().Add(10 * time.Second)
	for events() != before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("the committed call was not counted: %d events, want %d", events(), before+1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
