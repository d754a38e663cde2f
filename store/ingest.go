package store

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/quotawatch/quotawatch/internal/eventkey"
)

// Event is one provider call ready to be stored.
type Event struct {
	Key       string // deterministic, unique: the dedupe key
	Agent     string
	SessionID string
	TimeMs    int64
	// Day is the calendar day (YYYY-MM-DD) of TimeMs in the customer's
	// timezone and Period (YYYY-MM) its month. Either may be left empty:
	// Commit fills Day from its DayFunc and Period from Day. When both are
	// set, Period must be Day's month, or the event is rejected (the daily
	// totals would not add up to the monthly ones).
	Day        string
	Period     string
	Customer   string
	Provider   string
	Model      string
	Input      int64
	Output     int64
	CacheRead  int64
	CacheWrite int64
	// CostUSD is rounded once, on insert, to the nearest nano-dollar
	// (1e-9 USD); every total adds those integers.
	CostUSD float64
	Priced  bool
	Failed  bool
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
	// MtimeNs and CtimeNs are the file's modification and change times
	// (UnixNano) as of the read that took it to Offset, when they tell any
	// later change apart; 0 = unknown, the file must be verified by reading.
	MtimeNs int64
	CtimeNs int64
}

// Stamp records, for a file whose committed checkpoint was verified
// against its contents, the times it had then, so the next start can trust
// a stat of it. It applies only while the checkpoint is the one verified.
type Stamp struct {
	FileID
	Offset   int64
	FPHead   uint64
	TailHash uint64
	MtimeNs  int64
	CtimeNs  int64
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
	// Stamps are written after Checkpoints.
	Stamps   []Stamp
	Cursors  []Cursor
	Sessions []Session
	Moves    []Move
}

// Empty reports whether the batch has nothing to write.
func (b *Batch) Empty() bool {
	return len(b.Events) == 0 && len(b.Checkpoints) == 0 && len(b.Stamps) == 0 && len(b.Cursors) == 0 && len(b.Sessions) == 0 && len(b.Moves) == 0
}

// Reset empties the batch, keeping its capacity.
func (b *Batch) Reset() {
	b.Events = b.Events[:0]
	b.Checkpoints = b.Checkpoints[:0]
	b.Stamps = b.Stamps[:0]
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
	// Billed is the net change the batch made to each customer's request
	// counts, moves included (a session moved from unassigned to a customer
	// is taken from one and given to the other): what backfill's summary
	// reports per customer. Customers whose counts did not change are absent.
	Billed map[string]RequestDelta
}

// RequestDelta is a change in one customer's requests: answered calls and
// failed ones apart, as the totals keep them.
type RequestDelta struct {
	Requests int64
	Failed   int64
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

// totals are the sums one batch adds to (or, for a move, takes from) a
// rollup row.
type totals struct {
	requests, failed, input, output, cacheRead, cacheWrite, costNanos, unpriced int64
	// shrunk is set when a move took something away, so the row may now
	// be empty.
	shrunk bool
}

func (t *totals) add(e *Event, nanos, sign int64) {
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
		t.costNanos += sign * nanos
	} else {
		t.unpriced += sign
	}
	t.shrunk = t.shrunk || sign < 0
}

func (t *totals) plus(o *totals) {
	t.requests += o.requests
	t.failed += o.failed
	t.input += o.input
	t.output += o.output
	t.cacheRead += o.cacheRead
	t.cacheWrite += o.cacheWrite
	t.costNanos += o.costNanos
	t.unpriced += o.unpriced
	t.shrunk = t.shrunk || o.shrunk
}

// Nanos is a cost in USD as the store keeps it: rounded once to the nearest
// nano-dollar (1e-9 USD), half away from zero.
func Nanos(usd float64) int64 { return int64(math.Round(usd * 1e9)) }

// dayKey names one rollup_daily row. day is YYYY-MM-DD, or only the
// period YYYY-MM for an event stored before schema 5 whose day is not
// known yet (moved before the first re-attribution gave it one): such a
// key counts in the monthly totals only.
type dayKey struct{ customer, day, provider, model string }

// deltas gathers a batch's changes per day row; the monthly ones are their
// sums. Consecutive events mostly share a row (one session, one day, one
// model), so the last row is kept at hand and the map is rarely hashed.
type deltas struct {
	m    map[dayKey]*totals
	last dayKey
	lt   *totals
}

func (d *deltas) at(customer, day, provider, model string) *totals {
	if d.lt != nil && d.last.customer == customer && d.last.day == day && d.last.provider == provider && d.last.model == model {
		return d.lt
	}
	k := dayKey{customer, day, provider, model}
	t := d.m[k]
	if t == nil {
		if d.m == nil {
			d.m = map[dayKey]*totals{}
		}
		t = &totals{}
		d.m[k] = t
	}
	d.last, d.lt = k, t
	return t
}

// DayFunc gives the calendar day (YYYY-MM-DD) of an event of a customer in
// the customer's timezone (monitor.Attributor.DayOf); its first seven
// bytes are the event's billing period.
type DayFunc func(customer string, tsMs int64) string

// validDay reports whether s is shaped YYYY-MM-DD with a month 01-12 and a
// day 01-31: every day the store keeps is one, so that substr(day, 1, 7)
// is always its period.
func validDay(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	m, d := (s[5]-'0')*10+s[6]-'0', (s[8]-'0')*10+s[9]-'0'
	return m >= 1 && m <= 12 && d >= 1 && d <= 31
}

// mday is the day of the month of a valid day.
func mday(day string) int64 { return int64(day[8]-'0')*10 + int64(day[9]-'0') }

// dayOfPeriod is the day a stored event's period and mday name ("" when
// the mday is not known yet, 0).
func dayOfPeriod(period string, md int64) string {
	if md < 1 || md > 31 {
		return ""
	}
	return period + "-" + string([]byte{byte('0' + md/10), byte('0' + md%10)})
}

// checkedDay calls dayOf and refuses an answer that is not a day: a
// function that gives periods (YYYY-MM) instead would make every daily
// total wrong, which must stop the batch, loudly, not pass as data.
func checkedDay(dayOf DayFunc, customer string, tsMs int64) (string, error) {
	if dayOf == nil {
		return "", errors.New("no day function (store.DayFunc) to give the day of an event")
	}
	d := dayOf(customer, tsMs)
	if !validDay(d) {
		return "", fmt.Errorf("the day function gave %q for customer %q at %d ms: want YYYY-MM-DD (store.DayFunc)", d, customer, tsMs)
	}
	return d, nil
}

// eventCols is the number of values insertEvent binds per event: the
// six text columns an event shares with the others of its session (agent,
// session, period, customer, provider, model) are bound once per batch,
// into the scratch database's names table, and an event row names them by
// number.
const eventCols = 10

// The names table holds, for one batch, each distinct set of the six shared
// text values of its events, numbered. Binding a text value copies it
// into C memory under the connection's mutex: binding six of them per
// event was a tenth of a dense backfill's wall time (docs/BENCHMARKS.md,
// Round 9). The table is in an in-memory database attached to the writer
// connection (scratchDB), emptied by every batch before it numbers its
// own names. Not a TEMP table: the batch's temp_store setting is put back
// after every batch, which drops TEMP tables, and every statement using
// one would be prepared again (a 100-event batch took 3.2 ms, not 1.4).
const (
	scratchDB        = "qw_batch"
	attachScratch    = `ATTACH DATABASE ':memory:' AS ` + scratchDB
	scratchAttached  = `SELECT COUNT(*) FROM pragma_database_list WHERE name = '` + scratchDB + `'`
	createBatchNames = `CREATE TABLE IF NOT EXISTS ` + scratchDB + `.names (id INTEGER PRIMARY KEY, agent TEXT NOT NULL,
 session_id TEXT NOT NULL, period TEXT NOT NULL, customer TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL)`
	clearBatchNames  = `DELETE FROM ` + scratchDB + `.names`
	insertBatchNames = `INSERT INTO ` + scratchDB + `.names (id, agent, session_id, period, customer, provider, model) VALUES (?,?,?,?,?,?,?)`
)

// insertEvent inserts one row per parenthesised list of values. The join
// is a LEFT one so that a row naming no set of names fails (NOT NULL)
// instead of vanishing like a duplicate.
const insertEvent = `INSERT INTO events (key, agent, session_id, ts, period, mday, customer, provider, model,
 input, output, cache_read, cache_write, cost_nanos, failed)
 SELECT v.column1, n.agent, n.session_id, v.column2, n.period, v.column3, n.customer, n.provider, n.model,
 v.column4, v.column5, v.column6, v.column7, v.column8, v.column9
 FROM (VALUES (?,?,?,?,?,?,?,?,?,?)) AS v LEFT JOIN ` + scratchDB + `.names AS n ON n.id = v.column10
 WHERE true ON CONFLICT(key) DO NOTHING`

const upsertCheckpoint = `INSERT INTO files (dev, ino, path, agent, session_id, fp_len, fp_head, off, tail_hash,
 lines, events, synthetic, bad, updated_ms, mtime_ns, ctime_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
 ON CONFLICT(dev, ino) DO UPDATE SET path=excluded.path, agent=excluded.agent, session_id=excluded.session_id,
 fp_len=excluded.fp_len, fp_head=excluded.fp_head, off=excluded.off, tail_hash=excluded.tail_hash,
 lines=excluded.lines, events=excluded.events, synthetic=excluded.synthetic, bad=excluded.bad,
 updated_ms=excluded.updated_ms, mtime_ns=excluded.mtime_ns, ctime_ns=excluded.ctime_ns`

// stampCheckpoint sets a file's times only while its row is still the
// checkpoint that was verified (a later checkpoint of the same identity in
// the same or an earlier batch wins).
const stampCheckpoint = `UPDATE files SET mtime_ns = ?, ctime_ns = ?
 WHERE dev = ? AND ino = ? AND off = ? AND fp_head = ? AND tail_hash = ?`

const upsertSession = `INSERT INTO sessions (agent, session_id, session_key, channel, peer, hint, origin, customer, first_ms)
 VALUES (?,?,?,?,?,?,?,?,?)
 ON CONFLICT(agent, session_id) DO UPDATE SET session_key=excluded.session_key, channel=excluded.channel,
 peer=excluded.peer, hint=excluded.hint, origin=excluded.origin, customer=excluded.customer`

const upsertRollup = `INSERT INTO rollup (customer, period, requests, failed, input, output, cache_read, cache_write, cost_nanos, unpriced)
 VALUES (?,?,?,?,?,?,?,?,?,?)
 ON CONFLICT(customer, period) DO UPDATE SET requests=requests+excluded.requests, failed=failed+excluded.failed,
 input=input+excluded.input, output=output+excluded.output, cache_read=cache_read+excluded.cache_read,
 cache_write=cache_write+excluded.cache_write, cost_nanos=cost_nanos+excluded.cost_nanos, unpriced=unpriced+excluded.unpriced`

const upsertDaily = `INSERT INTO rollup_daily (customer, day, provider, model, requests, failed, input, output, cache_read, cache_write,
 cost_nanos, unpriced) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
 ON CONFLICT(customer, day, provider, model) DO UPDATE SET requests=requests+excluded.requests, failed=failed+excluded.failed,
 input=input+excluded.input, output=output+excluded.output, cache_read=cache_read+excluded.cache_read,
 cache_write=cache_write+excluded.cache_write, cost_nanos=cost_nanos+excluded.cost_nanos, unpriced=unpriced+excluded.unpriced`

// A row a move emptied is dropped, so an old customer id disappears from
// usage. Only rows a move took from are looked at.
const (
	pruneRollup = `DELETE FROM rollup WHERE customer = ? AND period = ? AND requests = 0 AND failed = 0 AND input = 0
 AND output = 0 AND cache_read = 0 AND cache_write = 0 AND cost_nanos = 0 AND unpriced = 0`
	pruneDaily = `DELETE FROM rollup_daily WHERE customer = ? AND day = ? AND provider = ? AND model = ? AND requests = 0
 AND failed = 0 AND input = 0 AND output = 0 AND cache_read = 0 AND cache_write = 0 AND cost_nanos = 0 AND unpriced = 0`
)

// The rebuilds of both rollups from the events (re-attribution).
const (
	rebuildRollup = `INSERT INTO rollup (customer, period, requests, failed, input, output, cache_read, cache_write, cost_nanos, unpriced)
 SELECT customer, period, SUM(failed = 0), SUM(failed), SUM(input), SUM(output), SUM(cache_read), SUM(cache_write),
 COALESCE(SUM(cost_nanos), 0), SUM(cost_nanos IS NULL) FROM events GROUP BY customer, period`
	rebuildDaily = `INSERT INTO rollup_daily (customer, day, provider, model, requests, failed, input, output, cache_read, cache_write,
 cost_nanos, unpriced)
 SELECT customer, period || '-' || format('%02d', mday), provider, model, SUM(failed = 0), SUM(failed), SUM(input), SUM(output),
 SUM(cache_read), SUM(cache_write), COALESCE(SUM(cost_nanos), 0), SUM(cost_nanos IS NULL)
 FROM events WHERE mday BETWEEN 1 AND 31 GROUP BY customer, period, mday, provider, model`
)

// Commit writes a batch in one transaction. dayOf gives the day of an
// event that comes without one and the new day of every moved event; Commit
// fills in the Day and Period of the batch's events that lack them, and
// gives the batch's events of a session the batch moves the customer, day
// and period the move gives them (rebill).
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
func (s *Store) Commit(ctx context.Context, b *Batch, dayOf DayFunc) (CommitResult, error) {
	if b.Empty() {
		return CommitResult{}, nil
	}
	events, rejected, err := screen(b.Events, dayOf)
	if err != nil {
		return CommitResult{}, err
	}
	if err := rebill(events, b.Moves, dayOf); err != nil {
		return CommitResult{}, err
	}
	res, err := s.write(ctx, b, events, dayOf, true)
	if err != nil && refusedData(err) {
		if events, rejected, err = s.isolate(ctx, b, events, rejected, dayOf); err == nil {
			res, err = s.write(ctx, b, events, dayOf, true)
		}
	}
	if err != nil {
		return CommitResult{}, err
	}
	res.Rejected = rejected
	return res, nil
}

// screen leaves out the events whose numbers the totals cannot hold or
// whose day and period disagree, and fills in missing days and periods. It
// copies the events only when it drops one (never, on a sane batch). Its
// error is dayOf's: not a fault of one event's data.
func screen(events []Event, dayOf DayFunc) ([]Event, []Rejected, error) {
	var kept []Event
	var rejected []Rejected
	for i := range events {
		reason := badNumbers(&events[i])
		if reason == "" {
			reason = badKey(&events[i])
		}
		if reason == "" {
			var err error
			if reason, err = settleDay(&events[i], dayOf); err != nil {
				return nil, nil, err
			}
		}
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
		return events, nil, nil
	}
	return kept, rejected, nil
}

// rebill gives the batch's own events the customer (and day) the batch's
// moves of their session leave them with, before they are inserted: a
// backfill's sessions mostly learn their customer after their first calls
// were read into the same batch, and inserting those calls under the old
// customer only to read them back, update them one by one and undo their
// totals cost more than the insert itself. The result is the one Commit
// always gave (every event inserted first, then the moves in order): a
// move re-bills an event only when it is not billed to the move's customer
// already, and then gives it that customer's day. The stored events of the
// sessions are still moved in the transaction; these are then billed right
// and left alone.
func rebill(events []Event, moves []Move, dayOf DayFunc) error {
	if len(moves) == 0 || len(events) == 0 {
		return nil
	}
	to := make(map[sessionRef][]string, len(moves))
	for _, m := range moves {
		k := sessionRef{m.Agent, m.SessionID}
		to[k] = append(to[k], m.Customer)
	}
	for i := range events {
		e := &events[i]
		cs, ok := to[sessionRef{e.Agent, e.SessionID}]
		if !ok {
			continue
		}
		c, changed := e.Customer, false
		for _, m := range cs {
			if m != c {
				c, changed = m, true
			}
		}
		if !changed {
			continue
		}
		d, err := checkedDay(dayOf, c, e.TimeMs)
		if err != nil {
			return fmt.Errorf("move event %s to %s: %w", e.Key, c, err)
		}
		e.Customer, e.Day, e.Period = c, d, d[:7]
	}
	return nil
}

// settleDay fills in an event's missing day (from dayOf) and period (its
// day's month) and says what is wrong when the two it carries disagree.
func settleDay(e *Event, dayOf DayFunc) (string, error) {
	if e.Day == "" {
		d, err := checkedDay(dayOf, e.Customer, e.TimeMs)
		if err != nil {
			return "", fmt.Errorf("day of event %s: %w", e.Key, err)
		}
		e.Day = d
	} else if !validDay(e.Day) {
		return "day " + strconv.Quote(e.Day) + " is not a YYYY-MM-DD date", nil
	}
	switch e.Period {
	case "":
		e.Period = e.Day[:7]
	case e.Day[:7]:
	default:
		return "period " + strconv.Quote(e.Period) + " is not the month of its day " + e.Day, nil
	}
	return "", nil
}

// The largest numbers one event may carry: far beyond any real call (a
// million-token context costs dollars, not millions), yet low enough that
// no event's nano-dollars (at most 1e15) overflow int64 and no month's
// totals can in practice (about 9,000 calls at the bound). They are a
// backstop behind the parsers' own, stricter, bounds (1e5 USD).
const (
	maxTokens  = 1e15
	maxCostUSD = 1e6
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
			return "cost " + strconv.FormatFloat(c, 'g', -1, 64) + " is above the store's bound of 1e6 USD"
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

// badKey says what is wrong with an event's key, or "": a Clawdbot key
// (cb/...) must start with its own session's prefix, by which the store
// finds the session's events when it moves them to another customer
// (sessionCB). One that does not would stay billed to the old customer.
func badKey(e *Event) string {
	if strings.HasPrefix(e.Key, "cb/") && !eventkey.HasSessionPrefix(e.Key, e.Agent, e.SessionID) {
		return "key " + strconv.Quote(e.Key) + " is not of its session " + strconv.Quote(e.Agent) + "/" + strconv.Quote(e.SessionID) +
			" (a cb/ key starts cb/<agent>/<session>/)"
	}
	return ""
}

// otherKeys is the condition of the partial index events_session_other
// (migration 0008): the keys that do not carry their session, found by
// (agent, session_id). Every query by session repeats it word for word,
// which is what lets SQLite use that index.
const otherKeys = "(key < 'cb/' OR key >= 'cb0')"

// sqlSessionPrefix is eventkey.SessionPrefix of the sessions row s in SQL,
// without its final '/'.
const sqlSessionPrefix = `'cb/' || replace(replace(s.agent, '%', '%25'), '/', '%2F') || '/' ||
	replace(replace(s.session_id, '%', '%25'), '/', '%2F')`

// A session's events are found in two disjoint parts: its cb/ keys by
// their range in the key index (eventkey.SessionRange), the others through
// the partial index. The parameters are ?1, ?2 (the range) and ?3, ?4
// (agent, session id); the agent and session are checked on the range
// too, so no other session's event is ever taken. (One OR of the two
// makes SQLite merge three index searches through a row set; two
// statements, or a UNION ALL, are two plain searches.)
const (
	sessionCB    = "key >= ?1 AND key < ?2 AND agent = ?3 AND session_id = ?4"
	sessionOther = "agent = ?3 AND session_id = ?4 AND " + otherKeys
)

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
func (s *Store) isolate(ctx context.Context, b *Batch, events []Event, rejected []Rejected, dayOf DayFunc) ([]Event, []Rejected, error) {
	// Refused without any event (a checkpoint, a session, a move): no event
	// is to blame and the refusal stands.
	if _, err := s.write(ctx, b, nil, dayOf, false); err != nil {
		return nil, nil, err
	}
	kept := make([]Event, 0, len(events))
	var find func(part []Event) error
	find = func(part []Event) error {
		// kept has room for every event, so the trial writes past its end
		// without disturbing it.
		_, err := s.write(ctx, b, append(kept, part...), dayOf, false)
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
func (s *Store) write(ctx context.Context, b *Batch, events []Event, dayOf DayFunc, commit bool) (CommitResult, error) {
	var res CommitResult
	if err := s.prepareWriter(ctx); err != nil {
		return res, err
	}
	// The batch runs on a dedicated *sql.Conn (the writer pool's only
	// connection) so that insertEvents can reach the driver inside the
	// transaction.
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("begin batch: %w", err)
	}
	defer conn.Close()
	// The batch's statement journals are kept in memory. A multi-row event
	// insert journals every existing page it changes, so that a rejected
	// row can undo the statement; past 64 KiB SQLite spills that journal to
	// a temporary file. Events of ~70 sessions interleaved (an OpenClaw
	// database in rowid order) change a key-index page nearly every row, so
	// every statement spilled: 2.5 times the page writes a JSONL backfill
	// makes per event. In memory a statement holds at most ~300 KiB, freed
	// when it ends. SQLite reads the setting when a transaction begins; it
	// is put back after the batch so that migrations and rebuilds, whose
	// sorts and temporary tables grow with the store, keep using files; a
	// connection where that fails is dropped (the pool opens a fresh one
	// with the default) rather than the batch, which may have committed,
	// reported as failed.
	if _, err := conn.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err != nil {
		return res, fmt.Errorf("begin batch: keep statement journals in memory: %w", err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA temp_store = DEFAULT"); err != nil {
			conn.Raw(func(dc any) error { s.closeRaw(dc); return driver.ErrBadConn })
		}
	}()
	if err := ensureScratch(ctx, conn); err != nil {
		return res, fmt.Errorf("begin batch: %w", err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("begin batch: %w", err)
	}
	defer tx.Rollback()
	var d deltas
	// before is the largest event id before this batch's inserts: the
	// events above it are the batch's own, which rebill has billed to the
	// customer the batch's moves leave them with.
	before := int64(math.MaxInt64)
	if len(events) > 0 {
		if before, err = s.insertEvents(ctx, conn, tx, events, &res, &d); err != nil {
			return res, err
		}
	}
	if len(b.Sessions) > 0 {
		st, err := s.txStmt(ctx, tx, upsertSession)
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
		mv := &mover{s: s, tx: tx, dayOf: dayOf, d: &d, before: before}
		err := mv.moveAll(ctx, b.Moves)
		mv.close()
		if err != nil {
			return res, err
		}
	}
	if len(b.Checkpoints) > 0 {
		st, err := s.txStmt(ctx, tx, upsertCheckpoint)
		if err != nil {
			return res, fmt.Errorf("prepare checkpoint: %w", err)
		}
		now := time.Now().UnixMilli()
		for _, c := range b.Checkpoints {
			if _, err := st.ExecContext(ctx, int64(c.Dev), int64(c.Ino), c.Path, c.Agent, c.SessionID, c.FPLen, int64(c.FPHead),
				c.Offset, int64(c.TailHash), c.Lines, c.Events, c.Synthetic, c.Bad, now, c.MtimeNs, c.CtimeNs); err != nil {
				st.Close()
				return res, fmt.Errorf("write checkpoint for %s: %w", c.Path, err)
			}
		}
		st.Close()
	}
	if len(b.Stamps) > 0 {
		st, err := s.txStmt(ctx, tx, stampCheckpoint)
		if err != nil {
			return res, fmt.Errorf("prepare checkpoint stamp: %w", err)
		}
		// In key order, so that each page of files is read and written once
		// a batch: in path order the first start after the upgrade to
		// stamps wrote ~4 times the table to the WAL for 150,000 files.
		stamps := slices.Clone(b.Stamps)
		slices.SortFunc(stamps, func(x, y Stamp) int {
			return cmp.Or(cmp.Compare(int64(x.Dev), int64(y.Dev)), cmp.Compare(int64(x.Ino), int64(y.Ino)))
		})
		for _, c := range stamps {
			if _, err := st.ExecContext(ctx, c.MtimeNs, c.CtimeNs, int64(c.Dev), int64(c.Ino), c.Offset, int64(c.FPHead), int64(c.TailHash)); err != nil {
				st.Close()
				return res, fmt.Errorf("write checkpoint stamp of file %d:%d: %w", c.Dev, c.Ino, err)
			}
		}
		st.Close()
	}
	if len(b.Cursors) > 0 {
		if err := writeCursors(ctx, s, tx, b.Cursors); err != nil {
			return res, err
		}
	}
	months, err := s.applyDeltas(ctx, conn, tx, &d)
	if err != nil {
		return res, err
	}
	if !commit {
		return res, nil
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("commit batch: %w", err)
	}
	for k, t := range months {
		res.Touched = append(res.Touched, k)
		if t.requests == 0 && t.failed == 0 {
			continue
		}
		if res.Billed == nil {
			res.Billed = make(map[string]RequestDelta, len(months))
		}
		d := res.Billed[k.Customer]
		d.Requests += t.requests
		d.Failed += t.failed
		res.Billed[k.Customer] = d
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

var insertEventRows = map[int]string{1: insertEvent, insertTail: multiRow(insertEvent, insertTail), insertRows: multiRow(insertEvent, insertRows)}

// chunkRows is how many of n remaining rows the next multi-row statement
// writes: insertRows, then insertTail, then one.
func chunkRows(n int) int {
	switch {
	case n >= insertRows:
		return insertRows
	case n >= insertTail:
		return insertTail
	}
	return 1
}

// multiRow repeats the one row of values of statement q (its first
// parenthesised list after VALUES) rows times.
func multiRow(q string, rows int) string {
	head, rest, _ := strings.Cut(q, "VALUES ")
	i := strings.IndexByte(rest, ')')
	return head + "VALUES " + strings.TrimSuffix(strings.Repeat(rest[:i+1]+",", rows), ",") + rest[i+1:]
}

// newKeys lists the keys of rows inserted in an id range: a row without an
// explicit rowid gets the largest rowid + 1 (no AUTOINCREMENT, rowids far
// below 2^63), and the batch's transaction is the only writer, so the rows
// one statement inserted have consecutive ids just above those before it.
const newKeys = `SELECT key FROM events WHERE id > ? AND id <= ?`

// lastEventID is the largest event id (0 without events).
const lastEventID = "SELECT COALESCE(MAX(id), 0) FROM events"

// ensureScratch attaches the writer connection's scratch database unless
// a batch before did (ATTACH cannot run inside a transaction), and creates
// its table if it is missing (a no-op parse otherwise, so an attach whose
// create once failed is completed). It asks SQLite rather than
// remembering: a connection the pool replaced starts without either.
func ensureScratch(ctx context.Context, conn *sql.Conn) error {
	var n int
	if err := conn.QueryRowContext(ctx, scratchAttached).Scan(&n); err != nil {
		return fmt.Errorf("look for the scratch database: %w", err)
	}
	if n == 0 {
		// auto_vacuum (set before its first table) gives back at each
		// commit the pages the batch's DELETE freed: without it a
		// catch-up batch of thousands of sessions would keep its ~60
		// pages (in 8 KiB slots) in memory while run sits idle.
		for _, q := range []string{attachScratch, "PRAGMA " + scratchDB + ".auto_vacuum = FULL"} {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("attach the scratch database: %w", err)
			}
		}
	}
	if _, err := conn.ExecContext(ctx, createBatchNames); err != nil {
		return fmt.Errorf("create the batch's names table: %w", err)
	}
	return nil
}

// names are the six text values an event shares with the others of its
// session.
type names struct {
	agent, session, period, customer, provider, model string
}

// insertNames numbers the distinct names of the events in the scratch names table and
// returns each event's number.
func (s *Store) insertNames(ctx context.Context, dc any, events []Event) ([]int64, error) {
	st, err := s.rawStmt(ctx, dc, insertBatchNames)
	if err != nil {
		return nil, fmt.Errorf("prepare the batch's names: %w", err)
	}
	ids := make([]int64, len(events))
	seen := map[names]int64{}
	var last names
	var id int64
	args := make([]driver.NamedValue, 7)
	for i := range args {
		args[i].Ordinal = i + 1
	}
	for i := range events {
		e := &events[i]
		n := names{e.Agent, e.SessionID, e.Period, e.Customer, e.Provider, e.Model}
		// A session's events come in runs: most events have the names of
		// the one before.
		if id == 0 || n != last {
			last = n
			if id = seen[n]; id == 0 {
				id = int64(len(seen) + 1)
				seen[n] = id
				args[0].Value, args[1].Value, args[2].Value, args[3].Value = id, n.agent, n.session, n.period
				args[4].Value, args[5].Value, args[6].Value = n.customer, n.provider, n.model
				if _, err := st.ExecContext(ctx, args); err != nil {
					return nil, fmt.Errorf("record the batch's names of %s: %w", e.Key, err)
				}
			}
		}
		ids[i] = id
	}
	return ids, nil
}

// partial is an insert statement that skipped some of its rows as already
// stored; its new rows have ids in (from, from+n].
type partial struct {
	chunk []Event
	from  int64
	n     int64
}

// insertEvents stores the events that are new (by key), adds them to the
// deltas and returns the largest event id before them. It runs before any
// Move of the same batch, so a move sees these events under the customer
// they were inserted with (which rebill has made the one the moves leave
// them with).
//
// The inserts go straight to the driver (Conn.Raw, inside the batch's
// transaction on the same connection): database/sql would convert the 960
// arguments of every statement into a fresh slice, a third of all the
// bytes a backfill allocated.
func (s *Store) insertEvents(ctx context.Context, conn *sql.Conn, tx *sql.Tx, events []Event, res *CommitResult, d *deltas) (before int64, err error) {
	var last int64
	st, err := s.txStmt(ctx, tx, lastEventID)
	if err != nil {
		return 0, fmt.Errorf("read last event id: %w", err)
	}
	err = st.QueryRowContext(ctx).Scan(&last)
	st.Close()
	if err != nil {
		return 0, fmt.Errorf("read last event id: %w", err)
	}
	before = last
	if _, err := tx.ExecContext(ctx, clearBatchNames); err != nil {
		return 0, fmt.Errorf("clear the last batch's names: %w", err)
	}
	var partials []partial
	err = conn.Raw(func(dc any) error {
		ids, err := s.insertNames(ctx, dc, events)
		if err != nil {
			return err
		}
		args := make([]driver.NamedValue, eventCols*insertRows)
		for i := range args {
			args[i].Ordinal = i + 1
		}
		for i := 0; i < len(events); {
			rows := chunkRows(len(events) - i)
			st, err := s.rawStmt(ctx, dc, insertEventRows[rows])
			if err != nil {
				return fmt.Errorf("prepare event insert: %w", err)
			}
			chunk, chunkIDs := events[i:i+rows], ids[i:i+rows]
			i += rows
			a := args[:eventCols*rows]
			for j := range chunk {
				e, v := &chunk[j], a[eventCols*j:eventCols*j+eventCols]
				v[0].Value, v[1].Value, v[2].Value = e.Key, e.TimeMs, mday(e.Day)
				v[3].Value, v[4].Value, v[5].Value, v[6].Value = e.Input, e.Output, e.CacheRead, e.CacheWrite
				v[7].Value, v[8].Value, v[9].Value = nil, boolInt(e.Failed), chunkIDs[j]
				if e.Priced {
					v[7].Value = Nanos(e.CostUSD)
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
					e := &chunk[j]
					d.at(e.Customer, e.Day, e.Provider, e.Model).add(e, Nanos(e.CostUSD), 1)
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
		return 0, err
	}
	res.Duplicates = len(events) - res.Inserted
	for _, p := range partials {
		if err := s.addNew(ctx, tx, p, d); err != nil {
			return 0, err
		}
	}
	return before, nil
}

// addNew adds to the deltas the events of a partial statement that it
// inserted.
func (s *Store) addNew(ctx context.Context, tx *sql.Tx, p partial, d *deltas) error {
	st, err := s.txStmt(ctx, tx, newKeys)
	if err != nil {
		return fmt.Errorf("list new events: %w", err)
	}
	defer st.Close()
	rows, err := st.QueryContext(ctx, p.from, p.from+p.n)
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
			d.at(e.Customer, e.Day, e.Provider, e.Model).add(e, Nanos(e.CostUSD), 1)
		}
	}
	return nil
}

// applyDeltas adds the deltas to the daily rollup and their sums to the
// monthly one, and drops rows a move emptied (only a move can take
// anything away). It returns the monthly sums by row.
//
// A backfill's batch of 1,000 events touches ~120 day rows and ~65 month
// rows (events of many sessions and customers): they are written in key
// order with multi-row upserts, insertRows at a time, as the events are;
// one statement a row was a quarter of the writer's CPU.
func (s *Store) applyDeltas(ctx context.Context, conn *sql.Conn, tx *sql.Tx, d *deltas) (map[CustomerPeriod]*totals, error) {
	if len(d.m) == 0 {
		return nil, nil
	}
	months := make(map[CustomerPeriod]*totals, len(d.m))
	days := make([]dayKey, 0, len(d.m))
	for k, t := range d.m {
		cp := CustomerPeriod{k.customer, k.day[:7]}
		m := months[cp]
		if m == nil {
			m = &totals{}
			months[cp] = m
		}
		m.plus(t)
		if len(k.day) == len("2006-01-02") { // else a day not known yet: in the month only
			days = append(days, k)
		}
	}
	slices.SortFunc(days, func(x, y dayKey) int {
		return cmp.Or(strings.Compare(x.customer, y.customer), strings.Compare(x.day, y.day),
			strings.Compare(x.provider, y.provider), strings.Compare(x.model, y.model))
	})
	err := s.upsertRows(ctx, conn, upsertDailyRows, len(days), dailyCols, func(i int, v []driver.NamedValue) {
		k := days[i]
		v[0].Value, v[1].Value, v[2].Value, v[3].Value = k.customer, k.day, k.provider, k.model
		d.m[k].bind(v[4:])
	})
	if err != nil {
		return nil, fmt.Errorf("update daily totals: %w", err)
	}
	for _, k := range days {
		if !d.m[k].shrunk {
			continue
		}
		if err := s.execIn(ctx, tx, pruneDaily, k.customer, k.day, k.provider, k.model); err != nil {
			return nil, fmt.Errorf("prune daily totals of %s %s: %w", k.customer, k.day, err)
		}
	}
	periods := make([]CustomerPeriod, 0, len(months))
	for k := range months {
		periods = append(periods, k)
	}
	slices.SortFunc(periods, func(x, y CustomerPeriod) int {
		return cmp.Or(strings.Compare(x.Customer, y.Customer), strings.Compare(x.Period, y.Period))
	})
	err = s.upsertRows(ctx, conn, upsertRollupRows, len(periods), rollupCols, func(i int, v []driver.NamedValue) {
		k := periods[i]
		v[0].Value, v[1].Value = k.Customer, k.Period
		months[k].bind(v[2:])
	})
	if err != nil {
		return nil, fmt.Errorf("update monthly totals: %w", err)
	}
	for _, k := range periods {
		if !months[k].shrunk {
			continue
		}
		if err := s.execIn(ctx, tx, pruneRollup, k.Customer, k.Period); err != nil {
			return nil, fmt.Errorf("prune totals of %s %s: %w", k.Customer, k.Period, err)
		}
	}
	return months, nil
}

// bind sets the eight numbers of a rollup row, in upsertDaily's and
// upsertRollup's order.
func (t *totals) bind(v []driver.NamedValue) {
	v[0].Value, v[1].Value, v[2].Value, v[3].Value = t.requests, t.failed, t.input, t.output
	v[4].Value, v[5].Value, v[6].Value, v[7].Value = t.cacheRead, t.cacheWrite, t.costNanos, t.unpriced
}

// The rollup upserts by number of rows, and their values a row.
const (
	dailyCols  = 12
	rollupCols = 10
)

var (
	upsertDailyRows  = map[int]string{1: upsertDaily, insertTail: multiRow(upsertDaily, insertTail), insertRows: multiRow(upsertDaily, insertRows)}
	upsertRollupRows = map[int]string{1: upsertRollup, insertTail: multiRow(upsertRollup, insertTail), insertRows: multiRow(upsertRollup, insertRows)}
)

// upsertRows writes n rows of cols values with the multi-row statements
// of byRows, straight to the driver on the batch's connection; fill sets
// row i's values.
func (s *Store) upsertRows(ctx context.Context, conn *sql.Conn, byRows map[int]string, n, cols int, fill func(i int, v []driver.NamedValue)) error {
	if n == 0 {
		return nil
	}
	args := make([]driver.NamedValue, cols*min(n, insertRows))
	for i := range args {
		args[i].Ordinal = i + 1
	}
	return conn.Raw(func(dc any) error {
		for i := 0; i < n; {
			rows := chunkRows(n - i)
			st, err := s.rawStmt(ctx, dc, byRows[rows])
			if err != nil {
				return err
			}
			a := args[:cols*rows]
			for j := range rows {
				fill(i+j, a[cols*j:cols*j+cols])
			}
			if _, err := st.ExecContext(ctx, a); err != nil {
				return err
			}
			i += rows
		}
		return nil
	})
}

// execIn runs one of the writer's statements in tx.
func (s *Store) execIn(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	st, err := s.txStmt(ctx, tx, query)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.ExecContext(ctx, args...)
	return err
}

// mover re-bills sessions within one batch's transaction. A backfill
// attributes thousands of sessions by their envelope, each a Move, most
// with nothing to move yet: one query per batch finds the sessions that
// have events billed to someone else, and only those are read and updated,
// with statements prepared once per batch.
type mover struct {
	s     *Store
	tx    *sql.Tx
	dayOf DayFunc
	d     *deltas
	// before is the largest id of an event stored before the batch.
	before   int64
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
	busy, err := mv.elsewhere(ctx, moves)
	if err != nil {
		return err
	}
	if len(busy) == 0 {
		return nil
	}
	if mv.sel, err = mv.s.txStmt(ctx, mv.tx, moveSelect); err != nil {
		return fmt.Errorf("prepare move: %w", err)
	}
	moved := map[sessionRef]bool{}
	for _, m := range moves {
		k := sessionRef{m.Agent, m.SessionID}
		// Nothing of this session is billed elsewhere (most moves come
		// from a session's first envelope, before its first call was
		// stored, or were applied to the batch's own calls by rebill):
		// nothing to move. A session an earlier move of this batch changed
		// is always looked at again.
		if !moved[k] && !busy[moveTo{k, m.Customer}] {
			// Skipping is sound though the batch's own events were left
			// out of the question: rebill billed them to where the moves
			// leave them, and the moves that do run treat them like any
			// other stored event, so they end there all the same.
			continue
		}
		moved[k] = true
		if err := mv.move(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

type sessionRef struct{ agent, id string }

// moveTo is a session and a customer it is moved to.
type moveTo struct {
	sessionRef
	customer string
}

// moveSelect reads the events of session ?3/?4 (range ?1..?2) that are
// billed to anyone but ?5.
const moveSelect = moveCols + " WHERE " + sessionCB + " AND customer <> ?5 UNION ALL " +
	moveCols + " WHERE " + sessionOther + " AND customer <> ?5"

const moveUpdate = "UPDATE events SET customer = ?, period = ?, mday = ? WHERE id = ?"

const moveCols = `SELECT id, ts, period, mday, customer, provider, model, input, output, cache_read, cache_write, cost_nanos, failed FROM events`

// elsewhereQuery lists which of n (session, customer) pairs, given as
// agent, session id, key range start and end, and customer, have an event
// stored before the batch (id at most the last parameter) billed to anyone but that customer:
// the two parts of a session's events (sessionCB, sessionOther), each an
// EXISTS that stops at the first such event. The id is in both indexes, so
// the batch's own events (rebilled already) are passed over without a
// look at their table rows. CROSS JOIN keeps the list the outer loop and the unary + on
// the events' columns keeps SQLite from preferring, for a list of hundreds,
// an automatic index over all the events (built for every query: it was
// most of a backfill's CPU) to the key range.
func elsewhereQuery(n int) string {
	before := "?" + strconv.Itoa(5*n+1)
	return `WITH s(agent, sid, lo, hi, c) AS (VALUES ` + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?),", n), ",") + `)
		SELECT agent, sid, c FROM s
		WHERE EXISTS (SELECT 1 FROM events e WHERE e.key >= s.lo AND e.key < s.hi AND +e.id <= ` + before + `
				AND +e.agent = s.agent AND +e.session_id = s.sid AND +e.customer <> s.c)
			OR EXISTS (SELECT 1 FROM events e WHERE e.agent = s.agent AND e.session_id = s.sid
				AND (e.key < 'cb/' OR e.key >= 'cb0') AND +e.id <= ` + before + ` AND e.customer <> s.c)`
}

// movesPerQuery bounds the pairs elsewhere asks about at once (five
// parameters each, far below SQLite's limit): a backfill's batch has
// 40-70 moves, a few hundred only in its first batches, and each prepared
// size is a program SQLite keeps for good.
const movesPerQuery = 128

// elsewhereSizes are the numbers of pairs elsewhere's queries are prepared
// for (once, by the writer): a list is padded with its last pair up to
// the next size, which changes no answer.
var elsewhereSizes = [...]int{16, 64, movesPerQuery}

// elsewhere returns the (session, customer) pairs of moves whose session
// has stored events billed to anyone but that customer: one query per 128
// pairs instead of one per move.
func (mv *mover) elsewhere(ctx context.Context, moves []Move) (map[moveTo]bool, error) {
	var pairs []moveTo
	seen := map[moveTo]bool{}
	for _, m := range moves {
		if k := (moveTo{sessionRef{m.Agent, m.SessionID}, m.Customer}); !seen[k] {
			seen[k] = true
			pairs = append(pairs, k)
		}
	}
	busy := map[moveTo]bool{}
	for len(pairs) > 0 {
		part := pairs[:min(len(pairs), movesPerQuery)]
		pairs = pairs[len(part):]
		n := elsewhereSizes[0]
		for _, size := range elsewhereSizes {
			if n = size; size >= len(part) {
				break
			}
		}
		args := make([]any, 0, 5*n+1)
		for i := range n {
			p := part[min(i, len(part)-1)]
			lo, hi := eventkey.SessionRange(p.agent, p.id)
			args = append(args, p.agent, p.id, lo, hi, p.customer)
		}
		args = append(args, mv.before)
		st, err := mv.s.txStmt(ctx, mv.tx, elsewhereQuery(n))
		if err != nil {
			return nil, fmt.Errorf("prepare the sessions to move: %w", err)
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("read the sessions to move: %w", err)
		}
		for rows.Next() {
			var k moveTo
			if err := rows.Scan(&k.agent, &k.id, &k.customer); err != nil {
				rows.Close()
				st.Close()
				return nil, fmt.Errorf("read the sessions to move: %w", err)
			}
			busy[k] = true
		}
		err = rows.Close()
		st.Close()
		if err != nil {
			return nil, fmt.Errorf("read the sessions to move: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read the sessions to move: %w", err)
		}
	}
	return busy, nil
}

func (mv *mover) move(ctx context.Context, m Move) error {
	lo, hi := eventkey.SessionRange(m.Agent, m.SessionID)
	rows, err := mv.sel.QueryContext(ctx, lo, hi, m.Agent, m.SessionID, m.Customer)
	if err != nil {
		return fmt.Errorf("read events of session %s/%s: %w", m.Agent, m.SessionID, err)
	}
	type upd struct {
		id     int64
		period string
		mday   int64
	}
	var ups []upd
	for rows.Next() {
		var e Event
		var id, md, failed int64
		var cost sql.NullInt64
		if err := rows.Scan(&id, &e.TimeMs, &e.Period, &md, &e.Customer, &e.Provider, &e.Model, &e.Input, &e.Output,
			&e.CacheRead, &e.CacheWrite, &cost, &failed); err != nil {
			rows.Close()
			return fmt.Errorf("read events of session %s/%s: %w", m.Agent, m.SessionID, err)
		}
		e.Priced, e.Failed = cost.Valid, failed != 0
		// An event stored before schema 5 without its day yet was never in
		// a daily total: it leaves its month only.
		from := dayOfPeriod(e.Period, md)
		if from == "" {
			from = e.Period
		}
		mv.d.at(e.Customer, from, e.Provider, e.Model).add(&e, cost.Int64, -1)
		nd, err := checkedDay(mv.dayOf, m.Customer, e.TimeMs)
		if err != nil {
			rows.Close()
			return fmt.Errorf("move session %s/%s: %w", m.Agent, m.SessionID, err)
		}
		mv.d.at(m.Customer, nd, e.Provider, e.Model).add(&e, cost.Int64, 1)
		ups = append(ups, upd{id, nd[:7], mday(nd)})
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
		if mv.upd, err = mv.s.txStmt(ctx, mv.tx, moveUpdate); err != nil {
			return fmt.Errorf("prepare move: %w", err)
		}
	}
	for _, u := range ups {
		if _, err := mv.upd.ExecContext(ctx, m.Customer, u.period, u.mday, u.id); err != nil {
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
		lines, events, synthetic, bad, mtime_ns, ctime_ns FROM files`)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer rows.Close()
	out := map[FileID]Checkpoint{}
	for rows.Next() {
		var c Checkpoint
		var dev, ino, head, tail int64
		if err := rows.Scan(&dev, &ino, &c.Path, &c.Agent, &c.SessionID, &c.FPLen, &head, &c.Offset, &tail,
			&c.Lines, &c.Events, &c.Synthetic, &c.Bad, &c.MtimeNs, &c.CtimeNs); err != nil {
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

// FileMark is the part of a file checkpoint that tells whether a file is
// still the one that was read, and how far: enough to skip a quiet file
// without holding its whole checkpoint (paths, counters) in memory.
type FileMark struct {
	FPLen    int64
	FPHead   uint64
	Offset   int64
	TailHash uint64
	// MtimeNs and CtimeNs are the checkpoint's stamp (0: unknown).
	MtimeNs int64
	CtimeNs int64
}

// FileCount is how many file checkpoints are stored (a caller about to
// hold every mark sizes its slice once instead of growing it).
func (s *Store) FileCount(ctx context.Context) (int, error) {
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM files`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count checkpoints: %w", err)
	}
	return n, nil
}

// EachFileMark calls fn with every stored checkpoint's mark, streaming: a
// history of 150,000 files is never one map of full checkpoints.
func (s *Store) EachFileMark(ctx context.Context, fn func(FileID, FileMark)) error {
	rows, err := s.w.QueryContext(ctx, `SELECT dev, ino, fp_len, fp_head, off, tail_hash, mtime_ns, ctime_ns FROM files`)
	if err != nil {
		return fmt.Errorf("read checkpoint marks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var dev, ino, head, tail int64
		var fm FileMark
		if err := rows.Scan(&dev, &ino, &fm.FPLen, &head, &fm.Offset, &tail, &fm.MtimeNs, &fm.CtimeNs); err != nil {
			return fmt.Errorf("read checkpoint marks: %w", err)
		}
		fm.FPHead, fm.TailHash = uint64(head), uint64(tail)
		fn(FileID{Dev: uint64(dev), Ino: uint64(ino)}, fm)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read checkpoint marks: %w", err)
	}
	return nil
}

// Checkpoint returns one file's committed checkpoint; ok is false when the
// file has none.
func (s *Store) Checkpoint(ctx context.Context, id FileID) (c Checkpoint, ok bool, err error) {
	var head, tail int64
	err = s.r.QueryRowContext(ctx, `SELECT path, agent, session_id, fp_len, fp_head, off, tail_hash,
		lines, events, synthetic, bad, mtime_ns, ctime_ns FROM files WHERE dev = ? AND ino = ?`, int64(id.Dev), int64(id.Ino)).Scan(
		&c.Path, &c.Agent, &c.SessionID, &c.FPLen, &head, &c.Offset, &tail, &c.Lines, &c.Events, &c.Synthetic, &c.Bad, &c.MtimeNs, &c.CtimeNs)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("read checkpoint of file %d:%d: %w", id.Dev, id.Ino, err)
	}
	c.FileID, c.FPHead, c.TailHash = id, uint64(head), uint64(tail)
	return c, true, nil
}

// EachSessionID calls fn with the agent and id of every stored session,
// streaming (the strings are fn's to keep or drop).
func (s *Store) EachSessionID(ctx context.Context, fn func(agent, sessionID string)) error {
	rows, err := s.w.QueryContext(ctx, `SELECT agent, session_id FROM sessions`)
	if err != nil {
		return fmt.Errorf("read session ids: %w", err)
	}
	defer rows.Close()
	var agent, id sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&agent, &id); err != nil {
			return fmt.Errorf("read session ids: %w", err)
		}
		fn(string(agent), string(id))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read session ids: %w", err)
	}
	return nil
}

// EachSessionOf calls fn with every stored session of agent whose
// attribution came from origin, streaming (one range of the primary key:
// a restart compares a session store's entries with these in one pass
// instead of reading each session back).
func (s *Store) EachSessionOf(ctx context.Context, agent, origin string, fn func(Session)) error {
	rows, err := s.r.QueryContext(ctx, `SELECT session_id, session_key, channel, peer, hint, customer, first_ms
		FROM sessions WHERE agent = ? AND origin = ?`, agent, origin)
	if err != nil {
		return fmt.Errorf("read sessions of agent %s: %w", agent, err)
	}
	defer rows.Close()
	for rows.Next() {
		x := Session{Agent: agent, Origin: origin}
		if err := rows.Scan(&x.SessionID, &x.Key, &x.Channel, &x.Peer, &x.Hint, &x.Customer, &x.FirstMs); err != nil {
			return fmt.Errorf("read sessions of agent %s: %w", agent, err)
		}
		fn(x)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read sessions of agent %s: %w", agent, err)
	}
	return nil
}

// Session returns one stored session; ok is false when it was never stored.
func (s *Store) Session(ctx context.Context, agent, sessionID string) (x Session, ok bool, err error) {
	st, err := s.sessionQuery(ctx)
	if err != nil {
		return Session{}, false, err
	}
	err = st.QueryRowContext(ctx, agent, sessionID).Scan(
		&x.Key, &x.Channel, &x.Peer, &x.Hint, &x.Origin, &x.Customer, &x.FirstMs)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("read session %s/%s: %w", agent, sessionID, err)
	}
	x.Agent, x.SessionID = agent, sessionID
	return x, true, nil
}

// sessionQuery is Session's statement, prepared on first use.
func (s *Store) sessionQuery(ctx context.Context) (*sql.Stmt, error) {
	s.session.mu.Lock()
	defer s.session.mu.Unlock()
	if s.session.st == nil {
		st, err := s.r.PrepareContext(ctx, `SELECT session_key, channel, peer, hint, origin, customer, first_ms
			FROM sessions WHERE agent = ? AND session_id = ?`)
		if err != nil {
			return nil, fmt.Errorf("prepare the session query: %w", err)
		}
		s.session.st = st
	}
	return s.session.st, nil
}

// ShrinkMemory asks SQLite to give back the page cache of the writer
// connection (and of one idle reader): after a catch-up the cache holds
// pages of a history that a quiet follower will not touch again soon.
func (s *Store) ShrinkMemory(ctx context.Context) error {
	for _, db := range []*sql.DB{s.w, s.r} {
		if _, err := db.ExecContext(ctx, "PRAGMA shrink_memory"); err != nil {
			return fmt.Errorf("shrink store memory: %w", err)
		}
	}
	return nil
}

// dailyPending is the meta key migration 0005 sets when it leaves events
// without a day (SQL does not know the customers' timezones); the next
// Reattribute gives them one and rebuilds the daily totals.
const dailyPending = "daily_pending"

// Reattribute applies a new customer mapping to the whole history: every
// session's customer is recomputed, events follow their session, days and
// periods are recomputed (a customer's timezone may differ) and both
// rollups are rebuilt. It runs only when the mapping's fingerprint differs
// from the stored one, or when events stored before schema 5 still need
// their day; changed reports only the former.
func (s *Store) Reattribute(ctx context.Context, fingerprint string, customerOf func(Session) string, dayOf DayFunc) (changed bool, err error) {
	defer func() {
		// A context that ends mid-way makes database/sql roll the
		// transaction back and close its statements, and the next step
		// fails with "sql: statement is closed": the cause is the stop.
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("re-attribution stopped: %w (%w)", ctx.Err(), err)
		}
	}()
	old, err := s.Meta(ctx, "attribution")
	if err != nil {
		return false, err
	}
	pending, err := s.Meta(ctx, dailyPending)
	if err != nil {
		return false, err
	}
	if old == fingerprint && pending == "" {
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
	defer st.Close()
	var evs [2]*sql.Stmt
	for i, where := range [...]string{sessionCB, sessionOther} {
		if evs[i], err = tx.PrepareContext(ctx, reattributeEvents(where)); err != nil {
			return false, fmt.Errorf("prepare re-attribution: %w", err)
		}
		defer evs[i].Close()
	}
	for _, x := range sessions {
		c := customerOf(x)
		if _, err := st.ExecContext(ctx, c, x.Agent, x.SessionID); err != nil {
			return false, fmt.Errorf("re-attribute session %s/%s: %w", x.Agent, x.SessionID, err)
		}
		lo, hi := eventkey.SessionRange(x.Agent, x.SessionID)
		for _, ev := range evs {
			if _, err := ev.ExecContext(ctx, lo, hi, x.Agent, x.SessionID, c); err != nil {
				return false, fmt.Errorf("re-attribute events of %s/%s: %w", x.Agent, x.SessionID, err)
			}
		}
	}
	if err := recomputeDays(ctx, tx, dayOf); err != nil {
		return false, err
	}
	for _, q := range [...]string{"DELETE FROM rollup", "DELETE FROM rollup_daily", rebuildRollup, rebuildDaily} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return false, fmt.Errorf("rebuild totals: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES('attribution', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", fingerprint); err != nil {
		return false, fmt.Errorf("record attribution: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM meta WHERE key = ?", dailyPending); err != nil {
		return false, fmt.Errorf("record attribution: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit re-attribution: %w", err)
	}
	return old != "" && old != fingerprint, nil
}

// reattributeEvents bills the events of session ?3/?4 that where picks
// (sessionCB or sessionOther) to ?5.
func reattributeEvents(where string) string {
	return "UPDATE events SET customer = ?5 WHERE " + where + " AND customer <> ?5"
}

// recomputeRows is how many events recomputeDays reads at a time: memory
// stays bounded when every event changes (the first run after migration
// 0005 gives every stored event its day).
const recomputeRows = 20000

// recomputeDays gives every event the day and period dayOf gives it now.
// Consecutive events (by id) that change to the same day are updated with
// one statement over their id range: events are stored in the order they
// were read, so a run is mostly a session's calls of one day.
func recomputeDays(ctx context.Context, tx *sql.Tx, dayOf DayFunc) error {
	sel, err := tx.PrepareContext(ctx, "SELECT id, customer, ts, period, mday FROM events WHERE id > ? ORDER BY id LIMIT ?")
	if err != nil {
		return fmt.Errorf("prepare day recomputation: %w", err)
	}
	defer sel.Close()
	upd, err := tx.PrepareContext(ctx, "UPDATE events SET period = ?, mday = ? WHERE id BETWEEN ? AND ?")
	if err != nil {
		return fmt.Errorf("prepare day recomputation: %w", err)
	}
	defer upd.Close()
	type run struct {
		from, to int64
		day      string
	}
	var runs []run
	for last := int64(0); ; {
		rows, err := sel.QueryContext(ctx, last, recomputeRows)
		if err != nil {
			return fmt.Errorf("read event days: %w", err)
		}
		runs = runs[:0]
		n, open := 0, false // open: the last run ends at the previous row
		for rows.Next() {
			var id, ts, md int64
			var c, p string
			if err := rows.Scan(&id, &c, &ts, &p, &md); err != nil {
				rows.Close()
				return fmt.Errorf("read event days: %w", err)
			}
			n, last = n+1, id
			d, err := checkedDay(dayOf, c, ts)
			if err != nil {
				rows.Close()
				return fmt.Errorf("recompute day of event %d: %w", id, err)
			}
			if d[:7] == p && mday(d) == md {
				open = false
				continue
			}
			if open && runs[len(runs)-1].day == d {
				runs[len(runs)-1].to = id
				continue
			}
			runs, open = append(runs, run{id, id, d}), true
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return fmt.Errorf("read event days: %w", err)
		}
		rows.Close()
		for _, r := range runs {
			if _, err := upd.ExecContext(ctx, r.day[:7], mday(r.day), r.from, r.to); err != nil {
				return fmt.Errorf("update day of events %d..%d: %w", r.from, r.to, err)
			}
		}
		if n < recomputeRows {
			return nil
		}
	}
}

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")
