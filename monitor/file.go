package monitor

import (
	"bufio"
	"errors"
	"hash/fnv"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

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
	// mtime is the modification time seen when the file was last verified;
	// the no-open fast path requires it unchanged, so a rewrite in place to
	// exactly the same size is still noticed.
	mtime time.Time
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
	buf := make([]byte, n)
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

// processFile reads the complete lines a file gained since its checkpoint.
func (m *Monitor) processFile(path string, src *Source) {
	// Fast path for the periodic rescan of quiet files: same identity, same
	// size as consumed, nothing to open. A file seen for the first time in
	// this process is always opened and verified.
	if id, ok := m.paths[path]; ok {
		if fi, err := os.Stat(path); err == nil {
			if fs := m.files[id]; fs != nil && fileIDOf(fi) == id && fi.Size() == fs.cp.Offset && fi.ModTime().Equal(fs.mtime) {
				return
			}
		}
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
	agent := src.Name
	if src.Type == SourceClawdbot {
		agent = agentOf(path)
	}
	fs := m.files[id]
	if _, seen := m.paths[path]; !seen {
		m.stats.files.Add(1)
	}
	m.paths[path] = id
	if fs == nil {
		fs = &fileState{cp: store.Checkpoint{FileID: id}}
		fs.cp.SessionID = sessionIDFromName(path)
		m.files[id] = fs
	} else if !stillValid(f, &fs.cp, size) {
		m.log.Info("file was rewritten or replaced; reading it again from the start (ids prevent double counting)", "file", path)
		fs.cp = store.Checkpoint{FileID: id, SessionID: sessionIDFromName(path)}
		fs.firstLine = 0
	}
	fs.cp.Path, fs.cp.Agent = path, agent
	fs.mtime = fi.ModTime()
	if size <= fs.cp.Offset {
		return
	}
	m.readFrom(f, fs, src, size)
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

func (m *Monitor) readFrom(f *os.File, fs *fileState, src *Source, size int64) {
	cp := &fs.cp
	r := readers.Get().(*bufio.Reader)
	r.Reset(io.NewSectionReader(f, cp.Offset, 1<<62))
	defer readers.Put(r)
	cb := clawdbots.Get().(*parser.Clawdbot)
	defer clawdbots.Put(cb)
	var jl *parser.JSONL
	if src.Type == SourceJSONL {
		// One parser per source: its field paths are split once, not on
		// every append a live log gets.
		if jl = m.jsonl[src]; jl == nil {
			jl = parser.NewJSONL(src.Fields)
			m.jsonl[src] = jl
		}
	}
	// The session is looked up lazily: a file whose header names another
	// sessionId than its file name must not leave a phantom session behind.
	var sess *sessionState
	var long []byte
	var lineLen int64
	oversized := false
	progressed := false
	for {
		chunk, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			lineLen += int64(len(chunk))
			if !oversized && int64(len(long))+int64(len(chunk)) > int64(m.cfg.MaxLineBytes) {
				oversized, long = true, nil
			}
			if !oversized {
				long = append(long, chunk...)
			}
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				m.log.Warn("read error; will retry", "file", cp.Path, "offset", cp.Offset+lineLen, "err", err)
			}
			break // an unterminated last line is not consumed yet
		}
		lineLen += int64(len(chunk))
		line := chunk[:len(chunk)-1]
		if long != nil {
			long = append(long, line...)
			line = long
		}
		if int64(len(line)) > int64(m.cfg.MaxLineBytes) {
			oversized = true
		}
		start := cp.Offset
		cp.Offset += lineLen
		cp.Lines++
		m.stats.lines.Add(1)
		m.stats.bytes.Add(lineLen)
		m.batchBytes += lineLen
		if m.Progress != nil {
			m.Progress(lineLen)
		}
		if oversized {
			m.badLine(fs, errors.New("line longer than max_line_bytes ("+strconv.Itoa(m.cfg.MaxLineBytes)+")"))
		} else if jl != nil {
			m.jsonlLine(fs, src, jl, line, start)
		} else {
			if sess == nil {
				sess = m.sess.peek(cp.Agent, cp.SessionID)
			}
			cb.WantEnvelope = sess == nil || rank(sess.Origin) < rank(originEnvelope)
			sess = m.clawdbotLine(fs, cb, sess, line, start)
		}
		long, lineLen, oversized, progressed = nil, 0, false, true
		if len(m.batch.Events) >= m.cfg.BatchEvents || m.batchBytes >= 16<<20 {
			m.checkpoint(f, fs)
			m.flush()
			progressed = false
		}
	}
	if progressed {
		m.checkpoint(f, fs)
	}
}

func (m *Monitor) checkpoint(f *os.File, fs *fileState) {
	seal(f, &fs.cp)
	m.batch.Checkpoints = append(m.batch.Checkpoints, fs.cp)
}

func (m *Monitor) badLine(fs *fileState, err error) {
	fs.cp.Bad++
	m.stats.bad.Add(1)
	// Rate-limited: the first few per file, then every thousandth.
	if fs.badLogged < 5 || fs.cp.Bad%1000 == 0 {
		fs.badLogged++
		m.log.Warn("bad line skipped", "file", fs.cp.Path, "line", fs.cp.Lines, "bad_in_file", fs.cp.Bad, "err", err)
	}
}

func (m *Monitor) clawdbotLine(fs *fileState, p *parser.Clawdbot, sess *sessionState, line []byte, start int64) *sessionState {
	res := p.Parse(line)
	switch res.Kind {
	case parser.KindBad:
		m.badLine(fs, res.Err)
	case parser.KindSynthetic:
		fs.cp.Synthetic++
		m.stats.synthetic.Add(1)
	case parser.KindHeader:
		if res.SessionID != fs.cp.SessionID {
			fs.cp.SessionID = res.SessionID
			sess = nil
		}
	case parser.KindEnvelope:
		if sess == nil {
			sess = m.sess.get(fs.cp.Agent, fs.cp.SessionID, m.now().UnixMilli())
		}
		if m.sess.learn(sess, originEnvelope, sess.Key, res.Channel, res.Peer, sess.Hint) {
			m.batch.Moves = append(m.batch.Moves, store.Move{Agent: sess.Agent, SessionID: sess.SessionID, Customer: sess.Customer})
		}
	case parser.KindUsage:
		if sess == nil {
			sess = m.sess.get(fs.cp.Agent, fs.cp.SessionID, m.now().UnixMilli())
		}
		ev := &res.Event
		// One allocation per key (keys.go): it is built for every event.
		var key string
		if ev.EntryID != "" {
			key = clawdbotKey(fs.cp.Agent, fs.cp.SessionID, ev.EntryID)
		} else {
			key = clawdbotOffsetKey(fs.cp.Agent, fs.cp.SessionID, start)
		}
		m.addEvent(fs, sess, key, ev)
	}
	return sess
}

func (m *Monitor) jsonlLine(fs *fileState, src *Source, p *parser.JSONL, line []byte, start int64) {
	if start == 0 {
		fs.firstLine = hashBytes(line)
	}
	res := p.Parse(line)
	switch res.Kind {
	case parser.KindBad:
		m.badLine(fs, res.Err)
		return
	case parser.KindUsage:
	default:
		return
	}
	ev := &res.Event
	sid := ev.SessionID
	if sid == "" {
		sid = "customer:" + ev.Customer
	}
	sess := m.sess.get(src.Name, sid, m.now().UnixMilli())
	if ev.Customer != "" && m.sess.learn(sess, originLog, sess.Key, sess.Channel, ev.Customer, ev.Customer) {
		m.batch.Moves = append(m.batch.Moves, store.Move{Agent: sess.Agent, SessionID: sess.SessionID, Customer: sess.Customer})
	}
	var key string
	if ev.EntryID != "" {
		key = jsonlKey(src.Name, ev.EntryID)
	} else {
		if fs.firstLine == 0 {
			// Resumed mid-file after a restart: recover the first line's hash.
			fs.firstLine = m.firstLineHash(fs.cp.Path)
		}
		key = jsonlOffsetKey(src.Name, fs.firstLine, start)
	}
	m.addEvent(fs, sess, key, ev)
}

func (m *Monitor) firstLineHash(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	line, err := r.ReadSlice('\n')
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		return 0
	}
	return hashBytes(line[:len(line)-1])
}

func (m *Monitor) addEvent(fs *fileState, sess *sessionState, key string, ev *parser.Event) {
	if !ev.Priced {
		m.price(ev)
	}
	ts := ev.TimeMs
	if ts == 0 {
		ts = m.now().UnixMilli()
	}
	fs.cp.Events++
	m.stats.events.Add(1)
	m.batch.Events = append(m.batch.Events, store.Event{
		Key: key, Agent: sess.Agent, SessionID: sess.SessionID, TimeMs: ts,
		Customer: sess.Customer, Period: m.attr.PeriodOf(sess.Customer, ts),
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
