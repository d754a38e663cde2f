package corpus

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fastjson"
)

// OpenClawWriterOptions configures an OpenClawWriter.
type OpenClawWriterOptions struct {
	// Dir is the state directory. The writer finds the agent databases
	// through <Dir>/state/openclaw.sqlite (agent_databases) when it exists,
	// else as <Dir>/agents/<id>/agent/openclaw-agent.sqlite.
	Dir string
	// Expected holds the totals before the writer starts (nil: none); every
	// call the writer commits is added to them.
	Expected *OpenClawExpected
	// Customer names who is billed for a session key; nil bills by peer the
	// way the generator names customers ("p" and the number without "+",
	// "g" and the group id, else DefaultCustomer).
	Customer func(agent, key string) string
	// Seed makes the lines reproducible.
	Seed uint64
	// Month and Timezone place the lines' timestamps (default: Expected's,
	// else 2026-11 in Asia/Riyadh): they start on the 15th at noon and stay
	// inside the month.
	Month, Timezone string
	// CompressedShare is the chance that RunOpenClawLive asks Turn for a
	// reply long enough for OpenClaw to compress it (default
	// DefaultCompressedShare).
	CompressedShare float64
	// BusyTimeout is how long the writer's connection waits for a lock
	// before SQLite returns SQLITE_BUSY. The default 0 makes every conflict
	// visible: it is counted (Busy), then the transaction is retried.
	BusyTimeout time.Duration
}

// LiveSession is a session the writer appends to.
type LiveSession struct {
	Agent, Database, SessionKey, SessionID, Customer string

	db      *liveDB
	s       *ocSession
	seq     int         // next seq
	at      []time.Time // insert time per seq (zero: written before the writer)
	deleted bool        // its key was deleted: the next Turn starts a new one
	conv    string
}

// LiveRow is one provider call the writer committed.
type LiveRow struct {
	Agent      string    `json:"agent"`
	SessionKey string    `json:"session_key"`
	SessionID  string    `json:"session_id"`
	Customer   string    `json:"customer"`
	EntryID    string    `json:"entry_id"`
	Seq        int       `json:"seq"`
	Compressed bool      `json:"compressed"`
	At         time.Time `json:"at"` // when its commit returned
}

type liveDB struct {
	agent, path, sessions string
	db                    *sql.DB
}

// OpenClawWriter writes to an OpenClaw state directory the way OpenClaw
// 2026.9.6 does, from its own connection to each agent database (WAL,
// BEGIN IMMEDIATE): turns (plain and compressed rows), session resets
// (a `reset` line, or a new window for the same key), in-place compaction
// (rows DELETEd and the rest renumbered) and deletion into a .zst archive.
// It keeps the exact expected totals: calls that compaction deletes stay in
// them, since a live follower has seen them. Expected, Rows, Busy and
// MaxWALBytes may be called from any goroutine; the other methods from one.
type OpenClawWriter struct {
	opts     OpenClawWriterOptions
	g        *gen
	codec    *ocCodec
	dbs      []*liveDB
	sessions []*LiveSession

	mu       sync.Mutex
	exp      *OpenClawExpected
	rows     []LiveRow
	busy     int64
	busyErrs []string
	maxWAL   int64
	gone     int64 // calls deleted in place
}

// OpenOpenClawWriter opens the agent databases of opts.Dir and finds the
// sessions it can append to: each session key's current window whose rows
// are in transcript_events (not cold).
func OpenOpenClawWriter(ctx context.Context, opts OpenClawWriterOptions) (*OpenClawWriter, error) {
	exp := &OpenClawExpected{}
	if opts.Expected != nil {
		*exp = *opts.Expected
		exp.Totals = map[string]Totals{}
		for k, v := range opts.Expected.Totals {
			exp.Totals[k] = v
		}
		exp.Customers = append([]Customer(nil), opts.Expected.Customers...)
	}
	if exp.Totals == nil {
		exp.Totals = map[string]Totals{}
	}
	if exp.DefaultCustomer == "" {
		exp.DefaultCustomer = DefaultCustomer
	}
	if exp.Source == "" {
		exp.Source = "openclaw"
	}
	if opts.Month == "" {
		opts.Month = exp.Month
	}
	if opts.Timezone == "" {
		opts.Timezone = exp.Timezone
	}
	if opts.Month == "" {
		opts.Month = "2026-11"
	}
	if opts.Timezone == "" {
		opts.Timezone = "Asia/Riyadh"
	}
	if exp.Month == "" {
		exp.Month, exp.Timezone = opts.Month, opts.Timezone
	}
	if opts.CompressedShare == 0 {
		opts.CompressedShare = DefaultCompressedShare
	}
	if opts.Customer == nil {
		def := exp.DefaultCustomer
		opts.Customer = func(_, key string) string { return customerByKey(key, def) }
	}
	g, err := newGen(Options{Seed: opts.Seed ^ 0x6c697665, Month: opts.Month, Timezone: opts.Timezone, Agents: 1})
	if err != nil {
		return nil, err
	}
	g.exp = &exp.Expected
	codec, err := newOCCodec()
	if err != nil {
		return nil, err
	}
	w := &OpenClawWriter{opts: opts, g: g, codec: codec, exp: exp}
	paths, err := OpenClawDatabases(ctx, opts.Dir)
	if err != nil {
		return nil, err
	}
	for _, d := range paths {
		q := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_txlock=immediate",
			opts.BusyTimeout.Milliseconds())
		db, err := sql.Open("sqlite", ocFileURI(d.Path, q))
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("corpus: open %s: %w", d.Path, err)
		}
		db.SetMaxOpenConns(1)
		ldb := &liveDB{agent: d.Agent, path: d.Path, sessions: d.Sessions, db: db}
		w.dbs = append(w.dbs, ldb)
		if err := w.load(ctx, ldb); err != nil {
			w.Close()
			return nil, err
		}
	}
	mid, err := time.ParseInLocation("2006-01", opts.Month, g.loc)
	if err != nil {
		return nil, fmt.Errorf("corpus: month: %w", err)
	}
	start := mid.AddDate(0, 0, 14).Add(12 * time.Hour).UnixMilli()
	for _, s := range w.sessions {
		s.s.t = start
	}
	return w, nil
}

// OpenClawDatabases lists the agent databases of a state directory:
// agent_databases of <dir>/state/openclaw.sqlite when it exists (relative
// paths are relative to dir), else agents/*/agent/openclaw-agent.sqlite.
func OpenClawDatabases(ctx context.Context, dir string) ([]OpenClawDatabase, error) {
	state := filepath.Join(dir, "state", "openclaw.sqlite")
	var out []OpenClawDatabase
	if _, err := os.Stat(state); err == nil {
		db, err := sql.Open("sqlite", ocFileURI(state, "mode=ro&_pragma=busy_timeout(5000)"))
		if err != nil {
			return nil, fmt.Errorf("corpus: open %s: %w", state, err)
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, `SELECT agent_id, path FROM agent_databases ORDER BY agent_id, path`)
		if err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", state, err)
		}
		defer rows.Close()
		for rows.Next() {
			var d OpenClawDatabase
			if err := rows.Scan(&d.Agent, &d.Path); err != nil {
				return nil, fmt.Errorf("corpus: %s: %w", state, err)
			}
			if !filepath.IsAbs(d.Path) {
				d.Path = filepath.Join(dir, d.Path)
			}
			out = append(out, d)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", state, err)
		}
	} else {
		m, err := filepath.Glob(filepath.Join(dir, "agents", "*", "agent", "openclaw-agent.sqlite"))
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		sort.Strings(m)
		for _, p := range m {
			out = append(out, OpenClawDatabase{Agent: filepath.Base(filepath.Dir(filepath.Dir(p))), Path: p})
		}
	}
	for i := range out {
		out[i].Sessions = ocArtifactDir(out[i].Path)
	}
	return out, nil
}

// ocArtifactDir is where OpenClaw puts a database's archives
// (resolveSessionArtifactDirectory): agents/<id>/sessions beside
// agents/<id>/agent, else the database's own directory.
func ocArtifactDir(dbPath string) string {
	d := filepath.Dir(dbPath)
	if filepath.Base(d) == "agent" {
		return filepath.Join(filepath.Dir(d), "sessions")
	}
	return d
}

// customerByKey bills a key the way the generator names customers.
func customerByKey(key, def string) string {
	shape, peer := OpenClawKeyPeer(key)
	switch shape {
	case ShapeGroup:
		return "g" + strings.TrimSuffix(peer, "@g.us")
	case ShapeDM, ShapeDirect, ShapeAccountDirect, ShapePeerDirect:
		return "p" + strings.TrimPrefix(peer, "+")
	}
	return def
}

// OpenClawKeyPeer returns the shape of a session key and the peer (number or
// group id) it names, "" for the main session or a shape it does not know.
func OpenClawKeyPeer(key string) (shape, peer string) {
	f := strings.Split(key, ":")
	if len(f) < 3 || f[0] != "agent" {
		return "", ""
	}
	rest := f[2:]
	switch {
	case len(rest) == 1 && rest[0] == "main":
		return ShapeMain, ""
	case len(rest) >= 2 && rest[0] == "direct":
		return ShapePeerDirect, strings.Join(rest[1:], ":")
	case len(rest) >= 3 && rest[1] == "dm":
		return ShapeDM, strings.Join(rest[2:], ":")
	case len(rest) >= 3 && rest[1] == "direct":
		return ShapeDirect, strings.Join(rest[2:], ":")
	case len(rest) >= 4 && rest[2] == "direct":
		return ShapeAccountDirect, strings.Join(rest[3:], ":")
	case len(rest) >= 3 && rest[1] == "group":
		return ShapeGroup, strings.Join(rest[2:], ":")
	}
	return "", ""
}

// load finds the sessions of one database the writer can append to.
func (w *OpenClawWriter) load(ctx context.Context, d *liveDB) error {
	rows, err := d.db.QueryContext(ctx, `SELECT n.session_key, n.current_session_id,
			coalesce((SELECT max(seq) FROM transcript_events e WHERE e.session_id = n.current_session_id), -1),
			coalesce((SELECT i.event_id FROM transcript_event_identities i WHERE i.session_id = n.current_session_id
				ORDER BY i.seq DESC LIMIT 1), ''),
			coalesce((SELECT primary_conversation_id FROM session_windows sw WHERE sw.session_id = n.current_session_id), '')
		FROM session_nodes n
		WHERE NOT EXISTS (SELECT 1 FROM session_transcript_cold_archives c WHERE c.session_id = n.current_session_id)
		ORDER BY n.session_key`)
	if err != nil {
		return fmt.Errorf("corpus: %s: %w", d.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		ls := &LiveSession{Agent: d.agent, Database: d.path, db: d}
		var maxSeq int
		var parent string
		if err := rows.Scan(&ls.SessionKey, &ls.SessionID, &maxSeq, &parent, &ls.conv); err != nil {
			return fmt.Errorf("corpus: %s: %w", d.path, err)
		}
		if maxSeq < 0 {
			continue
		}
		ls.Customer = w.opts.Customer(d.agent, ls.SessionKey)
		ls.seq = maxSeq + 1
		ls.at = make([]time.Time, ls.seq)
		ls.s = w.newSession(ls)
		ls.s.parent = parent
		w.sessions = append(w.sessions, ls)
	}
	return rows.Err()
}

func (w *OpenClawWriter) newSession(ls *LiveSession) *ocSession {
	shape, peer := OpenClawKeyPeer(ls.SessionKey)
	p := &plan{agent: ls.Agent, id: ls.SessionID, customer: ls.Customer, peer: peer, kind: kindMain}
	switch shape {
	case ShapeGroup:
		p.kind = kindGroup
	case ShapeDM, ShapeDirect, ShapeAccountDirect, ShapePeerDirect:
		p.kind = kindDM
	}
	o := newOCSession(w.g, p, 0, 0) // Turn chooses the reply's length
	o.started = true
	return o
}

// Sessions lists the sessions the writer can append to; Turn and the other
// methods take an index into it.
func (w *OpenClawWriter) Sessions() []LiveSession {
	out := make([]LiveSession, len(w.sessions))
	for i, s := range w.sessions {
		out[i] = *s
	}
	return out
}

// Expected returns the exact totals so far: those the writer started with
// plus every call it committed.
func (w *OpenClawWriter) Expected() *OpenClawExpected {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := *w.exp
	e.Totals = map[string]Totals{}
	for c, t := range w.exp.Totals {
		t.CostUSD += w.g.comp[c]
		e.Totals[c] = t
	}
	e.OpenClaw.CompactedCalls += w.gone
	return &e
}

// Rows returns every call row the writer committed, in commit order.
func (w *OpenClawWriter) Rows() []LiveRow {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]LiveRow(nil), w.rows...)
}

// Busy returns how many times the writer met SQLITE_BUSY and the first of
// those errors.
func (w *OpenClawWriter) Busy() (int64, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.busy, append([]string(nil), w.busyErrs...)
}

// MaxWALBytes is the largest -wal file the writer saw after a commit.
func (w *OpenClawWriter) MaxWALBytes() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxWAL
}

// Close closes the writer's connections.
func (w *OpenClawWriter) Close() error {
	var errs []error
	for _, d := range w.dbs {
		if err := d.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("corpus: close %s: %w", d.path, err))
		}
	}
	w.dbs = nil
	return errors.Join(errs...)
}

// tx runs fn in a write transaction, retrying while SQLite reports
// SQLITE_BUSY (each one counted), as OpenClaw's writer would have to.
func (w *OpenClawWriter) tx(ctx context.Context, d *liveDB, fn func(tx *sql.Tx) error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := func() error {
			tx, err := d.db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if err := fn(tx); err != nil {
				tx.Rollback()
				return err
			}
			return tx.Commit()
		}()
		if err == nil {
			if fi, err := os.Stat(d.path + "-wal"); err == nil {
				w.mu.Lock()
				w.maxWAL = max(w.maxWAL, fi.Size())
				w.mu.Unlock()
			}
			return nil
		}
		if !ocIsBusy(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("corpus: write %s: %w", d.path, err)
		}
		w.mu.Lock()
		w.busy++
		if len(w.busyErrs) < 10 {
			w.busyErrs = append(w.busyErrs, err.Error())
		}
		w.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
}

// insertEvents appends the session's pending lines as rows, in tx.
func (w *OpenClawWriter) insertEvents(ctx context.Context, tx *sql.Tx, ls *LiveSession, evs []ocEvent) ([]bool, error) {
	rw, err := newOCRowWriter(ctx, tx, w.codec)
	if err != nil {
		return nil, err
	}
	defer rw.close()
	comp := make([]bool, len(evs))
	for i := range evs {
		c, err := rw.insert(ctx, ls.SessionID, ls.seq+i, &evs[i])
		if err != nil {
			return nil, err
		}
		comp[i] = c
	}
	last := evs[len(evs)-1].at
	if _, err := tx.ExecContext(ctx, `UPDATE session_windows SET updated_at = ?, transcript_updated_at = ?,
		transcript_observed_at = ?, ended_at = ? WHERE session_id = ?`, last, last, last, last, ls.SessionID); err != nil {
		return nil, fmt.Errorf("corpus: session_windows: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE session_nodes SET updated_at = ?, last_interaction_at = ?,
		last_activity_at = ? WHERE session_key = ?`, last, last, last, ls.SessionKey); err != nil {
		return nil, fmt.Errorf("corpus: session_nodes: %w", err)
	}
	return comp, nil
}

// pending takes the lines the session's writer has built since last time.
func pending(o *ocSession) ([]ocEvent, error) {
	evs, err := o.events()
	if err != nil {
		return nil, err
	}
	// events() keeps slices of the buffer; the next lines go in a new one.
	o.buf, o.offs, o.kinds, o.calls = nil, nil, nil, map[int]ocCall{}
	return evs, nil
}

// commitLines inserts the lines built for ls in one transaction, books their
// calls and records the call rows.
func (w *OpenClawWriter) commitLines(ctx context.Context, ls *LiveSession, prepare func(tx *sql.Tx) error) ([]LiveRow, error) {
	evs, err := pending(ls.s)
	if err != nil {
		return nil, err
	}
	var comp []bool
	err = w.tx(ctx, ls.db, func(tx *sql.Tx) error {
		if prepare != nil {
			if err := prepare(tx); err != nil {
				return err
			}
		}
		var err error
		comp, err = w.insertEvents(ctx, tx, ls, evs)
		return err
	})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []LiveRow
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range evs {
		ls.at = append(ls.at, now)
		c := evs[i].call
		if c == nil {
			continue
		}
		w.g.addCall(ls.Customer, c.u, c.failed)
		w.exp.UsageLines++
		row := LiveRow{Agent: ls.Agent, SessionKey: ls.SessionKey, SessionID: ls.SessionID, Customer: ls.Customer,
			EntryID: evs[i].id, Seq: ls.seq + i, Compressed: comp[i], At: now}
		w.rows = append(w.rows, row)
		out = append(out, row)
	}
	for i := range evs {
		w.exp.Lines++
		if evs[i].kind == lineSynthetic {
			w.exp.Synthetic++
		}
	}
	ls.seq += len(evs)
	return out, nil
}

// Turn appends one inbound message, the reply (a provider call; long
// enough to be stored compressed when long is true) and the bootstrap
// entry, in one transaction, and returns the call's row.
func (w *OpenClawWriter) Turn(ctx context.Context, i int, long bool) (LiveRow, error) {
	ls := w.sessions[i]
	var prepare func(tx *sql.Tx) error
	if ls.deleted {
		var err error
		if prepare, err = w.reopen(ls); err != nil {
			return LiveRow{}, err
		}
	}
	o := ls.s
	o.advance(20_000, 600_000)
	run := uuid(o.r)
	u := o.r.Float64()
	if o.p.kind == kindMain {
		o.user(systemNotes[o.r.IntN(len(systemNotes))], run)
	} else {
		o.user(o.envelope(text(o.r, userPhrases, 30+int(700*u*u))), run)
	}
	o.advance(5, 50)
	n := 40 + int(900*u*u)
	if long {
		n = 3500 + o.r.IntN(5500)
	}
	o.call(o.textContent(n), o.usage(8, 700), "stop", run, "")
	o.bootstrap(run)
	rows, err := w.commitLines(ctx, ls, prepare)
	if err != nil {
		return LiveRow{}, err
	}
	ls.deleted = false
	return rows[0], nil
}

// ResetLine is sessions.reset: a `reset` line in the same session.
func (w *OpenClawWriter) ResetLine(ctx context.Context, i int) error {
	ls := w.sessions[i]
	if ls.deleted {
		return nil
	}
	ls.s.advance(1000, 60_000)
	ls.s.resetLine()
	_, err := w.commitLines(ctx, ls, nil)
	return err
}

// NewWindow is a daily or idle reset: a new session id for the same key,
// a session_windows row pointing at the previous one, the node moved, and
// the new transcript started; the old window's rows stay.
func (w *OpenClawWriter) NewWindow(ctx context.Context, i int) error {
	ls := w.sessions[i]
	if ls.deleted {
		return nil
	}
	prev := ls.SessionID
	w.start(ls, uuid(w.g.r))
	prepare := func(tx *sql.Tx) error {
		return w.insertWindow(ctx, tx, ls, prev)
	}
	_, err := w.commitLines(ctx, ls, prepare)
	return err
}

// start points ls at a new session id and writes its header lines.
func (w *OpenClawWriter) start(ls *LiveSession, id string) {
	t := ls.s.t
	ls.SessionID = id
	ls.s = w.newSession(ls)
	ls.s.t = t + 60_000
	ls.s.parent = ""
	ls.s.header()
	ls.seq, ls.at = 0, nil
}

func (w *OpenClawWriter) insertWindow(ctx context.Context, tx *sql.Tx, ls *LiveSession, prev string) error {
	at := ls.s.t
	var chat, channel, conv any
	switch ls.s.p.kind {
	case kindDM:
		chat, channel = "direct", "whatsapp"
		if ls.conv != "" {
			conv = ls.conv
		}
	case kindGroup:
		channel = "whatsapp"
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO session_windows (session_id, session_key, previous_session_id,
		session_scope, created_at, updated_at, session_entry_provenance, acp_owned, status, chat_type, channel,
		primary_conversation_id, model_provider, model, agent_harness_id, display_name)
		VALUES (?, ?, ?, 'conversation', ?, ?, 1, 0, 'running', ?, ?, ?, ?, ?, 'openclaw', ?)`,
		ls.SessionID, ls.SessionKey, nullString(prev), at, at, chat, channel, conv, ls.s.m.provider, ls.s.m.id,
		strings.TrimPrefix(ls.SessionKey, "agent:"+ls.Agent+":")); err != nil {
		return fmt.Errorf("corpus: session_windows: %w", err)
	}
	if conv != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO session_conversations (session_id, conversation_id, role,
			first_seen_at, last_seen_at) VALUES (?, ?, 'primary', ?, ?)`, ls.SessionID, conv, at, at); err != nil {
			return fmt.Errorf("corpus: session_conversations: %w", err)
		}
	}
	gen := hexID(w.g.r, 32)
	if _, err := tx.ExecContext(ctx, `INSERT INTO transcript_rewrite_watermarks (session_id, generation, updated_at)
		VALUES (?, ?, ?)`, ls.SessionID, gen, at); err != nil {
		return fmt.Errorf("corpus: transcript_rewrite_watermarks: %w", err)
	}
	entry := `{"sessionId":"` + ls.SessionID + `","updatedAt":` + fmt.Sprint(at) + `,"sessionStartedAt":` + fmt.Sprint(at)
	if prev != "" {
		entry += `,"previousSessionId":"` + prev + `"`
	}
	entry += `,"agentHarnessId":"openclaw"}`
	_, err := tx.ExecContext(ctx, `UPDATE session_nodes SET current_session_id = ?, entry_json = ?, updated_at = ?
		WHERE session_key = ?`, ls.SessionID, entry, at, ls.SessionKey)
	if err != nil {
		return fmt.Errorf("corpus: session_nodes: %w", err)
	}
	return nil
}

// reopen prepares a deleted key's next session: a new node and window
// (no previous window) and a new transcript.
func (w *OpenClawWriter) reopen(ls *LiveSession) (func(tx *sql.Tx) error, error) {
	w.start(ls, uuid(w.g.r))
	ctx := context.Background()
	return func(tx *sql.Tx) error {
		at := ls.s.t
		if _, err := tx.ExecContext(ctx, `INSERT INTO session_nodes (session_key, current_session_id, entry_json,
			updated_at, created_at, created_via) VALUES (?, ?, '{}', ?, ?, 'run')`, ls.SessionKey, ls.SessionID, at, at); err != nil {
			return fmt.Errorf("corpus: session_nodes: %w", err)
		}
		return w.insertWindow(ctx, tx, ls, "")
	}, nil
}

// ocStoredEvent is a transcript row read back, decompressed.
type ocStoredEvent struct {
	seq        int
	json       []byte
	at         int64
	typ        string
	id, parent string
	idem       string
}

func (w *OpenClawWriter) readSession(ctx context.Context, tx *sql.Tx, id string) ([]ocStoredEvent, error) {
	rows, err := tx.QueryContext(ctx, `SELECT e.seq, e.event_json, e.event_zstd, e.created_at, coalesce(i.event_id, ''),
			coalesce(i.event_type, ''), coalesce(i.parent_id, ''), coalesce(i.message_idempotency_key, '')
		FROM transcript_events e LEFT JOIN transcript_event_identities i ON i.session_id = e.session_id AND i.seq = e.seq
		WHERE e.session_id = ? ORDER BY e.seq`, id)
	if err != nil {
		return nil, fmt.Errorf("corpus: read %s: %w", id, err)
	}
	defer rows.Close()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	var out []ocStoredEvent
	for rows.Next() {
		var e ocStoredEvent
		var ej sql.NullString
		var z []byte
		if err := rows.Scan(&e.seq, &ej, &z, &e.at, &e.id, &e.typ, &e.parent, &e.idem); err != nil {
			return nil, fmt.Errorf("corpus: read %s: %w", id, err)
		}
		if ej.Valid {
			e.json = []byte(ej.String)
		} else if e.json, err = dec.DecodeAll(z, nil); err != nil {
			return nil, fmt.Errorf("corpus: decode %s/%d: %w", id, e.seq, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// isCall tells a provider call line from the rest (synthetic replies too).
func isCall(line []byte) bool {
	v, err := fastjson.ParseBytes(line)
	if err != nil || string(v.GetStringBytes("type")) != "message" {
		return false
	}
	m := v.Get("message")
	if m == nil || string(m.GetStringBytes("role")) != "assistant" || m.Get("usage") == nil {
		return false
	}
	provider := string(m.GetStringBytes("provider"))
	return provider != "openclaw" && provider != "clawdbot" && string(m.GetStringBytes("stopReason")) != "injected"
}

// Compact rewrites a session in place as sessions.compact {maxLines} does:
// only the header and the last keep rows stay, renumbered from seq 1, the
// first of them without a parent, and a new rewrite generation; the other
// rows are DELETEd. Rows the writer inserted less than minAge ago are kept
// too, so that a follower has had the time to see what goes. It returns the
// number of calls deleted (they stay in the expected totals).
func (w *OpenClawWriter) Compact(ctx context.Context, i, keep int, minAge time.Duration) (int, error) {
	ls := w.sessions[i]
	if ls.deleted {
		return 0, nil
	}
	recent := 0
	for j := len(ls.at) - 1; j >= 1 && !ls.at[j].IsZero() && time.Since(ls.at[j]) < minAge; j-- {
		recent++
	}
	keep = max(keep, recent)
	var gone, kept int
	var keptAt []time.Time
	err := w.tx(ctx, ls.db, func(tx *sql.Tx) error {
		gone, kept, keptAt = 0, 0, nil
		evs, err := w.readSession(ctx, tx, ls.SessionID)
		if err != nil {
			return err
		}
		if len(evs) <= keep+1 {
			return nil
		}
		first := len(evs) - keep
		for _, e := range evs[1:first] {
			if isCall(e.json) {
				gone++
			}
		}
		for _, q := range []string{`DELETE FROM transcript_event_identities WHERE session_id = ? AND seq > 0`,
			`DELETE FROM transcript_events WHERE session_id = ? AND seq > 0`} {
			if _, err := tx.ExecContext(ctx, q, ls.SessionID); err != nil {
				return fmt.Errorf("corpus: compact %s: %w", ls.SessionID, err)
			}
		}
		rw, err := newOCRowWriter(ctx, tx, w.codec)
		if err != nil {
			return err
		}
		defer rw.close()
		for j, e := range evs[first:] {
			ev := ocEvent{json: e.json, typ: e.typ, id: e.id, parent: e.parent, idem: e.idem, at: e.at}
			if j == 0 {
				ev.json, ev.parent = orphan(e.json), ""
			}
			if _, err := rw.insert(ctx, ls.SessionID, 1+j, &ev); err != nil {
				return err
			}
			if first+j < len(ls.at) {
				keptAt = append(keptAt, ls.at[first+j])
			} else {
				keptAt = append(keptAt, time.Time{})
			}
		}
		kept = keep
		gen := hexID(w.g.r, 32)
		_, err = tx.ExecContext(ctx, `INSERT INTO transcript_rewrite_watermarks (session_id, generation, updated_at)
			VALUES (?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET generation = excluded.generation,
			updated_at = excluded.updated_at`, ls.SessionID, gen, ls.s.t)
		return err
	})
	if err != nil || kept == 0 {
		return 0, err
	}
	ls.seq = 1 + kept
	ls.at = append([]time.Time{{}}, keptAt...)
	w.mu.Lock()
	w.gone += int64(gone)
	w.mu.Unlock()
	return gone, nil
}

// Delete is sessions.delete {deleteTranscript: true} on the session's key:
// every generation of the key goes into its own session_transcript_archives
// row (zstd) and is published as <id>.jsonl.deleted.<ts>.<32hex>.zst beside
// the sessions; their rows, windows and the node are deleted (OpenClaw plans
// a delete for each of readSessionGenerationIdsForKeys). A key with a cold
// window is left alone (OpenClaw restores cold transcripts first). The next
// Turn on the session starts a new one for the same key. It returns the
// archives' paths.
func (w *OpenClawWriter) Delete(ctx context.Context, i int) ([]string, error) {
	ls := w.sessions[i]
	if ls.deleted {
		return nil, nil
	}
	at := ls.s.t + 1000
	type published struct {
		name string
		blob []byte
	}
	var out []published
	err := w.tx(ctx, ls.db, func(tx *sql.Tx) error {
		out = nil
		var cold int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM session_transcript_cold_archives c
			JOIN session_windows sw ON sw.session_id = c.session_id WHERE sw.session_key = ?`, ls.SessionKey).Scan(&cold); err != nil {
			return fmt.Errorf("corpus: delete %s: %w", ls.SessionKey, err)
		}
		if cold > 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT session_id FROM session_windows WHERE session_key = ? ORDER BY created_at`, ls.SessionKey)
		if err != nil {
			return fmt.Errorf("corpus: delete %s: %w", ls.SessionKey, err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("corpus: delete %s: %w", ls.SessionKey, err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			evs, err := w.readSession(ctx, tx, id)
			if err != nil {
				return err
			}
			if len(evs) > 0 {
				var plain []byte
				for _, e := range evs {
					plain = append(append(plain, e.json...), '\n')
				}
				gen := hexID(w.g.r, 32)
				p := published{name: id + ".jsonl.deleted." + archiveStamp(at) + "." + gen + ".zst",
					blob: w.codec.archive.EncodeAll(plain, nil)}
				sum := sha256.Sum256(p.blob)
				if _, err := tx.ExecContext(ctx, `INSERT INTO session_transcript_archives (session_id, generation,
					session_key, reason, encoding, archive_blob, archive_sha256, archive_name, created_at)
					VALUES (?, ?, ?, 'deleted', 'zstd', ?, ?, ?, ?)`,
					id, gen, ls.SessionKey, p.blob, hex.EncodeToString(sum[:]), p.name, at); err != nil {
					return fmt.Errorf("corpus: session_transcript_archives: %w", err)
				}
				out = append(out, p)
			}
			for _, q := range []string{`DELETE FROM transcript_event_identities WHERE session_id = ?`,
				`DELETE FROM transcript_events WHERE session_id = ?`, `DELETE FROM session_windows WHERE session_id = ?`} {
				if _, err := tx.ExecContext(ctx, q, id); err != nil {
					return fmt.Errorf("corpus: delete %s: %w", id, err)
				}
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM session_nodes WHERE session_key = ?`, ls.SessionKey)
		return err
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	// Published after the commit, as OpenClaw does (publish_attempts).
	if err := os.MkdirAll(ls.db.sessions, 0o755); err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	var paths []string
	for _, p := range out {
		path := filepath.Join(ls.db.sessions, p.name)
		if err := os.WriteFile(path+".tmp", p.blob, 0o600); err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		paths = append(paths, path)
	}
	err = w.tx(ctx, ls.db, func(tx *sql.Tx) error {
		for _, p := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE session_transcript_archives SET published_at = ?, publish_attempts = 1,
				last_publish_attempt_at = ? WHERE archive_name = ?`, at+50, at+50, p.name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.exp.OpenClaw.ArchiveFiles += len(out)
	w.exp.OpenClaw.ArchiveRows += len(out)
	w.mu.Unlock()
	ls.deleted = true
	return paths, nil
}

// OpenClawLiveOptions is what RunOpenClawLive does.
type OpenClawLiveOptions struct {
	// Rate is calls per second over all sessions (default 100); Duration
	// how long to write (default 20 s).
	Rate     float64
	Duration time.Duration
	// Sessions is how many sessions to write to, each of a different
	// customer (default 10).
	Sessions int
	// Every so many turns: a new window (ResetEvery), a `reset` line
	// (ResetLineEvery), an in-place compaction keeping CompactKeep rows
	// (CompactEvery) and a delete into an archive (DeleteEvery); 0 never.
	ResetEvery, ResetLineEvery, CompactEvery, DeleteEvery int
	CompactKeep                                           int
	// CompactMinAge keeps rows younger than this out of a compaction
	// (default 2 s), so that a follower has seen what is deleted.
	CompactMinAge time.Duration
	// OnCommit is called after each turn's commit with its call row.
	OnCommit func(LiveRow)
}

// OpenClawLiveResult is what RunOpenClawLive did.
type OpenClawLiveResult struct {
	Turns          int   `json:"turns"`
	Compressed     int   `json:"compressed"`
	Windows        int   `json:"new_windows"`
	ResetLines     int   `json:"reset_lines"`
	Compactions    int   `json:"compactions"`
	CompactedCalls int   `json:"compacted_calls"`
	Deletes        int   `json:"deletes"`
	Busy           int64 `json:"sqlite_busy"`
	// BusyErrors are the first SQLITE_BUSY errors the writer met.
	BusyErrors  []string `json:"sqlite_busy_errors,omitempty"`
	MaxWALBytes int64    `json:"max_wal_bytes"`
}

// PickSessions returns up to n session indexes of distinct customers,
// peers' direct sessions first.
func (w *OpenClawWriter) PickSessions(n int) []int {
	seen := map[string]bool{}
	var out []int
	for pass := 0; pass < 2 && len(out) < n; pass++ {
		for i, s := range w.sessions {
			if len(out) == n {
				break
			}
			dm := s.s.p.kind == kindDM
			if seen[s.Customer] || dm != (pass == 0) {
				continue
			}
			seen[s.Customer] = true
			out = append(out, i)
		}
	}
	return out
}

// RunOpenClawLive writes turns at a fixed rate to sessions of distinct
// customers, with resets, compactions and deletes between them, until
// Duration has passed or ctx ends.
func RunOpenClawLive(ctx context.Context, w *OpenClawWriter, o OpenClawLiveOptions) (*OpenClawLiveResult, error) {
	if o.Rate <= 0 {
		o.Rate = 100
	}
	if o.Duration <= 0 {
		o.Duration = 20 * time.Second
	}
	if o.Sessions <= 0 {
		o.Sessions = 10
	}
	if o.CompactKeep <= 0 {
		o.CompactKeep = 5
	}
	if o.CompactMinAge == 0 {
		o.CompactMinAge = 2 * time.Second
	}
	picked := w.PickSessions(o.Sessions)
	if len(picked) == 0 {
		return nil, errors.New("corpus: no session to write to")
	}
	res := &OpenClawLiveResult{}
	r := rand.New(rand.NewPCG(w.opts.Seed, 0x5eed))
	total := int(o.Rate * o.Duration.Seconds())
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
	defer tick.Stop()
	every := func(n, i int) bool { return n > 0 && i > 0 && i%n == 0 }
	for i := 0; i < total; i++ {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		k := picked[i%len(picked)]
		other := picked[r.IntN(len(picked))]
		var err error
		switch {
		case every(o.DeleteEvery, i):
			var paths []string
			paths, err = w.Delete(ctx, other)
			if len(paths) > 0 {
				res.Deletes++
			}
		case every(o.CompactEvery, i):
			var n int
			n, err = w.Compact(ctx, other, o.CompactKeep, o.CompactMinAge)
			res.Compactions++
			res.CompactedCalls += n
		case every(o.ResetEvery, i):
			err = w.NewWindow(ctx, other)
			res.Windows++
		case every(o.ResetLineEvery, i):
			err = w.ResetLine(ctx, other)
			res.ResetLines++
		}
		if err != nil {
			return res, err
		}
		row, err := w.Turn(ctx, k, r.Float64() < w.opts.CompressedShare)
		if err != nil {
			return res, err
		}
		res.Turns++
		if row.Compressed {
			res.Compressed++
		}
		if o.OnCommit != nil {
			o.OnCommit(row)
		}
	}
	res.Busy, res.BusyErrors = w.Busy()
	res.MaxWALBytes = w.MaxWALBytes()
	return res, nil
}
