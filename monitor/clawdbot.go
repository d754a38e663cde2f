package monitor

import (
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"

	"github.com/quotawatch/quotawatch/parser"
)

// clawdbotSource reads Clawdbot (and OpenClaw JSONL) session transcripts,
// <Dir>/agents/<agentId>/sessions/*.jsonl and their renamed copies, with
// the sessions.json beside them that names each session's key and peer.
// Its items are files, read by byte offset (file.go).
type clawdbotSource struct {
	cfg SourceConfig
	st  *sourceStats
	// sk is the line handler of the file being read; reused so that a read
	// costs no allocation for it.
	sk clawdbotSink
}

func newClawdbot(c SourceConfig, st *sourceStats) *clawdbotSource {
	return &clawdbotSource{cfg: c, st: st}
}

func (s *clawdbotSource) Kind() string        { return SourceClawdbot }
func (s *clawdbotSource) Label() string       { return s.st.label }
func (s *clawdbotSource) stats() *sourceStats { return s.st }

// owns reports whether an item is a transcript file (not a database).
func (s *clawdbotSource) owns(item string) bool { return isTranscript(item) }

// discover follows symlinked agent and sessions directories (the path
// through the link is kept, so the agent is the link's name, as Clawdbot
// sees it). It never descends past agents/*/sessions/, so a symlink loop
// can only show up as ELOOP from stat, never as endless recursion.
func (s *clawdbotSource) discover(f *finder) unit {
	u := unit{src: s}
	agents := filepath.Join(s.cfg.Dir, "agents")
	u.where = filepath.Join(agents, "*", "sessions")
	u.dirs = append(u.dirs, s.cfg.Dir, agents)
	for _, a := range f.listDir(agents) {
		ad := filepath.Join(agents, a.Name())
		if !a.IsDir() {
			// os.DirEntry.IsDir is false for a symlink to a directory.
			if a.Type()&os.ModeSymlink == 0 {
				continue
			}
			if _, ok := f.statDir(ad); !ok {
				continue
			}
		}
		sd := filepath.Join(ad, "sessions")
		id, ok := f.statDir(sd)
		if !ok {
			u.dirs = append(u.dirs, ad) // to see sessions/ appear
			continue
		}
		if !f.claim(id, sd) {
			continue
		}
		u.dirs = append(u.dirs, ad, sd)
		addSessionsDir(&u, sd)
	}
	return u
}

// addSessionsDir adds a sessions directory's store and, to be listed when
// they are read, its transcripts.
func addSessionsDir(u *unit, sd string) {
	if fi, err := os.Lstat(filepath.Join(sd, "sessions.json")); err == nil && !fi.IsDir() {
		u.stores = append(u.stores, filepath.Join(sd, "sessions.json"))
	}
	u.lists = append(u.lists, sd)
}

func (s *clawdbotSource) changed(m *Monitor, ev fsnotify.Event, ch *changes) {
	base := filepath.Base(ev.Name)
	if base == "sessions.json" {
		ch.stores[ev.Name] = true
		return
	}
	if filepath.Base(filepath.Dir(ev.Name)) != "sessions" || !isTranscript(base) {
		return
	}
	m.fileChanged(ev, ch)
}

func (s *clawdbotSource) read(m *Monitor, item string) { m.processFile(item, s) }

func (s *clawdbotSource) pending(m *Monitor, item string) int64 { return m.filePending(item) }

// fileAgent is the <agentId> folder the transcript lives in.
func (s *clawdbotSource) fileAgent(path string) string { return agentOf(path) }

func (s *clawdbotSource) sink(m *Monitor, _ *os.File) lineSink {
	s.sk = clawdbotSink{cb: clawdbots.Get().(*parser.Clawdbot)}
	return &s.sk
}

// clawdbotSink turns one transcript's lines into events.
type clawdbotSink struct {
	cb *parser.Clawdbot
	// sess is looked up lazily: a file whose header names another
	// sessionId than its file name must not leave a phantom session behind.
	sess *sessionState
}

func (k *clawdbotSink) done() {
	clawdbots.Put(k.cb)
	k.cb, k.sess = nil, nil
}

func (k *clawdbotSink) line(m *Monitor, fs *fileState, line []byte, start int64) {
	cp := &fs.cp
	if k.sess == nil {
		k.sess = m.sess.peek(cp.Agent, cp.SessionID)
	}
	k.cb.WantEnvelope = k.sess == nil || rank(k.sess.Origin) < rank(originEnvelope)
	k.sess = m.clawdbotLine(fs, k.cb, k.sess, line, start)
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
		m.learn(sess, originEnvelope, sess.Key, res.Channel, res.Peer, sess.Hint)
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
