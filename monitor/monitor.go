// Package monitor finds and follows log files, turns their lines into usage
// events, attributes them to customers and hands them to the store in
// batches, each batch committed together with the checkpoints of the files
// it came from.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// Price is a model's price in USD per million tokens, used only for calls
// whose line carried no cost.
type Price struct {
	Provider   string  `mapstructure:"provider" json:"provider,omitempty"`
	Model      string  `mapstructure:"model" json:"model"`
	Input      float64 `mapstructure:"input" json:"input"`
	Output     float64 `mapstructure:"output" json:"output"`
	CacheRead  float64 `mapstructure:"cache_read" json:"cache_read"`
	CacheWrite float64 `mapstructure:"cache_write" json:"cache_write"`
}

// Config is the monitor's part of the configuration.
type Config struct {
	Sources []SourceConfig
	Prices  []Price
	// MaxLineBytes bounds one line; longer lines are counted as bad and skipped.
	MaxLineBytes int
	// BatchEvents is the most events one transaction carries.
	BatchEvents int
	// Rescan is how often every known file is stat'ed as a safety net for
	// missed file events.
	Rescan time.Duration
}

// Defaults for Config fields left zero. A backfill is bound by its writer,
// and a transaction of 2,000 events costs it less per event than two of
// 1,000 (one COMMIT, one write of the pages both would dirty, one upsert
// of the rollup rows both touch): 4 % of the wall time on both corpora of
// docs/BENCHMARKS.md (Round 8). Up to three batches are in flight, so
// their size is most of a backfill's live heap; the backfill's lower GC
// target (cmd/quotawatch, backfillGCPercent) keeps the peak RSS where
// 1,000 had it.
const (
	DefaultMaxLineBytes = 32 << 20
	DefaultBatchEvents  = 2000
	DefaultRescan       = 30 * time.Second
)

// Stats counts what an ingest did.
type Stats struct {
	Files      int64 `json:"files"`
	Unreadable int64 `json:"unreadable_files"`
	Lines      int64 `json:"lines"`
	Bytes      int64 `json:"bytes"`
	Events     int64 `json:"events"`
	Inserted   int64 `json:"new_events"`
	Duplicates int64 `json:"duplicates"`
	Synthetic  int64 `json:"synthetic_skipped"`
	Bad        int64 `json:"bad_lines"`
	// Warnings are what discovery and session stores warned about (empty
	// sources, skipped duplicate or broken directories, unusable stores).
	Warnings []string `json:"warnings"`
	// Sources is what each source read, in the order of the configuration
	// (or of the backfill PATHs).
	Sources []SourceStats `json:"sources"`
}

// Monitor reads sources into the store.
type Monitor struct {
	cfg  Config
	st   *store.Store
	attr *Attributor
	log  *slog.Logger
	now  func() time.Time

	// OnCommit, when set, is called by the writer after each committed batch
	// that changed any totals (the alerts check hooks in here).
	OnCommit func(store.CommitResult)
	// Progress, when set, is told how many bytes were read (backfill's bar).
	Progress func(n int64)

	// sources are built from cfg.Sources (srcErr says why one could not be).
	sources []Source
	srcErr  error
	// schemaErrs are the agent databases refused for their schema
	// version, one per path: backfill reports them after reading the rest.
	schemaErrs []*UnknownSchemaError
	// read are the sources counted in Stats: the configured ones, or
	// backfill's PATHs.
	read []Source
	// cur counts for the source being read.
	cur *sourceStats

	// files are the files read since the last settle; quiet, the marks of
	// all others (store.Checkpoint has the rest).
	files map[store.FileID]*fileState
	quiet *quietSet
	// listSize is, by source, its largest sessions-directory listing in
	// the last scan (eachItem).
	listSize map[Source]listSize
	// following is set once Run's first catch-up is done: from then on a
	// file is usually verified already and a stat can skip it.
	following bool
	// watched reports whether Run has a watch on a directory (nil outside
	// Run): a poller may wait longer where file events tell of changes.
	watched func(dir string) bool
	// stamped is how many marks loaded from the store carry a stamp: with
	// none (a first backfill), trying a stat before the open only costs.
	stamped int
	// cursors are the positions of items that are not files (source,
	// item → the kind's JSON state), as last handed to the writer.
	cursors map[cursorKey]string
	paths   map[string]store.FileID
	sess    *sessions
	batch   *store.Batch
	// bytes read into the current batch, so a file full of non-usage lines
	// still moves its checkpoint forward.
	batchBytes int64
	stores     map[string]storeStamp
	badPaths   map[string]bool // unreadable files already reported
	follow     followState     // session-store reading and warnings (run.go)

	stats struct {
		files, unreadable, lines, bytes, events, inserted, dups, synthetic, bad atomic.Int64
	}

	batches chan job
	// spare are committed batches handed back by the writer for flush to
	// refill, so a backfill does not allocate (and collect) a new
	// BatchEvents-long slice for every batch.
	spare chan *store.Batch
	// flushed and made count the batches flush handed to the writer and
	// the ones newBatch had to allocate (the reader goroutine's only).
	flushed, made int
	// committed is how many of the flushed batches the writer committed;
	// waits, how often a settle waited for it (the reader's only).
	committed atomic.Int64
	waits     int
	wg        sync.WaitGroup
	writeErr  atomic.Value
	health    health // what Health reports (readiness)
	refused   int64  // events the store rejected so far (writer goroutine only)
}

// New creates a monitor over an open store.
func New(cfg Config, st *store.Store, attr *Attributor, log *slog.Logger) *Monitor {
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if cfg.BatchEvents <= 0 {
		cfg.BatchEvents = DefaultBatchEvents
	}
	if cfg.Rescan <= 0 {
		cfg.Rescan = DefaultRescan
	}
	if log == nil {
		log = slog.Default()
	}
	m := &Monitor{cfg: cfg, st: st, attr: attr, log: log, now: time.Now,
		files: map[store.FileID]*fileState{}, quiet: newQuietSet(), listSize: map[Source]listSize{}, paths: map[string]store.FileID{}, stores: map[string]storeStamp{}, badPaths: map[string]bool{},
		batch: &store.Batch{}, cur: newSourceStats("", "")}
	var errs []error
	for i, c := range cfg.Sources {
		src, err := newSource(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("source %d: %w", i, err))
			continue
		}
		m.sources = append(m.sources, src)
	}
	m.srcErr = errors.Join(errs...)
	return m
}

// SetClock replaces the clock (tests).
func (m *Monitor) SetClock(now func() time.Time) { m.now = now }

// Stats returns the counters so far.
func (m *Monitor) Stats() Stats {
	s := Stats{
		Files: m.stats.files.Load(), Unreadable: m.stats.unreadable.Load(), Lines: m.stats.lines.Load(),
		Bytes: m.stats.bytes.Load(), Events: m.stats.events.Load(), Inserted: m.stats.inserted.Load(),
		Duplicates: m.stats.dups.Load(), Synthetic: m.stats.synthetic.Load(), Bad: m.stats.bad.Load(),
		Sources: []SourceStats{},
	}
	seen := map[*sourceStats]bool{}
	for _, src := range m.read {
		if st := src.stats(); !seen[st] {
			seen[st] = true
			s.Sources = append(s.Sources, st.snapshot())
		}
	}
	return s
}

// load reads checkpoints and sessions and applies the current mapping to
// the stored history.
func (m *Monitor) load(ctx context.Context) error {
	if _, err := m.st.Reattribute(ctx, m.attr.Fingerprint(), m.attr.CustomerOf, m.attr.DayOf); err != nil {
		return err
	}
	// Only each file's mark is held; the whole checkpoint is read back from
	// the store when the file has grown (see processFile). The slice is
	// sized once: grown by appends, 150,000 marks left ~13 MB of copies
	// behind (the peak after a restart).
	n, err := m.st.FileCount(ctx)
	if err != nil {
		return err
	}
	m.quiet.recs = slices.Grow(m.quiet.recs, n)
	err = m.st.EachFileMark(ctx, func(id store.FileID, fm store.FileMark) {
		m.quiet.load(id, fm)
		if fm.MtimeNs != 0 || fm.CtimeNs != 0 {
			m.stamped++
		}
	})
	m.quiet.merge()
	m.quiet.fit()
	if err != nil {
		return err
	}
	cs, err := m.st.Cursors(ctx)
	if err != nil {
		return err
	}
	m.cursors = make(map[cursorKey]string, len(cs))
	for _, c := range cs {
		m.cursors[cursorKey{c.Source, c.Item}] = c.State
	}
	m.sess, err = newStoredSessions(ctx, m.attr, m.st, m.readBackFailed)
	return err
}

// readBackFailed stops the monitor when the store cannot be read back: going
// on would bill a known session as a new one. The writer commits nothing
// more and Run returns the error.
func (m *Monitor) readBackFailed(err error) {
	m.log.Error("read back from the store", "err", err)
	m.writeErr.CompareAndSwap(nil, fmt.Errorf("read back from the store: %w", err))
}

// settleFiles is how many files (or sessions) may be held whole before a
// settle while the history is small. Each held file and its session are
// ~0.6 kB of live heap, which the collector's goal grows by GOGC: at 4,096
// they were the largest part of a 9,500-file backfill's heap (dense peak
// RSS 43-44 -> 39-40 MiB at 1,024).
var settleFiles = 1024

// settleAt is how many files or sessions may be held whole before a
// settle: settleFiles, rising with the marks to four times that. A settle
// merges the held files into the sorted marks (a sort and a copy of them
// all) and waits for the writer, so a settle every 1,024 files made a
// 150,000-file backfill ~10-20 % slower; once the marks are eight times the
// held files, the merge outweighs what they hold.
func (m *Monitor) settleAt() int {
	return min(max(settleFiles, m.quiet.len()/8), 4*settleFiles)
}

// settle waits until everything read so far is committed, then keeps of
// each file only its mark and forgets the sessions: what is committed can
// be read back from the store. Files with an unterminated last line stay
// whole (their scan of it is not in the store).
func (m *Monitor) settle() {
	m.flush()
	<-m.barrier()
	m.waits++
	m.evictCommitted(m.flushed)
}

// evictCommitted keeps only the marks of the held files whose last
// checkpoint went in one of the first seq batches, and forgets the
// sessions in them, once those batches are committed.
func (m *Monitor) evictCommitted(seq int) {
	if m.writeErr.Load() != nil {
		return
	}
	for id, fs := range m.files {
		if !fs.verified || (fs.partial > 0 && fs.partialAt == fs.cp.Offset) || fs.seq > seq {
			continue
		}
		c := &fs.cp
		m.quiet.set(id, quietFile{FileMark: store.FileMark{FPLen: c.FPLen, FPHead: c.FPHead, Offset: c.Offset, TailHash: c.TailHash,
			MtimeNs: fs.mtime, CtimeNs: fs.ctime}, seen: true})
		delete(m.files, id)
	}
	for p, id := range m.paths {
		if m.files[id] == nil {
			delete(m.paths, p)
		}
	}
	m.quiet.merge()
	m.sess.evict(seq)
}

// settleIfFull settles once many files are held whole. It does not wait
// for the writer: the files and sessions whose batches are committed are
// let go at once, and those of the batches in flight (a few hundred) stay
// held until a later settle. Waiting at each settle left the reader idle
// for 0.33-0.37 s of a 2.2 s sparse backfill (and then the writer, while
// the reader filled the next batch). Only a writer so far behind that more
// than half stay held is waited for.
func (m *Monitor) settleIfFull() {
	n := m.settleAt()
	if len(m.files) < n && len(m.sess.m) < n {
		return
	}
	m.evictCommitted(int(m.committed.Load()))
	if len(m.files) > n/2 || len(m.sess.m) > n/2 {
		m.settle()
	}
}

// cursorKey names one cursor.
type cursorKey struct{ source, item string }

// cursor returns where a source last read an item to (its kind's JSON
// state), as committed or already handed to the writer.
func (m *Monitor) cursor(source, item string) (string, bool) {
	st, ok := m.cursors[cursorKey{source, item}]
	return st, ok
}

// setCursor records that the events added to the batch so far take an item
// to state: the cursor is committed in the same transaction as they are,
// so after a crash both are there or neither is.
func (m *Monitor) setCursor(source, item, state string) {
	m.cursors[cursorKey{source, item}] = state
	b := m.batch
	if n := len(b.Cursors); n > 0 && b.Cursors[n-1].Source == source && b.Cursors[n-1].Item == item {
		b.Cursors[n-1].State = state // one item read in steps: the last one counts
		return
	}
	b.Cursors = append(b.Cursors, store.Cursor{Source: source, Item: item, State: state})
}

// job is a batch for the writer, or a barrier (done is closed once every
// earlier batch is committed).
type job struct {
	b *store.Batch
	// seq numbers the batch: once it is committed, so are all before it.
	seq  int
	done chan struct{}
}

// spareIdle is how long the writer waits for work before it drops the
// spare batches: a backfill or catch-up keeps it busy, and a following run
// must not hold three BatchEvents-long arrays while it waits for lines.
var spareIdle = time.Second

func (m *Monitor) startWriter() {
	m.batches = make(chan job, 1)
	// Up to three batches are in flight (one filled, one queued, one being
	// committed): with fewer spares a reader ahead of the writer found none
	// and allocated.
	m.spare = make(chan *store.Batch, 3)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		idle := time.NewTimer(spareIdle)
		defer idle.Stop()
		for {
			select {
			case j, ok := <-m.batches:
				if !ok {
					return
				}
				if j.b != nil {
					m.commit(j.b)
					m.recycle(j.b)
					if m.writeErr.Load() == nil {
						m.committed.Store(int64(j.seq))
					}
				}
				if j.done != nil {
					close(j.done)
				}
				idle.Reset(spareIdle)
			case <-idle.C:
				m.dropSpares()
			}
		}
	}()
}

// dropSpares leaves the spare batches to the garbage collector.
func (m *Monitor) dropSpares() {
	for {
		select {
		case <-m.spare:
		default:
			return
		}
	}
}

// barrier returns a channel closed once everything flushed so far is committed.
func (m *Monitor) barrier() <-chan struct{} {
	done := make(chan struct{})
	m.batches <- job{done: done}
	return done
}

// commit writes one batch, retrying with backoff: the batch holds the events
// and their checkpoints together, so retrying it is always safe.
func (m *Monitor) commit(b *store.Batch) {
	if m.writeErr.Load() != nil {
		return // an earlier batch failed for good; later ones must not skip past it
	}
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		m.health.begin(m.now())
		res, err := m.st.Commit(context.Background(), b, m.attr.DayOf)
		m.health.done(m.now(), err)
		if err == nil {
			m.stats.inserted.Add(int64(res.Inserted))
			m.stats.dups.Add(int64(res.Duplicates))
			m.rejected(res.Rejected)
			if m.OnCommit != nil && len(res.Touched) > 0 {
				m.OnCommit(res)
			}
			return
		}
		m.log.Error("write batch", "attempt", attempt, "events", len(b.Events), "err", err)
		if attempt >= 8 {
			m.writeErr.Store(fmt.Errorf("write batch after %d attempts: %w", attempt, err))
			return
		}
		time.Sleep(delay)
		if delay < 5*time.Second {
			delay *= 2
		}
	}
}

// rejected counts and logs the events the store left out of a batch: bad
// lines found only at the database, rate-limited like the parser's (the
// first few, then every thousandth). Only the writer goroutine calls it.
func (m *Monitor) rejected(rs []store.Rejected) {
	for _, r := range rs {
		m.stats.bad.Add(1)
		m.refused++
		if m.refused <= 5 || m.refused%1000 == 0 {
			m.log.Warn("event refused by the store; counted as a bad line", "key", r.Key, "refused", m.refused, "err", r.Reason)
		}
	}
}

// recycle hands a committed batch back for flush to refill. The store
// keeps nothing of a batch once Commit has returned. A batch grown far
// past the usual size is left to the garbage collector instead.
func (m *Monitor) recycle(b *store.Batch) {
	if cap(b.Events) > 2*m.cfg.BatchEvents {
		return
	}
	// Cleared, so the strings of committed events are not kept alive by
	// the spare batch's backing arrays.
	clear(b.Events)
	clear(b.Checkpoints)
	clear(b.Cursors)
	clear(b.Sessions)
	clear(b.Moves)
	b.Reset()
	select {
	case m.spare <- b:
	default:
	}
}

// newBatch returns an empty batch: a recycled one when the writer has one.
func (m *Monitor) newBatch() *store.Batch {
	select {
	case b := <-m.spare:
		return b
	default:
		m.made++
		return &store.Batch{Events: make([]store.Event, 0, m.cfg.BatchEvents)}
	}
}

// flush hands the current batch to the writer.
func (m *Monitor) flush() {
	for _, s := range m.sess.dirty {
		m.batch.Sessions = append(m.batch.Sessions, s.Session)
		s.dirty, s.seq = false, m.flushed+1
	}
	m.sess.dirty = m.sess.dirty[:0]
	if m.batch.Empty() {
		return
	}
	m.flushed++
	m.batches <- job{b: m.batch, seq: m.flushed}
	m.batch = m.newBatch()
	m.batchBytes = 0
}

// finish flushes, waits for the writer and reports a write failure.
func (m *Monitor) finish() error {
	m.flush()
	close(m.batches)
	m.wg.Wait()
	if v := m.writeErr.Load(); v != nil {
		return v.(error)
	}
	return nil
}

// ErrNoSources is returned when there is nothing to read.
var ErrNoSources = errors.New("no sources to read")

// schemaErr records a database refused for its schema version (once per
// path); the other sources are read on.
func (m *Monitor) schemaErr(e *UnknownSchemaError) {
	for _, x := range m.schemaErrs {
		if x.Path == e.Path {
			return
		}
	}
	m.schemaErrs = append(m.schemaErrs, e)
}

// stampBatch bounds the stamps one batch carries (48 bytes each): the
// first start after the upgrade to stamps verifies and stamps every file of
// the history, and each batch rewrites the pages of files it touches.
const stampBatch = 16384

// batchFull reports whether the batch is as big as a batch may be (events,
// bytes read for it, or stamps). An OpenClaw database's batch is the same
// size as any other's: at 1,000 events a batch, one twice as long wrote the
// key-index and rollup pages its interleaved sessions dirty once for twice
// the rows, but at 2,000 twice that was slower (docs/BENCHMARKS.md, Round 8).
func (m *Monitor) batchFull() bool {
	return len(m.batch.Events) >= m.cfg.BatchEvents || m.batchBytes >= 16<<20 || len(m.batch.Stamps) >= stampBatch
}

// flushIfFull hands the batch to the writer when it is full.
func (m *Monitor) flushIfFull() {
	if m.batchFull() {
		m.flush()
	}
}

// learn applies new knowledge to a session and, when that changes its
// customer, queues the move of its stored events in the batch.
func (m *Monitor) learn(st *sessionState, origin, key, channel, peer, hint string) {
	if m.sess.learn(st, origin, key, channel, peer, hint) {
		m.batch.Moves = append(m.batch.Moves, store.Move{Agent: st.Agent, SessionID: st.SessionID, Customer: st.Customer})
	}
}
