package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// runUntilReady starts Run over the harness's state dir and returns once
// the catch-up is committed; stop ends it and returns its error.
func runUntilReady(t *testing.T, h *harness, st *store.Store) (m *Monitor, stop func() error) {
	t.Helper()
	m = New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, Rescan: time.Hour}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run ended before the catch-up: %v", err)
	}
	return m, func() error { cancel(); return <-done }
}

// TestQuietFilesAreHeldAsMarksAndSessionsInTheStore: after the catch-up,
// run holds of each quiet file only its mark and no session at all (memory
// flat as the history grows), before and after a restart; a file that then
// grows is read on from its stored checkpoint (no line read twice, its
// counters go on) and billed by its stored attribution (an envelope's
// peer), not by its name.
func TestQuietFilesAreHeldAsMarksAndSessionsInTheStore(t *testing.T) {
	h := newHarness(t)
	peers := []string{"+966500000001", "+966500000002", "+966500000003"}
	const n = 60
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%08d-quiet", i)
		appendFile(t, h.path("main", id+".jsonl"), fmt.Sprintf(header, id)+user(peers[i%3])+call(fmt.Sprintf("c%d", i), 10))
	}
	requests := func(st *store.Store, c string) int64 {
		us, _ := st.UsageByPeriod(context.Background(), "2026-11", c)
		if len(us) == 0 {
			return 0
		}
		return us[0].Requests
	}
	st := h.open()
	defer st.Close()
	for round := 0; round < 2; round++ { // the first run, then a restart
		m, stop := runUntilReady(t, h, st)
		if len(m.files) != 0 || len(m.sess.m) != 0 || m.quiet.len() != n {
			t.Errorf("round %d: after the catch-up %d files and %d sessions held whole, %d marks; want 0, 0, %d",
				round, len(m.files), len(m.sess.m), m.quiet.len(), n)
		}
		// File 0 is omar's by its envelope; its session is in the store only.
		before := requests(st, "omar")
		appendFile(t, h.path("main", "00000000-quiet.jsonl"), call(fmt.Sprintf("late%d", round), 5))
		deadline := time.Now().Add(20 * time.Second)
		for requests(st, "omar") != before+1 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: omar has %d requests, want %d (the late call billed elsewhere or not read)", round, requests(st, "omar"), before+1)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if s := m.Stats(); s.Duplicates != 0 || s.Bad != 0 || s.Inserted != int64(map[int]int{0: n + 1, 1: 1}[round]) {
			t.Errorf("round %d: stats %+v (a line read twice, or lost)", round, s)
		}
		fi := statT(t, h.path("main", "00000000-quiet.jsonl"))
		cp, ok, err := st.Checkpoint(context.Background(), fileIDOf(fi))
		if err != nil || !ok {
			t.Fatalf("checkpoint: %v %v", ok, err)
		}
		if want := int64(4 + round); cp.Lines != want || cp.Offset != fi.Size() || cp.Events != int64(2+round) {
			t.Errorf("round %d: checkpoint lines %d, events %d, offset %d of %d; want %d lines, %d events, the whole file",
				round, cp.Lines, cp.Events, cp.Offset, fi.Size(), want, 2+round)
		}
	}
	if got := requests(st, "omar"); got != n/3+2 {
		t.Errorf("omar %d requests, want %d", got, n/3+2)
	}
}

func statT(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// TestSettlingAfterEveryFileKeepsTheSampleExact: a backfill (and a run's
// catch-up) over a history larger than settleFiles settles in the middle
// of its read: every file and session is then read back from the store.
// With a settle after every file, the real sample (compacted copies with
// the same ids, a deleted archive, attribution by sessions.json and by
// envelope) still gives exactly its expected totals, a later backfill adds
// nothing, and lines appended afterwards are counted once.
func TestSettlingAfterEveryFileKeepsTheSampleExact(t *testing.T) {
	defer func(n int) { settleFiles = n }(settleFiles)
	settleFiles = 1
	h := newHarness(t)
	h.copySample()
	s := h.backfill()
	if s.Inserted != 16 || s.Duplicates != 0 || s.Synthetic != 3 || s.Bad != 0 || s.Files != 7 {
		t.Errorf("stats %+v", s)
	}
	checkSample(t, h.usage())
	if s := h.backfill(); s.Lines != 0 || s.Inserted != 0 {
		t.Errorf("second backfill read %d lines, inserted %d", s.Lines, s.Inserted)
	}
	// omar's session (8fab0eb3…, attributed by sessions.json) gains a call
	// while nothing runs; the next run's catch-up reads it from the stored
	// checkpoint and bills it by the stored session.
	before := h.usage()["omar"]
	appendFile(t, h.path("main", "8fab0eb3-7f34-468e-bcd6-559ceb636503.jsonl"), call("late-omar", 7))
	st := h.open()
	m, stop := runUntilReady(t, h, st)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if s := m.Stats(); s.Inserted != 1 || s.Duplicates != 0 || s.Lines != 1 {
		t.Errorf("catch-up stats %+v; want the one late line, inserted once", s)
	}
	if got := h.usage()["omar"]; got.Requests != before.Requests+1 || got.Input != before.Input+7 {
		t.Errorf("omar %+v, want one more request with 7 input tokens than %+v", got, before)
	}
}

// heldByMarks loads n marks into a set sized as load sizes it, merges and
// fits it as load does, and returns the bytes the set holds. ctimeAfter
// is how far each file's ctime is past its mtime.
func heldByMarks(t *testing.T, n int, ctimeAfter int64) int64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newQuietSet()
	s.recs = slices.Grow(s.recs, n) // as load sizes it
	for i := 0; i < n; i++ {
		s.load(store.FileID{Dev: 2049, Ino: uint64(1e6 + i*7)}, store.FileMark{FPLen: 64, FPHead: uint64(i) * 31, Offset: int64(i) * 1000,
			TailHash: uint64(i) * 17, MtimeNs: int64(i) << 20, CtimeNs: int64(i)<<20 + ctimeAfter})
	}
	s.merge()
	s.fit()
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(s)
	t.Logf("%d marks: %d bytes held (%d a file)", n, held, held/int64(n))
	return held
}

// TestQuietMarksHoldAtMostThirtyTwoBytesAFile: the marks of a history of
// 150,000 files were 8.2 MiB of the idle heap at 56 bytes a file (and the
// heap's headroom again as much); the fingerprints live in the stored
// checkpoint and the device in a table. Files whose mtime and ctime
// differ (renamed, touched) keep both times: 32 bytes.
func TestQuietMarksHoldAtMostThirtyTwoBytesAFile(t *testing.T) {
	const n = 100000
	if held := heldByMarks(t, n, 5); held > 33*n {
		t.Errorf("%d marks hold %d bytes (%d a file); want at most 32 a file", n, held, held/n)
	}
}

// TestQuietMarksHoldTwentyFourBytesAFileWhoseMtimeIsItsCtime: a write
// leaves a file's mtime and ctime equal, so of a history's files (150,000
// marks were 4.6 MiB of an 11.2 MiB idle heap at 32 bytes) one time is
// held for both.
func TestQuietMarksHoldTwentyFourBytesAFileWhoseMtimeIsItsCtime(t *testing.T) {
	const n = 100000
	if held := heldByMarks(t, n, 0); held > 25*n {
		t.Errorf("%d marks hold %d bytes (%d a file); want at most 24 a file", n, held, held/n)
	}
}

// TestQuietSetKeepsEveryMarkExactly: whatever the devices (more than one),
// the offsets (also past what a record packs) and the order of sets,
// deletes and merges, the set answers what a plain map of the marks
// answers (without the fingerprints, which it does not hold).
func TestQuietSetKeepsEveryMarkExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := newQuietSet()
	model := map[store.FileID]quietFile{}
	id := func() store.FileID {
		return store.FileID{Dev: []uint64{2049, 64768, 1 << 40}[rng.IntN(3)], Ino: uint64(rng.IntN(500))}
	}
	mark := func() quietFile {
		off := rng.Int64N(1 << 20)
		if rng.IntN(20) == 0 {
			off = 1<<offBits + rng.Int64N(1<<50) // wider than a record packs
		}
		// Equal times (as a write leaves them) half the time, and times
		// that differ by one nanosecond: either must come back exactly.
		ctime := rng.Int64()
		mtime := []int64{ctime, ctime, rng.Int64(), ctime - 1, ctime + 1}[rng.IntN(5)]
		return quietFile{FileMark: store.FileMark{FPLen: 64, FPHead: rng.Uint64(), Offset: off, TailHash: rng.Uint64(),
			MtimeNs: mtime, CtimeNs: ctime}, seen: rng.IntN(2) == 0}
	}
	for i := 0; i < 300; i++ { // as load does, before the first merge
		k, q := id(), mark()
		if _, dup := model[k]; dup {
			continue
		}
		s.load(k, q.FileMark)
		q.seen = false
		model[k] = strip(q)
	}
	s.merge()
	for step := 0; step < 20000; step++ {
		k := id()
		switch op := rng.IntN(10); {
		case op < 5:
			q := mark()
			s.set(k, q)
			model[k] = strip(q)
		case op < 8:
			s.delete(k)
			delete(model, k)
		case op < 9:
			s.merge()
		default:
		}
		if got, ok := s.get(k); ok != hasKey(model, k) || got != model[k] {
			t.Fatalf("step %d: get(%v) = %+v, %v; want %+v, %v", step, k, got, ok, model[k], hasKey(model, k))
		}
		if s.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, s.len(), len(model))
		}
	}
	s.merge()
	for k, want := range model {
		if got, ok := s.get(k); !ok || got != want {
			t.Errorf("after the last merge: get(%v) = %+v, %v; want %+v", k, got, ok, want)
		}
	}
}

func hasKey(m map[store.FileID]quietFile, k store.FileID) bool { _, ok := m[k]; return ok }
