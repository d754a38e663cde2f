package monitor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// quickStamps lets files written a moment ago be stamped: tests cannot
// wait stampMargin's 2 s for every file. settled waits until what was just
// written is older than the margin.
func quickStamps(t *testing.T) (settled func()) {
	t.Helper()
	old := stampMargin
	stampMargin = 30 * time.Millisecond
	t.Cleanup(func() { stampMargin = old })
	return func() { time.Sleep(2 * stampMargin) }
}

// opened records the files processFile opens until the test ends.
type opened struct {
	mu    sync.Mutex
	paths []string
}

func countOpens(t *testing.T) *opened {
	t.Helper()
	o := &opened{}
	onOpen = func(p string) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.paths = append(o.paths, p)
	}
	t.Cleanup(func() { onOpen = nil })
	return o
}

func (o *opened) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.paths
	o.paths = nil
	return p
}

// restart runs a fresh monitor over the harness's store until it has
// caught up, stops it and returns its stats.
func restart(t *testing.T, h *harness) Stats {
	t.Helper()
	st := h.open()
	defer st.Close()
	m, stop := runUntilReady(t, h, st)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	return m.Stats()
}

// marks returns the stored mark of every file by path.
func marks(t *testing.T, h *harness, paths ...string) map[string]store.FileMark {
	t.Helper()
	st := h.open()
	defer st.Close()
	byID := map[store.FileID]store.FileMark{}
	if err := st.EachFileMark(context.Background(), func(id store.FileID, fm store.FileMark) { byID[id] = fm }); err != nil {
		t.Fatal(err)
	}
	out := map[string]store.FileMark{}
	for _, p := range paths {
		if fm, ok := byID[fileIDOf(statT(t, p))]; ok {
			out[p] = fm
		}
	}
	return out
}

// quietHistory writes n one-call transcripts and backfills them once they
// are old enough to be stamped.
func quietHistory(t *testing.T, h *harness, n int, settled func()) []string {
	t.Helper()
	var paths []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%08d-stamp", i)
		p := h.path("main", id+".jsonl")
		appendFile(t, p, fmt.Sprintf(header, id)+call(fmt.Sprintf("c%d", i), 10))
		paths = append(paths, p)
	}
	settled()
	if s := h.backfill(); s.Inserted != int64(n) {
		t.Fatalf("backfill inserted %d, want %d", s.Inserted, n)
	}
	return paths
}

// TestRestartTrustsTheStampOfAQuietFileAndOpensNone: after a restart, a
// file whose identity, size, mtime and ctime are those stored with its
// checkpoint is quiet without being opened, and still counted as followed.
func TestRestartTrustsTheStampOfAQuietFileAndOpensNone(t *testing.T) {
	settled := quickStamps(t)
	h := newHarness(t)
	paths := quietHistory(t, h, 20, settled)
	for p, fm := range marks(t, h, paths...) {
		if fm.MtimeNs == 0 || fm.CtimeNs == 0 {
			t.Errorf("%s: stored without a stamp (%+v)", filepath.Base(p), fm)
		}
	}
	o := countOpens(t)
	s := restart(t, h)
	if got := o.take(); len(got) != 0 {
		t.Errorf("the catch-up opened %d quiet, stamped files (first %s); want none", len(got), filepath.Base(got[0]))
	}
	if s.Files != 20 || s.Lines != 0 || s.Inserted != 0 {
		t.Errorf("catch-up stats %+v; want 20 files followed, nothing read", s)
	}
	if got := h.usage()["owner"]; got.Requests != 20 {
		t.Errorf("owner %d requests, want 20", got.Requests)
	}
}

// TestRestartNoticesASameSizeRewriteWithItsMtimeSetBack: a file rewritten
// in place to exactly its size, its mtime then restored (touch -d), has a
// new ctime: the restart reads it again and counts the new call.
func TestRestartNoticesASameSizeRewriteWithItsMtimeSetBack(t *testing.T) {
	settled := quickStamps(t)
	h := newHarness(t)
	p := quietHistory(t, h, 1, settled)[0]
	fi := statT(t, p)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(fmt.Sprintf(header, "00000000-stamp") + call("cX", 10)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if now := statT(t, p); now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("the rewrite changed size or mtime: %d %v, was %d %v", now.Size(), now.ModTime(), fi.Size(), fi.ModTime())
	}
	settled()
	if s := restart(t, h); s.Inserted != 1 {
		t.Errorf("catch-up stats %+v; want the rewritten call inserted", s)
	}
	if got := h.usage()["owner"]; got.Requests != 2 {
		t.Errorf("owner %d requests, want 2: the same-size rewrite with its mtime set back was missed", got.Requests)
	}
}

// TestRestartNoticesAFileReplacedByRenameWithTheSameSizeAndMtime: a new
// file renamed over a transcript is another inode: read from the start.
func TestRestartNoticesAFileReplacedByRenameWithTheSameSizeAndMtime(t *testing.T) {
	settled := quickStamps(t)
	h := newHarness(t)
	p := quietHistory(t, h, 1, settled)[0]
	fi := statT(t, p)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf(header, "00000000-stamp")+call("cY", 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	settled()
	if s := restart(t, h); s.Inserted != 1 {
		t.Errorf("catch-up stats %+v; want the replacement's call inserted", s)
	}
	if got := h.usage()["owner"]; got.Requests != 2 {
		t.Errorf("owner %d requests, want 2: the replaced file was missed", got.Requests)
	}
}

// TestRestartNoticesAnAppendWithItsMtimeSetBack: a file that grew while
// nothing ran is read on from its checkpoint, whatever its mtime says.
func TestRestartNoticesAnAppendWithItsMtimeSetBack(t *testing.T) {
	settled := quickStamps(t)
	h := newHarness(t)
	p := quietHistory(t, h, 1, settled)[0]
	fi := statT(t, p)
	appendFile(t, p, call("cZ", 10))
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	settled()
	if s := restart(t, h); s.Inserted != 1 || s.Lines != 1 {
		t.Errorf("catch-up stats %+v; want the one appended line read and inserted", s)
	}
	if got := h.usage()["owner"]; got.Requests != 2 {
		t.Errorf("owner %d requests, want 2: the append was missed", got.Requests)
	}
}

// TestAFileChangedJustBeforeItWasReadIsStampedOnlyOnceVerifiedLater: a
// file whose ctime is within stampMargin of the stat that read it is
// stored unstamped (a same-size change in the same timestamp tick would
// not show), so the next start opens and verifies it, as before stamps,
// and stamps it then; the start after that opens nothing.
func TestAFileChangedJustBeforeItWasReadIsStampedOnlyOnceVerifiedLater(t *testing.T) {
	h := newHarness(t)
	p := h.path("main", "fresh.jsonl")
	appendFile(t, p, fmt.Sprintf(header, "fresh")+call("c1", 10))
	h.backfill() // at once: well within the 2 s margin
	if fm := marks(t, h, p)[p]; fm.Offset == 0 || fm.MtimeNs != 0 || fm.CtimeNs != 0 {
		t.Fatalf("a file read %v after its last change was stored as %+v; want its offset and no stamp", time.Since(statT(t, p).ModTime()), fm)
	}
	settled := quickStamps(t)
	settled()
	o := countOpens(t)
	restart(t, h)
	if got := o.take(); len(got) != 1 {
		t.Errorf("the first restart opened %v; want the unstamped file verified", got)
	}
	fi := statT(t, p)
	if fm := marks(t, h, p)[p]; fm.MtimeNs != fi.ModTime().UnixNano() || fm.CtimeNs != ctimeOf(fi) {
		t.Errorf("after its verification the file's mark is %+v; want its mtime %d and ctime %d", fm, fi.ModTime().UnixNano(), ctimeOf(fi))
	}
	if s := restart(t, h); s.Files != 1 {
		t.Errorf("second restart stats %+v; want the file followed", s)
	}
	if got := o.take(); len(got) != 0 {
		t.Errorf("the second restart opened %v; want nothing", got)
	}
	if got := h.usage()["owner"]; got.Requests != 1 {
		t.Errorf("owner %d requests, want 1", got.Requests)
	}
}

// TestFilesAreReadInTheOrderOfOneSortedListOfTheirPaths: sessions dirs are
// listed one at a time as they are read, yet files are read in the order a
// sorted list of every path gives (agent "a-b" before "a": '-' < '/'),
// as when discovery listed every path first.
func TestFilesAreReadInTheOrderOfOneSortedListOfTheirPaths(t *testing.T) {
	h := newHarness(t)
	var want []string
	for _, agent := range []string{"a", "a-b", "a.c", "b"} {
		for _, name := range []string{"z.jsonl", "m.jsonl.deleted.2026-11-27T00-11-19.326Z", "m.jsonl", "A.jsonl"} {
			p := h.path(agent, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			appendFile(t, p, fmt.Sprintf(header, agent+name))
			want = append(want, p)
		}
	}
	sort.Strings(want)
	o := countOpens(t)
	h.backfill()
	if got := o.take(); !slices.Equal(got, want) {
		t.Errorf("files read in the order\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
