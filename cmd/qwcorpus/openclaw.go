package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/internal/corpus"
)

// kindOf finds -kind in args (before the flags are parsed, to choose the
// flag set): "clawdbot" unless -kind openclaw is given.
func kindOf(args []string) string {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if v, ok := strings.CutPrefix(a, "kind="); ok {
			return v
		}
		if a == "kind" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return "clawdbot"
}

// generateOpenClaw writes an OpenClaw 2026.9.6 state directory.
func generateOpenClaw(args []string) error {
	fs := flag.NewFlagSet("qwcorpus -kind openclaw", flag.ContinueOnError)
	fs.String("kind", "openclaw", "clawdbot or openclaw")
	out := fs.String("out", "", "state directory to create (required; must not exist or be empty)")
	size := fs.Float64("size", 0, "approximate transcript megabytes (MiB, as JSONL)")
	files := fs.Int("files", 0, "number of session windows (transcripts)")
	agents := fs.Int("agents", 3, "number of agents (one database each)")
	peers := fs.Int("peers", 0, "WhatsApp DM customers (default windows/20)")
	seed := fs.Uint64("seed", 1, "random seed")
	month := fs.String("month", "2026-11", "billing month YYYY-MM every call falls in")
	tz := fs.String("timezone", "Asia/Riyadh", "billing timezone")
	share := fs.Float64("compressed", corpus.DefaultCompressedShare, "share of assistant calls long enough to be stored compressed (negative: none)")
	cold := fs.Bool("cold", false, "move idle sessions to cold storage (sessions/cold/*.jsonl.zst)")
	stateDB := fs.Bool("state-db", false, "also write state/openclaw.sqlite (agent_databases)")
	custom := fs.Bool("custom-location", false, "agent databases in custom-store/, found only through agent_databases")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || (*size <= 0 && *files <= 0) {
		fs.Usage()
		return errors.New("need -out and -size or -files")
	}
	if ents, err := os.ReadDir(*out); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s is not empty", *out)
	}
	if *share == 0 {
		*share = -1 // 0 asked for means none, not the default
	}
	start := time.Now()
	exp, err := corpus.GenerateOpenClaw(corpus.OpenClawOptions{
		Options: corpus.Options{Dir: *out, Bytes: int64(*size * (1 << 20)), Files: *files, Agents: *agents,
			Peers: *peers, Seed: *seed, Month: *month, Timezone: *tz},
		CompressedShare: *share, ColdStorage: *cold, StateDB: *stateDB, CustomLocation: *custom})
	if err != nil {
		return err
	}
	if err := exp.WriteExpected(filepath.Join(*out, "expected.json")); err != nil {
		return err
	}
	abs, err := filepath.Abs(*out)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", *out, err)
	}
	if err := os.WriteFile(filepath.Join(*out, "quotawatch.yaml"), []byte(exp.Config(abs)), 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	st := exp.OpenClaw
	fmt.Fprintf(os.Stderr, "qwcorpus: OpenClaw state: %d databases, %d windows of %d keys, %.1f MiB as JSONL (%.1f MiB on disk), "+
		"%d rows (%d compressed; %d of %d call rows), %d archive files, %d archive rows, %d cold, %d calls, %d customers in %s\n",
		len(st.Databases), exp.Files, st.Keys, float64(exp.Bytes)/(1<<20), float64(st.DiskBytes)/(1<<20), st.Rows,
		st.CompressedRows, st.CompressedCallRows, st.CallRows, st.ArchiveFiles, st.ArchiveRows, st.ColdFiles+st.ColdBlobs,
		exp.Calls, len(exp.Totals), time.Since(start).Round(time.Millisecond))
	return nil
}

// openClawLiveResult is what `qwcorpus live -kind openclaw` prints (JSON).
type openClawLiveResult struct {
	corpus.OpenClawLiveResult
	Sessions   int     `json:"sessions"`
	Rate       float64 `json:"rate_calls_per_s"`
	Seen       int     `json:"seen"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Maxms      float64 `json:"max_ms"`
	PollMedian float64 `json:"poll_median_ms"`
	Polls      int     `json:"polls"`
	// Exact is true when quotawatch's usage equals the writer's expected
	// totals for every customer at the end (calls deleted by compaction
	// included).
	Exact bool   `json:"exact"`
	Diff  string `json:"diff,omitempty"`
}

// liveOpenClaw writes to a generated OpenClaw state the way OpenClaw does
// (its own WAL connection: turns, resets, compactions, deletes) while
// polling `quotawatch usage --format json`, and reports how long each call
// took to become visible there, whether the totals are exact, and how often
// the writer met SQLITE_BUSY. quotawatch run must already be following it.
func liveOpenClaw(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("qwcorpus live -kind openclaw", flag.ContinueOnError)
	fs.String("kind", "openclaw", "clawdbot or openclaw")
	out := fs.String("out", "", "generated state directory (holds expected.json)")
	qw := fs.String("qw", "bin/quotawatch", "quotawatch binary")
	cfg := fs.String("config", "", "quotawatch config")
	db := fs.String("db", "", "quotawatch database")
	rate := fs.Float64("rate", 100, "calls committed per second, over all sessions")
	dur := fs.Duration("duration", 20*time.Second, "how long to write")
	sessions := fs.Int("files", 10, "number of sessions written to (one customer each)")
	seed := fs.Uint64("seed", 1, "random seed of the lines written")
	share := fs.Float64("compressed", corpus.DefaultCompressedShare, "share of replies long enough to be compressed")
	resetEvery := fs.Int("reset-every", 200, "every N calls, a new window for the same key (0: never)")
	lineEvery := fs.Int("reset-line-every", 300, "every N calls, a sessions.reset line (0: never)")
	compactEvery := fs.Int("compact-every", 250, "every N calls, an in-place compaction (0: never)")
	deleteEvery := fs.Int("delete-every", 500, "every N calls, a session key deleted into .zst archives (0: never)")
	minAge := fs.Duration("compact-min-age", 2*time.Second, "rows younger than this are kept by a compaction")
	busyTimeout := fs.Duration("busy-timeout", 0, "the writer's busy_timeout (0: every SQLITE_BUSY is counted)")
	tol := fs.Float64("tolerance", 1e-6, "cost tolerance in USD")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *cfg == "" || *db == "" {
		return errors.New("usage: qwcorpus live -kind openclaw -out DIR -qw BIN -config FILE -db FILE")
	}
	exp, err := corpus.ReadOpenClawExpected(filepath.Join(*out, "expected.json"))
	if err != nil {
		return err
	}
	w, err := corpus.OpenOpenClawWriter(ctx, corpus.OpenClawWriterOptions{Dir: *out, Expected: exp, Seed: *seed,
		CompressedShare: *share, BusyTimeout: *busyTimeout})
	if err != nil {
		return err
	}
	defer w.Close()
	usage := func() (map[string]corpus.Totals, error) { return quotawatchUsage(ctx, *qw, *cfg, *db, exp.Month) }
	base, err := usage()
	if err != nil {
		return err
	}
	var mu sync.Mutex
	committed := map[string][]time.Time{} // per customer, when each call was committed
	done := make(chan error, 1)
	var res *corpus.OpenClawLiveResult
	go func() {
		var err error
		res, err = corpus.RunOpenClawLive(ctx, w, corpus.OpenClawLiveOptions{Rate: *rate, Duration: *dur, Sessions: *sessions,
			ResetEvery: *resetEvery, ResetLineEvery: *lineEvery, CompactEvery: *compactEvery, DeleteEvery: *deleteEvery,
			CompactMinAge: *minAge, OnCommit: func(r corpus.LiveRow) {
				mu.Lock()
				committed[r.Customer] = append(committed[r.Customer], r.At)
				mu.Unlock()
			}})
		done <- err
	}()
	var lat, polls []time.Duration
	seen := map[string]int{}
	writing := true
	deadline := time.Now().Add(*dur + 30*time.Second)
	for {
		if writing {
			select {
			case err := <-done:
				if err != nil {
					return err
				}
				writing = false
			default:
			}
		}
		t0 := time.Now()
		got, err := usage()
		if err != nil {
			return err
		}
		t1 := time.Now()
		polls = append(polls, t1.Sub(t0))
		mu.Lock()
		all := !writing
		for c, times := range committed {
			n := int(got[c].Requests - base[c].Requests)
			for ; seen[c] < n && seen[c] < len(times); seen[c]++ {
				lat = append(lat, t1.Sub(times[seen[c]]))
			}
			if seen[c] < len(times) {
				all = false
			}
		}
		mu.Unlock()
		if all || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if writing {
		if err := <-done; err != nil {
			return err
		}
	}
	final, err := usage()
	if err != nil {
		return err
	}
	r := openClawLiveResult{OpenClawLiveResult: *res, Sessions: *sessions, Rate: *rate, Seen: len(lat), Polls: len(polls)}
	r.Busy, r.BusyErrors = w.Busy()
	r.MaxWALBytes = w.MaxWALBytes()
	r.Exact = true
	if err := w.Expected().Compare(final, *tol); err != nil {
		r.Exact, r.Diff = false, err.Error()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	sort.Slice(polls, func(i, j int) bool { return polls[i] < polls[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	if len(lat) > 0 {
		r.P50ms = ms(lat[len(lat)/2])
		r.P99ms = ms(lat[min(len(lat)-1, len(lat)*99/100)])
		r.Maxms = ms(lat[len(lat)-1])
	}
	r.PollMedian = ms(polls[len(polls)/2])
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return fmt.Errorf("print result: %w", err)
	}
	if r.Seen != r.Turns || !r.Exact {
		return fmt.Errorf("saw %d of %d calls (exact=%v)", r.Seen, r.Turns, r.Exact)
	}
	if r.Busy > 0 {
		return fmt.Errorf("the writer met SQLITE_BUSY %d times: %v", r.Busy, r.BusyErrors)
	}
	return nil
}
