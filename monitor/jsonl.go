package monitor

import (
	"bufio"
	"errors"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fsnotify/fsnotify"

	"github.com/quotawatch/quotawatch/parser"
)

// jsonlSource reads a generic request log: every regular file the glob
// Path matches, one JSON object per line, fields named by Fields. Its items
// are files, read by byte offset (file.go); the source's Name stands in for
// the agent.
type jsonlSource struct {
	cfg SourceConfig
	st  *sourceStats
	// p is the source's one parser: its field paths are split once, not on
	// every append a live log gets.
	p  *parser.JSONL
	sk jsonlSink
}

func newJSONL(c SourceConfig, st *sourceStats) *jsonlSource {
	return &jsonlSource{cfg: c, st: st, p: parser.NewJSONL(c.Fields)}
}

func (s *jsonlSource) Kind() string        { return SourceJSONL }
func (s *jsonlSource) Label() string       { return s.st.label }
func (s *jsonlSource) stats() *sourceStats { return s.st }

// matches reports whether a path is one of this source's logs by its glob.
func (s *jsonlSource) matches(path string) bool {
	ok, _ := filepath.Match(s.cfg.Path, path)
	return ok
}

// absGlob is the glob made absolute (a relative one is relative to the
// working directory, like a relative PATH).
func (s *jsonlSource) absGlob() string {
	if g, err := filepath.Abs(s.cfg.Path); err == nil {
		return g
	}
	return s.cfg.Path
}

// matchesAbs is matches for an absolute path against the absolute glob.
func (s *jsonlSource) matchesAbs(abs string) bool {
	ok, _ := filepath.Match(s.absGlob(), abs)
	return ok
}

func (s *jsonlSource) discover(f *finder) unit {
	u := unit{src: s, where: s.cfg.Path}
	matches, _ := filepath.Glob(s.cfg.Path)
	dirs := map[string]bool{}
	if !strings.ContainsAny(filepath.Dir(s.cfg.Path), "*?[") {
		dirs[filepath.Dir(s.cfg.Path)] = true
	}
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
			u.items = append(u.items, m)
			dirs[filepath.Dir(m)] = true
		}
	}
	for d := range dirs {
		u.dirs = append(u.dirs, d)
	}
	sort.Strings(u.dirs)
	return u
}

func (s *jsonlSource) changed(m *Monitor, ev fsnotify.Event, ch *changes) {
	if s.matches(ev.Name) {
		m.fileChanged(ev, ch)
	}
}

func (s *jsonlSource) read(m *Monitor, item string) { m.processFile(item, s) }

func (s *jsonlSource) pending(m *Monitor, item string) int64 { return m.filePending(item) }

// fileAgent is the source's name: a generic log has no agent of its own.
func (s *jsonlSource) fileAgent(string) string { return s.cfg.Name }

func (s *jsonlSource) sink(_ *Monitor, f *os.File) lineSink {
	s.sk = jsonlSink{src: s, f: f}
	return &s.sk
}

// jsonlSink turns one log file's lines into events.
type jsonlSink struct {
	src *jsonlSource
	f   *os.File
}

func (k *jsonlSink) done() { k.f = nil }

func (k *jsonlSink) line(m *Monitor, fs *fileState, line []byte, start int64) {
	m.jsonlLine(k.f, fs, k.src, k.src.p, line, start)
}

func (m *Monitor) jsonlLine(f *os.File, fs *fileState, src *jsonlSource, p *parser.JSONL, line []byte, start int64) {
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
	name := src.cfg.Name
	ev := &res.Event
	sid := ev.SessionID
	if sid == "" {
		sid = "customer:" + ev.Customer
	}
	sess := m.sess.get(name, sid, m.now().UnixMilli())
	if ev.Customer != "" {
		m.learn(sess, originLog, sess.Key, sess.Channel, ev.Customer, ev.Customer)
	}
	var key string
	if ev.EntryID != "" {
		key = jsonlKey(name, ev.EntryID)
	} else {
		if fs.firstLine == 0 {
			// Resumed mid-file after a restart: recover the first line's hash.
			fs.firstLine = firstLineHash(f)
		}
		key = jsonlOffsetKey(name, fs.firstLine, start)
	}
	m.addEvent(fs, sess, key, ev)
}

// firstLineHash hashes a log's whole first line (without its '\n'), as
// jsonlLine does when it reads the line itself: however long the line, a
// process that resumes mid-file must key lines as one that read from the
// start. It reads the open file, not its path, which may name another
// file by now.
func firstLineHash(f *os.File) uint64 {
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), 64<<10)
	h := fnv.New64a()
	for {
		chunk, err := r.ReadSlice('\n')
		if err == nil {
			h.Write(chunk[:len(chunk)-1])
			return h.Sum64()
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return 0
		}
		h.Write(chunk)
	}
}
