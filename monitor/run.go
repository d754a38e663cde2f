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

// storeStamp remembers which version of a sessions.json was applied.
type storeStamp struct {
	size  int64
	mtime time.Time
}

// unit is a set of files read with one source's rules.
type unit struct {
	src    *Source
	dirs   []string // directories to watch
	stores []string // sessions.json files
	files  []string
}

func listDir(dir string) []os.DirEntry {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	return ents
}

// discover lists what a source holds right now.
func discover(src *Source) unit {
	u := unit{src: src}
	switch src.Type {
	case SourceClawdbot:
		agents := filepath.Join(src.Dir, "agents")
		u.dirs = append(u.dirs, src.Dir, agents)
		for _, a := range listDir(agents) {
			if !a.IsDir() {
				continue
			}
			ad := filepath.Join(agents, a.Name())
			sd := filepath.Join(ad, "sessions")
			u.dirs = append(u.dirs, ad, sd)
			u.addSessionsDir(sd)
		}
	case SourceJSONL:
		matches, _ := filepath.Glob(src.Path)
		seen := map[string]bool{}
		if !strings.ContainsAny(filepath.Dir(src.Path), "*?[") {
			seen[filepath.Dir(src.Path)] = true
		}
		for _, f := range matches {
			if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
				u.files = append(u.files, f)
				seen[filepath.Dir(f)] = true
			}
		}
		for d := range seen {
			u.dirs = append(u.dirs, d)
		}
	}
	sort.Strings(u.files)
	return u
}

func (u *unit) addSessionsDir(sd string) {
	for _, e := range listDir(sd) {
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
func resolve(paths []string) ([]unit, error) {
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
				out = append(out, discover(&Source{Type: SourceClawdbot, Dir: abs}))
				continue
			}
			u := unit{src: &Source{Type: SourceClawdbot, Dir: abs}}
			u.addSessionsDir(abs)
			sort.Strings(u.files)
			out = append(out, u)
		default:
			u := unit{src: &Source{Type: SourceClawdbot, Dir: filepath.Dir(abs)}, files: []string{abs}}
			if _, err := os.Stat(filepath.Join(filepath.Dir(abs), "sessions.json")); err == nil {
				u.stores = []string{filepath.Join(filepath.Dir(abs), "sessions.json")}
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// applyStore reads a sessions.json (if it changed) into session knowledge.
func (m *Monitor) applyStore(path string) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	stamp := storeStamp{fi.Size(), fi.ModTime()}
	if m.stores[path] == stamp {
		return
	}
	entries, err := readSessionStore(path)
	if err != nil {
		// Clawdbot replaces it by rename, so a torn read is unlikely; keep
		// what we knew and try again on the next change.
		m.log.Warn("session store unreadable; attribution kept as is", "file", path, "err", err)
		return
	}
	m.stores[path] = stamp
	agent := agentOf(path)
	now := m.now().UnixMilli()
	for _, e := range entries {
		st := m.sess.get(agent, e.SessionID, now)
		if m.sess.learn(st, originStore, e.Key, e.Channel, e.Peer, "") {
			m.batch.Moves = append(m.batch.Moves, store.Move{Agent: st.Agent, SessionID: st.SessionID, Customer: st.Customer})
		}
	}
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
	if len(paths) == 0 {
		for i := range m.cfg.Sources {
			units = append(units, discover(&m.cfg.Sources[i]))
		}
	} else {
		var err error
		if units, err = resolve(paths); err != nil {
			return Stats{}, err
		}
	}
	if len(units) == 0 {
		return Stats{}, ErrNoSources
	}
	if err := m.load(ctx); err != nil {
		return Stats{}, err
	}
	if total != nil {
		total(m.pendingBytes(units))
	}
	m.startWriter()
	m.ingest(ctx, units)
	err := m.finish()
	return m.Stats(), err
}

// ingest reads the session stores first, so files are attributed from the
// start, then every file to its last complete line.
func (m *Monitor) ingest(ctx context.Context, units []unit) {
	for _, u := range units {
		for _, s := range u.stores {
			m.applyStore(s)
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
	watched := map[string]bool{}
	srcOf := map[string]*Source{} // watched dir → its source
	scan := func() {
		var units []unit
		for i := range m.cfg.Sources {
			u := discover(&m.cfg.Sources[i])
			for _, d := range u.dirs {
				srcOf[d] = u.src
				if !watched[d] {
					if err := w.Add(d); err == nil {
						watched[d] = true
					}
				}
			}
			units = append(units, u)
		}
		m.ingest(ctx, units)
		m.flush()
	}
	scan()
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
			m.applyStore(s)
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
