package monitor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/quotawatch/quotawatch/parser"
	"github.com/quotawatch/quotawatch/store"
)

const (
	headLen = 1024 // bytes hashed to recognise a file rewritten in place
	tailLen = 64   // bytes before the checkpoint that must still be there
)

// fileState is the reader's position in one file (by identity).
type fileState struct {
	cp store.Checkpoint
	// firstLine is the hash of the first line, the identity generic log
	// events are keyed by when the log has no id field.
	firstLine uint64
	badLogged int64
	// mtime and ctime (UnixNano) are the times seen when the file was last
	// verified (verified says it was); the no-open fast path requires both
	// unchanged, so a rewrite in place to exactly the same size, even with
	// its mtime set back, is still noticed.
	mtime, ctime int64
	verified     bool
	// partial is how many bytes past the checkpoint (when it was at
	// partialAt) were scanned without finding a '\n': an unterminated last
	// line. The next read looks for its newline only in the bytes the file
	// gained since, instead of reading the whole line again on every append
	// (a 20 MB partial line growing a byte at a time cost 5.6 CPU-s in 10 s).
	partial, partialAt int64
	// read counts the bytes read from the file's contents.
	read int64
	// seq is the batch that holds the file's last checkpoint (job.seq):
	// until it is committed the file is held whole.
	seq int
	// rd is the reader of the file while it is being read; it lives here so
	// that reading a file costs no allocation for it.
	rd fileReader
}

// scanned is how far the file is known: the checkpoint, plus the part of an
// unterminated last line already scanned.
func (fs *fileState) scanned() int64 {
	if fs.partialAt == fs.cp.Offset {
		return fs.cp.Offset + fs.partial
	}
	return fs.cp.Offset
}

// fileReader reads a file with pread from an offset on, counting the bytes.
type fileReader struct {
	f    *os.File
	off  int64
	read *int64
}

func (r *fileReader) Read(p []byte) (int, error) {
	n, err := r.f.ReadAt(p, r.off)
	r.off += int64(n)
	*r.read += int64(n)
	return n, err
}

// reader points fs.rd at f from off and hands it to r.
func (fs *fileState) reader(r *bufio.Reader, f *os.File, off int64) {
	fs.rd = fileReader{f: f, off: off, read: &fs.read}
	r.Reset(&fs.rd)
}

// fileStat is the part of a stat that tells a file unchanged.
type fileStat struct {
	id                 store.FileID
	size, mtime, ctime int64
}

func fileIDOf(fi os.FileInfo) store.FileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return store.FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
	}
	return store.FileID{}
}

func hashBytes(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// hashAt hashes n bytes at off, or reports false if they cannot all be read.
func hashAt(f *os.File, off, n int64) (uint64, bool) {
	if n <= 0 {
		return 0, true
	}
	var arr [headLen]byte // n is at most headLen: no allocation per file
	buf := arr[:min(n, headLen)]
	if n > headLen {
		buf = make([]byte, n)
	}
	if _, err := f.ReadAt(buf, off); err != nil {
		return 0, false
	}
	return hashBytes(buf), true
}

// stillValid checks that the consumed part of a file is what we consumed:
// not truncated, not rewritten, not another file on a reused inode.
func stillValid(f *os.File, cp *store.Checkpoint, size int64) bool {
	if cp.Offset == 0 {
		return true
	}
	if size < cp.Offset {
		return false
	}
	if h, ok := hashAt(f, 0, cp.FPLen); !ok || h != cp.FPHead {
		return false
	}
	n := min(int64(tailLen), cp.Offset)
	if h, ok := hashAt(f, cp.Offset-n, n); !ok || h != cp.TailHash {
		return false
	}
	return true
}

// seal records the fingerprints of the consumed prefix [0, cp.Offset).
func seal(f *os.File, cp *store.Checkpoint) {
	cp.FPLen = min(int64(headLen), cp.Offset)
	cp.FPHead, _ = hashAt(f, 0, cp.FPLen)
	n := min(int64(tailLen), cp.Offset)
	cp.TailHash, _ = hashAt(f, cp.Offset-n, n)
}

// lineSource is a kind whose items are files of JSON lines, read from a
// byte-offset checkpoint by this file's reader (clawdbot.go, jsonl.go).
type lineSource interface {
	Source
	// fileAgent names the agent a file's events are keyed and billed by.
	fileAgent(path string) string
	// sink returns the handler of one read of f's lines.
	sink(m *Monitor, f *os.File) lineSink
}

// lineSink turns the complete lines of one read of one file into events.
type lineSink interface {
	// line handles one complete line (without its '\n') that starts at
	// byte start of the file.
	line(m *Monitor, fs *fileState, line []byte, start int64)
	// done ends the read.
	done()
}

// fileChanged is what a file event means to a line source: a file to read
// again, or a path that no longer names the file it named.
func (m *Monitor) fileChanged(ev fsnotify.Event, ch *changes) {
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		delete(m.paths, ev.Name)
		return
	}
	ch.add(ev.Name)
}

// filePending is how many bytes of a file are past its checkpoint.
func (m *Monitor) filePending(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	off := int64(0)
	if fs := m.files[fileIDOf(fi)]; fs != nil {
		off = fs.cp.Offset
	} else if q, ok := m.quiet.get(fileIDOf(fi)); ok {
		off = q.Offset
	}
	return max(fi.Size()-off, 0)
}

// stampMargin is how much older than the moment a file was stat'ed its
// change time must be for that stat to be stored as the file's stamp.
// Timestamps advance in ticks (a jiffy on Linux; a second, or two, on some
// file systems): a same-size rewrite in the tick of the stat would leave
// both times as they were, so a stamp is stored only when any change after
// the stat must show as a later ctime. Files written just before they were
// read (all of a live run's) are stored unstamped and verified by reading at
// the next start, which stamps them then.
var stampMargin = 2 * time.Second

// stampOf is what to store of fi's times: (mtime, ctime), or (0, 0) when
// they could not tell a later change apart. before is a time taken before
// fi was stat'ed.
func stampOf(fi os.FileInfo, before time.Time) (mtime, ctime int64) {
	ct := ctimeOf(fi)
	if ct == 0 || ct >= before.Add(-stampMargin).UnixNano() {
		return 0, 0
	}
	return fi.ModTime().UnixNano(), ct
}

// onOpen, when set (by tests), is called with each file processFile opens.
var onOpen func(path string)

// processFile reads the complete lines a file gained since its checkpoint.
func (m *Monitor) processFile(path string, src lineSource) {
	// Fast path: same identity, same size as consumed, same mtime and ctime
	// as when the file was last verified (by this process, or, stored with
	// its checkpoint, by the one before it): nothing to open. With no stamp
	// loaded (a first backfill) the stat would only cost a syscall a file.
	if _, known := m.paths[path]; (known || m.following || m.stamped > 0) && m.statFast(path, src) {
		return
	}
	before := time.Now() // the wall clock file times are set by, not m.now
	if onOpen != nil {
		onOpen(path)
	}
	// O_NONBLOCK: opening a FIFO named *.jsonl must not wait for a writer
	// forever (it blocked backfill and run, SIGTERM included); regular
	// files ignore the flag.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			delete(m.paths, path)
			return
		}
		m.unreadable(path, "cannot read file; skipped", "err", err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		m.unreadable(path, "cannot stat file; skipped", "err", err)
		return
	}
	if !fi.Mode().IsRegular() {
		m.unreadable(path, "not a regular file; skipped", "mode", fi.Mode().String())
		return
	}
	delete(m.badPaths, path)
	id := fileIDOf(fi)
	size := fi.Size()
	mtime, ctime := fi.ModTime().UnixNano(), ctimeOf(fi)
	agent := src.fileAgent(path)
	m.cur = src.stats()
	fs := m.files[id]
	_, seen := m.paths[path]
	verified := false
	if q, ok := m.quiet.get(id); ok && fs == nil {
		seen = seen || q.seen
		var quiet bool
		var mark store.Checkpoint
		if fs, mark, quiet, err = m.wake(f, id, q, path, size); err != nil {
			m.log.Warn("cannot read the checkpoint of a file; will retry", "file", path, "err", err)
			return
		}
		if quiet {
			if !seen {
				m.countFile()
			}
			// Verified by reading after the stat: the stat can stand for
			// it at the next start.
			if smt, sct := stampOf(fi, before); sct != 0 {
				m.batch.Stamps = append(m.batch.Stamps, store.Stamp{FileID: id, Offset: q.Offset, FPHead: mark.FPHead,
					TailHash: mark.TailHash, MtimeNs: smt, CtimeNs: sct})
				m.flushIfFull()
			}
			q.MtimeNs, q.CtimeNs, q.seen = mtime, ctime, true
			m.quiet.set(id, q)
			return // nothing new: nothing held but its mark
		}
		verified = true
	}
	if !seen {
		m.countFile()
	}
	m.paths[path] = id
	if fs == nil {
		fs = &fileState{cp: store.Checkpoint{FileID: id}}
		fs.cp.SessionID = sessionIDFromName(path)
		m.files[id] = fs
	} else if !verified && !stillValid(f, &fs.cp, size) {
		m.log.Info("file was rewritten or replaced; reading it again from the start (ids prevent double counting)", "file", path)
		fs.cp = store.Checkpoint{FileID: id, SessionID: sessionIDFromName(path)}
		fs.firstLine, fs.partial = 0, 0
	}
	fs.cp.Path, fs.cp.Agent = path, agent
	fs.mtime, fs.ctime, fs.verified = mtime, ctime, true
	// Whatever this read commits is what the file held at the stat (a
	// change after it would move the ctime on).
	fs.cp.MtimeNs, fs.cp.CtimeNs = stampOf(fi, before)
	if size <= fs.cp.Offset {
		return
	}
	m.readFrom(f, fs, src, size)
}

// statFast reports whether a stat alone shows a file unchanged since it was
// last read or verified.
func (m *Monitor) statFast(path string, src lineSource) bool {
	st, ok := quickStat(path)
	if !ok {
		return false
	}
	id, mtime, ctime := st.id, st.mtime, st.ctime
	if q, ok := m.quiet.get(id); ok && (q.MtimeNs != 0 || q.CtimeNs != 0) && st.size == q.Offset &&
		mtime == q.MtimeNs && ctime == q.CtimeNs {
		if !q.seen {
			// Stamped by the process before this one: counted now.
			m.cur = src.stats()
			m.countFile()
			q.seen = true
			m.quiet.set(id, q)
		}
		return true
	}
	if pid, ok := m.paths[path]; ok && pid == id {
		if fs := m.files[id]; fs != nil && fs.verified && st.size == fs.scanned() && mtime == fs.mtime && ctime == fs.ctime {
			return true
		}
	}
	return false
}

// countFile counts a file read for the first time in this process.
func (m *Monitor) countFile() {
	m.stats.files.Add(1)
	m.cur.files.Add(1)
	m.cur.items.Add(1)
}

// wake verifies a quiet file against its mark. quiet says it is unchanged
// (mark is then its stored checkpoint, whose fingerprints a stamp
// repeats); otherwise fs is its state, held again: the stored checkpoint
// when the file still is what was read, else a fresh one. The mark holds
// no fingerprints: they are read back with the checkpoint the mark was
// taken from, one point query for a file whose stat differs from its mark.
func (m *Monitor) wake(f *os.File, id store.FileID, q quietFile, path string, size int64) (fs *fileState, mark store.Checkpoint, quiet bool, err error) {
	cp, ok, err := m.st.Checkpoint(context.Background(), id)
	if err != nil {
		return nil, mark, false, err
	}
	if !ok || cp.Offset != q.Offset {
		// The mark of a file nothing was committed for (read to offset 0,
		// or never stored): read it from the start; ids prevent double
		// counting.
		m.quiet.delete(id)
		fs = &fileState{cp: store.Checkpoint{FileID: id, SessionID: sessionIDFromName(path)}}
		m.files[id] = fs
		return fs, mark, false, nil
	}
	cp.FileID = id
	if !stillValid(f, &cp, size) {
		m.log.Info("file was rewritten or replaced; reading it again from the start (ids prevent double counting)", "file", path)
		m.quiet.delete(id)
		fs = &fileState{cp: store.Checkpoint{FileID: id, SessionID: sessionIDFromName(path)}}
		m.files[id] = fs
		return fs, mark, false, nil
	}
	if size == q.Offset {
		return nil, cp, true, nil
	}
	m.quiet.delete(id)
	fs = &fileState{cp: cp}
	m.files[id] = fs
	return fs, mark, false, nil
}

// The read buffer and the parser (with its JSON arena) are reused from
// file to file: allocating them per file made a backfill of 10,000 files
// churn 2.5 GB through the garbage collector.
var (
	readers   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}
	clawdbots = sync.Pool{New: func() any { return new(parser.Clawdbot) }}
)

// unreadable counts and logs a file that cannot be read, once per path
// until it becomes readable: the rescan must not repeat the warning forever.
func (m *Monitor) unreadable(path, msg string, args ...any) {
	if m.badPaths[path] {
		return
	}
	m.badPaths[path] = true
	m.stats.unreadable.Add(1)
	m.log.Warn(msg, append([]any{"file", path}, args...)...)
}

// errNULBlock is the reason a line holding NUL bytes is (partly) bad.
var errNULBlock = errors.New("NUL bytes (a zero-filled block, as a crash leaves) and whatever preceded them on the line")

func (m *Monitor) readFrom(f *os.File, fs *fileState, src lineSource, size int64) {
	cp := &fs.cp
	if fs.partialAt != cp.Offset || cp.Offset+fs.partial > size {
		// The checkpoint moved, or the file shrank under the scanned part:
		// scan the tail afresh.
		fs.partial = 0
	}
	r := readers.Get().(*bufio.Reader)
	defer readers.Put(r)
	if fs.partial > 0 {
		if size <= cp.Offset+fs.partial {
			return // nothing new after the unterminated line
		}
		// Look for the newline only in what was appended; once it is there,
		// the line is read (once) from the checkpoint like any other.
		fs.reader(r, f, cp.Offset+fs.partial)
		for {
			chunk, err := r.ReadSlice('\n')
			if err == nil {
				break
			}
			fs.partial += int64(len(chunk))
			if !errors.Is(err, bufio.ErrBufferFull) {
				if !errors.Is(err, io.EOF) {
					m.log.Warn("read error; will retry", "file", cp.Path, "offset", cp.Offset+fs.partial, "err", err)
				}
				return
			}
		}
		fs.partial = 0
	}
	fs.reader(r, f, cp.Offset)
	sk := src.sink(m, f)
	defer sk.done()
	var long []byte
	var lineLen int64 // bytes of the current line read so far
	var junk int64    // bytes of it up to and including its last NUL
	// opens says that what follows the line's last NUL begins like a line
	// ('{'); pending, that its first byte has not been read yet.
	opens, pending := false, false
	oversized := false
	progressed := false
	for {
		chunk, err := r.ReadSlice('\n')
		full := errors.Is(err, bufio.ErrBufferFull)
		if err != nil && !full {
			if !errors.Is(err, io.EOF) {
				m.log.Warn("read error; will retry", "file", cp.Path, "offset", cp.Offset+lineLen, "err", err)
			}
			// An unterminated last line is not consumed yet; remember how
			// far it has been scanned.
			fs.partial, fs.partialAt = lineLen+int64(len(chunk)), cp.Offset
			break
		}
		body := chunk
		if !full {
			body = chunk[:len(chunk)-1]
		}
		// JSON never holds a raw NUL. A line written after a crash that
		// left a zero-filled block shares a "line" with the zeros (and with
		// what was torn before them): the real line starts after the last
		// NUL, if what follows it opens like one.
		if i := bytes.IndexByte(body, 0); i >= 0 {
			j := i + bytes.LastIndexByte(body[i:], 0)
			junk = lineLen + int64(j) + 1
			body, long, oversized, pending = body[j+1:], nil, false, true
		}
		if pending && len(body) > 0 {
			opens, pending = body[0] == '{', false
		}
		lineLen += int64(len(chunk))
		if full {
			if !oversized && int64(len(long))+int64(len(body)) > int64(m.cfg.MaxLineBytes) {
				oversized, long = true, nil
			}
			if !oversized {
				long = append(long, body...)
			}
			continue
		}
		line := body
		if long != nil {
			long = append(long, body...)
			line = long
		}
		if int64(len(line)) > int64(m.cfg.MaxLineBytes) {
			oversized = true
		}
		if junk > 0 {
			if !opens {
				junk = lineLen // nothing like a line after the NULs: the whole line is the bad one
			}
			m.consume(fs, junk)
			m.badLine(fs, errNULBlock)
		}
		if rest := lineLen - junk; rest > 0 {
			start := cp.Offset
			m.consume(fs, rest)
			if oversized {
				m.badLine(fs, errors.New("line longer than max_line_bytes ("+strconv.Itoa(m.cfg.MaxLineBytes)+")"))
			} else {
				sk.line(m, fs, line, start)
			}
		}
		long, lineLen, junk, opens, pending, oversized, progressed = nil, 0, 0, false, false, false, true
		if m.batchFull() {
			m.checkpoint(f, fs)
			m.flush()
			progressed = false
		}
	}
	if progressed {
		m.checkpoint(f, fs)
	}
}

// consume moves the checkpoint past one line of n bytes and counts it.
func (m *Monitor) consume(fs *fileState, n int64) {
	fs.cp.Offset += n
	fs.cp.Lines++
	m.stats.lines.Add(1)
	m.cur.lines.Add(1)
	m.stats.bytes.Add(n)
	m.batchBytes += n
	if m.Progress != nil {
		m.Progress(n)
	}
}

func (m *Monitor) checkpoint(f *os.File, fs *fileState) {
	seal(f, &fs.cp)
	m.batch.Checkpoints = append(m.batch.Checkpoints, fs.cp)
	fs.seq = m.flushed + 1
}

func (m *Monitor) badLine(fs *fileState, err error) {
	fs.cp.Bad++
	m.stats.bad.Add(1)
	m.cur.bad.Add(1)
	// Rate-limited: the first few per file, then every thousandth.
	if fs.badLogged < 5 || fs.cp.Bad%1000 == 0 {
		fs.badLogged++
		m.log.Warn("bad line skipped", "file", fs.cp.Path, "line", fs.cp.Lines, "bad_in_file", fs.cp.Bad, "err", err)
	}
}

// MaxFutureSkew is how far ahead of this host's clock an event's own time
// may be: modest skew between the writer's host and ours is billed as
// written (the period is the line's own); a time further ahead is a bad line.
const MaxFutureSkew = 24 * time.Hour

// addEvent adds one parsed call to the batch, or counts it as a bad line
// when its time is too far ahead of this host's clock.
func (m *Monitor) addEvent(fs *fileState, sess *sessionState, key string, ev *parser.Event) {
	now := m.now().UnixMilli()
	ts := now
	if ev.HasTime {
		if ev.TimeMs-now > MaxFutureSkew.Milliseconds() {
			const iso = "2006-01-02T15:04:05.000Z"
			m.badLine(fs, errors.New("time "+time.UnixMilli(ev.TimeMs).UTC().Format(iso)+" is more than "+
				strconv.Itoa(int(MaxFutureSkew.Hours()))+"h ahead of this host's clock ("+time.UnixMilli(now).UTC().Format(iso)+")"))
			return
		}
		ts = ev.TimeMs
	}
	if !ev.Priced {
		m.price(ev)
	}
	fs.cp.Events++
	m.stats.events.Add(1)
	m.cur.events.Add(1)
	// One Format for both: the period is the day's first seven bytes.
	day := m.attr.DayOf(sess.Customer, ts)
	m.batch.Events = append(m.batch.Events, store.Event{
		Key: key, Agent: sess.Agent, SessionID: sess.SessionID, TimeMs: ts,
		Customer: sess.Customer, Day: day, Period: day[:7],
		Provider: ev.Provider, Model: ev.Model, Input: ev.Input, Output: ev.Output,
		CacheRead: ev.CacheRead, CacheWrite: ev.CacheWrite, CostUSD: ev.CostUSD, Priced: ev.Priced, Failed: ev.Failed,
	})
}

// price fills a missing cost from the configured price table; a call that
// used no tokens costs nothing whether or not it is priced.
func (m *Monitor) price(ev *parser.Event) {
	if ev.Input == 0 && ev.Output == 0 && ev.CacheRead == 0 && ev.CacheWrite == 0 {
		ev.CostUSD, ev.Priced = 0, true
		return
	}
	for _, p := range m.cfg.Prices {
		if p.Model != ev.Model || (p.Provider != "" && p.Provider != ev.Provider) {
			continue
		}
		ev.CostUSD = (float64(ev.Input)*p.Input + float64(ev.Output)*p.Output +
			float64(ev.CacheRead)*p.CacheRead + float64(ev.CacheWrite)*p.CacheWrite) / 1e6
		ev.Priced = true
		return
	}
}
