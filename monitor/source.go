package monitor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/quotawatch/quotawatch/parser"
)

// Source types.
const (
	SourceClawdbot = "clawdbot"
	SourceJSONL    = "jsonl"
	SourceOpenClaw = "openclaw"
)

// SourceConfig is one configured place to read usage from.
type SourceConfig struct {
	// Type is "clawdbot" or "openclaw" (a state dir: whatever it holds,
	// session transcripts under <Dir>/agents/*/sessions/ and, once the
	// SQLite kind is plugged in, <Dir>/agents/*/agent/openclaw-agent.sqlite)
	// or "jsonl" (any request log matched by the glob Path).
	Type string
	Dir  string
	Path string
	// Name identifies a jsonl source; it stands in for the agent in keys
	// and attribution.
	Name   string
	Fields parser.Fields
}

// Source is one place usage is read from, of one kind. Each kind lives in
// its own file (clawdbot.go, jsonl.go, openclaw.go) and is built by
// newSource, the one place the configured type is looked at; the monitor's
// loop (run.go) knows only this interface. The model is mtail's logstream:
// one implementation per kind behind one constructor.
//
// Reading follows one rule for every kind: read puts into the monitor's
// batch the events of an item together with the cursor that says they were
// read (a file checkpoint, or a store.Cursor), so the store commits both in
// one transaction and a crash at any moment loses or repeats nothing.
type Source interface {
	// Kind is the source's type ("clawdbot", "jsonl", "openclaw").
	Kind() string
	// Label names the source in logs and in the per-source summary.
	Label() string

	// discover lists what the source holds right now: the directories to
	// watch and the items to read (and, for a state dir, the session
	// stores to read first).
	discover(f *finder) unit
	// changed tells from one file-watch event, under one of the
	// directories discover returned, which items may have changed.
	changed(m *Monitor, ev fsnotify.Event, ch *changes)
	// read reads one item from its cursor to its end into m's batch.
	read(m *Monitor, item string)
	// pending is how much of an item is not read yet, in bytes (the
	// backfill progress bar); 0 when unknown.
	pending(m *Monitor, item string) int64
	// stats is the source's counters (shared by the parts of a state dir).
	stats() *sourceStats
}

// poller is a source that is also polled between file events, for
// changes no file event shows.
type poller interface {
	poll(m *Monitor, ch *changes)
	// pollAfter is how long after now the poller next needs a poll.
	pollAfter(m *Monitor, now time.Time) time.Duration
}

// pollEvery is the shortest wait between polls: an OpenClaw commit that
// an event announced before it became visible, or in a directory no
// watch covers, is seen within it.
const pollEvery = 100 * time.Millisecond

// changes collects what file events said may have changed, for one pass
// of the loop.
type changes struct {
	items  map[string]Source // item → the source that reads it
	stores map[string]bool   // session stores (sessions.json) to read again
	rescan bool              // discover everything again
	// src is the configured source whose changed is being asked: add
	// records items against it, so a state dir's parts need not know it.
	src Source
}

// add records that an item may have changed.
func (c *changes) add(item string) { c.items[item] = c.src }

func newChanges() *changes {
	return &changes{items: map[string]Source{}, stores: map[string]bool{}}
}

func (c *changes) reset() {
	clear(c.items)
	clear(c.stores)
	c.rescan = false
}

// newSource builds the source of a configuration's type: the only switch
// on it.
func newSource(c SourceConfig) (Source, error) {
	switch c.Type {
	case SourceClawdbot, SourceOpenClaw, "":
		if c.Type == "" {
			c.Type = SourceClawdbot
		}
		return newStateDir(c), nil
	case SourceJSONL:
		return newJSONL(c, newSourceStats(c.Type, SourceJSONL+":"+c.Name)), nil
	}
	return nil, fmt.Errorf("unknown source type %q (clawdbot, openclaw or jsonl)", c.Type)
}

// sourceStats counts what one source read. The counters are atomic because
// Stats may be read while the monitor runs.
type sourceStats struct {
	kind, label                                                             string
	files, databases, items, lines, rows, compressed, archives, events, bad atomic.Int64
}

func newSourceStats(kind, label string) *sourceStats {
	return &sourceStats{kind: kind, label: label}
}

// SourceStats is what one source read. For file kinds an item is a file
// (a transcript or a log); for a SQLite kind it is a session.
type SourceStats struct {
	Source         string `json:"source"`
	Kind           string `json:"kind"`
	Files          int64  `json:"files"`
	Databases      int64  `json:"databases"`
	Items          int64  `json:"items"`
	Lines          int64  `json:"lines"`
	Rows           int64  `json:"rows"`
	CompressedRows int64  `json:"compressed_rows"`
	Archives       int64  `json:"archives"`
	Events         int64  `json:"events"`
	Bad            int64  `json:"bad"`
}

func (s *sourceStats) snapshot() SourceStats {
	return SourceStats{Source: s.label, Kind: s.kind, Files: s.files.Load(), Databases: s.databases.Load(),
		Items: s.items.Load(), Lines: s.lines.Load(), Rows: s.rows.Load(), CompressedRows: s.compressed.Load(),
		Archives: s.archives.Load(), Events: s.events.Load(), Bad: s.bad.Load()}
}

// stateDir is a Clawdbot or OpenClaw state directory. It reads whatever is
// there: JSONL session transcripts (the clawdbot part) and, once the SQLite
// kind is plugged in (openclaw.go), the per-agent databases. Each part
// discovers its own items; an item is read by the part that owns it.
type stateDir struct {
	cfg   SourceConfig
	st    *sourceStats
	parts []statePart
	// sqlite says whether the openclaw kind is one of the parts.
	sqlite bool
}

// statePart is one way a state dir holds transcripts.
type statePart interface {
	Source
	// owns reports whether an item (as discover or changed named it)
	// belongs to this part.
	owns(item string) bool
}

func newStateDir(c SourceConfig) *stateDir {
	st := newSourceStats(c.Type, c.Type+":"+c.Dir)
	s := &stateDir{cfg: c, st: st}
	s.parts = append(s.parts, newClawdbot(c, st))
	if p := newOpenClaw(c, st); p != nil {
		s.parts = append(s.parts, p)
		s.sqlite = true
	}
	return s
}

func (s *stateDir) Kind() string        { return s.cfg.Type }
func (s *stateDir) Label() string       { return s.st.label }
func (s *stateDir) stats() *sourceStats { return s.st }
func (s *stateDir) part(item string) statePart {
	for _, p := range s.parts {
		if p.owns(item) {
			return p
		}
	}
	return s.parts[0]
}

func (s *stateDir) discover(f *finder) unit {
	u := unit{src: s}
	for _, p := range s.parts {
		pu := p.discover(f)
		if u.where == "" {
			u.where = pu.where
		}
		u.dirs = append(u.dirs, pu.dirs...)
		u.stores = append(u.stores, pu.stores...)
		u.items = append(u.items, pu.items...)
		u.lists = append(u.lists, pu.lists...)
	}
	if !s.sqlite {
		if dbs := openClawDatabases(s.cfg.Dir); len(dbs) > 0 {
			f.notes = append(f.notes, notice{key: "sqlite\x00" + s.cfg.Dir,
				msg:  "state dir holds OpenClaw SQLite databases, which this build does not read; only its JSONL transcripts are metered",
				args: []any{"dir", s.cfg.Dir, "databases", len(dbs), "first", dbs[0]}})
		}
	}
	return u
}

func (s *stateDir) changed(m *Monitor, ev fsnotify.Event, ch *changes) {
	for _, p := range s.parts {
		p.changed(m, ev, ch)
	}
}

func (s *stateDir) read(m *Monitor, item string) { s.part(item).read(m, item) }

// poll asks the parts that are pollers (the SQLite kind).
func (s *stateDir) poll(m *Monitor, ch *changes) {
	for _, p := range s.parts {
		if pp, ok := p.(poller); ok {
			pp.poll(m, ch)
		}
	}
}

// pollAfter is the soonest any poller part needs a poll.
func (s *stateDir) pollAfter(m *Monitor, now time.Time) time.Duration {
	next := time.Duration(-1)
	for _, p := range s.parts {
		if pp, ok := p.(poller); ok {
			if d := pp.pollAfter(m, now); next < 0 || d < next {
				next = d
			}
		}
	}
	if next < 0 {
		return time.Hour
	}
	return next
}

func (s *stateDir) pending(m *Monitor, item string) int64 { return s.part(item).pending(m, item) }

// isDir reports whether p is a directory (symlinks followed).
func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// DefaultStateDirs lists, in order of preference, where OpenClaw and
// Clawdbot keep their state: $OPENCLAW_STATE_DIR, ~/.openclaw,
// $CLAWDBOT_STATE_DIR, ~/.clawdbot, ~/.moltbot.
func DefaultStateDirs(getenv func(string) string, home string) []string {
	var out []string
	if d := getenv("OPENCLAW_STATE_DIR"); d != "" {
		out = append(out, d)
	}
	if home != "" {
		out = append(out, filepath.Join(home, ".openclaw"))
	}
	if d := getenv("CLAWDBOT_STATE_DIR"); d != "" {
		out = append(out, d)
	}
	if home != "" {
		out = append(out, filepath.Join(home, ".clawdbot"), filepath.Join(home, ".moltbot"))
	}
	return out
}

// DefaultStateDir is the first of DefaultStateDirs that is a directory.
func DefaultStateDir(getenv func(string) string, home string) (string, bool) {
	for _, d := range DefaultStateDirs(getenv, home) {
		if isDir(d) {
			return d, true
		}
	}
	return "", false
}

// ErrUnsupportedPath is returned (wrapped, naming the path) for a backfill
// PATH of a kind this build cannot read.
var ErrUnsupportedPath = errors.New("not a kind of source this build reads")

// resolve turns backfill PATHs into units, each read by the kind it is:
//   - a file a configured jsonl source's glob matches: that source's rules
//     (its name, fields and keys), as if run had found it;
//   - an OpenClaw database (*.sqlite): the openclaw kind;
//   - a directory with agents/ (a Clawdbot or OpenClaw state dir): whatever
//     it holds, like a configured clawdbot source;
//   - a directory the directory part of a jsonl glob matches: the files in
//     it the glob matches, with that source's rules;
//   - any other directory: a sessions dir (its transcripts and
//     sessions.json); any other file: one transcript.
func (m *Monitor) resolve(f *finder, paths []string) ([]unit, error) {
	var jsonls []*jsonlSource
	for _, s := range m.sources {
		if j, ok := s.(*jsonlSource); ok {
			jsonls = append(jsonls, j)
		}
	}
	byDir := map[string]*clawdbotSource{} // one transcript source per directory
	transcripts := func(dir string) *clawdbotSource {
		src := byDir[dir]
		if src == nil {
			src = newClawdbot(SourceConfig{Type: SourceClawdbot, Dir: dir}, newSourceStats(SourceClawdbot, SourceClawdbot+":"+dir))
			byDir[dir] = src
		}
		return src
	}
	var out []unit
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("backfill %s: %w", p, err)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("backfill %s: %w", p, err)
		}
		if !fi.IsDir() {
			if j := matchJSONL(jsonls, p, abs); j != nil {
				out = append(out, unit{src: j, where: abs, items: []string{abs}})
				continue
			}
			if isOpenClawDB(abs) {
				src := newOpenClawFile(abs)
				if src == nil {
					return nil, fmt.Errorf("backfill %s: an OpenClaw SQLite database: %w", p, ErrUnsupportedPath)
				}
				out = append(out, discoverSorted(f, src))
				continue
			}
			dir := filepath.Dir(abs)
			u := unit{src: transcripts(dir), where: abs, items: []string{abs}}
			if _, err := os.Stat(filepath.Join(dir, "sessions.json")); err == nil {
				u.stores = []string{filepath.Join(dir, "sessions.json")}
			}
			out = append(out, u)
			continue
		}
		if isDir(filepath.Join(abs, "agents")) {
			out = append(out, discoverSorted(f, newStateDir(SourceConfig{Type: SourceClawdbot, Dir: abs})))
			continue
		}
		if j := matchJSONLDir(jsonls, p, abs); j != nil {
			u := unit{src: j, where: abs, dirs: []string{abs}}
			for _, e := range f.listDir(abs) {
				if fp := filepath.Join(abs, e.Name()); e.Type().IsRegular() && matchJSONL([]*jsonlSource{j}, filepath.Join(p, e.Name()), fp) != nil {
					u.items = append(u.items, fp)
				}
			}
			out = append(out, u)
			continue
		}
		if !f.claim(fileIDOf(fi), abs) {
			continue
		}
		u := unit{src: transcripts(abs), where: abs, dirs: []string{abs}}
		addSessionsDir(&u, abs)
		out = append(out, u)
	}
	return out, nil
}

// matchJSONL is the first jsonl source whose glob matches a path, as given
// or absolute (a glob may be written either way).
func matchJSONL(srcs []*jsonlSource, given, abs string) *jsonlSource {
	for _, j := range srcs {
		if j.matches(given) || j.matches(abs) || j.matchesAbs(abs) {
			return j
		}
	}
	return nil
}

// matchJSONLDir is the first jsonl source whose glob's directory part
// matches a directory.
func matchJSONLDir(srcs []*jsonlSource, given, abs string) *jsonlSource {
	for _, j := range srcs {
		for _, g := range []string{j.cfg.Path, j.absGlob()} {
			d := filepath.Dir(g)
			if ok, _ := filepath.Match(d, filepath.Clean(given)); ok {
				return j
			}
			if ok, _ := filepath.Match(d, abs); ok {
				return j
			}
		}
	}
	return nil
}
