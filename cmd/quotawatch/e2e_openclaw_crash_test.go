package main

// Issue 8's crash-safety acceptance: the OpenClaw variant of
// TestE2ECrashSafety. An OpenClaw-style writer keeps inserting turns (plain
// and compressed), opening windows, compacting sessions in place and
// deleting them into archives while quotawatch run and backfill are
// SIGKILLed again and again; in the end every call is counted exactly once.

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/corpus"
)

// e2eOpenClawStart is the sample's expected totals as a writer's starting
// point, and the customer the sample's mapping.json bills a session key to.
func e2eOpenClawStart(t *testing.T, s e2eOpenClawSample) (*corpus.OpenClawExpected, func(agent, key string) string) {
	t.Helper()
	var mapping struct {
		Customers []struct{ ID, Peer, Agent string }
		Default   string `json:"default_customer"`
	}
	if err := json.Unmarshal(mustRead(t, filepath.Join(s.dir(), "mapping.json")), &mapping); err != nil {
		t.Fatalf("mapping.json: %v", err)
	}
	customer := func(agent, key string) string {
		_, peer := corpus.OpenClawKeyPeer(key)
		for _, c := range mapping.Customers {
			if (c.Peer != "" && c.Peer == peer) || (c.Agent != "" && c.Agent == agent) {
				return c.ID
			}
		}
		return mapping.Default
	}
	start := &corpus.OpenClawExpected{}
	start.Month, start.Timezone, start.DefaultCustomer = e2eMonth, "Asia/Riyadh", mapping.Default
	if err := json.Unmarshal(mustRead(t, filepath.Join(s.dir(), "expected-usage.json")), &start.Totals); err != nil {
		t.Fatal(err)
	}
	return start, customer
}

// e2eExceeds describes every way got is more than want ("" when it is not):
// a customer, a count, a token class or a cost above what was ever written
// is double counting.
func e2eExceeds(got, want map[string]e2eTotals) string {
	var b strings.Builder
	for id, g := range got {
		w := want[id]
		for _, f := range []struct {
			name      string
			got, want int64
		}{
			{"requests", g.Requests, w.Requests},
			{"failed_requests", g.FailedRequests, w.FailedRequests},
			{"input_tokens", g.InputTokens, w.InputTokens},
			{"output_tokens", g.OutputTokens, w.OutputTokens},
			{"cache_read_tokens", g.CacheReadTokens, w.CacheReadTokens},
			{"cache_write_tokens", g.CacheWriteTokens, w.CacheWriteTokens},
		} {
			if f.got > f.want {
				fmt.Fprintf(&b, "  %s: %s = %d, but only %d were written\n", id, f.name, f.got, f.want)
			}
		}
		if g.CostUSD > w.CostUSD+e2eCostEpsilon {
			fmt.Fprintf(&b, "  %s: cost_usd = %.12f, but only %.12f was written\n", id, g.CostUSD, w.CostUSD)
		}
	}
	return b.String()
}

// e2eOCCrashWriter drives an OpenClawWriter from its own goroutine, as
// OpenClaw writes independently of quotawatch. Each step holds mu, so that
// the test can read totals that include every committed row. A compaction
// first asks the test (compact) and waits for its answer: it may delete only
// calls that some quotawatch has stored, since a compacted call no process
// saw is legitimately invisible.
type e2eOCCrashWriter struct {
	w       *corpus.OpenClawWriter
	rng     *rand.Rand
	idx     []int
	mu      sync.Mutex
	compact chan chan struct{} // a compaction waits for the test to close the inner channel
	stop    chan struct{}
	done    chan struct{}
	err     error

	turns, long, windows, compactions, compacted, deletes int
}

// run writes until stop is closed; the first error ends it (in err).
func (c *e2eOCCrashWriter) run(ctx context.Context) {
	defer close(c.done)
	for step := 0; ; step++ {
		select {
		case <-c.stop:
			return
		default:
		}
		i := c.idx[c.rng.IntN(len(c.idx))]
		var err error
		switch {
		case step%25 == 24:
			ok := make(chan struct{})
			select {
			case c.compact <- ok:
			case <-c.stop:
				return
			}
			select {
			case <-ok:
			case <-c.stop:
				return
			}
			c.mu.Lock()
			var n int
			if n, err = c.w.Compact(ctx, i, 1+c.rng.IntN(3), 0); n > 0 {
				c.compactions++
				c.compacted += n
			}
			c.mu.Unlock()
		case step%17 == 9:
			c.mu.Lock()
			if err = c.w.NewWindow(ctx, i); err == nil {
				c.windows++
			}
			c.mu.Unlock()
		case step%40 == 31:
			// A key with a cold window is left alone: try the next one.
			c.mu.Lock()
			at := c.rng.IntN(len(c.idx))
			for k := 0; k < len(c.idx) && err == nil; k++ {
				var paths []string
				if paths, err = c.w.Delete(ctx, c.idx[(at+k)%len(c.idx)]); len(paths) > 0 {
					c.deletes++
					break
				}
			}
			c.mu.Unlock()
		default:
			// About 30 % of the replies are long enough to be compressed.
			long := c.rng.Float64() < 0.3
			c.mu.Lock()
			if _, err = c.w.Turn(ctx, i, long); err == nil {
				c.turns++
				if long {
					c.long++
				}
			}
			c.mu.Unlock()
		}
		if err != nil {
			c.err = fmt.Errorf("writer step %d: %w", step, err)
			return
		}
		time.Sleep(time.Duration(5+c.rng.IntN(25)) * time.Millisecond)
	}
}

// expected is every call committed so far: the step lock makes sure the
// row of a finished commit is booked.
func (c *e2eOCCrashWriter) expected(t *testing.T) map[string]e2eTotals {
	t.Helper()
	c.mu.Lock()
	e := c.w.Expected()
	c.mu.Unlock()
	return e2eCorpusTotals(t, e)
}

func TestE2ECrashSafetyOpenClaw(t *testing.T) {
	ctx := context.Background()
	seed := e2eSeed(t)
	rng := rand.New(rand.NewPCG(seed, 8))
	s := e2eOpenClawSamples[1]
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, filepath.Join(s.dir(), "state"), state)
	db := filepath.Join(dir, "quotawatch.db")
	// Each start gets another batch size, so kills land between commits of
	// every size.
	config := func(batch int) string {
		return s.writeConfig(t, dir, e2eOpenClawSourceYAML(state)+fmt.Sprintf("monitor: {batch_events: %d}\n", batch))
	}

	start, customer := e2eOpenClawStart(t, s)
	w, err := corpus.OpenOpenClawWriter(ctx, corpus.OpenClawWriterOptions{Dir: state, Expected: start, Seed: seed, Customer: customer})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	idx := w.PickSessions(5)
	if len(idx) < 2 {
		t.Fatalf("only %d sessions to write to", len(idx))
	}
	c := &e2eOCCrashWriter{w: w, rng: rand.New(rand.NewPCG(seed, 9)), idx: idx,
		compact: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run(ctx)
	stopWriter := sync.OnceFunc(func() {
		close(c.stop)
		<-c.done
	})
	defer stopWriter()

	// converge lets p run until the stored usage is the writer's total (the
	// writer is paused, waiting to compact).
	converge := func(i int, cfg string, p *e2eProc) {
		t.Helper()
		want := e2eCorpusTotals(t, w.Expected())
		deadline := time.Now().Add(30 * time.Second)
		for {
			diff := e2eDiff(e2eUsageSoFar(t, cfg, db), want)
			if diff == "" {
				return
			}
			if p.exited() {
				p.checkRace(t)
				t.Fatalf("iteration %d: %s exited (code %d) before catching up:\n%s\nstderr:\n%s", i, p, p.code(), diff, e2eTail(p.stderr.String(), 40))
			}
			if time.Now().After(deadline) {
				t.Fatalf("iteration %d: %s did not catch up before a compaction:\n%s\nstderr:\n%s", i, p, diff, e2eTail(p.stderr.String(), 40))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	const iterations = 20
	kills, midway, compactionsGranted := 0, 0, 0
	began := time.Now()
	for i := range iterations {
		cfg := config([]int{1, 7, 64, 500, 2000}[rng.IntN(5)])
		var ask chan struct{}
		select {
		case ask = <-c.compact:
		default:
		}
		var p *e2eProc
		if ask != nil {
			// The writer waits to compact: a run stores everything first.
			// The compaction then lands either while it follows, or after
			// it was killed, so that the next start finds rows renumbered
			// under its cursor and new rows after them.
			p = e2eStart(t, "--config", cfg, "--db", db, "run")
			converge(i, cfg, p)
			if rng.IntN(2) == 0 {
				if code := p.signal(t, syscall.SIGKILL, 30*time.Second); code != -1 && code != 0 {
					t.Fatalf("iteration %d: %s exited %d before the kill\nstderr:\n%s", i, p, code, e2eTail(p.stderr.String(), 40))
				}
				kills++
				p = nil
				// Let the compaction and a few turns land unseen.
				close(ask)
				time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
			} else {
				close(ask)
			}
			compactionsGranted++
		}
		before := c.expected(t)
		switch {
		case p != nil:
		case i%4 == 3:
			p = e2eStart(t, "--config", cfg, "--db", db, "backfill", "--no-progress")
		default:
			p = e2eStart(t, "--config", cfg, "--db", db, "run")
		}
		// 0-400 ms, mostly short, so that kills land while catching up,
		// between batches and while following.
		u := rng.Float64()
		time.Sleep(time.Duration(u * u * float64(400*time.Millisecond)))
		code := p.signal(t, syscall.SIGKILL, 30*time.Second)
		if code != -1 && code != 0 {
			t.Fatalf("iteration %d: %s exited %d before the kill\nstderr:\n%s", i, p, code, e2eTail(p.stderr.String(), 40))
		}
		kills++
		if e := p.stderr.String(); strings.Contains(e, "bad line") || strings.Contains(e, "bad row") {
			t.Fatalf("iteration %d: %s found bad input in well-formed OpenClaw databases:\n%s", i, p, e2eTail(e, 20))
		}
		// Whatever was committed must never exceed what was written: usage
		// first, then the totals (a row stored is a row already booked).
		got := e2eUsageSoFar(t, cfg, db)
		written := c.expected(t)
		if over := e2eExceeds(got, written); over != "" {
			t.Fatalf("iteration %d: after killing %s, more is stored than was ever written (double counting):\n%s", i, p, over)
		}
		if g, w := e2eSum(got), e2eSum(before); g.Requests+g.FailedRequests < w.Requests+w.FailedRequests {
			midway++ // killed before storing what was there when it started
		}
		if isDone(c.done) && c.err != nil {
			t.Fatal(c.err)
		}
	}
	stopWriter()
	if c.err != nil {
		t.Fatal(c.err)
	}
	t.Logf("%d SIGKILLs (%d of %d stopped before storing what was there at their start), %d compactions granted; writer: %d turns (%d long), %d new windows, %d compactions deleting %d calls, %d deletes (%s)",
		kills, midway, iterations, compactionsGranted, c.turns, c.long, c.windows, c.compactions, c.compacted, c.deletes, time.Since(began).Round(time.Millisecond))
	if c.turns == 0 || c.windows == 0 || c.compactions == 0 || c.deletes == 0 {
		t.Fatalf("the writer did not do everything a crash should meet: %d turns, %d windows, %d compactions, %d deletes",
			c.turns, c.windows, c.compactions, c.deletes)
	}

	// A final run catches up to exactly what was written.
	want := e2eCorpusTotals(t, w.Expected())
	cfg := config(500)
	p := e2eStart(t, "--config", cfg, "--db", db, "run")
	p.waitLog(t, "caught up; following", time.Minute)
	e2eWaitUsage(t, cfg, db, want, 30*time.Second, p)
	if busy, errs := w.Busy(); busy != 0 {
		t.Fatalf("OpenClaw's writer met SQLITE_BUSY %d times while quotawatch was killed and restarted: %v", busy, errs)
	}
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("run: exit %d after SIGTERM\n%s", code, e2eTail(p.stderr.String(), 20))
	}
	if st, _ := e2eBackfill(t, cfg, db); st.NewEvents != 0 || st.Bad != 0 {
		t.Fatalf("backfill after the final run: %+v, want no new event and no bad line", st)
	}
	if diff := e2eDiff(e2eUsage(t, cfg, db), want); diff != "" {
		t.Fatalf("after %d kills, final usage differs from what the writer wrote:\n%s", kills, diff)
	}
}

func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
