package main

// End-to-end acceptance tests of issue 2: they build the real quotawatch
// binary once per test process and drive it as a user would, over copies of
// the bundled Clawdbot sample (testdata/clawdbot-sample) and over corpora
// generated here whose expected totals are computed while writing them.
//
// Every top-level name here starts with e2e (alerts_e2e_test.go uses that
// prefix too: e2eEnv, e2eWA, e2eAlert, e2eToken are its own).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	e2eSampleDir   = "../../testdata/clawdbot-sample"
	e2eDemoConfig  = "../../testdata/demo.yaml"
	e2eMonth       = "2026-11"
	e2eCostEpsilon = 1e-9
	// e2eCmdTimeout bounds one-shot commands: a command still running after
	// it has hung, whatever the machine's load.
	e2eCmdTimeout = 2 * time.Minute
)

// ---------------------------------------------------------------------------
// Building and running the binary.

var e2eBin struct {
	once sync.Once
	path string
	err  error
}

// e2eBinary builds quotawatch once per test process (with -race when the
// tests themselves run with -race, so the daemon's goroutines are checked
// too) and returns its path.
func e2eBinary(t *testing.T) string {
	t.Helper()
	e2eBin.once.Do(func() { e2eBin.path, e2eBin.err = e2eBuild() })
	if e2eBin.err != nil {
		t.Fatalf("build quotawatch: %v", e2eBin.err)
	}
	return e2eBin.path
}

func e2eRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func e2eBuild() (string, error) {
	// There is no hook after the last test without a TestMain (which other
	// files of this package may want), so each build directory records its
	// test process and later runs remove those whose process has ended.
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), "quotawatch-e2e-bin-*"))
	for _, d := range old {
		b, err := os.ReadFile(filepath.Join(d, "pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(string(b)); err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(d)
		}
	}
	dir, err := os.MkdirTemp("", "quotawatch-e2e-bin-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return "", err
	}
	goTool, err := exec.LookPath("go") // go test puts $GOROOT/bin first on PATH
	if err != nil {
		return "", fmt.Errorf("find the go command: %w", err)
	}
	bin := filepath.Join(dir, "quotawatch")
	args := []string{"build", "-o", bin}
	if e2eRaceEnabled() {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool, append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// e2eChildEnv is the children's environment: no QUOTAWATCH_* overrides from the
// developer's shell, and no one-second sleep at exit under the race detector.
func e2eChildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "QUOTAWATCH_") || strings.HasPrefix(kv, "GORACE=") {
			continue
		}
		env = append(env, kv)
	}
	gorace := "atexit_sleep_ms=0"
	if v := os.Getenv("GORACE"); v != "" {
		gorace = v + " " + gorace
	}
	return append(env, "GORACE="+gorace)
}

// e2eSyncBuffer collects a child's output while it runs.
type e2eSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *e2eSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *e2eSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// e2eProc is a running quotawatch.
type e2eProc struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr e2eSyncBuffer
	done           chan struct{}
	raceChecked    bool
}

// e2eStart starts quotawatch; the test's cleanup kills it if still running.
func e2eStart(t *testing.T, args ...string) *e2eProc {
	t.Helper()
	p := &e2eProc{args: args, done: make(chan struct{})}
	p.cmd = exec.Command(e2eBinary(t), args...)
	p.cmd.Env = append(e2eChildEnv(), e2eExtraEnv...)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start quotawatch %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *e2eProc) String() string { return "quotawatch " + strings.Join(p.args, " ") }

func (p *e2eProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// code is the exit code (-1 when killed by a signal); only after done.
func (p *e2eProc) code() int { return p.cmd.ProcessState.ExitCode() }

// checkRace fails the test when the race detector reported anything.
func (p *e2eProc) checkRace(t *testing.T) {
	t.Helper()
	if p.raceChecked {
		return
	}
	p.raceChecked = true
	if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
		t.Errorf("%s: the race detector reported a data race:\n%s", p, p.stderr.String())
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *e2eProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s: still running after %s (hung?); killed.\nstderr:\n%s", p, timeout, e2eTail(p.stderr.String(), 40))
	}
	p.checkRace(t)
	return p.code()
}

// signal sends sig and waits for the exit code.
func (p *e2eProc) signal(t *testing.T, sig syscall.Signal, timeout time.Duration) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("%s: send %v: %v", p, sig, err)
	}
	return p.wait(t, timeout)
}

// waitLog waits until stderr contains want; it fails if the process exits
// first or nothing comes within timeout.
func (p *e2eProc) waitLog(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.stderr.String(), want) {
		if p.exited() {
			p.checkRace(t)
			t.Fatalf("%s exited (code %d) before logging %q.\nstderr:\n%s", p, p.code(), want, e2eTail(p.stderr.String(), 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q within %s.\nstderr:\n%s", p, want, timeout, e2eTail(p.stderr.String(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// e2eResult is what a one-shot command did.
type e2eResult struct {
	Code           int
	Stdout, Stderr string
}

// e2eExec runs a one-shot command to its end.
func e2eExec(t *testing.T, args ...string) e2eResult {
	t.Helper()
	p := e2eStart(t, args...)
	code := p.wait(t, e2eCmdTimeout)
	return e2eResult{Code: code, Stdout: p.stdout.String(), Stderr: p.stderr.String()}
}

func e2eTail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = append([]string{fmt.Sprintf("... (%d lines before)", len(ls)-lines)}, ls[len(ls)-lines:]...)
	}
	return strings.Join(ls, "\n")
}

// ---------------------------------------------------------------------------
// Usage and backfill output.

// e2eTotals is one customer's month, as `usage --format json` prints it and
// as expected-usage.json states it (which has no unpriced_requests: 0).
type e2eTotals struct {
	Requests         int64   `json:"requests"`
	FailedRequests   int64   `json:"failed_requests"`
	InputTokens      int64   `json:"input_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	CacheReadTokens  int64   `json:"cache_read_tokens"`
	CacheWriteTokens int64   `json:"cache_write_tokens"`
	CostUSD          float64 `json:"cost_usd"`
	UnpricedRequests int64   `json:"unpriced_requests"`
}

func (x *e2eTotals) add(y e2eTotals) {
	x.Requests += y.Requests
	x.FailedRequests += y.FailedRequests
	x.InputTokens += y.InputTokens
	x.OutputTokens += y.OutputTokens
	x.CacheReadTokens += y.CacheReadTokens
	x.CacheWriteTokens += y.CacheWriteTokens
	x.CostUSD += y.CostUSD
	x.UnpricedRequests += y.UnpricedRequests
}

func (x e2eTotals) isZero() bool { return x == e2eTotals{} }

// e2eSum adds up every customer.
func e2eSum(m map[string]e2eTotals) e2eTotals {
	var s e2eTotals
	for _, v := range m {
		s.add(v)
	}
	return s
}

// e2eDiff describes every difference between got and want ("" when equal).
// A customer absent from want must have no usage at all in got.
func e2eDiff(got, want map[string]e2eTotals) string {
	ids := map[string]bool{}
	for id := range got {
		ids[id] = true
	}
	for id := range want {
		ids[id] = true
	}
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	var b strings.Builder
	for _, id := range sorted {
		g, inGot := got[id]
		w, inWant := want[id]
		if !inWant && g.isZero() {
			continue
		}
		if !inGot {
			fmt.Fprintf(&b, "  %s: missing from usage (want %+v)\n", id, w)
			continue
		}
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
			{"unpriced_requests", g.UnpricedRequests, w.UnpricedRequests},
		} {
			if f.got != f.want {
				fmt.Fprintf(&b, "  %s: %s = %d, want %d\n", id, f.name, f.got, f.want)
			}
		}
		if math.Abs(g.CostUSD-w.CostUSD) > e2eCostEpsilon {
			fmt.Fprintf(&b, "  %s: cost_usd = %.12f, want %.12f\n", id, g.CostUSD, w.CostUSD)
		}
	}
	return b.String()
}

// e2eExpected reads testdata/clawdbot-sample/expected-usage.json.
func e2eExpected(t *testing.T) map[string]e2eTotals {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e2eSampleDir, "expected-usage.json"))
	if err != nil {
		t.Fatalf("read expected usage: %v", err)
	}
	var want map[string]e2eTotals
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("parse expected-usage.json: %v", err)
	}
	if len(want) == 0 {
		t.Fatal("expected-usage.json lists no customer")
	}
	return want
}

// e2eUsage runs `usage --format json --month 2026-11` and returns the rows
// by customer.
func e2eUsage(t *testing.T, cfg, db string) map[string]e2eTotals {
	t.Helper()
	r := e2eExec(t, "--config", cfg, "--db", db, "usage", "--format", "json", "--month", e2eMonth)
	if r.Code != 0 {
		t.Fatalf("quotawatch usage: exit %d\nstderr:\n%s", r.Code, r.Stderr)
	}
	var rows []struct {
		Customer string `json:"customer"`
		Period   string `json:"period"`
		e2eTotals
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil {
		t.Fatalf("quotawatch usage --format json: stdout is not a JSON array of rows: %v\nstdout:\n%s", err, r.Stdout)
	}
	out := map[string]e2eTotals{}
	for _, row := range rows {
		if _, dup := out[row.Customer]; dup {
			t.Fatalf("quotawatch usage: customer %q listed twice:\n%s", row.Customer, r.Stdout)
		}
		if row.Period != e2eMonth {
			t.Fatalf("quotawatch usage --month %s: row of %q has period %q", e2eMonth, row.Customer, row.Period)
		}
		out[row.Customer] = row.e2eTotals
	}
	return out
}

// e2eUsageSoFar is e2eUsage for a database a kill may have left before its
// migrations committed (they land together, so it is then empty): the read
// commands never create or migrate one and say so, which here means nothing
// is stored yet.
func e2eUsageSoFar(t *testing.T, cfg, db string) map[string]e2eTotals {
	t.Helper()
	r := e2eExec(t, "--config", cfg, "--db", db, "usage", "--format", "json", "--month", e2eMonth)
	if r.Code == 1 && strings.Contains(r.Stderr, "no database at") {
		return map[string]e2eTotals{}
	}
	return e2eUsage(t, cfg, db)
}

// e2eWaitUsage polls usage until it equals want.
func e2eWaitUsage(t *testing.T, cfg, db string, want map[string]e2eTotals, timeout time.Duration, p *e2eProc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		diff := e2eDiff(e2eUsage(t, cfg, db), want)
		if diff == "" {
			return
		}
		if p != nil && p.exited() {
			p.checkRace(t)
			t.Fatalf("%s exited (code %d) before usage converged:\n%s\nstderr:\n%s", p, p.code(), diff, e2eTail(p.stderr.String(), 40))
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("usage did not converge within %s; still different:\n%s", timeout, diff)
			if p != nil {
				msg += "\nstderr of " + p.String() + ":\n" + e2eTail(p.stderr.String(), 60)
			}
			t.Fatal(msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// e2eBackfillStats is `backfill --format json`.
type e2eBackfillStats struct {
	Files      int64 `json:"files"`
	Unreadable int64 `json:"unreadable_files"`
	Lines      int64 `json:"lines"`
	NewEvents  int64 `json:"new_events"`
	Duplicates int64 `json:"duplicates"`
	Synthetic  int64 `json:"synthetic_skipped"`
	Bad        int64 `json:"bad_lines"`
}

// e2eBackfill runs `backfill --format json [PATH...]` to its end (exit 0).
func e2eBackfill(t *testing.T, cfg, db string, paths ...string) (e2eBackfillStats, e2eResult) {
	t.Helper()
	args := append([]string{"--config", cfg, "--db", db, "backfill", "--format", "json", "--no-progress"}, paths...)
	r := e2eExec(t, args...)
	if r.Code != 0 {
		t.Fatalf("quotawatch backfill: exit %d\nstderr:\n%s", r.Code, e2eTail(r.Stderr, 40))
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.Stdout), &keys); err != nil {
		t.Fatalf("quotawatch backfill --format json: stdout is not a JSON object: %v\nstdout:\n%s", err, r.Stdout)
	}
	for _, k := range []string{"files", "new_events", "duplicates", "bad_lines", "unreadable_files"} {
		if _, ok := keys[k]; !ok {
			t.Fatalf("quotawatch backfill --format json: no %q key in\n%s", k, r.Stdout)
		}
	}
	var st e2eBackfillStats
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("quotawatch backfill --format json: %v\nstdout:\n%s", err, r.Stdout)
	}
	return st, r
}

// ---------------------------------------------------------------------------
// Files and configuration.

// e2eCopyTree copies a fixture tree; the copies are writable (the checkout's
// fixtures may be read-only).
func e2eCopyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, data, 0o644); err != nil {
			return err
		}
		return os.Chmod(target, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}

// e2eConfig writes testdata/demo.yaml (the sample's customers) plus extra
// YAML into dir/quotawatch.yaml and returns its path.
func e2eConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	base, err := os.ReadFile(e2eDemoConfig)
	if err != nil {
		t.Fatalf("read %s: %v", e2eDemoConfig, err)
	}
	path := filepath.Join(dir, "quotawatch.yaml")
	if err := os.WriteFile(path, []byte(string(base)+"\n"+extra), 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	return path
}

func e2eSourceYAML(stateDir string) string {
	return fmt.Sprintf("sources:\n  - {type: clawdbot, dir: %q}\n", stateDir)
}

func e2eAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// e2eSeed is the seed of a randomized test: QUOTAWATCH_E2E_SEED replays one.
func e2eSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("QUOTAWATCH_E2E_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("QUOTAWATCH_E2E_SEED: %v", err)
		}
		seed = s
	}
	t.Logf("seed %d (replay with QUOTAWATCH_E2E_SEED=%d)", seed, seed)
	return seed
}

// ---------------------------------------------------------------------------
// 1. Backfill of the real sample.

func TestE2EBackfillMatchesExpected(t *testing.T) {
	want := e2eExpected(t)
	sum := e2eSum(want)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	cfg := e2eAbs(t, e2eDemoConfig)
	db := filepath.Join(dir, "quotawatch.db")

	st, _ := e2eBackfill(t, cfg, db, state)
	if st.NewEvents != sum.Requests+sum.FailedRequests {
		t.Errorf("first backfill: new_events = %d, want %d (every request and failed request of expected-usage.json)", st.NewEvents, sum.Requests+sum.FailedRequests)
	}
	if st.Bad != 0 || st.Unreadable != 0 {
		t.Errorf("first backfill of the real sample: bad_lines = %d, unreadable_files = %d, want 0 and 0", st.Bad, st.Unreadable)
	}
	if diff := e2eDiff(e2eUsage(t, cfg, db), want); diff != "" {
		t.Fatalf("usage after backfill differs from expected-usage.json:\n%s", diff)
	}
	if fi, err := os.Stat(db); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("database file mode = %v, want 0600", fi.Mode().Perm())
	}

	// The same files again: all checkpointed, nothing new.
	st, _ = e2eBackfill(t, cfg, db, state)
	if st.NewEvents != 0 {
		t.Errorf("second backfill: new_events = %d, want 0", st.NewEvents)
	}
	// A fresh copy (new inodes, so every line is read again): the ids make
	// every event a duplicate.
	state2 := filepath.Join(dir, "state-copy")
	e2eCopyTree(t, e2eSampleDir, state2)
	st, _ = e2eBackfill(t, cfg, db, state2)
	if st.NewEvents != 0 || st.Duplicates != sum.Requests+sum.FailedRequests {
		t.Errorf("backfill of a second copy: new_events = %d, duplicates = %d; want 0 and %d", st.NewEvents, st.Duplicates, sum.Requests+sum.FailedRequests)
	}
	if diff := e2eDiff(e2eUsage(t, cfg, db), want); diff != "" {
		t.Fatalf("usage after repeated backfills differs from expected-usage.json:\n%s", diff)
	}
}

// ---------------------------------------------------------------------------
// 2. Following a live directory that Clawdbot writes, compacts and deletes in.

// e2eWriter writes files the way Clawdbot does, in random chunks (split
// mid-line too) with small random pauses in between.
type e2eWriter struct {
	t   *testing.T
	rng *rand.Rand
}

func (w *e2eWriter) chunkLen(left int) int {
	var n int
	switch w.rng.IntN(3) {
	case 0:
		n = 1 + w.rng.IntN(16)
	case 1:
		n = 1 + w.rng.IntN(512)
	default:
		n = 1 + w.rng.IntN(4096)
	}
	return min(n, left)
}

func (w *e2eWriter) pause() {
	if w.rng.IntN(10) == 0 {
		time.Sleep(time.Duration(10+w.rng.IntN(40)) * time.Millisecond) // long enough to be read half-written
	} else {
		time.Sleep(time.Duration(w.rng.IntN(2000)) * time.Microsecond)
	}
}

// appendChunk appends the next chunk of data[*off:] to path, as one write
// of an appendFileSync, and reports whether anything is left.
func (w *e2eWriter) appendChunk(path string, data []byte, off *int) bool {
	w.t.Helper()
	n := w.chunkLen(len(data) - *off)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Fatalf("append to %s: %v", path, err)
	}
	if _, err := f.Write(data[*off : *off+n]); err != nil {
		w.t.Fatalf("append to %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		w.t.Fatalf("append to %s: %v", path, err)
	}
	*off += n
	w.pause()
	return *off < len(data)
}

// appendAll appends data to path in random chunks.
func (w *e2eWriter) appendAll(path string, data []byte) {
	w.t.Helper()
	for off := 0; off < len(data) && w.appendChunk(path, data, &off); {
	}
}

// interleave appends each file's data, choosing at random which file gets
// the next chunk.
func (w *e2eWriter) interleave(paths []string, data [][]byte) {
	w.t.Helper()
	offs := make([]int, len(paths))
	var open []int
	for i := range paths {
		if len(data[i]) > 0 {
			open = append(open, i)
		}
	}
	for len(open) > 0 {
		k := w.rng.IntN(len(open))
		i := open[k]
		if !w.appendChunk(paths[i], data[i], &offs[i]) {
			open = append(open[:k], open[k+1:]...)
		}
	}
}

// replace writes a file as Clawdbot writes sessions.json: a temporary file
// (in chunks) renamed over the old one.
func (w *e2eWriter) replace(path string, data []byte) {
	w.t.Helper()
	tmp := fmt.Sprintf("%s.%d.tmp", path, w.rng.Uint32())
	w.appendAll(tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		w.t.Fatalf("replace %s: %v", path, err)
	}
	w.pause()
}

func (w *e2eWriter) rename(from, to string) {
	w.t.Helper()
	if err := os.Rename(from, to); err != nil {
		w.t.Fatalf("rename: %v", err)
	}
	w.pause()
}

// e2eTree reads every file under dir by relative path.
func e2eTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return out
}

func e2eRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// e2eSessionStore returns sessions.json with the given keys pointed at other
// sessions (nil value: the key removed).
func e2eSessionStore(t *testing.T, final []byte, change map[string]*string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(final, &m); err != nil {
		t.Fatalf("parse sample sessions.json: %v", err)
	}
	for k, id := range change {
		if id == nil {
			delete(m, k)
			continue
		}
		m[k] = json.RawMessage(fmt.Sprintf(`{"sessionId":%q,"updatedAt":1795737600000,"chatType":"direct"}`, *id))
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestE2ELiveFollow(t *testing.T) {
	want := e2eExpected(t)
	rng := rand.New(rand.NewPCG(e2eSeed(t), 2))
	dir := t.TempDir()
	live := filepath.Join(dir, "live")
	if err := os.Mkdir(live, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := e2eConfig(t, dir, e2eSourceYAML(live)+"monitor: {rescan_interval: 2s}\n")
	db := filepath.Join(dir, "quotawatch.db")

	run := e2eStart(t, "--config", cfg, "--db", db, "run")
	run.waitLog(t, "caught up; following", 60*time.Second)

	// Paths relative to the state directory, as in the sample.
	const (
		mainDir  = "agents/main/sessions"
		opsDir   = "agents/ops/sessions"
		cliRel   = mainDir + "/8a51f00f-419e-42b2-a06a-03fcdd97eac7.jsonl" // agent:main:main
		p1Rel    = mainDir + "/8fab0eb3-7f34-468e-bcd6-559ceb636503.jsonl" // +966500000001, compacted
		original = p1Rel + ".bak.2026-11-27T00-11-16.266Z"                 // p1 before sessions.compact
		p2Rel    = mainDir + "/be489d25-e28d-446d-b60f-7268ac69f7e4.jsonl" // +966500000002, deleted
		deleted  = p2Rel + ".deleted.2026-11-27T00-11-19.326Z"
		p3oldRel = mainDir + "/a7a45a13-0437-4449-bab0-8a99752e4037.jsonl" // +966500000003 before /new
		p3newRel = mainDir + "/dae6c069-a5c6-46cc-9429-242d91de4663.jsonl" // +966500000003 after /new
		groupRel = opsDir + "/d6cf2a24-2b61-46eb-82e7-54360c2d0219.jsonl"  // agent ops
		storeRel = mainDir + "/sessions.json"
		opsStore = opsDir + "/sessions.json"
		keyP2    = "agent:main:whatsapp:dm:+966500000002"
		keyP3    = "agent:main:whatsapp:dm:+966500000003"
	)
	sample := e2eSampleDir
	in := func(rel string) []byte { return e2eRead(t, filepath.Join(sample, rel)) }
	at := func(rel string) string { return filepath.Join(live, rel) }
	w := &e2eWriter{t: t, rng: rng}

	// The state directory appears, then the agents' folders.
	for _, d := range []string{mainDir, opsDir} {
		if err := os.MkdirAll(at(d), 0o755); err != nil {
			t.Fatal(err)
		}
		w.pause()
	}
	// sessions.json as it was while p2 and the first p3 session were live.
	finalStore := in(storeRel)
	id2 := "be489d25-e28d-446d-b60f-7268ac69f7e4"
	id3old, id3new := "a7a45a13-0437-4449-bab0-8a99752e4037", "dae6c069-a5c6-46cc-9429-242d91de4663"
	w.replace(at(storeRel), e2eSessionStore(t, finalStore, map[string]*string{keyP2: &id2, keyP3: &id3old}))
	w.replace(at(opsStore), in(opsStore))

	// The sessions' turns, interleaved; p1 is still its original file.
	bak := in(original)
	w.interleave(
		[]string{at(cliRel), at(p1Rel), at(p2Rel), at(groupRel), at(p3oldRel)},
		[][]byte{in(cliRel), bak, in(deleted), in(groupRel), in(p3oldRel)})

	// /new for +966500000003: a new session in sessions.json, a new file.
	w.replace(at(storeRel), e2eSessionStore(t, finalStore, map[string]*string{keyP2: &id2, keyP3: &id3new}))
	w.appendAll(at(p3newRel), in(p3newRel))

	// sessions.compact for p1: the original is renamed to .bak.<ts> and its
	// last lines are copied, ids unchanged and without the header, into a
	// new file at the same path.
	w.rename(at(p1Rel), at(original))
	lines := bytes.SplitAfter(bak, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	w.appendAll(at(p1Rel), bytes.Join(lines[len(lines)-5:], nil))

	// sessions.delete for p2: renamed to .deleted.<ts>, forgotten by the store.
	w.rename(at(p2Rel), at(deleted))
	w.replace(at(storeRel), finalStore)

	// p1's next turn: the writer finds no header, truncates the file and
	// rewrites it as a blank line, then appends its answer.
	if err := os.Truncate(at(p1Rel), 0); err != nil {
		t.Fatal(err)
	}
	w.pause()
	w.appendAll(at(p1Rel), in(p1Rel))

	// The live directory now holds exactly the sample's transcripts.
	got, wantTree := e2eTree(t, filepath.Join(live, "agents")), e2eTree(t, filepath.Join(sample, "agents"))
	for rel, data := range wantTree {
		if !bytes.Equal(got[rel], data) {
			t.Fatalf("test bug: live agents/%s differs from the sample's", rel)
		}
	}
	if len(got) != len(wantTree) {
		t.Fatalf("test bug: live agents/ has %d files, the sample %d", len(got), len(wantTree))
	}

	e2eWaitUsage(t, cfg, db, want, 30*time.Second, run)
	if code := run.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("quotawatch run: exit %d after SIGTERM, want 0\nstderr:\n%s", code, e2eTail(run.stderr.String(), 40))
	}
	if diff := e2eDiff(e2eUsage(t, cfg, db), want); diff != "" {
		t.Fatalf("usage after run stopped differs from expected-usage.json:\n%s", diff)
	}
	// Half-written lines are waited for, never parsed: the real sample has
	// no bad line, however it was chunked.
	if stderr := run.stderr.String(); strings.Contains(stderr, "bad line") || regexp.MustCompile(`bad_lines=[1-9]`).MatchString(stderr) {
		t.Errorf("quotawatch run counted bad lines in a well-formed transcript written in chunks:\n%s", e2eTail(stderr, 40))
	}
	st, _ := e2eBackfill(t, cfg, db, live)
	if st.NewEvents != 0 {
		t.Errorf("backfill after run followed the same files: new_events = %d, want 0", st.NewEvents)
	}
	if diff := e2eDiff(e2eUsage(t, cfg, db), want); diff != "" {
		t.Fatalf("usage after the backfill differs from expected-usage.json:\n%s", diff)
	}
}

// ---------------------------------------------------------------------------
// 3. Crash safety: SIGKILL at random moments, restart, totals stay exact.

// e2eTemplate is one real provider call of the sample, to be replicated.
type e2eTemplate struct {
	raw    []byte // the line
	failed bool
	usage  e2eTotals // tokens of the line (cost is set per copy)
}

// e2eTemplates reads every provider call of the sample's transcripts.
func e2eTemplates(t *testing.T) []e2eTemplate {
	t.Helper()
	var out []e2eTemplate
	for rel, data := range e2eTree(t, filepath.Join(e2eSampleDir, "agents")) {
		if strings.HasSuffix(rel, "sessions.json") {
			continue
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var e struct {
				Type    string `json:"type"`
				Message struct {
					Role       string `json:"role"`
					Provider   string `json:"provider"`
					StopReason string `json:"stopReason"`
					Usage      *struct {
						Input, Output, CacheRead, CacheWrite int64
					} `json:"usage"`
				} `json:"message"`
			}
			if json.Unmarshal(line, &e) != nil || e.Type != "message" || e.Message.Role != "assistant" ||
				e.Message.Usage == nil || e.Message.StopReason == "injected" || e.Message.Provider == "clawdbot" {
				continue
			}
			u := e.Message.Usage
			tp := e2eTemplate{raw: line, failed: e.Message.StopReason == "error" || e.Message.StopReason == "aborted"}
			tp.usage = e2eTotals{InputTokens: u.Input, OutputTokens: u.Output, CacheReadTokens: u.CacheRead, CacheWriteTokens: u.CacheWrite}
			if u.Input+u.Output+u.CacheRead+u.CacheWrite == 0 && !tp.failed {
				continue // a zero-usage success would be read from totalTokens; keep the arithmetic simple
			}
			out = append(out, tp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i].raw, out[j].raw) < 0 }) // map order must not change a seeded run
	if len(out) < 10 {
		t.Fatalf("test bug: only %d provider calls found in the sample", len(out))
	}
	return out
}

// e2eGenFile is one generated transcript that may still grow.
type e2eGenFile struct {
	path       string // <sessions>/<sessionId>.jsonl
	sid        string
	customer   string
	lastID     string
	pending    []byte   // the rest of a half-written line
	tail       [][]byte // the last complete lines (for compaction)
	copiesOnly bool     // a header-less copy made by sessions.compact, not grown since
}

// e2eCorpus generates transcripts next to a copy of the sample and keeps the
// totals a correct meter must report for them.
type e2eCorpus struct {
	t     *testing.T
	rng   *rand.Rand
	state string
	tmpl  []e2eTemplate
	want  map[string]e2eTotals
	live  []*e2eGenFile
	seq   int
	calls int64 // provider calls generated (complete or not yet)
}

func (c *e2eCorpus) id() string {
	c.seq++
	return fmt.Sprintf("%08x", uint32(c.seq)*2654435761) // unique per corpus, hex like Clawdbot's
}

func (c *e2eCorpus) uuid() string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", c.rng.Uint32(), c.rng.Uint32()&0xffff, c.rng.Uint32()&0xfff, c.rng.Uint32()&0xfff, c.rng.Uint64()&0xffffffffffff)
}

// write appends data to f, all of it, or all but a random tail when
// partial is set (left pending until the next write).
func (c *e2eCorpus) write(f *e2eGenFile, data []byte, partial bool) {
	c.t.Helper()
	data = append(f.pending, data...)
	f.pending = nil
	if partial && len(data) > 1 {
		cut := 1 + c.rng.IntN(len(data)-1)
		if data[cut-1] != '\n' {
			f.pending = append([]byte(nil), data[cut:]...)
			data = data[:cut]
		}
	}
	fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := fh.Write(data); err != nil {
		c.t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *e2eCorpus) remember(f *e2eGenFile, line []byte) {
	f.tail = append(f.tail, line)
	if len(f.tail) > 40 {
		f.tail = f.tail[len(f.tail)-40:]
	}
}

// call returns a new provider-call line for f and counts it.
func (c *e2eCorpus) call(f *e2eGenFile) []byte {
	c.t.Helper()
	tp := c.tmpl[c.rng.IntN(len(c.tmpl))]
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(tp.raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		c.t.Fatal(err)
	}
	id := c.id()
	m["id"], m["parentId"] = id, f.lastID
	f.lastID = id
	f.copiesOnly = false
	u := tp.usage
	// A dyadic cost adds up exactly in any order, so the totals can be
	// compared to 1e-9 USD whatever the batching.
	cost := float64(1+c.rng.IntN(4096)) / 65536
	if tp.failed {
		u.FailedRequests = 1
		cost = 0
	} else {
		u.Requests = 1
	}
	m["message"].(map[string]any)["usage"].(map[string]any)["cost"] = map[string]any{"total": cost}
	// The store rounds each call's cost once, to the nearest nano-dollar
	// (store.Nanos), and adds integers: the expectation rounds alike.
	u.CostUSD = math.Round(cost*1e9) / 1e9
	w := c.want[f.customer]
	w.add(u)
	c.want[f.customer] = w
	c.calls++
	line, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	line = append(line, '\n')
	c.remember(f, line)
	return line
}

// newFile starts a session: header, model change, the first inbound
// message (whose envelope attributes it), then n calls.
func (c *e2eCorpus) newFile(n int) {
	c.t.Helper()
	agent, peer, customer := "main", "", "owner"
	switch c.rng.IntN(5) {
	case 0:
		agent, customer = "ops", "salon"
	case 1:
		peer, customer = "+966500000001", "omar"
	case 2:
		peer, customer = "+966500000002", "layla"
	case 3:
		peer, customer = "+966500000003", "khalid"
	}
	sid := c.uuid()
	f := &e2eGenFile{path: filepath.Join(c.state, "agents", agent, "sessions", sid+".jsonl"), sid: sid, customer: customer}
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"type":"session","version":3,"id":%q,"timestamp":"2026-11-27T00:20:00.000Z","cwd":"/tmp/e2e"}`+"\n", sid)
	f.lastID = c.id()
	fmt.Fprintf(&b, `{"type":"model_change","id":%q,"parentId":null,"timestamp":"2026-11-27T00:20:00.001Z","provider":"fakeoai","modelId":"fake-gpt"}`+"\n", f.lastID)
	if peer != "" {
		id := c.id()
		fmt.Fprintf(&b, `{"type":"message","id":%q,"parentId":%q,"timestamp":"2026-11-27T00:20:01.000Z","message":{"role":"user","content":[{"type":"text","text":"[WhatsApp %s 2026-11-27 03:20 GMT+3] hello\n[message_id: e2e]"}],"timestamp":1795738801000}}`+"\n", id, f.lastID, peer)
		f.lastID = id
	}
	for range n {
		b.Write(c.call(f))
	}
	c.write(f, b.Bytes(), c.rng.IntN(3) == 0)
	c.live = append(c.live, f)
}

// grow appends n calls to f, maybe leaving the last line half-written.
func (c *e2eCorpus) grow(f *e2eGenFile, n int) {
	c.t.Helper()
	var b bytes.Buffer
	for range n {
		b.Write(c.call(f))
	}
	c.write(f, b.Bytes(), c.rng.IntN(3) == 0)
}

// finishLine completes a half-written last line.
func (c *e2eCorpus) finishLine(f *e2eGenFile) {
	c.t.Helper()
	if len(f.pending) > 0 {
		c.write(f, nil, false)
	}
}

// unfinished is how many lines are not complete on disk (an upper bound of
// the calls a meter cannot have read yet).
func (c *e2eCorpus) unfinished() int64 {
	var n int64
	for _, f := range c.live {
		n += int64(bytes.Count(f.pending, []byte("\n")))
	}
	return n
}

func (c *e2eCorpus) archiveName(f *e2eGenFile, kind string) string {
	return fmt.Sprintf("%s.%s.2026-11-27T01-%02d-%02d.%03dZ", f.path, kind, c.seq/60%60, c.seq%60, c.rng.IntN(1000))
}

// mutate changes the corpus the ways Clawdbot does between two runs.
func (c *e2eCorpus) mutate() {
	c.t.Helper()
	for range 1 + c.rng.IntN(3) {
		if len(c.live) == 0 {
			break
		}
		c.grow(c.live[c.rng.IntN(len(c.live))], c.rng.IntN(300))
	}
	if c.rng.IntN(3) == 0 {
		c.newFile(200 + c.rng.IntN(1000))
	}
	if len(c.live) < 2 {
		return
	}
	i := c.rng.IntN(len(c.live))
	f := c.live[i]
	switch c.rng.IntN(6) {
	case 0: // sessions.delete: renamed to .deleted.<ts>
		c.finishLine(f)
		if err := os.Rename(f.path, c.archiveName(f, "deleted")); err != nil {
			c.t.Fatal(err)
		}
		c.live = append(c.live[:i], c.live[i+1:]...)
	case 1: // sessions.compact: .bak.<ts> plus a header-less copy of the last lines
		c.finishLine(f)
		if err := os.Rename(f.path, c.archiveName(f, "bak")); err != nil {
			c.t.Fatal(err)
		}
		keep := f.tail[len(f.tail)-min(len(f.tail), 1+c.rng.IntN(20)):]
		nf := &e2eGenFile{path: f.path, sid: f.sid, customer: f.customer, lastID: f.lastID, copiesOnly: true}
		for _, l := range keep {
			c.remember(nf, l)
		}
		c.write(nf, bytes.Join(keep, nil), false)
		c.live[i] = nf
	case 2: // pi finds no header: truncates the copy, rewrites it as a blank line and appends
		if !f.copiesOnly {
			return // the rewrite would destroy calls written only here (Clawdbot's next turn comes first)
		}
		c.finishLine(f)
		if err := os.WriteFile(f.path, []byte("\n"), 0o644); err != nil {
			c.t.Fatal(err)
		}
		f.tail = nil
		c.grow(f, 1+c.rng.IntN(50))
	}
}

func TestE2ECrashSafety(t *testing.T) {
	seed := e2eSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	c := &e2eCorpus{t: t, rng: rng, state: state, tmpl: e2eTemplates(t), want: e2eExpected(t)}
	sum := e2eSum(c.want)
	c.calls = sum.Requests + sum.FailedRequests
	for range 8 {
		c.newFile(500 + rng.IntN(1500))
	}
	db := filepath.Join(dir, "quotawatch.db")
	// Each start gets another batch size, so kills land between commits of
	// every size (one event per transaction up to the default).
	config := func(batch int) string {
		return e2eConfig(t, dir, e2eSourceYAML(state)+fmt.Sprintf("monitor: {rescan_interval: 1s, batch_events: %d}\n", batch))
	}

	// Every fifth start is stopped with SIGTERM or SIGINT instead: run must
	// flush and exit 0 even in the middle of catching up; backfill must not
	// claim success unless it read everything.
	// busy lets the process run for d while Clawdbot keeps writing: the
	// corpus changes at a random moment in between.
	busy := func(d time.Duration) {
		first := time.Duration(rng.Float64() * float64(d))
		time.Sleep(first)
		c.mutate()
		time.Sleep(d - first)
	}
	const iterations = 30
	kills, midway := 0, 0
	began := time.Now()
	for i := range iterations {
		cfg := config([]int{1, 7, 64, 500, 2000}[rng.IntN(5)])
		var p *e2eProc
		if i%5 == 4 && rng.IntN(2) == 0 {
			sig := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT}[rng.IntN(2)]
			p = e2eStart(t, "--config", cfg, "--db", db, "run")
			p.waitLog(t, "quotawatch running", 60*time.Second) // signal handlers are installed
			busy(time.Duration(rng.IntN(300)) * time.Millisecond)
			if code := p.signal(t, sig, 60*time.Second); code != 0 {
				t.Fatalf("iteration %d: quotawatch run: exit %d after %v, want 0\nstderr:\n%s", i, code, sig, e2eTail(p.stderr.String(), 40))
			}
		} else if i%5 == 4 {
			// A backfill stopped by SIGTERM/SIGINT may exit 0 only if it
			// read everything; nothing is written meanwhile, so that is
			// checkable.
			for _, f := range c.live {
				c.finishLine(f)
			}
			sig := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT}[rng.IntN(2)]
			p = e2eStart(t, "--config", cfg, "--db", db, "backfill", "--no-progress")
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			switch code := p.signal(t, sig, 60*time.Second); code {
			case 0:
				if diff := e2eDiff(e2eUsage(t, cfg, db), c.want); diff != "" {
					t.Fatalf("iteration %d: backfill exited 0 after %v but did not read everything:\n%s", i, sig, diff)
				}
			case 128 + int(sig): // stopped half-way, or while opening the store: 130 SIGINT, 143 SIGTERM
				if e := p.stderr.String(); !strings.Contains(e, "interrupted") {
					t.Fatalf("iteration %d: backfill exited 1 after %v without saying it was interrupted:\n%s", i, sig, e2eTail(p.stderr.String(), 20))
				}
			case -1: // the signal came before the handlers were installed
			default:
				t.Fatalf("iteration %d: backfill: exit %d after %v\nstderr:\n%s", i, code, sig, e2eTail(p.stderr.String(), 40))
			}
		} else {
			if rng.IntN(2) == 0 {
				p = e2eStart(t, "--config", cfg, "--db", db, "run")
			} else {
				p = e2eStart(t, "--config", cfg, "--db", db, "backfill", "--no-progress")
			}
			// 0-300 ms, mostly short: without -race the binary catches up
			// with one iteration's new lines in a few milliseconds.
			u := rng.Float64()
			busy(time.Duration(u * u * u * float64(300*time.Millisecond)))
			code := p.signal(t, syscall.SIGKILL, 30*time.Second)
			if code != -1 && code != 0 {
				t.Fatalf("iteration %d: %s exited %d before the kill\nstderr:\n%s", i, p, code, e2eTail(p.stderr.String(), 40))
			}
			kills++
		}
		// The generated lines are all well-formed; half-written ones must be
		// waited for, never parsed.
		if strings.Contains(p.stderr.String(), "bad line") {
			t.Fatalf("iteration %d: %s parsed a bad line in a well-formed corpus:\n%s", i, p, e2eTail(p.stderr.String(), 20))
		}
		// Whatever was committed so far must never exceed what was written.
		got := e2eSum(e2eUsageSoFar(t, cfg, db))
		n := got.Requests + got.FailedRequests
		if n > c.calls || got.InputTokens > e2eSum(c.want).InputTokens {
			t.Fatalf("iteration %d: %d calls and %d input tokens stored, but only %d calls and %d input tokens were ever written: double counting",
				i, n, got.InputTokens, c.calls, e2eSum(c.want).InputTokens)
		}
		if n > 0 && n < c.calls-c.unfinished() {
			midway++ // stopped with complete calls on disk not yet stored
		}
	}
	t.Logf("%d SIGKILLs; %d of %d stops left complete calls unstored; %d provider calls written, %d generated files still live (%s)",
		kills, midway, iterations, c.calls, len(c.live), time.Since(began).Round(time.Millisecond))

	// Let it finish: complete every half-written line, backfill to the end.
	for _, f := range c.live {
		c.finishLine(f)
	}
	cfg := config(2000)
	if st, _ := e2eBackfill(t, cfg, db); st.Bad != 0 {
		t.Errorf("final backfill: bad_lines = %d in a well-formed corpus, want 0", st.Bad)
	}
	if diff := e2eDiff(e2eUsage(t, cfg, db), c.want); diff != "" {
		t.Fatalf("after %d kills and a final backfill, usage differs from what was written:\n%s", kills, diff)
	}
	// And run agrees once caught up; a last backfill finds nothing new.
	p := e2eStart(t, "--config", cfg, "--db", db, "run")
	p.waitLog(t, "caught up; following", 60*time.Second)
	if diff := e2eDiff(e2eUsage(t, cfg, db), c.want); diff != "" {
		t.Fatalf("after run caught up, usage differs from what was written:\n%s", diff)
	}
	// It follows what Clawdbot writes next, renames and compactions included.
	for range 3 {
		c.mutate()
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
	}
	for _, f := range c.live {
		c.finishLine(f)
	}
	e2eWaitUsage(t, cfg, db, c.want, 30*time.Second, p)
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("quotawatch run: exit %d after SIGTERM, want 0\nstderr:\n%s", code, e2eTail(p.stderr.String(), 40))
	}
	if st, _ := e2eBackfill(t, cfg, db); st.NewEvents != 0 {
		t.Errorf("last backfill: new_events = %d, want 0", st.NewEvents)
	}
	if diff := e2eDiff(e2eUsage(t, cfg, db), c.want); diff != "" {
		t.Fatalf("final usage differs from what was written:\n%s", diff)
	}
}

// ---------------------------------------------------------------------------
// 4. Bad input.

// e2eCall is a well-formed provider call line.
func e2eCall(id string, input, output int64, cost float64) string {
	return fmt.Sprintf(`{"type":"message","id":%q,"parentId":"p","timestamp":"2026-11-27T00:30:00.000Z","message":{"role":"assistant","content":[{"type":"text","text":"ok"}],"api":"openai-completions","provider":"fakeoai","model":"fake-gpt","usage":{"input":%d,"output":%d,"cacheRead":0,"cacheWrite":0,"totalTokens":%d,"cost":{"total":%v}},"stopReason":"stop","timestamp":1795739400000}}`,
		id, input, output, input+output, cost)
}

func TestE2EBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(e2eSeed(t), 4))
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	sessions := filepath.Join(state, "agents", "main", "sessions")
	want := e2eExpected(t)

	// A transcript of layla's with good calls between bad lines of every kind.
	const sid = "0badf00d-0000-4000-8000-00000000e2e4"
	var good e2eTotals
	goodCall := func(id string, in, out int64, cost float64) string {
		good.add(e2eTotals{Requests: 1, InputTokens: in, OutputTokens: out, CostUSD: cost})
		return e2eCall(id, in, out, cost)
	}
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
		if garbage[i] == '\n' {
			garbage[i] = 0xff
		}
	}
	garbage[0] = 0 // never a JSON object
	huge := e2eCall("huge0001", 1_000_000, 1_000_000, 1000)
	huge = strings.Replace(huge, `"text":"ok"`, `"text":"`+strings.Repeat("A", 10<<20)+`"`, 1)
	truncated := e2eCall("trunc001", 500, 5, 0.5)
	truncated = truncated[:len(truncated)/2]
	bad := []string{
		string(garbage), // binary garbage
		truncated,       // truncated JSON
		huge,            // a 10 MB line (max_line_bytes is 1 MiB here)
		strings.Replace(e2eCall("types001", 700, 7, 0.25), `"input":700`, `"input":"abc"`, 1),            // wrong type
		strings.Replace(e2eCall("types002", 700, 7, 0.25), `"output":7`, `"output":true`, 1),             // wrong type
		strings.Replace(e2eCall("types003", 700, 7, 0.25), `"cost":{"total":0.25}`, `"cost":"cheap"`, 1), // wrong type
		`{"type":"message","message":{"role":"assistant","usage":{"input":5,}}, "assistant"}`,            // not JSON
	}
	lines := []string{
		fmt.Sprintf(`{"type":"session","version":3,"id":%q,"timestamp":"2026-11-27T00:30:00.000Z","cwd":"/tmp/e2e"}`, sid),
		`{"type":"message","id":"u0000001","parentId":null,"timestamp":"2026-11-27T00:30:00.000Z","message":{"role":"user","content":[{"type":"text","text":"[WhatsApp +966500000002 2026-11-27 03:30 GMT+3] hi"}],"timestamp":1795739400000}}`,
		goodCall("good0001", 1000, 10, 0.5),
		bad[0],
		goodCall("good0002", 2000, 20, 0.25),
		bad[1], bad[2],
		goodCall("good0003", 3000, 30, 0.125),
		bad[3], bad[4], bad[5], bad[6],
		goodCall("good0004", 4000, 40, 0.0625),
	}
	if err := os.WriteFile(filepath.Join(sessions, sid+".jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := want["layla"]
	w.add(good)
	want["layla"] = w

	// Files that cannot be read; a good call in any of them would change the totals.
	unreadable := 0
	if err := syscall.Mkfifo(filepath.Join(sessions, "0fifo000-0000-4000-8000-000000000000.jsonl"), 0o644); err != nil {
		t.Fatal(err)
	}
	unreadable++
	if err := os.Symlink("loop.jsonl", filepath.Join(sessions, "loop.jsonl")); err != nil { // ELOOP, even for root
		t.Fatal(err)
	}
	unreadable++
	if err := os.Symlink("gone.jsonl", filepath.Join(sessions, "dangling.jsonl")); err != nil { // a vanished file: nothing to read
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(sessions, "folder.jsonl"), 0o755); err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(sessions, "0locked0-0000-4000-8000-000000000000.jsonl")
	if err := os.WriteFile(locked, []byte(e2eCall("locked01", 9999, 99, 9)+"\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 {
		unreadable++
	} else {
		os.Remove(locked) // root reads mode 000 files; the FIFO and the loop stand in for it
	}

	cfg := e2eConfig(t, dir, e2eSourceYAML(state)+"monitor: {max_line_bytes: 1048576, rescan_interval: 1s}\n")
	db := filepath.Join(dir, "backfill.db")
	st, r := e2eBackfill(t, cfg, db, state)
	if st.Bad != int64(len(bad)) {
		t.Errorf("backfill: bad_lines = %d, want %d (every bad line counted)", st.Bad, len(bad))
	}
	if st.Unreadable != int64(unreadable) {
		t.Errorf("backfill: unreadable_files = %d, want %d", st.Unreadable, unreadable)
	}
	if !strings.Contains(r.Stderr, sid+".jsonl") {
		t.Errorf("backfill: the bad lines of %s.jsonl are not logged:\n%s", sid, e2eTail(r.Stderr, 20))
	}
	if !strings.Contains(r.Stderr, "loop.jsonl") {
		t.Errorf("backfill: the unreadable loop.jsonl is not logged:\n%s", e2eTail(r.Stderr, 20))
	}
	if diff := e2eDiff(e2eUsage(t, cfg, db), want); diff != "" {
		t.Fatalf("backfill of bad input: usage differs from the good lines' totals:\n%s", diff)
	}

	// run over the same directory: catches up, ingests the same, stops cleanly.
	db = filepath.Join(dir, "run.db")
	p := e2eStart(t, "--config", cfg, "--db", db, "run")
	p.waitLog(t, "caught up; following", 60*time.Second)
	if diff := e2eDiff(e2eUsage(t, cfg, db), want); diff != "" {
		t.Fatalf("run over bad input: usage differs from the good lines' totals:\n%s", diff)
	}
	// More bad input while it follows, then a good call.
	f, err := os.OpenFile(filepath.Join(sessions, sid+".jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "%s\n%s\n%s\n", garbage, huge, goodCall("good0005", 5000, 50, 0.03125))
	f.Close()
	w = want["layla"]
	w.add(e2eTotals{Requests: 1, InputTokens: 5000, OutputTokens: 50, CostUSD: 0.03125})
	want["layla"] = w
	e2eWaitUsage(t, cfg, db, want, 30*time.Second, p)
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("quotawatch run: exit %d after SIGTERM, want 0\nstderr:\n%s", code, e2eTail(p.stderr.String(), 40))
	}
}

// ---------------------------------------------------------------------------
// 5. Bad configuration.

func TestE2EBadConfig(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	const customers = `customers:
  - {id: omar,  tier: standard, match: {peer: "+966500000001"}}
  - {id: layla, tier: basic,    match: {peer: "+966500000002"}}
`
	base := func(tz, src, cust string) string {
		return fmt.Sprintf("timezone: %s\n%stiers:\n  basic: {requests: 500}\n  standard: {requests: 3000}\n%s", tz, src, cust)
	}
	good := base("Asia/Riyadh", e2eSourceYAML(state), customers)
	cases := []struct {
		name, config, key string
		// cmds are the commands that refuse it (nil: all four).
		cmds [][]string
	}{
		{"unknown tier", base("Asia/Riyadh", e2eSourceYAML(state), strings.Replace(customers, "tier: basic", "tier: gold", 1)), "customers[1].tier", nil},
		{"invalid timezone", base("Mars/Olympus_Mons", e2eSourceYAML(state), customers), "timezone", nil},
		{"duplicate customer id", base("Asia/Riyadh", e2eSourceYAML(state), strings.Replace(customers, "id: layla", "id: omar", 1)), "customers[1].id", nil},
		// Only the commands that read the sources refuse a missing state dir
		// (config check warns; see TestMissingSourceDirStopsOnlyTheCommandsThatReadIt).
		{"missing source dir", base("Asia/Riyadh", e2eSourceYAML(filepath.Join(dir, "no-such-dir")), customers), "sources[0].dir", [][]string{{"run"}, {"backfill"}}},
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	db := filepath.Join(dir, "quotawatch.db")
	// The base is valid, so each case below has exactly one defect.
	if r := e2eExec(t, "--config", write("good", good), "--db", db, "config", "check"); r.Code != 0 {
		t.Fatalf("config check of the valid base: exit %d\nstderr:\n%s", r.Code, r.Stderr)
	}
	for _, tc := range cases {
		cfg := write(tc.name, tc.config)
		cmds := tc.cmds
		if cmds == nil {
			cmds = [][]string{{"config", "check"}, {"run"}, {"backfill"}, {"usage", "--format", "json"}}
		}
		for _, cmd := range cmds {
			r := e2eExec(t, append([]string{"--config", cfg, "--db", db}, cmd...)...)
			what := fmt.Sprintf("%s: quotawatch %s", tc.name, strings.Join(cmd, " "))
			if r.Code != 2 {
				t.Errorf("%s: exit %d, want 2\nstderr:\n%s", what, r.Code, r.Stderr)
			}
			lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.key) {
				t.Errorf("%s: stderr should be one line naming %q, got %d lines:\n%s", what, tc.key, len(lines), r.Stderr)
			}
			if r.Stdout != "" {
				t.Errorf("%s: printed to stdout on a bad config:\n%s", what, r.Stdout)
			}
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a refused configuration still created the database %s (stat: %v)", db, err)
	}
}
