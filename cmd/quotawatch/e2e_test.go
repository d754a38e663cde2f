package main

// End-to-end acceptance tests of issue 2: they build the real quotawatch
// binary once per test process and drive it as a user would, over copies of
// the bundled Clawdbot sample (testdata/clawdbot-sample) and over corpora
// generated here whose expected totals are computed while writing them.
//
// Every helper is prefixed with e2e so other test files of this package can
// use any other name.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
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
	// files of this package may want), so binaries of earlier runs are
	// removed here instead, once they are surely unused.
	if old, _ := filepath.Glob(filepath.Join(os.TempDir(), "quotawatch-e2e-bin-*")); len(old) > 0 {
		for _, d := range old {
			if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > 3*time.Hour {
				os.RemoveAll(d)
			}
		}
	}
	dir, err := os.MkdirTemp("", "quotawatch-e2e-bin-")
	if err != nil {
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
	p.cmd.Env = e2eChildEnv()
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
	if err := p.cmd.Process.Signal(sig); err != nil && !p.exited() {
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
	st, _ := e2eBackfill(t, cfg, db, live)
	if st.NewEvents != 0 {
		t.Errorf("backfill after run followed the same files: new_events = %d, want 0", st.NewEvents)
	}
	if diff := e2eDiff(e2eUsage(t, cfg, db), want); diff != "" {
		t.Fatalf("usage after the backfill differs from expected-usage.json:\n%s", diff)
	}
}
