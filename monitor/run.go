package monitor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/quotawatch/quotawatch/store"
)

// storeStamp remembers which version of a sessions.json was last read (or
// failed to read): a read is retried only once the file changed.
type storeStamp struct {
	id    store.FileID
	size  int64
	mtime time.Time
}

// unit is a set of files read with one source's rules.
type unit struct {
	src    *Source
	where  string   // what was searched, for the "no transcript" warning
	dirs   []string // directories to watch
	stores []string // sessions.json files
	files  []string
}

// notice is a warning about what discovery or a session store showed,
// logged once per key.
type notice struct {
	key, msg string
	args     []any
}

// maxWarnings bounds the warnings a Stats carries (the log has them all).
const maxWarnings = 100

// followState is the monitor's state for session stores and warnings.
type followState struct {
	rd *storeReader
	// worker reads session stores off the main loop once Run follows
	// (async); before that, and in backfill, they are read in line.
	worker   *storeWorker
	async    bool
	warned   map[string]bool
	warnings []string
}

func (m *Monitor) storeReader() *storeReader {
	if m.follow.rd == nil {
		m.follow.rd = newStoreReader()
	}
	return m.follow.rd
}

// keep records a warning for the summary, once per key, and reports
// whether it was new.
func (m *Monitor) keep(n notice) bool {
	f := &m.follow
	if f.warned == nil {
		f.warned = map[string]bool{}
	}
	if f.warned[n.key] {
		return false
	}
	f.warned[n.key] = true
	if len(f.warnings) < maxWarnings {
		var b strings.Builder
		b.WriteString(n.msg)
		for i := 0; i+1 < len(n.args); i += 2 {
			if i == 0 {
				b.WriteString(" (")
			} else {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%v: %v", n.args[i], n.args[i+1])
		}
		if len(n.args) >= 2 {
			b.WriteString(")")
		}
		f.warnings = append(f.warnings, b.String())
	}
	return true
}

// notice logs a warning once per key and keeps it for the summary.
func (m *Monitor) notice(n notice) {
	if m.keep(n) {
		m.log.Warn(n.msg, n.args...)
	}
}

// warnings returns the warnings kept so far, never nil.
func (m *Monitor) warnings() []string {
	return append([]string{}, m.follow.warnings...)
}

// warnEmpty warns about a source that holds no transcript: a wrong path or
// an unfollowed link would otherwise meter nothing in silence.
func (m *Monitor) warnEmpty(u unit) {
	if len(u.files) == 0 && u.where != "" {
		m.notice(notice{key: "empty\x00" + u.where, msg: "source holds no transcript; nothing is metered from it until one appears", args: []any{"looked_in", u.where}})
	}
}

// finder discovers units. seen (sessions dir identity → the path that
// claimed it) makes two entries resolving to one directory count its files
// once: the first in sorted order wins, the others are noticed.
type finder struct {
	seen  map[store.FileID]string
	notes []notice
}

func newFinder() *finder { return &finder{seen: map[store.FileID]string{}} }

// listDir lists a directory; a missing one is empty, any other failure is
// a notice (an unreadable agents dir would hide billed calls).
func (f *finder) listDir(dir string) []os.DirEntry {
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		f.notes = append(f.notes, notice{key: "list\x00" + dir, msg: "cannot list directory; skipped", args: []any{"dir", dir, "err", err}})
	}
	return ents
}

// statDir follows symlinks to a directory; ok is false for anything else.
// A broken link or a symlink loop is a notice.
func (f *finder) statDir(p string) (store.FileID, bool) {
	fi, err := os.Stat(p)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) || isLink(p) {
			f.notes = append(f.notes, notice{key: "stat\x00" + p, msg: "directory cannot be followed (broken symlink or symlink loop); skipped", args: []any{"dir", p, "err", err}})
		}
		return store.FileID{}, false
	}
	if !fi.IsDir() {
		return store.FileID{}, false
	}
	return fileIDOf(fi), true
}

func isLink(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}

// claim reports whether the sessions dir id at path p is read here, not
// already through another path.
func (f *finder) claim(id store.FileID, p string) bool {
	if first, dup := f.seen[id]; dup {
		if first != p {
			f.notes = append(f.notes, notice{key: "dup\x00" + p,
				msg:  "sessions directory is the same directory as another; skipped so its files are counted once",
				args: []any{"dir", p, "same_as", first}})
		}
		return false
	}
	f.seen[id] = p
	return true
}

// discover lists what a source holds right now. Symlinked agent and
// sessions directories are followed (the path through the link is kept,
// so the agent is the link's name, as Clawdbot sees it). Discovery never
// descends past agents/*/sessions/, so a symlink loop can only show up as
// ELOOP from stat, never as endless recursion.
func (f *finder) discover(src *Source) unit {
	u := unit{src: src}
	switch src.Type {
	case SourceClawdbot:
		agents := filepath.Join(src.Dir, "agents")
		u.where = filepath.Join(agents, "*", "sessions")
		u.dirs = append(u.dirs, src.Dir, agents)
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
			f.addSessionsDir(&u, sd)
		}
	case SourceJSONL:
		u.where = src.Path
		matches, _ := filepath.Glob(src.Path)
		dirs := map[string]bool{}
		if !strings.ContainsAny(filepath.Dir(src.Path), "*?[") {
			dirs[filepath.Dir(src.Path)] = true
		}
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
				u.files = append(u.files, m)
				dirs[filepath.Dir(m)] = true
			}
		}
		for d := range dirs {
			u.dirs = append(u.dirs, d)
		}
		sort.Strings(u.dirs)
	}
	sort.Strings(u.files)
	return u
}

func (f *finder) addSessionsDir(u *unit, sd string) {
	for _, e := range f.listDir(sd) {
		if e.IsDir() {
			continue
		}
		p := filepath.Join(sd, e.Name())
		if e.Name() == "sessions.json" {
			u.stores = append(u.stores, p)
		} else if isTranscript(e.Name()) {
			u.files = append(u.files, p)
		}
	}
}

// resolve turns backfill arguments into units: a state dir (with agents/),
// a sessions dir, or single transcript files.
func (f *finder) resolve(paths []string) ([]unit, error) {
	var out []unit
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("backfill %s: %w", p, err)
		}
		abs, _ := filepath.Abs(p)
		switch {
		case fi.IsDir():
			if st, err := os.Stat(filepath.Join(abs, "agents")); err == nil && st.IsDir() {
				out = append(out, f.discover(&Source{Type: SourceClawdbot, Dir: abs}))
				continue
			}
			if !f.claim(fileIDOf(fi), abs) {
				continue
			}
			u := unit{src: &Source{Type: SourceClawdbot, Dir: abs}, where: abs, dirs: []string{abs}}
			f.addSessionsDir(&u, abs)
			sort.Strings(u.files)
			out = append(out, u)
		default:
			u := unit{src: &Source{Type: SourceClawdbot, Dir: filepath.Dir(abs)}, where: abs, files: []string{abs}}
			if _, err := os.Stat(filepath.Join(filepath.Dir(abs), "sessions.json")); err == nil {
				u.stores = []string{filepath.Join(filepath.Dir(abs), "sessions.json")}
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// flushNotes logs what the finder noticed.
func (m *Monitor) flushNotes(f *finder) {
	for _, n := range f.notes {
		m.notice(n)
	}
	f.notes = f.notes[:0]
}

// applyStore reads a sessions.json into session knowledge if it changed
// since it was last read: in line in backfill and the first catch-up, on
// the store worker (debounced, off the main loop) while following.
func (m *Monitor) applyStore(ctx context.Context, path string) {
	fi, err := os.Stat(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.storeFailed(path, err)
		}
		return
	}
	stamp := storeStamp{fileIDOf(fi), fi.Size(), fi.ModTime()}
	if m.stores[path] == stamp {
		return
	}
	m.stores[path] = stamp
	switch w := m.follow.worker; {
	case w != nil && m.follow.async:
		w.request(path)
	case w != nil:
		m.applyStoreResult(w.readNow(ctx, path))
	default:
		m.applyStoreResult(m.storeReader().read(ctx, path))
	}
}

// applyStoreResult applies the sessions a read found changed.
func (m *Monitor) applyStoreResult(res storeResult) {
	m.log.Debug("session store read", "file", res.path, "bytes", res.bytes, "entries_parsed", res.parsed,
		"sessions_changed", len(res.entries), "took", res.took, "err", res.err)
	if res.err != nil {
		if errors.Is(res.err, context.Canceled) || errors.Is(res.err, context.DeadlineExceeded) {
			delete(m.stores, res.path) // not a verdict on the file
			return
		}
		m.storeFailed(res.path, res.err)
		return
	}
	if m.badPaths[res.path] {
		delete(m.badPaths, res.path)
		m.log.Info("session store readable again", "file", res.path)
	}
	for _, k := range res.oversized {
		m.notice(notice{key: "big\x00" + res.path + "\x00" + k,
			msg:  "session store entry too large; skipped (what it said before is kept)",
			args: []any{"file", res.path, "key", k, "limit_bytes", MaxSessionStoreEntryBytes}})
	}
	agent := agentOf(res.path)
	now := m.now().UnixMilli()
	for _, e := range res.entries {
		st := m.sess.get(agent, e.SessionID, now)
		if m.sess.learn(st, originStore, e.Key, e.Channel, e.Peer, "") {
			m.batch.Moves = append(m.batch.Moves, store.Move{Agent: st.Agent, SessionID: st.SessionID, Customer: st.Customer})
		}
	}
}

// storeFailed reports a sessions.json that cannot be used, once per path
// until it is read again: attribution keeps what it knew, and the file is
// read again once it changes.
func (m *Monitor) storeFailed(path string, err error) {
	if m.badPaths[path] {
		return
	}
	msg := "session store unreadable; attribution kept as is, read again when it changes"
	if errors.Is(err, errStoreNotRegular) {
		msg = "session store is not a regular file; not read, attribution kept as is"
	}
	m.unreadable(path, msg, "err", err) // counts and logs it
	m.keep(notice{key: "store\x00" + path, msg: msg, args: []any{"file", path, "err", err}})
}

// pendingBytes is how much of the units' files is not consumed yet.
func (m *Monitor) pendingBytes(units []unit) int64 {
	var n int64
	for _, u := range units {
		for _, f := range u.files {
			fi, err := os.Stat(f)
			if err != nil {
				continue
			}
			off := int64(0)
			if fs := m.files[fileIDOf(fi)]; fs != nil {
				off = fs.cp.Offset
			}
			if fi.Size() > off {
				n += fi.Size() - off
			}
		}
	}
	return n
}

// Backfill reads the given paths (or, with none, every configured source)
// once to the end and returns what it did. total, when set, is told the
// number of bytes to read before reading starts.
func (m *Monitor) Backfill(ctx context.Context, paths []string, total func(int64)) (Stats, error) {
	var units []unit
	f := newFinder()
	if len(paths) == 0 {
		for i := range m.cfg.Sources {
			units = append(units, f.discover(&m.cfg.Sources[i]))
		}
	} else {
		var err error
		if units, err = f.resolve(paths); err != nil {
			return Stats{}, err
		}
	}
	if len(units) == 0 {
		return Stats{}, ErrNoSources
	}
	if err := m.load(ctx); err != nil {
		return Stats{}, err
	}
	m.flushNotes(f)
	for _, u := range units {
		m.warnEmpty(u)
	}
	if total != nil {
		total(m.pendingBytes(units))
	}
	m.startWriter()
	m.ingest(ctx, units)
	err := m.finish()
	s := m.Stats()
	s.Warnings = m.warnings()
	return s, err
}

// ingest reads the session stores first, so files are attributed from the
// start, then every file to its last complete line.
func (m *Monitor) ingest(ctx context.Context, units []unit) {
	for _, u := range units {
		for _, s := range u.stores {
			if ctx.Err() != nil {
				return
			}
			m.applyStore(ctx, s)
		}
	}
	for _, u := range units {
		for _, f := range u.files {
			if ctx.Err() != nil {
				return
			}
			m.processFile(f, u.src)
		}
	}
}

// watches keeps one inotify watch per directory identity. inotify follows
// a symlink given to it and reports events under the path it was given,
// so a symlinked agent dir is watched through its link and events keep
// the agent's name. fsnotify merges two paths of one inode into the first
// watch, so only one path per identity is added; a path whose target
// changed (a re-pointed symlink) or vanished loses its watch.
type watches struct {
	w    *fsnotify.Watcher
	path map[string]store.FileID
	id   map[store.FileID]string
}

func (ws *watches) update(cur map[string]store.FileID) {
	for d, id := range ws.path {
		if cid, ok := cur[d]; !ok || cid != id {
			_ = ws.w.Remove(d) // the kernel may have dropped it already
			delete(ws.path, d)
			if ws.id[id] == d {
				delete(ws.id, id)
			}
		}
	}
	ds := make([]string, 0, len(cur))
	for d := range cur {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	for _, d := range ds {
		id := cur[d]
		if _, ok := ws.path[d]; ok {
			continue
		}
		if _, ok := ws.id[id]; ok {
			continue
		}
		if err := ws.w.Add(d); err == nil {
			ws.path[d] = id
			ws.id[id] = d
		}
	}
}

// Run catches up with every source and then follows them until ctx ends.
// ready, when set, is called once the first catch-up is committed.
func (m *Monitor) Run(ctx context.Context, ready func()) error {
	if len(m.cfg.Sources) == 0 {
		return ErrNoSources
	}
	if err := m.load(ctx); err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("start file watcher: %w", err)
	}
	defer w.Close()
	m.startWriter()
	// Session stores are read by their own goroutine once following: a
	// 100 MB sessions.json must not sit in front of transcript lines.
	sw := newStoreWorker(m.storeReader(), storeDebounce)
	m.follow.worker = sw
	wctx, stopWorker := context.WithCancel(ctx)
	defer func() {
		stopWorker()
		sw.wait()
	}()
	ws := &watches{w: w, path: map[string]store.FileID{}, id: map[store.FileID]string{}}
	srcOf := map[string]*Source{} // watched dir → its source
	first := true
	scan := func() {
		var units []unit
		f := newFinder()
		cur := map[string]store.FileID{}
		for i := range m.cfg.Sources {
			u := f.discover(&m.cfg.Sources[i])
			for _, d := range u.dirs {
				srcOf[d] = u.src
				if fi, err := os.Stat(d); err == nil && fi.IsDir() {
					cur[d] = fileIDOf(fi)
				}
			}
			if first {
				m.warnEmpty(u)
			}
			units = append(units, u)
		}
		m.flushNotes(f)
		ws.update(cur)
		m.ingest(ctx, units)
		m.flush()
	}
	scan()
	first = false
	sw.start(wctx)
	m.follow.async = true
	if ready != nil {
		done := m.barrier()
		go func() {
			<-done
			ready()
		}()
	}
	tick := time.NewTicker(m.cfg.Rescan)
	defer tick.Stop()
	dirty := map[string]*Source{}
	storesDirty := map[string]bool{}
	rescan := false
	for {
		select {
		case <-ctx.Done():
			return m.finish()
		case err := <-w.Errors:
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				rescan = true
			} else if err != nil {
				m.log.Warn("file watcher", "err", err)
			}
		case <-tick.C:
			rescan = true
		case res := <-sw.results:
			m.applyStoreResult(res)
		case ev, ok := <-w.Events:
			if !ok {
				return m.finish()
			}
			m.classify(ev, srcOf, dirty, storesDirty, &rescan)
			// Coalesce a burst of events into one pass.
			for drained := false; !drained; {
				select {
				case ev := <-w.Events:
					m.classify(ev, srcOf, dirty, storesDirty, &rescan)
				default:
					drained = true
				}
			}
		}
		if v := m.writeErr.Load(); v != nil {
			m.finish()
			return v.(error)
		}
		if rescan {
			rescan = false
			clear(dirty)
			clear(storesDirty)
			scan()
			continue
		}
		for s := range storesDirty {
			m.applyStore(ctx, s)
		}
		clear(storesDirty)
		paths := make([]string, 0, len(dirty))
		for p := range dirty {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			m.processFile(p, dirty[p])
		}
		clear(dirty)
		m.flush()
	}
}

func (m *Monitor) classify(ev fsnotify.Event, srcOf map[string]*Source, dirty map[string]*Source, storesDirty map[string]bool, rescan *bool) {
	dir := filepath.Dir(ev.Name)
	src := srcOf[dir]
	if src == nil {
		return
	}
	base := filepath.Base(ev.Name)
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
			*rescan = true // a new agent or sessions dir: watch it and read it
			return
		}
	}
	switch src.Type {
	case SourceClawdbot:
		if base == "sessions.json" {
			storesDirty[ev.Name] = true
			return
		}
		if filepath.Base(dir) != "sessions" || !isTranscript(base) {
			return
		}
	case SourceJSONL:
		if ok, _ := filepath.Match(src.Path, ev.Name); !ok {
			return
		}
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		delete(m.paths, ev.Name)
		return
	}
	dirty[ev.Name] = src
}
