package monitor

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// logBuffer is a log sink safe for the monitor's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) count(s string) int { return strings.Count(l.String(), s) }

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// running is a Monitor.Run in the background over the harness's state dir.
type running struct {
	t      *testing.T
	m      *Monitor
	st     *store.Store
	log    *logBuffer
	cancel context.CancelFunc
	done   chan error
}

func (h *harness) run(rescan time.Duration, sources ...SourceConfig) *running {
	h.t.Helper()
	if len(sources) == 0 {
		sources = []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}
	}
	st := h.open()
	lb := &logBuffer{}
	m := New(Config{Sources: sources, Rescan: rescan}, st, h.attr, lb.logger())
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: h.t, m: m, st: st, log: lb, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() { r.done <- m.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-r.done:
		h.t.Fatalf("run ended before catching up: %v", err)
	case <-time.After(20 * time.Second):
		h.t.Fatal("run did not catch up within 20 s")
	}
	h.t.Cleanup(func() { r.stop() })
	return r
}

// stop ends the run; a run that does not stop within 10 s fails the test.
func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		r.t.Error("run did not stop within 10 s of its context ending")
	}
	r.st.Close()
}

func (r *running) usage(customer string) store.Usage {
	us, _ := r.st.UsageByPeriod(context.Background(), "2026-11", customer)
	if len(us) == 0 {
		return store.Usage{}
	}
	return us[0]
}

// within runs f and fails (instead of hanging) if it takes more than d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not finish within %s (blocked?)", what, d)
	}
}

func dmStore(id, peer string) []byte {
	return []byte(fmt.Sprintf(`{"agent:main:whatsapp:dm:%s": {"sessionId": %q, "updatedAt": %d}}`, peer, id, time.Now().UnixNano()))
}

// TestSessionStoreBurstIsReadAboutOncePerSecondAndTheLastVersionWins:
// Clawdbot rewrites sessions.json on every message. 40 rewrites in about a
// second are read at most a few times, not 40, and the last version is
// the one applied.
func TestSessionStoreBurstIsReadAboutOncePerSecondAndTheLastVersionWins(t *testing.T) {
	h := newHarness(t)
	id := "burst000-0000"
	appendFile(t, h.path("main", id+".jsonl"), fmt.Sprintf(header, id)+call("c1", 10))
	store := h.path("main", "sessions.json")
	writeStore(t, store, dmStore(id, "+966500000001"))
	r := h.run(time.Hour)
	waitUntil(t, "omar billed from the first store", func() bool { return r.usage("omar").Requests == 1 })
	reads := r.m.follow.rd.reads.Load()
	start := time.Now()
	for i := 0; i < 40; i++ {
		peer := "+966500000002" // layla, then khalid last
		if i == 39 {
			peer = "+966500000003"
		}
		writeStore(t, store, dmStore(id, peer))
		time.Sleep(25 * time.Millisecond)
	}
	// One read per started second of the burst, one for its end, one spare
	// (a slow machine stretches the burst; it must not fail the test).
	burst := time.Since(start)
	allowed := int64(burst/storeDebounce) + 3
	waitUntil(t, "the last version applied (khalid billed)", func() bool { return r.usage("khalid").Requests == 1 })
	time.Sleep(1500 * time.Millisecond) // a read still due would land here
	n := r.m.follow.rd.reads.Load() - reads
	t.Logf("40 rewrites in %s: %d reads", burst.Round(time.Millisecond), n)
	if n > allowed {
		t.Errorf("40 rewrites were read %d times; want about one read per second (≤ %d)", n, allowed)
	}
	if got := r.usage("khalid"); got.Requests != 1 || r.usage("omar").Requests != 0 || r.usage("layla").Requests != 0 {
		t.Errorf("after the burst: khalid %+v, omar %+v, layla %+v; want everything on khalid", got, r.usage("omar"), r.usage("layla"))
	}
}

// TestTranscriptLinesAreReadWhileASessionStoreIsBeingParsed: while a
// sessions.json is being read (held here mid-read), new transcript lines
// are still read and committed: a 100 MB parse never sits in front of them.
func TestTranscriptLinesAreReadWhileASessionStoreIsBeingParsed(t *testing.T) {
	h := newHarness(t)
	store := h.path("main", "sessions.json")
	writeStore(t, store, dmStore("held0000-0000", "+966500000001"))
	r := h.run(time.Hour)
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	hook := func(string) {
		once.Do(func() { close(entered) })
		<-release
	}
	r.m.follow.rd.hook.Store(&hook)
	defer close(release)
	writeStore(t, store, dmStore("held0000-0000", "+966500000002"))
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the rewritten sessions.json was never read")
	}
	// The store read is held; a transcript line must still get through.
	id := "live0000-0000"
	appendFile(t, h.path("main", id+".jsonl"), fmt.Sprintf(header, id)+user("+966500000003")+call("c1", 10))
	waitUntil(t, "the transcript line committed while the store read is held", func() bool { return r.usage("khalid").Requests == 1 })
}

// TestMalformedSessionStoreKeepsAttributionWarnsOnceAndRetriesOnChange:
// a sessions.json cut mid-write keeps the attribution it gave, is warned
// about once however many rescans see it, and is read again when it
// changes.
func TestMalformedSessionStoreKeepsAttributionWarnsOnceAndRetriesOnChange(t *testing.T) {
	h := newHarness(t)
	id := "torn0000-0000"
	appendFile(t, h.path("main", id+".jsonl"), fmt.Sprintf(header, id)+call("c1", 10))
	store := h.path("main", "sessions.json")
	good := dmStore(id, "+966500000001")
	writeStore(t, store, good)
	r := h.run(20 * time.Millisecond)
	waitUntil(t, "omar billed", func() bool { return r.usage("omar").Requests == 1 })
	// A non-atomic writer caught half way through a rewrite naming layla.
	torn := dmStore(id, "+966500000002")
	if err := os.WriteFile(store, torn[:len(torn)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the torn store warned about", func() bool { return r.log.count("session store unreadable") > 0 })
	// Longer than two store cool-downs, ~120 rescans.
	time.Sleep(2*storeDebounce + 500*time.Millisecond)
	if n := r.log.count("session store unreadable"); n != 1 {
		t.Errorf("torn store warned %d times over ~120 rescans, want once:\n%s", n, r.log)
	}
	if got := r.usage("omar"); got.Requests != 1 {
		t.Errorf("attribution lost on a torn store: omar %+v", got)
	}
	appendFile(t, h.path("main", id+".jsonl"), call("c2", 10)) // still omar's
	waitUntil(t, "omar billed the next call", func() bool { return r.usage("omar").Requests == 2 })
	writeStore(t, store, dmStore(id, "+966500000003"))
	waitUntil(t, "the next good version applied (khalid)", func() bool { return r.usage("khalid").Requests == 2 })
	if !strings.Contains(r.log.String(), "session store readable again") {
		t.Errorf("recovery not logged:\n%s", r.log)
	}
}

// TestSessionStoreFIFONeverBlocksBackfillOrRun: a FIFO named sessions.json
// (no writer) is refused at once with a warning naming it, once per path;
// backfill ends, run follows and stops, and the transcripts are counted.
func TestSessionStoreFIFONeverBlocksBackfillOrRun(t *testing.T) {
	h := newHarness(t)
	store := h.path("main", "sessions.json")
	if err := syscall.Mkfifo(store, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	id := "fifo0000-0000"
	appendFile(t, h.path("main", id+".jsonl"), fmt.Sprintf(header, id)+user("+966500000001")+call("c1", 10))
	var s Stats
	within(t, 20*time.Second, "backfill with a FIFO sessions.json", func() { s = h.backfill() })
	if s.Inserted != 1 || s.Unreadable != 1 {
		t.Errorf("backfill stats %+v: want the call counted and the FIFO unreadable", s)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "not a regular file") || !strings.Contains(s.Warnings[0], store) {
		t.Errorf("warnings %q: want one naming %s and the reason", s.Warnings, store)
	}
	var r *running
	within(t, 20*time.Second, "run catching up with a FIFO sessions.json", func() { r = h.run(20 * time.Millisecond) })
	appendFile(t, h.path("main", id+".jsonl"), call("c2", 10))
	waitUntil(t, "a live line followed", func() bool { return r.usage("omar").Requests == 2 })
	time.Sleep(300 * time.Millisecond) // ~15 rescans
	if n := r.log.count("session store is not a regular file"); n != 1 {
		t.Errorf("FIFO warned %d times, want once:\n%s", n, r.log)
	}
	within(t, 15*time.Second, "run stopping", r.stop)
}

// TestSessionStoreSymlinkToDevZeroIsRefused: a sessions.json linked to
// /dev/zero (endless bytes) is refused as not a regular file instead of
// being read until the process runs out of memory.
func TestSessionStoreSymlinkToDevZeroIsRefused(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	h := newHarness(t)
	store := h.path("main", "sessions.json")
	if err := os.Symlink("/dev/zero", store); err != nil {
		t.Fatal(err)
	}
	id := "zero0000-0000"
	appendFile(t, h.path("main", id+".jsonl"), fmt.Sprintf(header, id)+call("c1", 10))
	var s Stats
	within(t, 20*time.Second, "backfill with sessions.json -> /dev/zero", func() { s = h.backfill() })
	if s.Inserted != 1 || s.Unreadable != 1 || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "not a regular file") {
		t.Errorf("stats %+v: want the call counted, /dev/zero refused with a warning", s)
	}
}

// TestBackfillReadsSymlinkedAgentAndSessionsDirs: agents/ops -> another
// disk and agents/main/sessions -> another disk are followed; their calls
// are counted, attributed by the agent name of the link.
func TestBackfillReadsSymlinkedAgentAndSessionsDirs(t *testing.T) {
	h := newHarness(t)
	disk2 := t.TempDir()
	if err := os.MkdirAll(filepath.Join(disk2, "ops-data", "sessions"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(disk2, "ops-data", "sessions", "opsopsop.jsonl"), fmt.Sprintf(header, "opsopsop")+call("o1", 10))
	if err := os.Symlink(filepath.Join(disk2, "ops-data"), filepath.Join(h.dir, "agents", "ops")); err != nil {
		t.Fatal(err)
	}
	mainSessions := filepath.Join(disk2, "main-sessions")
	if err := os.MkdirAll(mainSessions, 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(mainSessions, "mainmain.jsonl"), fmt.Sprintf(header, "mainmain")+user("+966500000001")+call("m1", 20))
	os.Remove(filepath.Join(h.dir, "agents", "main", "sessions"))
	if err := os.Symlink(mainSessions, filepath.Join(h.dir, "agents", "main", "sessions")); err != nil {
		t.Fatal(err)
	}
	s := h.backfill()
	if s.Files != 2 || s.Inserted != 2 || len(s.Warnings) != 0 {
		t.Errorf("stats %+v: want both linked files read, no warning", s)
	}
	got := h.usage()
	if got["salon"].Requests != 1 || got["omar"].Requests != 1 {
		t.Errorf("usage %+v: want salon (agent ops, via the link) and omar 1 call each", got)
	}
}

// TestRunFollowsLinesAppendedInASymlinkTarget: run watches the target of a
// symlinked agent dir (inotify follows the link and reports events under
// the link's path), follows a link created while running, and moves its
// watch when a link is re-pointed; the rescan is an hour away, so only
// the watches can see these lines.
func TestRunFollowsLinesAppendedInASymlinkTarget(t *testing.T) {
	h := newHarness(t)
	disk2 := t.TempDir()
	mk := func(name string) string {
		d := filepath.Join(disk2, name, "sessions")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	opsA := mk("ops-a")
	if err := os.Symlink(filepath.Dir(opsA), filepath.Join(h.dir, "agents", "ops")); err != nil {
		t.Fatal(err)
	}
	r := h.run(time.Hour)
	target := filepath.Join(opsA, "aaaaaaaa.jsonl")
	appendFile(t, target, fmt.Sprintf(header, "aaaaaaaa")+call("o1", 10))
	waitUntil(t, "a line appended in the link's target", func() bool { return r.usage("salon").Requests == 1 })
	appendFile(t, target, call("o2", 10))
	waitUntil(t, "a second line appended in the target", func() bool { return r.usage("salon").Requests == 2 })
	// A symlinked agent created while running.
	team := mk("team")
	if err := os.Symlink(filepath.Dir(team), filepath.Join(h.dir, "agents", "team")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the rescan add its watch
	appendFile(t, filepath.Join(team, "tttttttt.jsonl"), fmt.Sprintf(header, "tttttttt")+call("t1", 10))
	waitUntil(t, "the new linked agent's line", func() bool { return r.usage("owner").Requests == 1 })
	// Re-pointed: agents/ops now leads to ops-b.
	opsB := mk("ops-b")
	if err := os.Remove(filepath.Join(h.dir, "agents", "ops")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(opsB), filepath.Join(h.dir, "agents", "ops")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	appendFile(t, filepath.Join(opsB, "bbbbbbbb.jsonl"), fmt.Sprintf(header, "bbbbbbbb")+call("b1", 10))
	waitUntil(t, "a line in the re-pointed link's new target", func() bool { return r.usage("salon").Requests == 3 })
	if s := r.m.Stats(); s.Duplicates != 0 || s.Bad != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestSymlinkLoopsTerminate: agent and sessions links that loop (to
// themselves, to each other, up to the state dir, a sessions dir linked to
// its own agent dir) end backfill and run, are warned about, and the real
// agent next to them is read.
func TestSymlinkLoopsTerminate(t *testing.T) {
	h := newHarness(t)
	agents := filepath.Join(h.dir, "agents")
	links := map[string]string{
		"self": "self", "ping": "pong", "pong": "ping", // ELOOP
		"up": "..", // the state dir itself
	}
	for name, to := range links {
		if err := os.Symlink(to, filepath.Join(agents, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(agents, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../inner", filepath.Join(agents, "inner", "sessions")); err != nil { // sessions -> its agent dir
		t.Fatal(err)
	}
	if err := os.Symlink(".", h.path("main", "again")); err != nil { // inside a sessions dir
		t.Fatal(err)
	}
	appendFile(t, h.path("main", "realreal.jsonl"), fmt.Sprintf(header, "realreal")+call("r1", 10))
	var s Stats
	within(t, 20*time.Second, "backfill over symlink loops", func() { s = h.backfill() })
	if s.Inserted != 1 {
		t.Errorf("stats %+v: want the real agent's call", s)
	}
	joined := strings.Join(s.Warnings, "\n")
	for _, name := range []string{"self", "ping", "pong"} {
		if !strings.Contains(joined, filepath.Join(agents, name)) {
			t.Errorf("no warning about the loop agents/%s:\n%s", name, joined)
		}
	}
	var r *running
	within(t, 20*time.Second, "run over symlink loops", func() { r = h.run(20 * time.Millisecond) })
	appendFile(t, h.path("main", "realreal.jsonl"), call("r2", 10))
	waitUntil(t, "the real agent followed", func() bool { return r.usage("owner").Requests == 2 })
	time.Sleep(200 * time.Millisecond) // ~10 rescans
	if n := r.log.count("symlink loop"); n != 3 {
		t.Errorf("%d loop warnings over ~10 rescans, want 3 (one per looping link):\n%s", n, r.log)
	}
	within(t, 15*time.Second, "run stopping", r.stop)
}

// TestTwoAgentEntriesForOneDirectoryCountItsFilesOnce: agents/ops and
// agents/ops-alias -> ops are one directory: its calls are counted once,
// under the first name in sorted order, and the other is warned about.
func TestTwoAgentEntriesForOneDirectoryCountItsFilesOnce(t *testing.T) {
	h := newHarness(t)
	ops := filepath.Join(h.dir, "agents", "ops", "sessions")
	if err := os.MkdirAll(ops, 0o755); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(ops, "dupdupdu.jsonl"), fmt.Sprintf(header, "dupdupdu")+call("d1", 10)+call("d2", 10))
	if err := os.Symlink("ops", filepath.Join(h.dir, "agents", "ops-alias")); err != nil {
		t.Fatal(err)
	}
	s := h.backfill()
	if s.Events != 2 || s.Inserted != 2 {
		t.Errorf("stats %+v: want 2 events (the directory read once)", s)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], filepath.Join(h.dir, "agents", "ops-alias")) || !strings.Contains(s.Warnings[0], ops) {
		t.Errorf("warnings %q: want one naming ops-alias and ops", s.Warnings)
	}
	if got := h.usage(); got["salon"].Requests != 2 || got["owner"].Requests != 0 {
		t.Errorf("usage %+v: want 2 calls for salon (agent ops)", got)
	}
	// Following: still once, also for lines appended later.
	r := h.run(20 * time.Millisecond)
	appendFile(t, filepath.Join(ops, "dupdupdu.jsonl"), call("d3", 10))
	waitUntil(t, "the appended call", func() bool { return r.usage("salon").Requests == 3 })
	time.Sleep(200 * time.Millisecond)
	if got := r.usage("owner"); got.Requests != 0 {
		t.Errorf("the alias was counted too: owner %+v", got)
	}
	if n := r.log.count("ops-alias"); n != 1 {
		t.Errorf("alias warned %d times over ~10 rescans, want once:\n%s", n, r.log)
	}
}

// TestSourceWithNoTranscriptIsWarned: a source that yields no transcript
// (a wrong dir, an empty glob) is warned about in backfill's summary and
// once in run's log, instead of metering nothing in silence.
func TestSourceWithNoTranscriptIsWarned(t *testing.T) {
	h := newHarness(t)
	wrong := filepath.Join(t.TempDir(), "not-clawdbot")
	if err := os.MkdirAll(wrong, 0o755); err != nil {
		t.Fatal(err)
	}
	glob := filepath.Join(t.TempDir(), "*.jsonl")
	sources := []SourceConfig{{Type: SourceClawdbot, Dir: wrong}, {Type: SourceJSONL, Name: "proxy", Path: glob}}
	st := h.open()
	m := New(Config{Sources: sources}, st, h.attr, nil)
	lb := &logBuffer{}
	m.log = lb.logger()
	s, err := m.Backfill(context.Background(), nil, nil)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 2 || !strings.Contains(s.Warnings[0], filepath.Join(wrong, "agents")) || !strings.Contains(s.Warnings[1], glob) {
		t.Errorf("warnings %q: want one per empty source, naming where it looked", s.Warnings)
	}
	if n := lb.count("source holds no transcript"); n != 2 {
		t.Errorf("backfill logged %d empty-source warnings, want 2:\n%s", n, lb)
	}
	r := h.run(20*time.Millisecond, sources...)
	time.Sleep(200 * time.Millisecond) // ~10 rescans
	if n := r.log.count("source holds no transcript"); n != 2 {
		t.Errorf("run logged %d empty-source warnings, want 2 (at start, once each):\n%s", n, r.log)
	}
}
