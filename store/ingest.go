package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Event is one provider call ready to be stored.
type Event struct {
	Key        string // deterministic, unique: the dedupe key
	Agent      string
	SessionID  string
	TimeMs     int64
	Period     string // YYYY-MM in the customer's timezone
	Customer   string
	Provider   string
	Model      string
	Input      int64
	Output     int64
	CacheRead  int64
	CacheWrite int64
	CostUSD    float64
	Priced     bool
	Failed     bool
}

// FileID is a file's identity: it survives renames, not rewrites.
type FileID struct {
	Dev uint64
	Ino uint64
}

// Checkpoint is how far a file has been consumed, with what it held.
type Checkpoint struct {
	FileID
	Path      string
	Agent     string
	SessionID string
	FPLen     int64  // bytes covered by FPHead
	FPHead    uint64 // hash of the first FPLen bytes
	Offset    int64  // just past the last consumed '\n'
	TailHash  uint64 // hash of the bytes just before Offset
	Lines     int64
	Events    int64
	Synthetic int64
	Bad       int64
}

// Session is what is known about one session, and whom it is billed to.
type Session struct {
	Agent     string
	SessionID string
	Key       string
	Channel   string
	Peer      string
	Hint      string
	Origin    string
	Customer  string
	FirstMs   int64
}

// Move re-bills every stored event of a session to another customer.
type Move struct {
	Agent     string
	SessionID string
	Customer  string
}

// Batch is written in one transaction: events, the checkpoints of the files
// (or the cursors of the other items) they came from, session knowledge and
// re-attributions. Either all of it lands or none does, which is what makes
// kill -9 safe.
type Batch struct {
	Events      []Event
	Checkpoints []Checkpoint
	Cursors     []Cursor
	Sessions    []Session
	Moves       []Move
}

// Empty reports whether the batch has nothing to write.
func (b *Batch) Empty() bool {
	return len(b.Events) == 0 && len(b.Checkpoints) == 0 && len(b.Cursors) == 0 && len(b.Sessions) == 0 && len(b.Moves) == 0
}

// Reset empties the batch, keeping its capacity.
func (b *Batch) Reset() {
	b.Events = b.Events[:0]
	b.Checkpoints = b.Checkpoints[:0]
	b.Cursors = b.Cursors[:0]
	b.Sessions = b.Sessions[:0]
	b.Moves = b.Moves[:0]
}

// CommitResult counts what a batch did.
type CommitResult struct {
	Inserted   int
	Duplicates int
	// Touched lists the (customer, period) pairs whose totals changed.
	Touched []CustomerPeriod
	// Rejected lists the events left out of the batch, each a bad line to
	// count and report.
	Rejected []Rejected
}

// Rejected is an event Commit left out, and why.
type Rejected struct {
	Key    string
	Reason string
}

// CustomerPeriod names one rollup row.
type CustomerPeriod struct {
	Customer string
	Period   string
}

type totals struct {
	requests, failed, input, output, cacheRead, cacheWrite, unpriced int64
	cost                                                             float64
}

func (t *totals) add(e *Event, sign int64) {
	if e.Failed {
		t.failed += sign
	} else {
		t.requests += sign
	}
	t.input += sign * e.Input
	t.output += sign * e.Output
	t.cacheRead += sign * e.CacheRead
	t.cacheWrite += sign * e.CacheWrite
	if e.Priced {
		t.cost += float64(sign) * e.CostUSD
	} else {
		t.unpriced += sign
	}
}

// PeriodFunc gives the billing period of an event of a customer.
type PeriodFunc func(customer string, tsMs int64) string

const insertEvent = `INSERT INTO events (key, agent, session_id, ts, period, customer, provider, model,
 input, output, cache_read, cache_write, cost, failed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
 ON CONFLICT(key) DO NOTHING`

const upsertCheckpoint = `INSERT INTO files (dev, ino, path, agent, session_id, fp_len, fp_head, off, tail_hash,
 lines, events, synthetic, bad, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
 ON CONFLICT(dev, ino) DO UPDATE SET path=excluded.path, agent=excluded.agent, session_id=excluded.session_id,
 fp_len=excluded.fp_len, fp_head=excluded.fp_head, off=excluded.off, tail_hash=excluded.tail_hash,
 lines=excluded.lines, events=excluded.events, synthetic=excluded.synthetic, bad=excluded.bad,
 updated_ms=excluded.updated_ms`

const upsertSession = `INSERT INTO sessions (agent, session_id, session_key, channel, peer, hint, origin, customer, first_ms)
 VALUES (?,?,?,?,?,?,?,?,?)
 ON CONFLICT(agent, session_id) DO UPDATE SET session_key=excluded.session_key, channel=excluded.channel,
 peer=excluded.peer, hint=excluded.hint, origin=excluded.origin, customer=excluded.customer`

const upsertRollup = `INSERT INTO rollup (customer, period, requests, failed, input, output, cache_read, cache_write, cost, unpriced)
 VALUES (?,?,?,?,?,?,?,?,?,?)
 ON CONFLICT(customer, period) DO UPDATE SET requests=requests+excluded.requests, failed=failed+excluded.failed,
 input=input+excluded.input, output=output+excluded.output, cache_read=cache_read+excluded.cache_read,
 cache_write=cache_write+excluded.cache_write, cost=cost+excluded.cost, unpriced=unpriced+excluded.unpriced`

// Commit writes a batch in one transaction. periodOf is used only for Moves.
//
// An event whose numbers cannot be billed (a cost that is NaN, infinite,
// negative or absurdly large, a token count that is negative or absurdly
// large) is left out before SQLite sees it, and
// so is any event SQLite itself refuses for what it holds (a constraint, a
// type mismatch, a value too big): they are listed in CommitResult.Rejected
// with the reason and the rest of the batch (events, checkpoints, sessions,
// moves) is committed. One bad event must never make the whole batch, and
// with it every later one, fail for good. Any other failure (busy, locked,
// disk full, I/O) fails the batch and is worth retrying as a whole.
func (s *Store) Commit(ctx context.Context, b *Batch, periodOf PeriodFunc) (CommitResult, error) {
	if b.Empty() {
		return CommitResult{}, nil
	}
	events, rejected := screen(b.Events)
	res, err := s.write(ctx, b, events, periodOf, true)
	if err != nil && refusedData(err) {
		if events, rejected, err = s.isolate(ctx, b, events, rejected, periodOf); err == nil {
			res, err = s.write(ctx, b, events, periodOf, true)
		}
	}
	if err != nil {
		return CommitResult{}, err
	}
	res.Rejected = rejected
	return res, nil
}

// screen leaves out the events whose numbers the totals cannot hold. It
// copies the events only when it drops one (never, on a sane batch).
func screen(events []Event) ([]Event, []Rejected) {
	var kept []Event
	var rejected []Rejected
	for i := range events {
		reason := badNumbers(&events[i])
		if reason == "" {
			if kept != nil {
				kept = append(kept, events[i])
			}
			continue
		}
		if kept == nil {
			kept = make([]Event, i, len(events))
			copy(kept, events[:i])
		}
		rejected = append(rejected, Rejected{Key: events[i].Key, Reason: reason})
	}
	if kept == nil {
		return events, nil
	}
	return kept, rejected
}

// The largest numbers one event may carry: far beyond any real call (a
// million-token context costs dollars, not millions), yet low enough that
// no month's totals of them can reach ±Inf or overflow int64 in practice.
// They are a backstop behind the parsers' own, stricter, bounds.
const (
	maxTokens  = 1e15
	maxCostUSD = 1e12
)

// badNumbers says what is wrong with an event's numbers, or "". A NaN cost
// is stored as NULL and then makes the month's total NaN, which the NOT
// NULL rollup refuses; an infinite one (or a sum of huge ones) makes usage
// unprintable as JSON and a later move Inf - Inf = NaN; negative ones are
// no usage at all.
func badNumbers(e *Event) string {
	if e.Priced {
		switch c := e.CostUSD; {
		case math.IsNaN(c) || math.IsInf(c, 0):
			return "cost " + strconv.FormatFloat(c, 'g', -1, 64) + " is not a finite number"
		case c < 0:
			return "cost " + strconv.FormatFloat(c, 'g', -1, 64) + " is negative"
		case c > maxCostUSD:
			return "cost " + strconv.FormatFloat(c, 'g', -1, 64) + " is above the store's bound of 1e12 USD"
		}
	}
	for _, n := range [...]struct {
		what string
		v    int64
	}{{"input", e.Input}, {"output", e.Output}, {"cache read", e.CacheRead}, {"cache write", e.CacheWrite}} {
		switch {
		case n.v < 0:
			return n.what + " tokens " + strconv.FormatInt(n.v, 10) + " is negative"
		case n.v > maxTokens:
			return n.what + " tokens " + strconv.FormatInt(n.v, 10) + " is above the store's bound of 1e15"
		}
	}
	return ""
}

// refusedData reports whether SQLite refused a statement for the data it
// carried, which retrying cannot change, rather than for the state of the
// database or the disk (busy, locked, full, I/O), which retrying can.
func refusedData(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG:
		return true
	}
	return false
}

// isolate finds the events of a refused batch that SQLite refuses, by
// bisection in transactions that are rolled back: a part is kept when the
// batch with the parts kept so far plus it goes through, else it is split,
// and a single event that does not go through is rejected with SQLite's
// reason. Trying each part on top of what was kept also catches events
// that are refused only together (a total they push over a limit). k bad
// events among n cost about 2k·log2(n) trial transactions.
func (s *Store) isolate(ctx context.Context, b *Batch, events []Event, rejected []Rejected, periodOf PeriodFunc) ([]Event, []Rejected, error) {
	// Refused without any event (a checkpoint, a session, a move): no event
	// is to blame and the refusal stands.
	if _, err := s.write(ctx, b, nil, periodOf, false); err != nil {
		return nil, nil, err
	}
	kept := make([]Event, 0, len(events))
	var find func(part []Event) error
	find = func(part []Event) error {
		// kept has room for every event, so the trial writes past its end
		// without disturbing it.
		_, err := s.write(ctx, b, append(kept, part...), periodOf, false)
		switch {
		case err == nil:
			kept = append(kept, part...)
			return nil
		case !refusedData(err):
			return err
		case len(part) == 1:
			rejected = append(rejected, Rejected{Key: part[0].Key, Reason: err.Error()})
			return nil
		}
		if err := find(part[:len(part)/2]); err != nil {
			return err
		}
		return find(part[len(part)/2:])
	}
	if err := find(events); err != nil {
		return nil, nil, err
	}
	return kept, rejected, nil
}

// write runs a batch with the given events in one transaction, committed
// only when commit is set (isolate's trials are rolled back).
func (s *Store) write(ctx context.Context, b *Batch, events []Event, periodOf PeriodFunc, commit bool) (CommitResult, error) {
	var res CommitResult
	// The batch runs on a dedicated *sql.Conn (the writer pool's only
	// connection) so that insertEvents can reach the driver inside the
	// transaction.
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("begin batch: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("begin batch: %w", err)
	}
	defer tx.Rollback()
	deltas := map[CustomerPeriod]*totals{}
	delta := func(c, p string) *totals {
		k := CustomerPeriod{c, p}
		t := deltas[k]
		if t == nil {
			t = &totals{}
			deltas[k] = t
		}
		return t
	}
	if len(events) > 0 {
		if err := insertEvents(ctx, conn, tx, events, &res, delta); err != nil {
			return res, err
		}
	}
	if len(b.Sessions) > 0 {
		st, err := tx.PrepareContext(ctx, upsertSession)
		if err != nil {
			return res, fmt.Errorf("prepare session upsert: %w", err)
		}
		for _, x := range b.Sessions {
			if _, err := st.ExecContext(ctx, x.Agent, x.SessionID, x.Key, x.Channel, x.Peer, x.Hint, x.Origin, x.Customer, x.FirstMs); err != nil {
				st.Close()
				return res, fmt.Errorf("record session %s/%s: %w", x.Agent, x.SessionID, err)
			}
		}
		st.Close()
	}
	if len(b.Moves) > 0 {
		mv := &mover{tx: tx, periodOf: periodOf, delta: delta}
		err := mv.moveAll(ctx, b.Moves)
		mv.close()
		if err != nil {
			return res, err
		}
	}
	if len(b.Checkpoints) > 0 {
		st, err := tx.PrepareContext(ctx, upsertCheckpoint)
		if err != nil {
			return res, fmt.Errorf("prepare checkpoint: %w", err)
		}
		now := time.Now().UnixMilli()
		for _, c := range b.Checkpoints {
			if _, err := st.ExecContext(ctx, int64(c.Dev), int64(c.Ino), c.Path, c.Agent, c.SessionID, c.FPLen, int64(c.FPHead),
				c.Offset, int64(c.TailHash), c.Lines, c.Events, c.Synthetic, c.Bad, now); err != nil {
				st.Close()
				return res, fmt.Errorf("write checkpoint for %s: %w", c.Path, err)
			}
		}
		st.Close()
	}
	if len(b.Cursors) > 0 {
		if err := writeCursors(ctx, tx, b.Cursors); err != nil {
			return res, err
		}
	}
	if err := applyDeltas(ctx, tx, deltas, len(b.Moves) > 0); err != nil {
		return res, err
	}
	if !commit {
		return res, nil
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("commit batch: %w", err)
	}
	for k := range deltas {
		res.Touched = append(res.Touched, k)
	}
	return res, nil
}

// Events are inserted insertRows at a time with one multi-row statement
// (then insertTail, then one by one): per-statement overhead in
// database/sql and SQLite, not the b-tree work, dominated one-row inserts.
const (
	insertRows = 64
	insertTail = 8
)

var insertEventRows = map[int]string{1: insertEvent, insertTail: multiInsert(insertTail), insertRows: multiInsert(insertRows)}

func multiInsert(rows int) string {
	head, _, _ := strings.Cut(insertEvent, "VALUES")
	row := "(" + placeholders(14) + ")"
	return head + "VALUES " + strings.TrimSuffix(strings.Repeat(row+",", rows), ",") + " ON CONFLICT(key) DO NOTHING"
}

// newKeys lists the keys of rows inserted in an id range: a row without an
// explicit rowid gets the largest rowid + 1 (no AUTOINCREMENT, rowids far
// below 2^63), and the batch's transaction is the only writer, so the rows
// one statement inserted have consecutive ids just above those before it.
const newKeys = `SELECT key FROM events WHERE id > ? AND id <= ?`

// partial is an insert statement that skipped some of its rows as already
// stored; its new rows have ids in (from, from+n].
type partial struct {
	chunk []Event
	from  int64
	n     int64
}

// insertEvents stores the events that are new (by key) and adds them to
// the deltas. It runs before any Move of the same batch, so a move sees
// these events under the customer they were inserted with.
//
// The inserts go straight to the driver (Conn.Raw, inside the batch's
// transaction on the same connection): database/sql would convert the 896
// arguments of every statement into a fresh slice, a third of all the
// bytes a backfill allocated.
func insertEvents(ctx context.Context, conn *sql.Conn, tx *sql.Tx, events []Event, res *CommitResult, delta func(c, p string) *totals) error {
	var last int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM events").Scan(&last); err != nil {
		return fmt.Errorf("read last event id: %w", err)
	}
	var partials []partial
	err := conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("driver %T cannot prepare with a context", dc)
		}
		stmts := map[int]driver.StmtExecContext{}
		defer func() {
			for _, st := range stmts {
				st.(driver.Stmt).Close()
			}
		}()
		args := make([]driver.NamedValue, 14*insertRows)
		for i := range args {
			args[i].Ordinal = i + 1
		}
		for i := 0; i < len(events); {
			rows := 1
			switch n := len(events) - i; {
			case n >= insertRows:
				rows = insertRows
			case n >= insertTail:
				rows = insertTail
			}
			st := stmts[rows]
			if st == nil {
				ds, err := pc.PrepareContext(ctx, insertEventRows[rows])
				if err != nil {
					return fmt.Errorf("prepare event insert: %w", err)
				}
				if st, ok = ds.(driver.StmtExecContext); !ok {
					ds.Close()
					return fmt.Errorf("driver statement %T cannot execute with a context", ds)
				}
				stmts[rows] = st
			}
			chunk := events[i : i+rows]
			i += rows
			a := args[:14*rows]
			for j := range chunk {
				e, v := &chunk[j], a[14*j:14*j+14]
				v[0].Value, v[1].Value, v[2].Value, v[3].Value = e.Key, e.Agent, e.SessionID, e.TimeMs
				v[4].Value, v[5].Value, v[6].Value, v[7].Value = e.Period, e.Customer, e.Provider, e.Model
				v[8].Value, v[9].Value, v[10].Value, v[11].Value = e.Input, e.Output, e.CacheRead, e.CacheWrite
				v[12].Value, v[13].Value = nil, boolInt(e.Failed)
				if e.Priced {
					v[12].Value = e.CostUSD
				}
			}
			r, err := st.ExecContext(ctx, a)
			if err != nil {
				return fmt.Errorf("insert events %s..%s: %w", chunk[0].Key, chunk[rows-1].Key, err)
			}
			n, err := r.RowsAffected()
			if err != nil {
				return fmt.Errorf("insert events %s..%s: %w", chunk[0].Key, chunk[rows-1].Key, err)
			}
			switch {
			case int(n) == rows: // all new: the common case
				for j := range chunk {
					delta(chunk[j].Customer, chunk[j].Period).add(&chunk[j], 1)
				}
			case n > 0: // some were already stored: sorted out below
				partials = append(partials, partial{chunk: chunk, from: last, n: n})
			}
			last += n
			res.Inserted += int(n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.Duplicates = len(events) - res.Inserted
	for _, p := range partials {
		if err := addNew(ctx, tx, p, delta); err != nil {
			return err
		}
	}
	return nil
}

// addNew adds to the deltas the events of a partial statement that it
// inserted.
func addNew(ctx context.Context, tx *sql.Tx, p partial, delta func(c, p string) *totals) error {
	rows, err := tx.QueryContext(ctx, newKeys, p.from, p.from+p.n)
	if err != nil {
		return fmt.Errorf("list new events: %w", err)
	}
	fresh := make(map[string]bool, p.n)
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return fmt.Errorf("list new events: %w", err)
		}
		fresh[k] = true
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("list new events: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list new events: %w", err)
	}
	if int64(len(fresh)) != p.n {
		return fmt.Errorf("list new events: found %d of %d", len(fresh), p.n)
	}
	for j := range p.chunk {
		// A key twice in one statement was inserted once, from its first row.
		if e := &p.chunk[j]; fresh[e.Key] {
			delete(fresh, e.Key)
			delta(e.Customer, e.Period).add(e, 1)
		}
	}
	return nil
}

// applyDeltas adds the deltas to the rollup; prune drops rows a move
// emptied (only a move can take anything away).
func applyDeltas(ctx context.Context, tx *sql.Tx, deltas map[CustomerPeriod]*totals, prune bool) error {
	if len(deltas) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, upsertRollup)
	if err != nil {
		return fmt.Errorf("prepare rollup: %w", err)
	}
	defer st.Close()
	for k, t := range deltas {
		if _, err := st.ExecContext(ctx, k.Customer, k.Period, t.requests, t.failed, t.input, t.output, t.cacheRead, t.cacheWrite, t.cost, t.unpriced); err != nil {
			return fmt.Errorf("update totals of %s %s: %w", k.Customer, k.Period, err)
		}
	}
	if !prune {
		return nil
	}
	// Rows moved away to zero are dropped so an old customer id disappears.
	if _, err := tx.ExecContext(ctx, `DELETE FROM rollup WHERE requests=0 AND failed=0 AND input=0 AND output=0
		AND cache_read=0 AND cache_write=0 AND unpriced=0 AND abs(cost) < 1e-12`); err != nil {
		return fmt.Errorf("prune empty totals: %w", err)
	}
	return nil
}

// mover re-bills sessions within one batch's transaction. A backfill
// attributes thousands of sessions by their envelope, each a Move, most
// with nothing to move yet: one query per batch finds the sessions that
// have events billed to someone else, and only those are read and updated,
// with statements prepared once per batch.
type mover struct {
	tx       *sql.Tx
	periodOf PeriodFunc
	delta    func(c, p string) *totals
	sel, upd *sql.Stmt
}

func (mv *mover) close() {
	if mv.sel != nil {
		mv.sel.Close()
	}
	if mv.upd != nil {
		mv.upd.Close()
	}
}

func (mv *mover) moveAll(ctx context.Context, moves []Move) error {
	held, err := mv.customersOf(ctx, moves)
	if err != nil {
		return err
	}
	if mv.sel, err = mv.tx.PrepareContext(ctx, `SELECT id, ts, period, customer, input, output, cache_read, cache_write, cost, failed
		FROM events WHERE agent = ? AND session_id = ? AND customer <> ?`); err != nil {
		return fmt.Errorf("prepare move: %w", err)
	}
	moved := map[sessionRef]bool{}
	for _, m := range moves {
		k := sessionRef{m.Agent, m.SessionID}
		if !moved[k] {
			// Nothing of this session is billed elsewhere (most moves come
			// from a session's first envelope, before its first call was
			// stored): nothing to move. A session an earlier move of this
			// batch changed is always looked at again.
			idle := true
			for _, c := range held[k] {
				idle = idle && c == m.Customer
			}
			if idle {
				continue
			}
		}
		moved[k] = true
		if err := mv.move(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

type sessionRef struct{ agent, id string }

// movesPerQuery bounds the sessions customersOf asks about at once (two
// parameters each, far below SQLite's limit).
const movesPerQuery = 500

// customersOf returns, for every session named in moves, the customers its
// stored events are billed to: one query per 500 sessions instead of one
// per move.
func (mv *mover) customersOf(ctx context.Context, moves []Move) (map[sessionRef][]string, error) {
	var refs []sessionRef
	seen := map[sessionRef]bool{}
	for _, m := range moves {
		if k := (sessionRef{m.Agent, m.SessionID}); !seen[k] {
			seen[k] = true
			refs = append(refs, k)
		}
	}
	held := map[sessionRef][]string{}
	for len(refs) > 0 {
		part := refs[:min(len(refs), movesPerQuery)]
		refs = refs[len(part):]
		args := make([]any, 0, 2*len(part))
		for _, r := range part {
			args = append(args, r.agent, r.id)
		}
		q := `SELECT DISTINCT agent, session_id, customer FROM events WHERE (agent, session_id) IN (VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?,?),", len(part)), ",") + ")"
		rows, err := mv.tx.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("read customers of moved sessions: %w", err)
		}
		for rows.Next() {
			var k sessionRef
			var c string
			if err := rows.Scan(&k.agent, &k.id, &c); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read customers of moved sessions: %w", err)
			}
			held[k] = append(held[k], c)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("read customers of moved sessions: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read customers of moved sessions: %w", err)
		}
	}
	return held, nil
}

func (mv *mover) move(ctx context.Context, m Move) error {
	rows, err := mv.sel.QueryContext(ctx, m.Agent, m.SessionID, m.Customer)
	if err != nil {
		return fmt.Errorf("read events of session %s/%s: %w", m.Agent, m.SessionID, err)
	}
	type upd struct {
		id     int64
		period string
	}
	var ups []upd
	for rows.Next() {
		var e Event
		var id int64
		var cost sql.NullFloat64
		var failed int64
		if err := rows.Scan(&id, &e.TimeMs, &e.Period, &e.Customer, &e.Input, &e.Output, &e.CacheRead, &e.CacheWrite, &cost, &failed); err != nil {
			rows.Close()
			return fmt.Errorf("read events of session %s/%s: %w", m.Agent, m.SessionID, err)
		}
		e.CostUSD, e.Priced, e.Failed = cost.Float64, cost.Valid, failed != 0
		mv.delta(e.Customer, e.Period).add(&e, -1)
		np := mv.periodOf(m.Customer, e.TimeMs)
		mv.delta(m.Customer, np).add(&e, 1)
		ups = append(ups, upd{id, np})
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return fmt.Errorf("read events of session %s/%s: %w", m.Agent, m.SessionID, err)
	}
	rows.Close()
	if len(ups) == 0 {
		return nil
	}
	if mv.upd == nil {
		if mv.upd, err = mv.tx.PrepareContext(ctx, "UPDATE events SET customer = ?, period = ? WHERE id = ?"); err != nil {
			return fmt.Errorf("prepare move: %w", err)
		}
	}
	for _, u := range ups {
		if _, err := mv.upd.ExecContext(ctx, m.Customer, u.period, u.id); err != nil {
			return fmt.Errorf("move event %d to %s: %w", u.id, m.Customer, err)
		}
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Checkpoints returns every stored file checkpoint by identity.
func (s *Store) Checkpoints(ctx context.Context) (map[FileID]Checkpoint, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT dev, ino, path, agent, session_id, fp_len, fp_head, off, tail_hash,
		lines, events, synthetic, bad FROM files`)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[FileID]Checkpoint{}
	for rows.Next() {
		var c Checkpoint
		var dev, ino, head, tail int64
		if err := rows.Scan(&dev, &ino, &c.Path, &c.Agent, &c.SessionID, &c.FPLen, &head, &c.Offset, &tail,
			&c.Lines, &c.Events, &c.Synthetic, &c.Bad); err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		c.Dev, c.Ino, c.FPHead, c.TailHash = uint64(dev), uint64(ino), uint64(head), uint64(tail)
		out[c.FileID] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return out, nil
}

// Sessions returns every session ever recorded.
func (s *Store) Sessions(ctx context.Context) ([]Session, error) {
	rows, err := s.w.QueryContext(ctx, `SELECT agent, session_id, session_key, channel, peer, hint, origin, customer, first_ms FROM sessions`)
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var x Session
		if err := rows.Scan(&x.Agent, &x.SessionID, &x.Key, &x.Channel, &x.Peer, &x.Hint, &x.Origin, &x.Customer, &x.FirstMs); err != nil {
			return nil, fmt.Errorf("read sessions: %w", err)
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	return out, nil
}

// Reattribute applies a new customer mapping to the whole history: every
// session's customer is recomputed, events follow their session, periods are
// recomputed (a customer's timezone may differ) and the rollup is rebuilt.
// It runs only when the mapping's fingerprint differs from the stored one.
func (s *Store) Reattribute(ctx context.Context, fingerprint string, customerOf func(Session) string, periodOf PeriodFunc) (changed bool, err error) {
	old, err := s.Meta(ctx, "attribution")
	if err != nil {
		return false, err
	}
	if old == fingerprint {
		return false, nil
	}
	sessions, err := s.Sessions(ctx)
	if err != nil {
		return false, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin re-attribution: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, "UPDATE sessions SET customer = ? WHERE agent = ? AND session_id = ?")
	if err != nil {
		return false, fmt.Errorf("prepare re-attribution: %w", err)
	}
	ev, err := tx.PrepareContext(ctx, "UPDATE events SET customer = ? WHERE agent = ? AND session_id = ? AND customer <> ?")
	if err != nil {
		st.Close()
		return false, fmt.Errorf("prepare re-attribution: %w", err)
	}
	for _, x := range sessions {
		c := customerOf(x)
		if _, err := st.ExecContext(ctx, c, x.Agent, x.SessionID); err != nil {
			st.Close()
			ev.Close()
			return false, fmt.Errorf("re-attribute session %s/%s: %w", x.Agent, x.SessionID, err)
		}
		if _, err := ev.ExecContext(ctx, c, x.Agent, x.SessionID, c); err != nil {
			st.Close()
			ev.Close()
			return false, fmt.Errorf("re-attribute events of %s/%s: %w", x.Agent, x.SessionID, err)
		}
	}
	st.Close()
	ev.Close()
	if err := recomputePeriods(ctx, tx, periodOf); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM rollup"); err != nil {
		return false, fmt.Errorf("clear totals: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO rollup (customer, period, requests, failed, input, output, cache_read, cache_write, cost, unpriced)
		SELECT customer, period, SUM(failed = 0), SUM(failed), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write),
		TOTAL(cost), SUM(cost IS NULL) FROM events GROUP BY customer, period`); err != nil {
		return false, fmt.Errorf("rebuild totals: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES('attribution', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", fingerprint); err != nil {
		return false, fmt.Errorf("record attribution: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit re-attribution: %w", err)
	}
	return old != "", nil
}

func recomputePeriods(ctx context.Context, tx *sql.Tx, periodOf PeriodFunc) error {
	rows, err := tx.QueryContext(ctx, "SELECT id, customer, ts, period FROM events")
	if err != nil {
		return fmt.Errorf("read event periods: %w", err)
	}
	type upd struct {
		id     int64
		period string
	}
	var ups []upd
	for rows.Next() {
		var id, ts int64
		var c, p string
		if err := rows.Scan(&id, &c, &ts, &p); err != nil {
			rows.Close()
			return fmt.Errorf("read event periods: %w", err)
		}
		if np := periodOf(c, ts); np != p {
			ups = append(ups, upd{id, np})
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return fmt.Errorf("read event periods: %w", err)
	}
	rows.Close()
	if len(ups) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, "UPDATE events SET period = ? WHERE id = ?")
	if err != nil {
		return fmt.Errorf("prepare period update: %w", err)
	}
	defer st.Close()
	for _, u := range ups {
		if _, err := st.ExecContext(ctx, u.period, u.id); err != nil {
			return fmt.Errorf("update period of event %d: %w", u.id, err)
		}
	}
	return nil
}

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")
