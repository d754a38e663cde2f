package corpus

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// OpenClawOptions says what GenerateOpenClaw writes: the Clawdbot size knobs
// (Bytes is the size of the transcripts as JSONL, wherever they are stored;
// Files the number of session windows, deleted ones included; Agents one
// database each) and OpenClaw's own.
type OpenClawOptions struct {
	Options
	// CompressedShare is the share of assistant provider-call rows that are
	// long enough for OpenClaw to store them compressed (0 means
	// DefaultCompressedShare; negative means none). The compression rule
	// itself decides row by row; the share lands near this.
	CompressedShare float64
	// ColdStorage moves idle sessions to sessions/cold/<sha256>.jsonl.zst
	// (session.maintenance.coldStorage), deleting their rows.
	ColdStorage bool
	// StateDB also writes <Dir>/state/openclaw.sqlite with agent_databases.
	StateDB bool
	// CustomLocation puts every agent database in <Dir>/custom-store/
	// (a custom session.store): found only through agent_databases, so it
	// implies StateDB.
	CustomLocation bool
}

// DefaultCompressedShare is the share of assistant calls stored compressed
// by default: the long replies and what follows long tool results.
const DefaultCompressedShare = 0.30

// OpenClawDatabase is one agent database.
type OpenClawDatabase struct {
	Agent string `json:"agent"`
	Path  string `json:"path"`
	// Sessions is the directory of its archives (and cold/).
	Sessions string `json:"sessions_dir"`
}

// OpenClawFollow is a current session a live writer may append to; its
// calls are billed to Customer.
type OpenClawFollow struct {
	Agent      string `json:"agent"`
	Database   string `json:"database"`
	SessionKey string `json:"session_key"`
	SessionID  string `json:"session_id"`
	Customer   string `json:"customer"`
	Peer       string `json:"peer"`
}

// OpenClawStats describes what a generated OpenClaw state holds, for tests
// and reports that check a reader's per-source counts.
type OpenClawStats struct {
	Databases []OpenClawDatabase `json:"databases"`
	StateDB   string             `json:"state_db,omitempty"`
	// Keys counts session keys (session_nodes rows and deleted keys),
	// Windows the session_windows rows left.
	Keys    int `json:"session_keys"`
	Windows int `json:"windows"`
	// Rows are transcript_events rows; CallRows those that are provider
	// calls; Compressed* those stored zstd-compressed.
	Rows               int64 `json:"rows"`
	CompressedRows     int64 `json:"compressed_rows"`
	CallRows           int64 `json:"call_rows"`
	CompressedCallRows int64 `json:"compressed_call_rows"`
	// ArchiveFiles are published .deleted./.reset. files, ArchiveRows the
	// session_transcript_archives rows (both hold the same sessions where
	// both exist).
	ArchiveFiles int `json:"archive_files"`
	ArchiveRows  int `json:"archive_rows"`
	// ColdFiles are sessions/cold files, ColdBlobs cold archives kept in
	// SQLite (storage "sqlite").
	ColdFiles int `json:"cold_files"`
	ColdBlobs int `json:"cold_blobs"`
	// LegacyWindows were imported from Clawdbot (version 3 lines).
	LegacyWindows int `json:"legacy_windows"`
	// Compacted sessions lost CompactedCalls calls in place: they are in no
	// table and no file any more, and not in the totals.
	CompactedSessions int   `json:"compacted_sessions"`
	CompactedCalls    int64 `json:"compacted_calls"`
	// KeyShapes counts session keys by shape (main, dm, direct,
	// account-direct, peer-direct, group).
	KeyShapes map[string]int `json:"key_shapes"`
	// DiskBytes is the size of everything written.
	DiskBytes int64            `json:"disk_bytes"`
	Follow    []OpenClawFollow `json:"follow"`
}

// OpenClawExpected is what a correct meter reports for a generated OpenClaw
// state: the Clawdbot generator's Expected (Source "openclaw") and what the
// state holds.
type OpenClawExpected struct {
	Expected
	OpenClaw OpenClawStats `json:"openclaw"`
}

// WriteExpected writes e as indented JSON.
func (e *OpenClawExpected) WriteExpected(path string) error {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("corpus: encode expected totals: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	return nil
}

// ReadOpenClawExpected reads a file written by OpenClawExpected.WriteExpected.
func ReadOpenClawExpected(path string) (*OpenClawExpected, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	var e OpenClawExpected
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("corpus: %s: %w", path, err)
	}
	if e.Totals == nil {
		e.Totals = map[string]Totals{}
	}
	return &e, nil
}

// Session-key shapes (openclaw-formats.md §8, buildAgentPeerSessionKey).
const (
	ShapeMain          = "main"           // agent:<a>:main
	ShapeDM            = "dm"             // agent:<a>:<ch>:dm:<peer> (Clawdbot era, explicit keys)
	ShapeDirect        = "direct"         // agent:<a>:<ch>:direct:<peer> (per-channel-peer)
	ShapeAccountDirect = "account-direct" // agent:<a>:<ch>:<account>:direct:<peer>
	ShapePeerDirect    = "peer-direct"    // agent:<a>:direct:<peer> (per-peer)
	ShapeGroup         = "group"          // agent:<a>:<ch>:group:<id>
)

// ocKey is one session key and the windows it had.
type ocKey struct {
	agent, key, shape, peer, customer, account string
	kind                                       kind
	// convID/convPeer: the conversations row of a DM key; chat.send-created
	// sessions record the key itself as peer_id (observed).
	convID, convPeer, createdVia string
	// lifetimes: keys deleted with their only window, then the chain of
	// generations that survives (each window's previous_session_id is the
	// one before it).
	deleted []*ocWin
	chain   []*ocWin
}

type ocFate uint8

const (
	fateRows ocFate = iota
	fateDeleted
	fateResetArchive
	fateCold
)

// ocWin is one session window (generation).
type ocWin struct {
	p          *plan
	prev       string
	fate       ocFate
	legacy     bool
	compact    bool
	start, end int64
	evs        []ocEvent
	m          model
	last       usage // the last call's usage (session_nodes.entry_json)
	generation string
}

type ocGen struct {
	*gen
	opts    OpenClawOptions
	dir     string
	codec   *ocCodec
	oc      *OpenClawExpected
	dbs     map[string]*ocAgent
	upgrade int64 // before this, dm sessions were written by Clawdbot and imported
	// archives, deletes, colds and windows count what was written, so that
	// every form is there every so often, also in a small state.
	archives, deletes, colds, windows int
}

type ocAgent struct {
	OpenClawDatabase
	db    *sql.DB
	tx    *sql.Tx
	rw    *ocRowWriter
	inTx  int
	stats *OpenClawStats
}

// GenerateOpenClaw writes an OpenClaw 2026.9.6 state directory into
// opts.Dir (which must not hold one already) and returns what a meter must
// report for it. Same options, same content.
func GenerateOpenClaw(opts OpenClawOptions) (*OpenClawExpected, error) {
	ctx := context.Background()
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("corpus: empty Dir")
	}
	if opts.CompressedShare == 0 {
		opts.CompressedShare = DefaultCompressedShare
	}
	if opts.CustomLocation {
		opts.StateDB = true
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	g, err := newGen(opts.Options)
	if err != nil {
		return nil, err
	}
	codec, err := newOCCodec()
	if err != nil {
		return nil, err
	}
	exp := &OpenClawExpected{}
	g.exp.Source = "openclaw"
	o := &ocGen{gen: g, opts: opts, dir: dir, codec: codec, oc: exp, dbs: map[string]*ocAgent{},
		upgrade: g.from + (g.to-g.from)/4}
	exp.OpenClaw.KeyShapes = map[string]int{}
	plans := g.plan(opts.Options)
	keys := o.arrange(plans)
	if err := o.openDBs(ctx); err != nil {
		return nil, err
	}
	defer o.closeDBs()
	remaining, left := opts.Bytes, 0
	for _, k := range keys {
		left += len(k.deleted) + len(k.chain)
	}
	for _, k := range keys {
		for _, w := range append(append([]*ocWin(nil), k.deleted...), k.chain...) {
			share := float64(remaining) / float64(max(left, 1))
			target := max(int(share*(0.3+1.4*g.r.Float64())), 3<<10)
			n, err := o.writeWindow(k, w, target)
			if err != nil {
				return nil, err
			}
			remaining -= n
			left--
		}
		if err := o.store(ctx, k); err != nil {
			return nil, err
		}
		// Stored: keep memory flat however large the state.
		for _, w := range o.allWins(k) {
			w.evs = nil
		}
	}
	if err := o.finish(ctx); err != nil {
		return nil, err
	}
	e := g.exp
	for c, t := range e.Totals {
		t.CostUSD += g.comp[c]
		e.Totals[c] = t
	}
	exp.Expected = *e
	st := &exp.OpenClaw
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				st.DiskBytes += fi.Size()
			}
		}
		return nil
	})
	return exp, nil
}

// arrange turns the Clawdbot plans into session keys: plans of one agent and
// peer share a key (its shape chosen once), ordered in time; a deleted
// session is deleted with its key, so it stands alone and comes first.
func (o *ocGen) arrange(plans []*plan) []*ocKey {
	r := o.r
	// At least three deleted sessions, so that every archive variant is
	// there even in a small state.
	deleted := 0
	for _, p := range plans {
		if p.deleted {
			deleted++
		}
	}
	for _, p := range plans {
		if deleted >= 3 {
			break
		}
		if p.kind == kindDM && !p.deleted && !p.compacted {
			p.deleted = true
			deleted++
		}
	}
	byKey := map[string]*ocKey{}
	var keys []*ocKey
	for _, p := range plans {
		id := p.agent + "\x00" + strconv.Itoa(int(p.kind)) + "\x00" + p.peer
		k := byKey[id]
		if k == nil {
			k = &ocKey{agent: p.agent, kind: p.kind, peer: p.peer, customer: p.customer, account: "default",
				createdVia: "run"}
			switch p.kind {
			case kindMain:
				k.shape, k.key, k.createdVia = ShapeMain, "agent:"+p.agent+":main", ""
			case kindGroup:
				k.shape, k.key = ShapeGroup, "agent:"+p.agent+":whatsapp:group:"+strings.ToLower(p.peer)
			default:
				switch x := r.IntN(100); {
				case x < 30:
					k.shape, k.key = ShapeDM, "agent:"+p.agent+":whatsapp:dm:"+p.peer
				case x < 60:
					k.shape, k.key = ShapeDirect, "agent:"+p.agent+":whatsapp:direct:"+p.peer
				case x < 80:
					k.shape, k.account = ShapeAccountDirect, []string{"default", "biz2", "sales"}[r.IntN(3)]
					k.key = "agent:" + p.agent + ":whatsapp:" + k.account + ":direct:" + p.peer
				default:
					k.shape, k.key = ShapePeerDirect, "agent:"+p.agent+":direct:"+p.peer
				}
				k.convID = "conv_" + hexID(r, 32)
				k.convPeer = p.peer
				if r.IntN(5) == 0 {
					k.convPeer, k.createdVia = k.key, "operator"
				}
			}
			byKey[id] = k
			keys = append(keys, k)
			o.oc.OpenClaw.KeyShapes[k.shape]++
		}
		w := &ocWin{p: p, generation: hexID(r, 32)}
		if p.deleted {
			w.fate = fateDeleted
			k.deleted = append(k.deleted, w)
		} else {
			k.chain = append(k.chain, w)
		}
	}
	for _, k := range keys {
		sort.SliceStable(k.deleted, func(i, j int) bool { return k.deleted[i].p.start < k.deleted[j].p.start })
		sort.SliceStable(k.chain, func(i, j int) bool { return k.chain[i].p.start < k.chain[j].p.start })
		for i, w := range k.chain {
			if i > 0 {
				w.prev = k.chain[i-1].p.id
			}
			last := i == len(k.chain)-1
			switch x := r.IntN(100); {
			case !last && x < 6:
				w.fate = fateResetArchive
			case o.opts.ColdStorage && !last && x < 30, o.opts.ColdStorage && last && x < 8:
				w.fate = fateCold
			}
			w.compact = w.p.compacted && w.fate == fateRows
		}
	}
	o.oc.OpenClaw.Keys = len(keys)
	return keys
}

func (o *ocGen) dbPath(agent string, i int) (db, sessions string) {
	if o.opts.CustomLocation {
		d := filepath.Join(o.dir, "custom-store")
		if i == 0 {
			return filepath.Join(d, "openclaw-agent.sqlite"), d
		}
		return filepath.Join(d, "openclaw-agent."+agent+".sqlite"), d
	}
	return filepath.Join(o.dir, "agents", agent, "agent", "openclaw-agent.sqlite"),
		filepath.Join(o.dir, "agents", agent, "sessions")
}

func (o *ocGen) openDBs(ctx context.Context) error {
	for i, a := range o.gen.exp.Agents {
		path, sessions := o.dbPath(a, i)
		db, err := ocCreateAgentDB(ctx, path, a, o.from-86400_000)
		if err != nil {
			return err
		}
		ag := &ocAgent{OpenClawDatabase: OpenClawDatabase{Agent: a, Path: path, Sessions: sessions}, db: db,
			stats: &o.oc.OpenClaw}
		o.dbs[a] = ag
		o.oc.OpenClaw.Databases = append(o.oc.OpenClaw.Databases, ag.OpenClawDatabase)
		if err := os.MkdirAll(sessions, 0o755); err != nil {
			return fmt.Errorf("corpus: %w", err)
		}
		if err := ag.begin(ctx, o.codec); err != nil {
			return err
		}
	}
	return nil
}

func (a *ocAgent) begin(ctx context.Context, codec *ocCodec) error {
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("corpus: %s: %w", a.Path, err)
	}
	rw, err := newOCRowWriter(ctx, tx, codec)
	if err != nil {
		tx.Rollback()
		return err
	}
	a.tx, a.rw, a.inTx = tx, rw, 0
	return nil
}

// commit ends the agent's transaction and folds its counts into the stats.
func (a *ocAgent) commit() error {
	if a.tx == nil {
		return nil
	}
	rw := a.rw
	rw.close()
	err := a.tx.Commit()
	a.tx, a.rw = nil, nil
	a.stats.Rows += rw.rows
	a.stats.CompressedRows += rw.compressed
	a.stats.CallRows += rw.callRows
	a.stats.CompressedCallRows += rw.compCalls
	if err != nil {
		return fmt.Errorf("corpus: commit %s: %w", a.Path, err)
	}
	return nil
}

func (o *ocGen) closeDBs() {
	for _, a := range o.dbs {
		if a.tx != nil {
			a.rw.close()
			a.tx.Rollback()
		}
		a.db.Close()
	}
}

func (o *ocGen) finish(ctx context.Context) error {
	for _, name := range o.gen.exp.Agents {
		a := o.dbs[name]
		if err := a.commit(); err != nil {
			return err
		}
		if _, err := a.db.ExecContext(ctx, `DELETE FROM session_canonical_validation_pending`); err != nil {
			return fmt.Errorf("corpus: %s: %w", a.Path, err)
		}
		if err := ocSetWAL(ctx, a.db); err != nil {
			return fmt.Errorf("corpus: %s: %w", a.Path, err)
		}
		if err := a.db.Close(); err != nil {
			return fmt.Errorf("corpus: close %s: %w", a.Path, err)
		}
	}
	if o.opts.StateDB {
		path, err := ocCreateStateDB(ctx, o.dir, o.oc.OpenClaw.Databases, o.to)
		if err != nil {
			return err
		}
		o.oc.OpenClaw.StateDB = path
	}
	return nil
}

// writeWindow writes one window's transcript in memory and returns its
// size as JSONL.
func (o *ocGen) writeWindow(k *ocKey, w *ocWin, target int) (int64, error) {
	p := w.p
	prevEnd := int64(0)
	if i := indexWin(k, w); i > 0 {
		prevEnd = o.allWins(k)[i-1].end
	}
	p.start = min(max(p.start, prevEnd+60_000), o.to-3600_000)
	w.start = p.start
	s := newOCSession(o.gen, p, 0, 0)
	// Calls per turn are 1.6 on average (a tool loop in 30 % of turns, 1-3
	// calls): a reply is long with the probability that makes the long ones
	// CompressedShare of all calls.
	if share := o.opts.CompressedShare; share > 0 {
		s.longReply = min(1, share*1.6)
		s.longResult = min(1, share/2)
	}
	w.legacy = k.shape == ShapeDM && p.start < o.upgrade && !w.compact
	if w.legacy {
		s.legacy, s.uuids = true, false
		o.oc.OpenClaw.LegacyWindows++
	}
	// The session's writer counts lines as it writes them; here lines count
	// where they are stored (count), so that copies count and what
	// compaction deleted does not.
	e := o.gen.exp
	lines, usageLines, synthetic := e.Lines, e.UsageLines, e.Synthetic
	defer func() { e.Lines, e.UsageLines, e.Synthetic = lines, usageLines, synthetic }()
	if w.compact {
		s.run(target / 2)
		gone := s.compactInPlace(5 + o.r.IntN(6))
		o.oc.OpenClaw.CompactedSessions++
		o.oc.OpenClaw.CompactedCalls += int64(len(gone))
		s.run(target)
	} else {
		s.run(target)
	}
	// The rarer forms, every so often: a sessions.reset line, an injected
	// reply and a delivery mirror (Clawdbot's forms in imported windows).
	nw := o.windows
	o.windows++
	switch {
	case w.legacy && o.oc.OpenClaw.LegacyWindows%3 == 1:
		s.advance(1000, 60_000)
		s.session.injected()
		s.advance(1000, 60_000)
		s.session.mirror()
	case !w.legacy && nw%7 == 3:
		s.advance(1000, 600_000)
		s.resetLine()
		s.turn()
	case !w.legacy && nw%9 == 4:
		s.advance(1000, 60_000)
		s.injected(uuid(o.r))
		s.advance(1000, 60_000)
		s.mirror()
	}
	w.end, w.m = s.t, s.m
	evs, err := s.events()
	if err != nil {
		return 0, err
	}
	w.evs = evs
	var n int64
	for i := range evs {
		n += int64(len(evs[i].json)) + 1
		if c := evs[i].call; c != nil {
			o.addCall(k.customer, c.u, c.failed)
			if !c.failed {
				w.last = c.u
			}
		}
	}
	o.gen.exp.Files++
	o.gen.exp.Bytes += n
	return n, nil
}

func (o *ocGen) allWins(k *ocKey) []*ocWin {
	return append(append([]*ocWin(nil), k.deleted...), k.chain...)
}

func indexWin(k *ocKey, w *ocWin) int {
	for i, x := range append(append([]*ocWin(nil), k.deleted...), k.chain...) {
		if x == w {
			return i
		}
	}
	return -1
}

// count books the lines of one stored copy of a transcript.
func (o *ocGen) count(evs []ocEvent) {
	e := o.gen.exp
	for i := range evs {
		e.Lines++
		switch evs[i].kind {
		case lineUsage:
			e.UsageLines++
		case lineSynthetic:
			e.Synthetic++
		}
	}
}

// store writes a key's rows: conversation, node, windows, transcript rows,
// archives and cold files.
func (o *ocGen) store(ctx context.Context, k *ocKey) error {
	a := o.dbs[k.agent]
	tx := a.tx
	exec := func(q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("corpus: %s: %w", a.Path, err)
		}
		return nil
	}
	all := o.allWins(k)
	first, last := all[0], all[len(all)-1]
	if k.kind == kindDM {
		label := strings.TrimPrefix(k.key, "agent:"+k.agent+":")
		if err := exec(`INSERT INTO conversations (conversation_id, channel, account_id, kind, peer_id, delivery_target,
			label, created_at, updated_at) VALUES (?, 'whatsapp', ?, 'direct', ?, ?, ?, ?, ?)`,
			k.convID, k.account, k.convPeer, k.convPeer, label, first.start, last.end); err != nil {
			return err
		}
	}
	if len(k.chain) > 0 {
		cur := k.chain[len(k.chain)-1]
		if err := exec(`INSERT INTO session_nodes (session_key, current_session_id, entry_json, entry_valid, updated_at,
			status, created_at, created_via, display_name, last_interaction_at, last_activity_at)
			VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)`,
			k.key, cur.p.id, o.entryJSON(k, cur), cur.end, statusOf(k), k.chain[0].start, nullString(k.createdVia),
			o.displayName(k), cur.end, cur.end); err != nil {
			return err
		}
		if err := exec(`UPDATE session_nodes SET entry_valid = 1 WHERE session_key = ?`, k.key); err != nil {
			return err
		}
		for _, w := range k.chain {
			if err := o.storeWindow(ctx, a, k, w); err != nil {
				return err
			}
		}
	}
	for _, w := range k.deleted {
		if err := o.archive(ctx, a, k, w, "deleted"); err != nil {
			return err
		}
	}
	if a.inTx > 50_000 {
		if err := a.commit(); err != nil {
			return err
		}
		return a.begin(ctx, o.codec)
	}
	return nil
}

func statusOf(k *ocKey) any {
	if k.kind == kindMain {
		return nil
	}
	return "done"
}

func (o *ocGen) displayName(k *ocKey) string {
	if k.kind == kindMain {
		return systemNotes[0][:32]
	}
	return strings.TrimPrefix(k.key, "agent:"+k.agent+":")
}

func (o *ocGen) storeWindow(ctx context.Context, a *ocAgent, k *ocKey, w *ocWin) error {
	tx := a.tx
	var chat, channel, conv, status, startedAt any
	switch k.kind {
	case kindDM:
		chat, channel, conv, status, startedAt = "direct", "whatsapp", k.convID, "done", w.end-5000
	case kindGroup:
		channel, status, startedAt = "whatsapp", "done", w.end-5000
	}
	var reason any
	if w.prev != "" && w.p.start%10 == 0 {
		reason = "rollover"
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO session_windows (session_id, session_key, previous_session_id, reason,
		session_scope, created_at, updated_at, transcript_updated_at, transcript_observed_at, session_entry_provenance,
		acp_owned, started_at, ended_at, status, chat_type, channel, account_id, primary_conversation_id,
		model_provider, model, agent_harness_id, display_name)
		VALUES (?, ?, ?, ?, 'conversation', ?, ?, ?, ?, 1, 0, ?, ?, ?, ?, ?, NULL, ?, ?, ?, 'openclaw', ?)`,
		w.p.id, k.key, nullString(w.prev), reason, w.start, w.end, w.end, w.end, startedAt, w.end, status, chat,
		channel, conv, w.m.provider, w.m.id, o.displayName(k)); err != nil {
		return fmt.Errorf("corpus: session_windows: %w", err)
	}
	if k.kind == kindDM {
		if _, err := tx.ExecContext(ctx, `INSERT INTO session_conversations (session_id, conversation_id, role,
			first_seen_at, last_seen_at) VALUES (?, ?, 'primary', ?, ?)`, w.p.id, k.convID, w.start, w.end); err != nil {
			return fmt.Errorf("corpus: session_conversations: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO transcript_rewrite_watermarks (session_id, generation, updated_at)
		VALUES (?, ?, ?)`, w.p.id, w.generation, w.start); err != nil {
		return fmt.Errorf("corpus: transcript_rewrite_watermarks: %w", err)
	}
	o.oc.OpenClaw.Windows++
	switch w.fate {
	case fateResetArchive:
		return o.archive(ctx, a, k, w, "reset")
	case fateCold:
		return o.cold(ctx, a, w)
	}
	for i := range w.evs {
		if _, err := a.rw.insert(ctx, w.p.id, i, &w.evs[i]); err != nil {
			return err
		}
	}
	a.inTx += len(w.evs)
	o.count(w.evs)
	if k.kind == kindDM && w == k.chain[len(k.chain)-1] && len(o.oc.OpenClaw.Follow) < 64 && !o.follows(k.customer) {
		o.oc.OpenClaw.Follow = append(o.oc.OpenClaw.Follow, OpenClawFollow{Agent: k.agent, Database: a.Path,
			SessionKey: k.key, SessionID: w.p.id, Customer: k.customer, Peer: k.peer})
	}
	return nil
}

func (o *ocGen) follows(customer string) bool {
	for _, f := range o.oc.OpenClaw.Follow {
		if f.Customer == customer {
			return true
		}
	}
	return false
}

// jsonl is a transcript as OpenClaw archives it: one event per line.
func jsonl(evs []ocEvent) []byte {
	n := 0
	for i := range evs {
		n += len(evs[i].json) + 1
	}
	b := make([]byte, 0, n)
	for i := range evs {
		b = append(b, evs[i].json...)
		b = append(b, '\n')
	}
	return b
}

// archive publishes a deleted (or reset) session the way sessions.delete
// does: a session_transcript_archives row (zstd, or identity when node
// lacks zstd) and <id>.jsonl.<reason>.<ts>.<32hex>[.zst] beside the
// sessions. A few rows are not published yet (no file) and a few files
// have lost their row to retention; deleted sessions are DMs, whose
// envelope still names the peer.
func (o *ocGen) archive(ctx context.Context, a *ocAgent, k *ocKey, w *ocWin, reason string) error {
	r := o.r
	// Every few archives, each variant: identity encoding (node without
	// zstd), a row not published yet, a file whose row retention dropped.
	n, del := o.archives, o.deletes
	o.archives++
	if reason == "deleted" {
		o.deletes++
	}
	plain := jsonl(w.evs)
	blob, encoding, suffix := plain, "identity", ""
	if n%4 != 2 {
		blob, encoding, suffix = o.codec.archive.EncodeAll(plain, nil), "zstd", ".zst"
	}
	at := w.end + 1000 + r.Int64N(3600_000)
	name := w.p.id + ".jsonl." + reason + "." + archiveStamp(at) + "." + w.generation + suffix
	sum := sha256.Sum256(blob)
	row, file := true, true
	if reason == "deleted" {
		switch del % 3 {
		case 1:
			file = false
		case 2:
			row = false
		}
	}
	if row {
		var published any
		attempts := 0
		if file {
			published, attempts = at+100, 1
		}
		if _, err := a.tx.ExecContext(ctx, `INSERT INTO session_transcript_archives (session_id, generation, session_key,
			reason, encoding, archive_blob, archive_sha256, archive_name, created_at, published_at, publish_attempts,
			last_publish_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			w.p.id, w.generation, k.key, reason, encoding, blob, hex.EncodeToString(sum[:]), name, at, published,
			attempts, published); err != nil {
			return fmt.Errorf("corpus: session_transcript_archives: %w", err)
		}
		o.oc.OpenClaw.ArchiveRows++
		o.count(w.evs)
	}
	if file {
		if err := os.WriteFile(filepath.Join(a.Sessions, name), blob, 0o600); err != nil {
			return fmt.Errorf("corpus: %w", err)
		}
		o.oc.OpenClaw.ArchiveFiles++
		o.count(w.evs)
	}
	return nil
}

// cold moves a window to cold storage as session-cold-storage-worker does:
// a zstd JSONL of wrapped records (header, one event per row with the event
// JSON decompressed, identities), named by its sha256, registered in
// session_transcript_cold_archives; its rows are not in transcript_events.
func (o *ocGen) cold(ctx context.Context, a *ocAgent, w *ocWin) error {
	var b []byte
	b = append(b, `{"kind":"header","version":1,"sessionId":`...)
	b = appendJSONString(b, w.p.id)
	b = append(b, `,"generation":`...)
	b = appendJSONString(b, w.generation)
	b = append(b, "}\n"...)
	raw := 0
	for i := range w.evs {
		e := &w.evs[i]
		b = append(b, `{"kind":"event","row":{"seq":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"event_json":`...)
		b = appendJSONString(b, string(e.json))
		b = append(b, `,"created_at":`...)
		b = strconv.AppendInt(b, e.at, 10)
		b = append(b, "}}\n"...)
		raw += len(e.json)
	}
	ids := make([]int, len(w.evs))
	for i := range ids {
		ids[i] = i
	}
	for _, i := range ids {
		e := &w.evs[i]
		b = append(b, `{"kind":"identity","row":{"event_id":`...)
		b = appendJSONString(b, ocEventID(w.p.id, i, e))
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"event_type":`...)
		b = appendNullable(b, e.typ)
		b = append(b, `,"parent_id":`...)
		b = appendNullable(b, e.parent)
		b = append(b, `,"message_idempotency_key":`...)
		b = appendNullable(b, e.idem)
		b = append(b, `,"created_at":`...)
		b = strconv.AppendInt(b, e.at, 10)
		b = append(b, "}}\n"...)
	}
	z := o.codec.archive.EncodeAll(b, nil)
	sum := sha256.Sum256(z)
	name := hex.EncodeToString(sum[:]) + ".jsonl.zst"
	storage := "file"
	var blob any
	n := o.colds
	o.colds++
	if n%5 == 2 {
		storage, blob = "sqlite", z
		o.oc.OpenClaw.ColdBlobs++
	} else {
		d := filepath.Join(a.Sessions, "cold")
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("corpus: %w", err)
		}
		if err := os.WriteFile(filepath.Join(d, name), z, 0o600); err != nil {
			return fmt.Errorf("corpus: %w", err)
		}
		o.oc.OpenClaw.ColdFiles++
	}
	if _, err := a.tx.ExecContext(ctx, `INSERT INTO session_transcript_cold_archives (session_id, generation,
		archive_name, archive_sha256, event_count, raw_bytes, archive_bytes, last_seq, archived_at, storage, archive_blob)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, w.p.id, w.generation, name, hex.EncodeToString(sum[:]), len(w.evs),
		raw+len(w.evs)-1, len(z), len(w.evs)-1, min(w.end+86400_000, o.to), storage, blob); err != nil {
		return fmt.Errorf("corpus: session_transcript_cold_archives: %w", err)
	}
	o.count(w.evs)
	return nil
}

// ocEventID is an event's identity: its entry id, the session id for the
// header.
func ocEventID(sessionID string, seq int, e *ocEvent) string {
	if e.id != "" {
		return e.id
	}
	return sessionID + ":" + strconv.Itoa(seq)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, s)
}

// entryJSON is session_nodes.entry_json, the old SessionEntry with
// OpenClaw's new fields; its token counts are the last run's only.
func (o *ocGen) entryJSON(k *ocKey, cur *ocWin) string {
	b := []byte(`{"sessionId":`)
	b = appendJSONString(b, cur.p.id)
	b = append(b, `,"updatedAt":`...)
	b = strconv.AppendInt(b, cur.end, 10)
	b = append(b, `,"sessionStartedAt":`...)
	b = strconv.AppendInt(b, cur.start, 10)
	b = append(b, `,"lastInteractionAt":`...)
	b = strconv.AppendInt(b, cur.end, 10)
	switch k.kind {
	case kindMain:
		b = append(b, `,"delivery":{"kind":"none"}`...)
	case kindGroup:
		b = append(b, `,"delivery":{"kind":"external","route":{"channel":"whatsapp"},"context":{"channel":"whatsapp"},"origin":{"provider":"whatsapp"}},"groupId":`...)
		b = appendJSONString(b, k.peer)
	default:
		b = append(b, `,"delivery":{"kind":"external","route":{"channel":"whatsapp","target":{"to":`...)
		b = appendJSONString(b, k.convPeer)
		b = append(b, `}},"context":{"channel":"whatsapp","to":`...)
		b = appendJSONString(b, k.convPeer)
		b = append(b, `},"origin":{"provider":"whatsapp","to":`...)
		b = appendJSONString(b, k.peer)
		b = append(b, `,"chatType":"direct","surface":"whatsapp"}},"chatType":"direct"`...)
	}
	b = append(b, `,"displayName":`...)
	b = appendJSONString(b, o.displayName(k))
	if k.createdVia != "" {
		b = append(b, `,"createdVia":`...)
		b = appendJSONString(b, k.createdVia)
	}
	b = append(b, `,"model":`...)
	b = appendJSONString(b, cur.m.id)
	b = append(b, `,"modelProvider":`...)
	b = appendJSONString(b, cur.m.provider)
	b = append(b, `,"contextTokens":128000,"agentHarnessId":"openclaw","inputTokens":`...)
	u := cur.last
	b = strconv.AppendInt(b, u.input, 10)
	b = append(b, `,"outputTokens":`...)
	b = strconv.AppendInt(b, u.output, 10)
	b = append(b, `,"cacheRead":`...)
	b = strconv.AppendInt(b, u.cacheRead, 10)
	b = append(b, `,"cacheWrite":`...)
	b = strconv.AppendInt(b, u.cacheWrite, 10)
	b = append(b, `,"estimatedCostUsd":`...)
	b = appendJSNumber(b, u.cost)
	b = append(b, `,"totalTokens":`...)
	b = strconv.AppendInt(b, u.input+u.output+u.cacheRead+u.cacheWrite, 10)
	b = append(b, `,"totalTokensFresh":true,"totalTokensVersion":1`...)
	if cur.prev != "" {
		b = append(b, `,"previousSessionId":`...)
		b = appendJSONString(b, cur.prev)
	}
	if k.kind != kindMain {
		b = append(b, `,"status":"done"`...)
	}
	b = append(b, `,"abortedLastRun":false}`...)
	return string(b)
}
