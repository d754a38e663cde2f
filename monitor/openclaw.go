package monitor

// The openclaw kind: OpenClaw 2026.8.1 and later keep sessions and
// transcripts in SQLite, <state>/agents/<agentId>/agent/openclaw-agent.sqlite
// (also listed by the state database's agent_databases), not in live JSONL
// files. It is a part of a state dir (stateDir, source.go), so a `clawdbot`
// or `openclaw` source reads JSONL transcripts, databases, or both,
// whatever the install holds. The reading itself (read-only connections,
// short read transactions, compressed rows, windows, archives, a cursor
// that survives in-place compaction) is openclaw_db.go; this file is the
// plumbing into the monitor: items are databases, a write to <db> or
// <db>-wal marks its database changed, and the cursor is committed with
// the events it produced.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/quotawatch/quotawatch/parser"
	"github.com/quotawatch/quotawatch/store"
)

// cursorKindOpenClaw is the source column of an OpenClaw database's cursor.
const cursorKindOpenClaw = "openclaw"

// ocReadRows is how many rows one ReadSince call hands over before the
// cursor is recorded and the batch may be flushed.
const ocReadRows = 2000

// openclawSource is the SQLite part of a state dir, or one database given
// as a backfill PATH.
type openclawSource struct {
	cfg SourceConfig
	st  *sourceStats
	// file is set when the source is one database given as a PATH.
	file string

	refs map[string]ocDBRef // by database path, from the last discover
	dbs  map[string]*ocOpen // open databases by path
	// archives already read in this process, by file path or by
	// "<db>\x00<archive name>": archives never change once written.
	archives map[string]bool
	// fs carries the per-database counters and log context that the line
	// handling shared with JSONL transcripts (clawdbotLine, addEvent,
	// badLine) expects; it is never committed as a checkpoint.
	fs fileState
	cb parser.Clawdbot
	// needSessions says a row named a session the database has not
	// attributed yet: its windows are listed again after the read.
	needSessions bool
}

// ocOpen is one open agent database and what was learned of it.
type ocOpen struct {
	// db is nil once a backfill has closed it (see read).
	db *ocDB
	// read says a complete read happened in this process: after that, an
	// unchanged data_version means nothing to do.
	read bool
	// dirty says poll saw a commit that read has not read yet.
	dirty bool
	// archiveRows says the archive tables may hold what was not read yet:
	// they change only by a commit, so they are listed after a commit (or
	// a failed listing), not on every read.
	archiveRows bool
	// hot is until when the database is polled every pollEvery: a file
	// event on it or a commit seen lately. An event on the -wal can come
	// before the commit it belongs to is visible (the -shm index, mapped
	// memory, tells no watch), so the polls that follow catch it.
	hot time.Time
	// polled is when it was last polled.
	polled time.Time
}

// ocPolls counts the polls of open databases (tests read it).
var ocPolls atomic.Int64

// ocHotFor is how long a database stays hot after an event or a commit;
// ocQuietPoll is how often a quiet one in a watched directory is polled
// (every commit writes the -wal, which the directory's watch reports).
const (
	ocHotFor    = 2 * time.Second
	ocQuietPoll = time.Second
)

func newOpenClaw(c SourceConfig, st *sourceStats) statePart {
	return &openclawSource{cfg: c, st: st, refs: map[string]ocDBRef{}, dbs: map[string]*ocOpen{}, archives: map[string]bool{}}
}

// newOpenClawFile builds the openclaw kind over one database file given as
// a backfill PATH (its agent is the <agentId> of
// agents/<agentId>/agent/openclaw-agent.sqlite, or the agent named in
// openclaw-agent.<agentId>.sqlite).
func newOpenClawFile(path string) Source {
	s := newOpenClaw(SourceConfig{Type: SourceOpenClaw, Dir: filepath.Dir(path)}, newSourceStats(SourceOpenClaw, SourceOpenClaw+":"+path)).(*openclawSource)
	s.file = path
	return s
}

// openClawDatabases lists the agent databases a state dir holds where
// OpenClaw puts them by default.
func openClawDatabases(dir string) []string {
	dbs, _ := filepath.Glob(filepath.Join(dir, "agents", "*", "agent", "openclaw-agent*.sqlite"))
	return dbs
}

func (s *openclawSource) Kind() string        { return SourceOpenClaw }
func (s *openclawSource) Label() string       { return s.st.label }
func (s *openclawSource) stats() *sourceStats { return s.st }

// owns claims the databases (JSONL transcripts belong to the clawdbot part).
func (s *openclawSource) owns(item string) bool { return isOpenClawDB(item) }

func (s *openclawSource) discover(f *finder) unit {
	u := unit{src: s, where: filepath.Join(s.cfg.Dir, "agents", "*", "agent", "openclaw-agent.sqlite")}
	var refs []ocDBRef
	if s.file != "" {
		real, err := filepath.EvalSymlinks(s.file)
		if err != nil {
			real = s.file
		}
		agent := ocAgentFromName(real)
		refs = []ocDBRef{{Agent: agent, Path: real, ArchiveDir: ocArtifactDir(real)}}
		if err := ocAssignArchives(refs); err != nil {
			f.notes = append(f.notes, notice{key: "ocarch\x00" + real, msg: "cannot list the archives of an OpenClaw database; skipped", args: []any{"db", real, "err", err}})
		}
	} else {
		var err error
		refs, err = discoverOpenClaw(s.cfg.Dir)
		if err != nil {
			f.notes = append(f.notes, notice{key: "ocdisc\x00" + s.cfg.Dir, msg: "cannot list OpenClaw databases; skipped", args: []any{"dir", s.cfg.Dir, "err", err}})
		}
		u.dirs = append(u.dirs, s.cfg.Dir, filepath.Join(s.cfg.Dir, "agents"), filepath.Join(s.cfg.Dir, "state"))
	}
	clear(s.refs)
	for _, r := range refs {
		s.refs[r.Path] = r
		u.items = append(u.items, r.Path)
		u.dirs = append(u.dirs, filepath.Dir(r.Path))
		if r.ArchiveDir != "" {
			u.dirs = append(u.dirs, r.ArchiveDir, filepath.Join(r.ArchiveDir, "cold"))
		}
	}
	return u
}

// changed maps a write to a database or its WAL, or a new archive file, to
// the database; a new agent directory or database means a rescan.
func (s *openclawSource) changed(m *Monitor, ev fsnotify.Event, ch *changes) {
	name := ev.Name
	base := filepath.Base(name)
	if strings.HasPrefix(base, "openclaw-agent") && (strings.HasSuffix(base, ".sqlite") || strings.HasSuffix(base, ".sqlite-wal")) {
		db := strings.TrimSuffix(name, "-wal")
		if _, ok := s.refs[db]; ok {
			s.heat(db)
			ch.add(db)
			return
		}
		if real, err := filepath.EvalSymlinks(db); err == nil {
			if _, ok := s.refs[real]; ok {
				s.heat(real)
				ch.add(real)
				return
			}
		}
		if ev.Has(fsnotify.Create) {
			ch.rescan = true
		}
		return
	}
	if base == "openclaw.sqlite" || base == "openclaw.sqlite-wal" {
		ch.rescan = true // the registry of agent databases may have changed
		return
	}
	if !strings.HasSuffix(base, ".zst") {
		return
	}
	dir := filepath.Dir(name)
	if filepath.Base(dir) == "cold" {
		dir = filepath.Dir(dir)
	}
	for p, r := range s.refs {
		if r.ArchiveDir == dir {
			ch.add(p)
		}
	}
	if ev.Has(fsnotify.Create) {
		ch.rescan = true // list the new archive file
	}
}

func (s *openclawSource) pending(*Monitor, string) int64 { return 0 }

// heat marks an open database as just touched (see ocOpen.hot).
func (s *openclawSource) heat(db string) {
	if o := s.dbs[db]; o != nil {
		o.hot = time.Now().Add(ocHotFor)
	}
}

// fast reports whether an open database is polled every pollEvery: while
// hot, or where no watch covers its directory.
func (s *openclawSource) fast(m *Monitor, p string, o *ocOpen, now time.Time) bool {
	return now.Before(o.hot) || m.watched == nil || !m.watched(filepath.Dir(p))
}

// due reports whether an open database needs a poll at now: when fast, and
// at least every ocQuietPoll.
func (s *openclawSource) due(m *Monitor, p string, o *ocOpen, now time.Time) bool {
	return s.fast(m, p, o, now) || now.Sub(o.polled) >= ocQuietPoll-pollEvery/2
}

// poll asks every open database that is due whether another connection
// committed (PRAGMA data_version: no table is read) and marks the changed
// ones.
func (s *openclawSource) poll(m *Monitor, ch *changes) {
	now := time.Now()
	for p, o := range s.dbs {
		if o.db == nil || !s.due(m, p, o, now) {
			continue
		}
		o.polled = now
		ocPolls.Add(1)
		changed, err := o.db.Changed(context.Background())
		if err != nil || changed {
			o.dirty = true
			o.hot = now.Add(ocHotFor)
			ch.add(p)
		}
	}
}

// pollAfter is pollEvery while any database is due soon, else the time
// until the first quiet one is.
func (s *openclawSource) pollAfter(m *Monitor, now time.Time) time.Duration {
	next := time.Hour
	for p, o := range s.dbs {
		if o.db == nil {
			continue
		}
		if s.fast(m, p, o, now) {
			return pollEvery
		}
		next = min(next, max(o.polled.Add(ocQuietPoll).Sub(now), pollEvery))
	}
	return next
}

// read reads one database from its cursor to its end, then any archive
// (row or file) not read yet in this process.
func (s *openclawSource) read(m *Monitor, item string) {
	ctx := context.Background()
	m.cur = s.st
	ref, ok := s.refs[item]
	if !ok {
		return
	}
	o := s.dbs[item]
	if o == nil || o.db == nil {
		db, err := openOCDB(item, ref.Agent)
		if err != nil {
			var us *UnknownSchemaError
			if errors.As(err, &us) {
				m.schemaErr(us)
			}
			m.unreadable(item, "cannot read OpenClaw agent database; skipped", "err", err)
			return
		}
		if o == nil {
			o = &ocOpen{}
			s.dbs[item] = o
			s.st.databases.Add(1)
			m.stats.files.Add(1)
		}
		o.db = db
	}
	changed, err := o.db.Changed(ctx)
	if err != nil {
		// Replaced or gone: open it afresh next time (the cursor knows
		// which file it belongs to and re-reads a different one).
		o.db.Close()
		delete(s.dbs, item)
		if !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("OpenClaw agent database changed under its path; it will be opened again", "db", item, "err", err)
		}
		return
	}
	if changed {
		o.hot = time.Now().Add(ocHotFor)
	}
	if changed || o.dirty || !o.read {
		if !s.readDB(ctx, m, ref, o) {
			return
		}
		o.read, o.dirty, o.archiveRows = true, false, true
	}
	s.readArchives(ctx, m, ref, o)
	if m.follow.worker == nil {
		// A backfill (Run starts its session-store worker before its first
		// read) reads each database once: its connection and the C heap
		// that holds OpenClaw's schema and the page cache go now, not at
		// exit, so a state of many agent databases never holds them all
		// (3 agent databases: 4-5 MiB of the backfill's peak RSS). A
		// second read, should a database be named twice, opens it again
		// and goes on from its cursor.
		o.db.Close()
		o.db = nil
	}
}

// readDB reads the rows past the cursor. The sessions' keys and peers are
// applied before the first read and again only when a row names a session
// that is not attributed from the database yet (a new session or window):
// a busy database commits many times a second, and listing every window
// on each commit would cost more than the rows. Events read before their
// session's key is known are moved by the same commit path as any
// re-attribution. It reports whether the read completed.
func (s *openclawSource) readDB(ctx context.Context, m *Monitor, ref ocDBRef, o *ocOpen) bool {
	if !o.read && !s.applySessions(ctx, m, ref, o) {
		return false
	}
	s.needSessions = false
	var cur ocCursor
	if state, ok := m.cursor(cursorKindOpenClaw, ref.Path); ok {
		if err := json.Unmarshal([]byte(state), &cur); err != nil {
			m.log.Warn("OpenClaw cursor unreadable; reading the database from the start (entry ids prevent double counting)", "db", ref.Path, "err", err)
			cur = ocCursor{}
		}
	}
	s.fs = fileState{cp: store.Checkpoint{Path: ref.Path, Agent: ref.Agent}}
	for {
		n := 0
		next, err := o.db.ReadSince(ctx, cur, ocReadRows, func(r ocRow) error {
			n++
			s.row(m, ref, r)
			return nil
		})
		if err != nil {
			m.log.Warn("cannot read OpenClaw transcript rows; will retry", "db", ref.Path, "err", err)
			return false
		}
		cur = next
		b, _ := json.Marshal(cur)
		m.setCursor(cursorKindOpenClaw, ref.Path, string(b))
		m.flushIfFull()
		if n < ocReadRows {
			break
		}
	}
	if s.needSessions {
		s.applySessions(ctx, m, ref, o)
	}
	return true
}

// applySessions learns every window's key, channel and peer.
func (s *openclawSource) applySessions(ctx context.Context, m *Monitor, ref ocDBRef, o *ocOpen) bool {
	sessions, err := o.db.Sessions(ctx)
	if err != nil {
		m.log.Warn("cannot read OpenClaw sessions; will retry", "db", ref.Path, "err", err)
		return false
	}
	now := m.now().UnixMilli()
	for _, x := range sessions {
		st := m.sess.peek(ref.Agent, x.SessionID)
		if st == nil {
			s.st.items.Add(1)
			st = m.sess.get(ref.Agent, x.SessionID, now)
		}
		channel := x.Channel
		if channel == "" {
			channel = ParseSessionKey(x.Key).Channel
		}
		m.learn(st, originStore, x.Key, channel, x.Peer, "")
	}
	return true
}

// row handles one transcript row as a transcript line of its session.
func (s *openclawSource) row(m *Monitor, ref ocDBRef, r ocRow) {
	s.st.rows.Add(1)
	m.stats.lines.Add(1)
	s.fs.cp.Lines++
	if r.Compressed {
		s.st.compressed.Add(1)
	}
	if r.Err != nil {
		m.badLine(&s.fs, r.Err)
		return
	}
	m.stats.bytes.Add(int64(len(r.Line)))
	m.batchBytes += int64(len(r.Line))
	s.line(m, ref.Agent, r.SessionID, r.Line, r.Seq)
}

// line parses one event line of a session with the Clawdbot rules: the
// same keys as a JSONL transcript of the same call, so a half-migrated
// install (JSONL beside SQLite) counts each call once.
func (s *openclawSource) line(m *Monitor, agent, sessionID string, line []byte, at int64) {
	s.fs.cp.Agent, s.fs.cp.SessionID = agent, sessionID
	sess := m.sess.peek(agent, sessionID)
	if sess == nil || sess.Origin != originStore {
		s.needSessions = true
	}
	s.cb.WantEnvelope = sess == nil || rank(sess.Origin) < rank(originEnvelope)
	m.clawdbotLine(&s.fs, &s.cb, sess, line, at)
}

// readArchives reads the archive rows (after a commit) and files of a
// database that were not read yet in this process (re-reading after a restart adds nothing:
// the calls in them are keyed like the rows they came from).
func (s *openclawSource) readArchives(ctx context.Context, m *Monitor, ref ocDBRef, o *ocOpen) {
	if o.archiveRows {
		err := o.db.Archives(ctx, func(a ocArchive) bool { return s.archives[ref.Path+"\x00"+a.Name] }, func(a ocArchive, l ocLine) error {
			k := ref.Path + "\x00" + a.Name
			if !s.archives[k] {
				s.archives[k] = true
				s.st.archives.Add(1)
			}
			s.archiveLine(m, ref, a.SessionID, l)
			return nil
		})
		if err != nil {
			m.log.Warn("cannot read OpenClaw archive rows; will retry", "db", ref.Path, "err", err)
		} else {
			o.archiveRows = false
		}
	}
	for _, f := range ref.Archives {
		if s.archives[f.Path] || !f.Zstd {
			// Plain archives are JSONL transcripts: the clawdbot part
			// reads them by byte offset.
			continue
		}
		err := readZstdJSONL(f.Path, func(l ocLine) error {
			sid := f.SessionID
			if l.SessionID != "" {
				sid = l.SessionID
			}
			s.archiveLine(m, ref, sid, l)
			return nil
		})
		if err != nil {
			m.unreadable(f.Path, "cannot read OpenClaw archive file; skipped", "err", err)
			continue
		}
		s.archives[f.Path] = true
		s.st.archives.Add(1)
		m.stats.files.Add(1)
	}
	m.flushIfFull()
}

func (s *openclawSource) archiveLine(m *Monitor, ref ocDBRef, sessionID string, l ocLine) {
	m.stats.lines.Add(1)
	s.fs.cp.Lines++
	if l.Bad != nil {
		s.fs.cp.Path = ref.Path
		m.badLine(&s.fs, l.Bad)
		return
	}
	if m.sess.peek(ref.Agent, sessionID) == nil {
		s.st.items.Add(1)
	}
	// A line without an entry id is keyed by its place in the archive
	// (negative, apart from the rows' seq).
	s.line(m, ref.Agent, sessionID, l.Line, -s.fs.cp.Lines)
}

// isOpenClawDB reports whether a backfill PATH names an OpenClaw database
// (an agent's openclaw-agent*.sqlite or the state's openclaw.sqlite).
func isOpenClawDB(path string) bool {
	return filepath.Ext(path) == ".sqlite"
}
