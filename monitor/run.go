package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/quotawatch/quotawatch/internal/gctarget"
	"github.com/quotawatch/quotawatch/store"
)

// storeStamp remembers which version of a sessions.json was last read (or
// failed to read): a read is retried only once the file changed.
type storeStamp struct {
	id    store.FileID
	size  int64
	mtime time.Time
}

// unit is what one source holds right now.
type unit struct {
	src    Source
	where  string   // what was searched, for the "no transcript" warning
	dirs   []string // directories to watch
	stores []string // sessions.json files, read before the items
	items  []string // files (or databases) to read, each by src
	// lists are sessions directories whose transcripts are items too,
	// listed only when they are read (see eachItem), so that a history of
	// 150,000 files is never one list of paths.
	lists []string
	// found is how many items ingest visited (warnEmpty).
	found int
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
		m.follow.rd.prior = m.storedEntries
	}
	return m.follow.rd
}

// storedEntries calls fn with what each session of agent that the store
// holds as attributed by a session store was attributed from. Called from
// the store worker: it reads only the store.
func (m *Monitor) storedEntries(ctx context.Context, agent string, fn func(storeEntry)) error {
	return m.st.EachSessionOf(ctx, agent, originStore, func(x store.Session) {
		if x.Hint == "" { // learn from a store sets no hint; anything else is not what it set
			fn(storeEntry{SessionID: x.SessionID, Key: x.Key, Channel: x.Channel, Peer: x.Peer})
		}
	})
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
	if u.found == 0 && u.where != "" {
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
	if res.priorErr != nil && !errors.Is(res.priorErr, context.Canceled) {
		m.log.Warn("cannot read the sessions the store holds; every session store entry is applied again", "file", res.path, "err", res.priorErr)
	}
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
		m.learn(st, originStore, e.Key, e.Channel, e.Peer, "")
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

// pendingBytes is how much of the units' items is not read yet.
func (m *Monitor) pendingBytes(ctx context.Context, units []unit) int64 {
	var n int64
	for i := range units {
		u := &units[i]
		m.eachItem(ctx, u, func(it string) { n += u.src.pending(m, it) })
	}
	return n
}

// eachItem calls fn with each of u's items in path order (the order of one
// sorted list of them all): its listed items and the transcripts of its
// sessions directories, each directory listed when it is reached and held
// only as its names while its items are read. It stops when ctx ends and
// returns how many items it visited.
func (m *Monitor) eachItem(ctx context.Context, u *unit, fn func(item string)) int {
	keys := u.items
	if len(u.lists) > 0 {
		// A directory's transcripts all sort as dir + "/" + name: one key
		// places all of them among the items.
		keys = make([]string, 0, len(u.items)+len(u.lists))
		keys = append(keys, u.items...)
		for _, d := range u.lists {
			keys = append(keys, d+string(filepath.Separator))
		}
		sort.Strings(keys)
	}
	n := 0
	// One listing buffer for all of u's directories, sized from the
	// largest listing of the scan before: grown by append, a 37,500-name
	// directory allocated ~5 times its final size (Go grows big slices by
	// a quarter), 38 MB a rescan at 150,000 files, and the collections that
	// garbage forced were ~30 % of a rescan's CPU (docs/BENCHMARKS.md,
	// Round 10).
	var names dirNames
	var largest listSize
	defer func() {
		if names.buf != nil {
			m.listSize[u.src] = largest
		}
	}()
	for _, k := range keys {
		if ctx.Err() != nil {
			return n
		}
		if !strings.HasSuffix(k, string(filepath.Separator)) {
			fn(k)
			n++
			continue
		}
		if names.buf == nil {
			names = m.listSize[u.src].alloc()
		}
		m.listTranscripts(k[:len(k)-1], &names)
		largest = largest.max(names.size())
		for i := range names.spans {
			if ctx.Err() != nil {
				return n
			}
			fn(k + names.name(i))
			n++
		}
	}
	return n
}

// dirNames are the names of one directory's transcripts, sorted, in one
// buffer: ~45 bytes a name instead of a path string and a DirEntry each.
type dirNames struct {
	buf   []byte
	spans []nameSpan
}

type nameSpan struct{ start, end uint32 }

func (d *dirNames) name(i int) string { return string(d.buf[d.spans[i].start:d.spans[i].end]) }

// size is what d holds.
func (d *dirNames) size() listSize { return listSize{bytes: len(d.buf), names: len(d.spans)} }

// listSize is the size of the largest directory listing of a source's
// last scan: the next scan's buffer starts at it (an eighth more, for
// growth), so a history's listings allocate once a scan.
type listSize struct{ bytes, names int }

func (l listSize) max(o listSize) listSize {
	return listSize{bytes: max(l.bytes, o.bytes), names: max(l.names, o.names)}
}

func (l listSize) alloc() dirNames {
	return dirNames{buf: make([]byte, 0, l.bytes+l.bytes/8+64), spans: make([]nameSpan, 0, l.names+l.names/8+2)}
}

// listTranscripts lists a sessions directory's transcripts into d (emptied
// first), in chunks. A missing directory is empty; any other failure is
// noticed (an unreadable sessions dir would hide billed calls) and what was
// listed is read.
func (m *Monitor) listTranscripts(dir string, d *dirNames) {
	d.buf, d.spans = d.buf[:0], d.spans[:0]
	f, err := os.Open(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.notice(notice{key: "list\x00" + dir, msg: "cannot list directory; skipped", args: []any{"dir", dir, "err", err}})
		}
		return
	}
	defer f.Close()
	for {
		ents, err := f.ReadDir(1024)
		for _, e := range ents {
			if name := e.Name(); !e.IsDir() && name != "sessions.json" && isTranscript(name) {
				start := uint32(len(d.buf))
				d.buf = append(d.buf, name...)
				d.spans = append(d.spans, nameSpan{start, uint32(len(d.buf))})
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				m.notice(notice{key: "list\x00" + dir, msg: "cannot list directory; skipped", args: []any{"dir", dir, "err", err}})
			}
			break
		}
	}
	slices.SortFunc(d.spans, func(a, b nameSpan) int { return bytes.Compare(d.buf[a.start:a.end], d.buf[b.start:b.end]) })
}

// Backfill reads the given paths (or, with none, every configured source)
// once to the end and returns what it did. total, when set, is told the
// number of bytes to read before reading starts.
func (m *Monitor) Backfill(ctx context.Context, paths []string, total func(int64)) (Stats, error) {
	var units []unit
	f := newFinder()
	if len(paths) == 0 {
		if m.srcErr != nil {
			return Stats{}, m.srcErr
		}
		for _, src := range m.sources {
			units = append(units, discoverSorted(f, src))
		}
	} else {
		var err error
		if units, err = m.resolve(f, paths); err != nil {
			return Stats{}, err
		}
	}
	if len(units) == 0 {
		return Stats{}, ErrNoSources
	}
	for _, u := range units {
		m.read = append(m.read, u.src)
	}
	if err := m.load(ctx); err != nil {
		return Stats{}, err
	}
	m.flushNotes(f)
	if total != nil {
		total(m.pendingBytes(ctx, units))
	}
	m.startWriter()
	m.ingest(ctx, units)
	if ctx.Err() == nil {
		for _, u := range units {
			m.warnEmpty(u)
		}
	}
	err := m.finish()
	s := m.Stats()
	s.Warnings = m.warnings()
	if err == nil && len(m.schemaErrs) > 0 {
		// Everything else is read and committed; the refused database is
		// the caller's to report (the CLI exits 2 for it).
		err = m.schemaErrs[0]
	}
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
			m.settleIfFull()
		}
	}
	for i := range units {
		u := &units[i]
		u.found = m.eachItem(ctx, u, func(it string) {
			u.src.read(m, it)
			m.settleIfFull()
		})
	}
}

// discoverSorted is src.discover with its items in order.
func discoverSorted(f *finder, src Source) unit {
	u := src.discover(f)
	sort.Strings(u.items)
	return u
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

// afterListing, when set (by tests), runs in a rescan between listing the
// directories and watching them: the window a new directory's first file
// can fall into.
var afterListing func()

// update makes the watched set cur and returns how many watches it added.
func (ws *watches) update(cur map[string]store.FileID) (added int) {
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
			added++
		}
	}
	return added
}

// Run catches up with every source and then follows them until ctx ends.
// ready, when set, is called once the first catch-up is committed.
func (m *Monitor) Run(ctx context.Context, ready func()) error {
	if m.srcErr != nil {
		return m.srcErr
	}
	if len(m.sources) == 0 {
		return ErrNoSources
	}
	m.read = m.sources
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
	srcOf := map[string][]Source{} // watched dir → the sources watching it
	first := true
	discover := func() ([]unit, *finder, map[string]store.FileID) {
		var units []unit
		f := newFinder()
		cur := map[string]store.FileID{}
		clear(srcOf)
		for _, src := range m.sources {
			u := discoverSorted(f, src)
			for _, d := range u.dirs {
				if l := srcOf[d]; len(l) == 0 || l[len(l)-1] != src {
					srcOf[d] = append(l, src)
				}
				if fi, err := os.Stat(d); err == nil && fi.IsDir() {
					cur[d] = fileIDOf(fi)
				}
			}
			units = append(units, u)
		}
		return units, f, cur
	}
	scan := func() {
		units, f, cur := discover()
		if afterListing != nil && !first {
			afterListing()
		}
		if added := ws.update(cur); added > 0 && !first {
			// A directory watched only now (a new agent or sessions dir)
			// may have gained a file after it was listed and before its
			// watch existed, which no event will ever report: list again
			// now that it is watched, so that file is read at once, not at
			// the next rescan. (At start every directory is new; the
			// catch-up's own listing is enough there.)
			units, f, cur = discover()
			ws.update(cur)
		}
		m.flushNotes(f)
		m.ingest(ctx, units)
		if first && ctx.Err() == nil {
			for _, u := range units {
				m.warnEmpty(u)
			}
		}
		m.flush()
	}
	scan()
	first = false
	m.following = true
	// What the catch-up read is committed: keep only marks, and give the
	// catch-up's garbage back to the system (the peak after a restart).
	m.settle()
	if err := m.st.ShrinkMemory(ctx); err != nil {
		m.log.Warn("cannot shrink the store's page cache", "err", err)
	}
	debug.FreeOSMemory()
	defer followGCTarget(os.Getenv)()
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
	// A while after each scan, what it left is given back to the system:
	// the collector's background scavenger keeps about a tenth over the
	// heap goal, and what is allocated right after the catch-up (the
	// alerts' first check) or a rescan (a stat and a path per file) is
	// then garbage a quiet follower does not need until the next rescan.
	release := time.NewTimer(releaseAfter)
	defer release.Stop()
	// Sources whose changes a file event cannot always show (a SQLite
	// commit becomes visible in the mmap'd -shm, which inotify never
	// reports) are polled cheaply between events.
	var pollers []poller
	for _, src := range m.sources {
		if p, ok := src.(poller); ok {
			pollers = append(pollers, p)
		}
	}
	// The poll waits as long as the pollers allow (a quiet, watched
	// database a second; one an event or a commit just touched, or in an
	// unwatched directory, pollEvery): ten wake-ups a second were the idle
	// CPU of following quiet databases.
	m.watched = func(dir string) bool { _, ok := ws.path[dir]; return ok }
	var pollC <-chan time.Time
	var pt *time.Timer
	var pollDue time.Time
	replan := func() {
		if pt == nil {
			return
		}
		now := time.Now()
		next := time.Hour
		for _, p := range pollers {
			next = min(next, max(p.pollAfter(m, now), pollEvery))
		}
		if due := now.Add(next); pollDue.IsZero() || due.Before(pollDue) || !pollDue.After(now) {
			pollDue = due
			pt.Reset(next)
		}
	}
	if len(pollers) > 0 {
		pt = time.NewTimer(pollEvery)
		defer pt.Stop()
		pollC = pt.C
		pollDue = time.Now().Add(pollEvery)
	}
	ch := newChanges()
	for {
		replan() // what the last pass read or heard may want a poll sooner
		select {
		case <-ctx.Done():
			return m.finish()
		case <-pollC:
			pollDue = time.Time{}
			for _, p := range pollers {
				ch.src = p.(Source)
				p.poll(m, ch)
			}
			ch.src = nil
			replan()
			if len(ch.items) == 0 && !ch.rescan {
				continue
			}
		case err := <-w.Errors:
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				ch.rescan = true
			} else if err != nil {
				m.log.Warn("file watcher", "err", err)
			}
		case <-tick.C:
			ch.rescan = true
		case <-release.C:
			sw.rd.releaseScratch()
			debug.FreeOSMemory()
			continue
		case res := <-sw.results:
			m.applyStoreResult(res)
		case ev, ok := <-w.Events:
			if !ok {
				return m.finish()
			}
			m.classify(ev, srcOf, ch)
			// Coalesce a burst of events into one pass.
			for drained := false; !drained; {
				select {
				case ev := <-w.Events:
					m.classify(ev, srcOf, ch)
				default:
					drained = true
				}
			}
		}
		if v := m.writeErr.Load(); v != nil {
			m.finish()
			return v.(error)
		}
		if ch.rescan {
			ch.reset()
			m.settle()
			scan()
			// The walk's garbage (a listing and a stat per file: at 150,000
			// files +5 MiB of heap) is given back at once, not only with
			// the release after the reads it handed out: sampled, `run`'s
			// RSS was over its idle figure for the five seconds in
			// between, one sample in six.
			debug.FreeOSMemory()
			release.Reset(releaseAfter)
			continue
		}
		for s := range ch.stores {
			m.applyStore(ctx, s)
		}
		paths := make([]string, 0, len(ch.items))
		for p := range ch.items {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			ch.items[p].read(m, p)
		}
		ch.reset()
		m.flush()
	}
}

// followGCPercent is the garbage collector's target once Run follows: the
// heap may grow 25 % over what is live instead of 100 %. Following, the
// live heap is the marks of the whole history (150,000 files: ~16 MiB)
// and what is allocated is a rescan's stats and paths every 30 s and the
// lines of live calls: at GOGC 100 the headroom over the marks was as big
// as the marks and most of the idle RSS above the binary. The catch-up
// before it keeps the default (its CPU is what a restart waits for).
// Measured at 150,000 files (docs/BENCHMARKS.md): RSS 10 s after the
// catch-up 62.8 -> 50.0 MiB, after two rescans 67.0 -> 53.6 MiB, for CPU
// within the noise (1.29 vs 1.34 s over the two rescans); 50 gave 59 MiB.
var followGCPercent = 25

// releaseAfter is how long after a scan its garbage is given back to the
// system (debug.FreeOSMemory: one collection, ~5 ms of CPU at 150,000
// files, once a scan).
var releaseAfter = 5 * time.Second

// followGCTarget sets followGCPercent unless the user chose a GOGC, and
// returns what restores the previous setting.
func followGCTarget(getenv func(string) string) (restore func()) {
	restore, _ = gctarget.Set(followGCPercent, getenv)
	return restore
}

// classify asks the sources watching an event's directory what it means.
func (m *Monitor) classify(ev fsnotify.Event, srcOf map[string][]Source, ch *changes) {
	srcs := srcOf[filepath.Dir(ev.Name)]
	if len(srcs) == 0 {
		return
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
			ch.rescan = true // a new agent or sessions dir: watch it and read it
			return
		}
	}
	for _, src := range srcs {
		ch.src = src
		src.changed(m, ev, ch)
	}
	ch.src = nil
}
