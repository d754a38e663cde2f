package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/parser"
	"github.com/quotawatch/quotawatch/store"
)

// bigCall is an assistant call whose line is about size bytes (a long
// reply in its content).
func bigCall(id string, input, size int) string {
	l := call(id, input)
	pad := size - len(l)
	if pad < 0 {
		pad = 0
	}
	return strings.Replace(l, `"content":[]`, `"content":[{"type":"text","text":"`+strings.Repeat("x", pad)+`"}]`, 1)
}

// TestLineAfterNULBlockIsKept: ext4 leaves a zero-filled block after a
// crash, and the next line written lands right after it, on the same
// "line". The NULs (and what was torn before them) are one bad line; the
// line after them is read. A line of NULs alone is one bad line; binary
// garbage with a NUL and nothing line-like after it stays one bad line.
func TestLineAfterNULBlockIsKept(t *testing.T) {
	h := newHarness(t)
	p := h.path("main", "0a0a0a0a.jsonl")
	torn := call("lost", 999)[:60]
	appendFile(t, p, fmt.Sprintf(header, "0a0a0a0a")+
		call("c1", 10)+
		strings.Repeat("\x00", 4096)+call("c2", 20)+ // zeros, then the next line
		torn+strings.Repeat("\x00", 100)+call("c3", 40)+ // a torn line, zeros, the next line
		"\x00\x00\x00\n"+ // zeros alone
		"\x00\x01\x02\xff binary \x00 more\n"+ // garbage with NULs: one bad line
		strings.Repeat("\x00", 600<<10)+call("c4", 80)) // a block longer than the read buffer and than max_line_bytes
	st := h.open()
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}, MaxLineBytes: 64 << 10}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s, err := m.Backfill(context.Background(), nil, nil)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s.Inserted != 4 || s.Bad != 5 {
		t.Errorf("stats %+v: want the 4 calls and 5 bad lines (three NUL blocks with what came before them, the NUL-only line, the garbage)", s)
	}
	if got := h.usage()["owner"]; got.Requests != 4 || got.Input != 150 {
		t.Errorf("owner %+v, want the 4 calls (150 input tokens)", got)
	}
	fi, _ := os.Stat(p)
	if s.Bytes != fi.Size() {
		t.Errorf("consumed %d bytes of %d", s.Bytes, fi.Size())
	}
}

// TestLineAfterNULBlockKeepsItsRealOffset: a generic log line without an id
// is keyed by its byte offset; after a NUL block that is where the line
// itself starts, not where the zeros start, and reading the file again from
// the start gives the same keys (nothing new).
func TestLineAfterNULBlockKeepsItsRealOffset(t *testing.T) {
	h := newHarness(t)
	logDir := filepath.Join(t.TempDir(), "proxy")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	line := `{"time":"2026-11-05T10:00:00Z","customer":"salon","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.25}`
	first := fmt.Sprintf(line, 10)
	zeros := strings.Repeat("\x00", 1000)
	p := filepath.Join(logDir, "a.jsonl")
	appendFile(t, p, first+"\n"+zeros+fmt.Sprintf(line, 20)+"\n")
	src := SourceConfig{Type: SourceJSONL, Name: "proxy", Path: filepath.Join(logDir, "*.jsonl"), Fields: parser.DefaultFields()}
	backfill := func() Stats {
		st := h.open()
		defer st.Close()
		s, err := New(Config{Sources: []SourceConfig{src}}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil))).Backfill(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := backfill(); s.Inserted != 2 || s.Bad != 1 {
		t.Fatalf("stats %+v: want both lines and the NUL block as one bad line", s)
	}
	st := h.open()
	want := jsonlOffsetKey("proxy", hashBytes([]byte(first)), int64(len(first)+1+len(zeros)))
	var n int
	if err := st.DB().QueryRow("SELECT COUNT(*) FROM events WHERE key = ?", want).Scan(&n); err != nil || n != 1 {
		t.Errorf("no event keyed %q (%d, %v): the line after the NULs must be keyed by where it starts", want, n, err)
	}
	// Read again from the start (as after a rewrite is detected): the same
	// keys, nothing new.
	if _, err := st.DB().Exec("DELETE FROM files"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if s := backfill(); s.Inserted != 0 || s.Duplicates != 2 {
		t.Errorf("re-read stats %+v: want 2 duplicates", s)
	}
	if got := h.usage()["salon"]; got.Requests != 2 || got.Input != 30 {
		t.Errorf("salon %+v", got)
	}
}

// follower is a monitor reading one file by hand, as Run does on each
// file event.
type follower struct {
	t   *testing.T
	m   *Monitor
	st  *store.Store
	src Source
}

func newFollower(t *testing.T, h *harness, cfg Config) *follower {
	t.Helper()
	st := h.open()
	cfg.Sources = []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}
	m := New(cfg, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := m.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.startWriter()
	return &follower{t: t, m: m, st: st, src: m.sources[0]}
}

// step reads what the file gained and commits it.
func (f *follower) step(path string) {
	f.src.read(f.m, path)
	f.m.flush()
	<-f.m.barrier()
}

func (f *follower) read(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.m.files[fileIDOf(fi)].read
}

func (f *follower) close() Stats {
	if err := f.m.finish(); err != nil {
		f.t.Fatal(err)
	}
	f.st.Close()
	return f.m.Stats()
}

// TestGrowingPartialLineIsScannedOnce: an unterminated last line that
// grows many times is scanned once in all (each append reads only what it
// added), not once per append; once its newline arrives it is counted
// exactly once, correctly. Before, every append re-read the line from the
// checkpoint: quadratic (5.6 CPU-s in 10 s for a 20 MB line).
func TestGrowingPartialLineIsScannedOnce(t *testing.T) {
	h := newHarness(t)
	p := h.path("main", "1b1b1b1b.jsonl")
	line := bigCall("big", 77, 2<<20)
	const grows = 300
	step := 1 << 10
	cut := len(line) - grows*step - 1 // the last piece brings the newline
	appendFile(t, p, fmt.Sprintf(header, "1b1b1b1b")+call("c1", 10)+line[:cut])
	f := newFollower(t, h, Config{})
	f.step(p)
	for i := range grows {
		appendFile(t, p, line[cut+i*step:cut+(i+1)*step])
		f.step(p)
	}
	if got := h.usage()["owner"]; got.Requests != 1 {
		t.Fatalf("before its newline: owner %+v, want only c1", got)
	}
	appendFile(t, p, line[cut+grows*step:]+call("c2", 20))
	f.step(p)
	f.step(p) // nothing new: reads nothing, counts nothing
	read := f.read(p)
	s := f.close()
	fi, _ := os.Stat(p)
	// Linear: the partial line is scanned once and read once more when it
	// is complete. Re-reading it on every append would be ~300 × 2 MiB.
	if read > 3*fi.Size() {
		t.Errorf("read %d bytes for a %d-byte file grown %d times: the partial line is re-read on every append", read, fi.Size(), grows)
	}
	t.Logf("read %d bytes for a %d-byte file grown %d times", read, fi.Size(), grows)
	if s.Inserted != 3 || s.Duplicates != 0 || s.Bad != 0 || s.Bytes != fi.Size() {
		t.Errorf("stats %+v: want 3 calls, each once", s)
	}
	if got := h.usage()["owner"]; got.Requests != 3 || got.Input != 10+77+20 {
		t.Errorf("owner %+v, want c1, the big call and c2 (107 input tokens)", got)
	}
}

// TestGrowingOversizedPartialLineIsOneBadLine: a partial line that grows
// past max_line_bytes, scanned only as it grows, is still one bad line once
// terminated, and the line after it is read.
func TestGrowingOversizedPartialLineIsOneBadLine(t *testing.T) {
	h := newHarness(t)
	p := h.path("main", "2c2c2c2c.jsonl")
	line := bigCall("huge", 5, 1<<20)
	appendFile(t, p, fmt.Sprintf(header, "2c2c2c2c")+line[:1000])
	f := newFollower(t, h, Config{MaxLineBytes: 64 << 10})
	f.step(p)
	for off := 1000; off < len(line)-1; off += 16 << 10 {
		appendFile(t, p, line[off:min(off+16<<10, len(line)-1)])
		f.step(p)
	}
	appendFile(t, p, "\n"+call("c1", 10))
	f.step(p)
	read := f.read(p)
	s := f.close()
	fi, _ := os.Stat(p)
	if read > 3*fi.Size() {
		t.Errorf("read %d bytes for a %d-byte file", read, fi.Size())
	}
	if s.Bad != 1 || s.Inserted != 1 || s.Bytes != fi.Size() {
		t.Errorf("stats %+v: want the oversized line as one bad line and c1", s)
	}
	if got := h.usage()["owner"]; got.Requests != 1 || got.Input != 10 {
		t.Errorf("owner %+v", got)
	}
}

// TestPartialLineRewrittenShorterIsReadAgain: a file cut back under the
// scanned part of its partial line (and written again) is scanned afresh,
// so the new line is not skipped.
func TestPartialLineRewrittenShorterIsReadAgain(t *testing.T) {
	h := newHarness(t)
	p := h.path("main", "3d3d3d3d.jsonl")
	head := fmt.Sprintf(header, "3d3d3d3d") + call("c1", 10)
	appendFile(t, p, head+strings.Repeat("y", 5000))
	f := newFollower(t, h, Config{})
	f.step(p)
	if err := os.Truncate(p, int64(len(head))); err != nil {
		t.Fatal(err)
	}
	appendFile(t, p, call("c2", 20))
	f.step(p)
	s := f.close()
	if s.Inserted != 2 {
		t.Errorf("stats %+v: want c1 and c2", s)
	}
}

// TestResumedLogWithLongFirstLineKeysAlike: lines of a generic log without
// ids are keyed by the hash of the log's first line. A process that resumes
// mid-file recomputes that hash from the file; for a first line longer
// than its 64 KiB read buffer it hashed only the first 64 KiB less a byte,
// so its keys differed from those of a process that read from the start,
// and a later re-read (after a rewrite is detected) counted its lines twice.
func TestResumedLogWithLongFirstLineKeysAlike(t *testing.T) {
	h := newHarness(t)
	logDir := filepath.Join(t.TempDir(), "proxy")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	line := `{"time":"2026-11-05T10:00:00Z","customer":"salon","model":"m","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.25,"note":"%s"}` + "\n"
	p := filepath.Join(logDir, "a.jsonl")
	appendFile(t, p, fmt.Sprintf(line, 10, strings.Repeat("n", 100<<10)))
	src := SourceConfig{Type: SourceJSONL, Name: "proxy", Path: filepath.Join(logDir, "*.jsonl"), Fields: parser.DefaultFields()}
	backfill := func() Stats {
		st := h.open()
		defer st.Close()
		s, err := New(Config{Sources: []SourceConfig{src}}, st, h.attr, slog.New(slog.NewTextHandler(io.Discard, nil))).Backfill(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	backfill()                                  // reads from the start
	appendFile(t, p, fmt.Sprintf(line, 20, "")) // read by a process that resumes mid-file
	if s := backfill(); s.Inserted != 1 {
		t.Fatalf("resumed: %+v", s)
	}
	st := h.open()
	if _, err := st.DB().Exec("DELETE FROM files"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if s := backfill(); s.Inserted != 0 || s.Duplicates != 2 {
		t.Errorf("read again from the start: %+v; want the 2 lines as duplicates", s)
	}
	if got := h.usage()["salon"]; got.Requests != 2 || got.Input != 30 {
		t.Errorf("salon %+v", got)
	}
}
