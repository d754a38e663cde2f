package monitor

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fastjson"

	"github.com/quotawatch/quotawatch/parser"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// ocCopyTree copies a fixture tree into dst (files 0644: the fixtures are
// read-only in shared/, and SQLite must be able to open them beside -shm).
func ocCopyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ocFixture copies testdata/<name> (the whole sample) into a temp dir and
// returns that copy's root; the state dir is <root>/state.
func ocFixture(t testing.TB, name string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), name)
	ocCopyTree(t, filepath.Join("..", "testdata", name), root)
	return root
}

// ocUsage is one customer's totals, in expected-usage.json's shape.
type ocUsage struct {
	Requests   int64   `json:"requests"`
	Failed     int64   `json:"failed_requests"`
	Input      int64   `json:"input_tokens"`
	Output     int64   `json:"output_tokens"`
	CacheRead  int64   `json:"cache_read_tokens"`
	CacheWrite int64   `json:"cache_write_tokens"`
	Cost       float64 `json:"cost_usd"`
}

// ocMapping reads a fixture's mapping.json into an Attributor.
func ocMapping(t testing.TB, root string) *Attributor {
	t.Helper()
	var m struct {
		Customers []struct{ ID, Peer, Agent string } `json:"customers"`
		Default   string                             `json:"default_customer"`
	}
	b, err := os.ReadFile(filepath.Join(root, "mapping.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var cs []report.Customer
	for _, c := range m.Customers {
		cs = append(cs, report.Customer{ID: c.ID, Match: report.Match{Peer: c.Peer, Agent: c.Agent}})
	}
	return NewAttributor(cs, m.Default, time.UTC)
}

// ocExpected reads a fixture's expected-usage.json.
func ocExpected(t testing.TB, root string) map[string]ocUsage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "expected-usage.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]ocUsage
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	return want
}

// ocTally is what a whole read of a state dir gave.
type ocTally struct {
	usage      map[string]ocUsage
	rows       int
	compressed int
	archiveRow int // lines from archive rows in the databases
	fileLines  int // lines from archive files
	coldFiles  int
	bad        []string
	synthetic  int
	events     map[string]bool // agent/session/entry
}

// ocEventKey is the dedupe key of an event: (agent, session, entry id).
func ocEventKey(agent, session, entry string) string {
	return agent + "\x00" + session + "\x00" + entry
}

// ocReadState reads everything the reader yields under a state dir (rows,
// archive rows, archive files, cold files), parses each line with
// parser.Clawdbot, dedupes by (agent, session, entry id) and bills each
// event by its session's key and peer from Sessions(), its agent and the
// default, as quotawatch does.
func ocReadState(t testing.TB, stateDir string, attr *Attributor) ocTally {
	t.Helper()
	ctx := context.Background()
	refs, err := discoverOpenClaw(stateDir)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	if len(refs) == 0 {
		t.Fatalf("no agent database under %s", stateDir)
	}
	tl := ocTally{usage: map[string]ocUsage{}, events: map[string]bool{}}
	for _, ref := range refs {
		d, err := openOCDB(ref.Path, ref.Agent)
		if err != nil {
			t.Fatal(err)
		}
		sessions, err := d.Sessions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var p parser.Clawdbot
		add := func(session string, line []byte) {
			res := p.Parse(line)
			switch res.Kind {
			case parser.KindBad:
				tl.bad = append(tl.bad, fmt.Sprintf("%s/%s: %v", ref.Agent, session, res.Err))
				return
			case parser.KindSynthetic:
				tl.synthetic++
				return
			case parser.KindUsage:
			default:
				return
			}
			ev := res.Event
			// The new synthetic forms (openclaw-formats.md §2): the parser
			// learns them in another change; skipped here by provider/model.
			if ev.Provider == "openclaw" && (ev.Model == "gateway-injected" || ev.Model == "delivery-mirror") {
				tl.synthetic++
				return
			}
			if ev.EntryID == "" || session == "" {
				tl.bad = append(tl.bad, fmt.Sprintf("%s/%s: usage line without entry id or session: %s", ref.Agent, session, line))
				return
			}
			k := ocEventKey(ref.Agent, session, ev.EntryID)
			if tl.events[k] {
				return
			}
			tl.events[k] = true
			s := sessions[session]
			cust := attr.CustomerOf(store.Session{Agent: ref.Agent, SessionID: session, Key: s.Key, Peer: s.Peer, Channel: s.Channel})
			u := tl.usage[cust]
			if ev.Failed {
				u.Failed++
			} else {
				u.Requests++
			}
			u.Input += ev.Input
			u.Output += ev.Output
			u.CacheRead += ev.CacheRead
			u.CacheWrite += ev.CacheWrite
			u.Cost += ev.CostUSD
			tl.usage[cust] = u
		}
		if _, err := d.ReadSince(ctx, ocCursor{}, 0, func(r ocRow) error {
			tl.rows++
			if r.Compressed {
				tl.compressed++
			}
			if r.Err != nil {
				tl.bad = append(tl.bad, r.Err.Error())
				return nil
			}
			add(r.SessionID, r.Line)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := d.Archives(ctx, nil, func(a ocArchive, l ocLine) error {
			tl.archiveRow++
			if l.Bad != nil {
				tl.bad = append(tl.bad, l.Bad.Error())
				return nil
			}
			add(a.SessionID, l.Line)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		d.Close()
		for _, f := range ref.Archives {
			if f.Kind == "cold" {
				tl.coldFiles++
			}
			if err := readZstdJSONL(f.Path, func(l ocLine) error {
				tl.fileLines++
				if l.Bad != nil {
					tl.bad = append(tl.bad, l.Bad.Error())
					return nil
				}
				session := f.SessionID
				if l.SessionID != "" {
					session = l.SessionID
				}
				add(session, l.Line)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tl
}

// ocCompare fails unless got equals want exactly (cost to 1e-9).
func ocCompare(t testing.TB, got, want map[string]ocUsage) {
	t.Helper()
	for c, w := range want {
		g := got[c]
		if g.Requests != w.Requests || g.Failed != w.Failed || g.Input != w.Input || g.Output != w.Output ||
			g.CacheRead != w.CacheRead || g.CacheWrite != w.CacheWrite || math.Abs(g.Cost-w.Cost) > 1e-9 {
			t.Errorf("%s: got %+v, want %+v", c, g, w)
		}
	}
	for c, g := range got {
		if _, ok := want[c]; !ok {
			t.Errorf("unexpected customer %s: %+v", c, g)
		}
	}
}

func TestOpenClawSamplesReadExactlyTheExpectedUsage(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		compressed, cold, archives int
	}{
		// sample: one .deleted.zst file (and its archive row), no compressed rows.
		{"openclaw-sample", 0, 0, 1},
		// sample2: four compressed rows, three cold files, one .deleted.zst.
		{"openclaw-sample2", 4, 3, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := ocFixture(t, tc.name)
			tl := ocReadState(t, filepath.Join(root, "state"), ocMapping(t, root))
			if len(tl.bad) > 0 {
				t.Errorf("bad lines: %q", tl.bad)
			}
			if tl.compressed != tc.compressed {
				t.Errorf("compressed rows: got %d, want %d", tl.compressed, tc.compressed)
			}
			if tl.coldFiles != tc.cold {
				t.Errorf("cold files: got %d, want %d", tl.coldFiles, tc.cold)
			}
			if tl.archiveRow == 0 || tl.fileLines == 0 {
				t.Errorf("archives not read: %d archive-row lines, %d archive-file lines", tl.archiveRow, tl.fileLines)
			}
			ocCompare(t, tl.usage, ocExpected(t, root))
			t.Logf("%d rows (%d compressed), %d archive-row lines, %d archive-file lines, %d synthetic skipped, %d events",
				tl.rows, tl.compressed, tl.archiveRow, tl.fileLines, tl.synthetic, len(tl.events))
		})
	}
}

// ocWriter opens a database read-write the way OpenClaw does (WAL), with
// busy_timeout 0: any lock the reader held in its way would surface at once
// as SQLITE_BUSY instead of being waited out.
func ocWriter(t testing.TB, path string) *sql.DB {
	t.Helper()
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(0)&_pragma=synchronous(NORMAL)")
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	t.Cleanup(func() { w.Close() })
	if _, err := w.Exec(`PRAGMA wal_autocheckpoint=0`); err != nil {
		t.Fatal(err)
	}
	return w
}

// ocMustExec runs statements on the writer, failing the test on any error.
func ocMustExec(t testing.TB, w *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := w.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// ocNewID makes a fresh UUID-shaped entry id.
func ocNewID(r *rand.Rand) string {
	b := make([]byte, 16)
	r.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ocAssistant is an assistant event line with usage, padded to about pad
// bytes of reply text (long replies are the ones OpenClaw compresses).
func ocAssistant(id string, ts time.Time, input, output int64, cost float64, pad int) string {
	text := "reply " + strings.Repeat("lorem ipsum dolor sit amet ", pad/27+1)
	return fmt.Sprintf(`{"type":"message","id":%q,"parentId":null,"timestamp":%q,"message":{"role":"assistant","content":[{"type":"text","text":%q}],"api":"openai-completions","provider":"fakeoai","model":"fake-gpt","usage":{"input":%d,"output":%d,"cacheRead":0,"cacheWrite":0,"totalTokens":%d,"cost":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"total":%g}},"stopReason":"stop","timestamp":%d}}`,
		id, ts.UTC().Format("2006-01-02T15:04:05.000Z"), text, input, output, input+output, cost, ts.UnixMilli())
}

// ocEntryIDs reads the id of every line the reader yields.
func ocEntryIDs(t testing.TB, d *ocDB, cur ocCursor, max int, seen map[string]bool) ocCursor {
	t.Helper()
	var p fastjson.Parser
	next, err := d.ReadSince(context.Background(), cur, max, func(r ocRow) error {
		if r.Err != nil {
			t.Errorf("bad row: %v", r.Err)
			return nil
		}
		v, err := p.ParseBytes(r.Line)
		if err != nil {
			t.Errorf("row %d: %v", r.RowID, err)
			return nil
		}
		seen[r.SessionID+"/"+string(v.GetStringBytes("id"))] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return next
}

// ocTableIDs lists session/id of every row now in transcript_events.
func ocTableIDs(t testing.TB, w *sql.DB) []string {
	t.Helper()
	rows, err := w.Query(`SELECT session_id, coalesce(json_extract(event_json, '$.id'), '') FROM transcript_events WHERE event_json IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s, id string
		if err := rows.Scan(&s, &id); err != nil {
			t.Fatal(err)
		}
		out = append(out, s+"/"+id)
	}
	return out
}

// sample's main database: session fff9b944 (owner, agent:main:main) holds
// the rows at the top of the table (rowids 60–62) and rowids 1–10.
const (
	ocOwnerSession = "fff9b944-3637-40dc-919f-e492faee2d88"
	ocOmarSession  = "5ef96da8-5731-4650-931a-7f1f40276245"
)

// ocMainDB copies openclaw-sample and returns its main database path.
// ocOpenTest opens the agent database at path as agent main's, closed
// when the test ends.
func ocOpenTest(t testing.TB, path string) *ocDB {
	t.Helper()
	d, err := openOCDB(path, "main")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func ocMainDB(t testing.TB) string {
	root := ocFixture(t, "openclaw-sample")
	return filepath.Join(root, "state", "agents", "main", "agent", "openclaw-agent.sqlite")
}

// ocCompact does what sessions.compact does, in one transaction: delete
// every row of the session and insert the kept ones again with seq
// renumbered from 0 (new rowids), then append lines after them.
func ocCompact(t testing.TB, w *sql.DB, session string, keep int, appendLines ...string) {
	t.Helper()
	tx, err := w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	rows, err := tx.Query(`SELECT event_json, created_at FROM transcript_events WHERE session_id = ? AND event_json IS NOT NULL ORDER BY seq`, session)
	if err != nil {
		t.Fatal(err)
	}
	type kept struct {
		js string
		at int64
	}
	var all []kept
	for rows.Next() {
		var k kept
		if err := rows.Scan(&k.js, &k.at); err != nil {
			t.Fatal(err)
		}
		all = append(all, k)
	}
	rows.Close()
	// The header and the last keep-1 lines survive, as with maxLines.
	var ks []kept
	if len(all) > 0 {
		ks = all[:1]
	}
	if keep > 1 && len(all) > 1 {
		from := len(all) - (keep - 1)
		if from < 1 {
			from = 1
		}
		ks = append(ks, all[from:]...)
	}
	if _, err := tx.Exec(`DELETE FROM transcript_events WHERE session_id = ?`, session); err != nil {
		t.Fatal(err)
	}
	seq := 0
	for _, k := range ks {
		if _, err := tx.Exec(`INSERT INTO transcript_events(session_id, seq, event_json, created_at) VALUES (?, ?, ?, ?)`, session, seq, k.js, k.at); err != nil {
			t.Fatal(err)
		}
		seq++
	}
	for _, l := range appendLines {
		if _, err := tx.Exec(`INSERT INTO transcript_events(session_id, seq, event_json, created_at) VALUES (?, ?, ?, ?)`, session, seq, l, time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
		seq++
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// ocAppend appends lines to a session, one transaction each, as turns do.
func ocAppend(t testing.TB, w *sql.DB, session string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		ocMustExec(t, w, `INSERT INTO transcript_events(session_id, seq, event_json, created_at)
			VALUES (?, (SELECT coalesce(max(seq), -1) + 1 FROM transcript_events WHERE session_id = ?), ?, ?)`,
			session, session, l, time.Now().UnixMilli())
	}
}

func ocMaxRowID(t testing.TB, w *sql.DB) int64 {
	t.Helper()
	var n int64
	if err := w.QueryRow(`SELECT coalesce(max(rowid), 0) FROM transcript_events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenClawCursorSurvivesCompactionAtTheTop(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	d := ocOpenTest(t, path)
	r := rand.New(rand.NewSource(1))
	seen := map[string]bool{}
	cur := ocEntryIDs(t, d, ocCursor{}, 0, seen)
	if cur.Top != 62 {
		t.Fatalf("top after the first read: %d, want 62", cur.Top)
	}
	// The newest session is compacted down to its header and a turn
	// follows: both land on rowids 60 and 61, below the old top (62).
	id := ocNewID(r)
	ocCompact(t, w, ocOwnerSession, 1, ocAssistant(id, time.Now(), 100, 10, 0.01, 10))
	if top := ocMaxRowID(t, w); top > cur.Top {
		t.Fatalf("setup: the new rows should reuse rowids at or below %d, max is %d", cur.Top, top)
	}
	cur = ocEntryIDs(t, d, cur, 0, seen)
	if !seen[ocOwnerSession+"/"+id] {
		t.Fatalf("the turn written after an in-place compaction at the top was missed (cursor %+v)", cur)
	}
	// The same again with the read in between: compaction first, a read
	// that finds nothing new, then the turn.
	ocCompact(t, w, ocOwnerSession, 1)
	cur = ocEntryIDs(t, d, cur, 0, seen)
	id2 := ocNewID(r)
	ocAppend(t, w, ocOwnerSession, ocAssistant(id2, time.Now(), 100, 10, 0.01, 10))
	ocEntryIDs(t, d, cur, 0, seen)
	if !seen[ocOwnerSession+"/"+id2] {
		t.Fatalf("the turn written after a compaction that a read had already seen was missed")
	}
}

func TestOpenClawCursorSurvivesCompactionInTheMiddle(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	d := ocOpenTest(t, path)
	r := rand.New(rand.NewSource(2))
	seen := map[string]bool{}
	cur := ocEntryIDs(t, d, ocCursor{}, 0, seen)
	// omar's rows (50–59) sit below owner's (60–62): compaction deletes
	// them in the middle and inserts the kept ones at the top.
	id := ocNewID(r)
	ocCompact(t, w, ocOmarSession, 3, ocAssistant(id, time.Now(), 100, 10, 0.01, 10))
	var rows int
	cur2, err := d.ReadSince(context.Background(), cur, 0, func(ocRow) error { rows++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if rows != 4 {
		t.Errorf("after a compaction in the middle read %d rows, want the 3 kept and the new one", rows)
	}
	ocEntryIDs(t, d, cur, 0, seen)
	if !seen[ocOmarSession+"/"+id] {
		t.Fatal("the turn after a compaction in the middle was missed")
	}
	for _, k := range ocTableIDs(t, w) {
		if !seen[k] {
			t.Errorf("row %s in the table was never read", k)
		}
	}
	if cur2.Top <= cur.Top {
		t.Errorf("cursor did not move: %d then %d", cur.Top, cur2.Top)
	}
}

func TestOpenClawNewWindowIsReadAndKeyed(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	d := ocOpenTest(t, path)
	ctx := context.Background()
	seen := map[string]bool{}
	cur := ocEntryIDs(t, d, ocCursor{}, 0, seen)
	// A daily reset: a new session id for omar's key, the node moves, the
	// old window stays.
	const key = "agent:main:whatsapp:dm:+966500000001"
	newSession := "9d0c7e55-1111-4222-8333-944455556666"
	now := time.Now().UnixMilli()
	ocMustExec(t, w, `INSERT INTO session_windows(session_id, session_key, previous_session_id, created_at, updated_at, chat_type, channel)
		VALUES (?, ?, ?, ?, ?, 'direct', 'whatsapp')`, newSession, key, ocOmarSession, now, now)
	ocMustExec(t, w, `UPDATE session_nodes SET current_session_id = ? WHERE session_key = ?`, newSession, key)
	id := ocNewID(rand.New(rand.NewSource(3)))
	ocAppend(t, w, newSession, `{"type":"session","version":4,"id":"`+newSession+`","timestamp":"2026-11-28T07:00:00.000Z","cwd":"/"}`,
		ocAssistant(id, time.Now(), 10, 1, 0.001, 10))
	ocEntryIDs(t, d, cur, 0, seen)
	if !seen[newSession+"/"+id] {
		t.Fatal("the new window's turn was not read")
	}
	ss, err := d.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{ocOmarSession, newSession} {
		s := ss[id]
		if s.Key != key || s.Peer != "+966500000001" {
			t.Errorf("window %s: %+v, want key %s and peer +966500000001", id, s, key)
		}
	}
	if !ss[newSession].Current || ss[ocOmarSession].Current {
		t.Errorf("current window: new %v, old %v", ss[newSession].Current, ss[ocOmarSession].Current)
	}
	if ss[newSession].PreviousSessionID != ocOmarSession {
		t.Errorf("previous window: %q", ss[newSession].PreviousSessionID)
	}
}

// TestOpenClawCursorNeverMissesARow drives random writes the way OpenClaw
// makes them (turns appended to any session, in-place compactions of any
// session, deletes of the newest rows, VACUUM that renumbers rowids)
// between reads of random size, and checks after every complete read that
// every row in the table has been read.
func TestOpenClawCursorNeverMissesARow(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	d := ocOpenTest(t, path)
	r := rand.New(rand.NewSource(4))
	sessions := []string{ocOwnerSession, ocOmarSession, "11abd210-b6ad-4b9e-ab7f-038813c7c0c2"}
	seen := map[string]bool{}
	var cur ocCursor
	reads, vacuums := 0, 0
	for step := 0; step < 400; step++ {
		s := sessions[r.Intn(len(sessions))]
		switch op := r.Intn(20); {
		case op < 11:
			for i := r.Intn(3); i >= 0; i-- {
				ocAppend(t, w, s, ocAssistant(ocNewID(r), time.Now(), 1, 1, 0, 10))
			}
		case op < 15:
			ocCompact(t, w, s, 2+r.Intn(6))
		case op < 19:
			ocMustExec(t, w, `DELETE FROM transcript_events WHERE rowid > (SELECT max(rowid) FROM transcript_events) - ?`, 1+r.Intn(3))
		default:
			ocMustExec(t, w, `VACUUM`)
			vacuums++
		}
		if r.Intn(3) == 0 {
			// A partial read, then the rest: the cursor in between is
			// stored and used as a caller would.
			b, _ := json.Marshal(ocEntryIDs(t, d, cur, 1+r.Intn(3), seen))
			var mid ocCursor
			if err := json.Unmarshal(b, &mid); err != nil {
				t.Fatal(err)
			}
			cur = ocEntryIDs(t, d, mid, 0, seen)
			reads++
			for _, k := range ocTableIDs(t, w) {
				if !seen[k] {
					t.Fatalf("step %d: row %s is in the table and was never read (cursor %+v)", step, k, cur)
				}
			}
		}
	}
	b, _ := json.Marshal(cur)
	t.Logf("%d complete reads, %d vacuums, %d rows at the end, %d rows seen, cursor %d bytes of JSON", reads, vacuums, len(ocTableIDs(t, w)), len(seen), len(b))
	if len(b) > 1024 {
		t.Errorf("cursor is %d bytes of JSON; it should stay small", len(b))
	}
}

func TestOpenClawReaderNeverBlocksTheWriter(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	d := ocOpenTest(t, path)
	ctx := context.Background()

	// Phase 1: the writer inserts (and compacts) as fast as it can while
	// the reader follows; with busy_timeout 0 any lock of ours in its way
	// would be an immediate SQLITE_BUSY.
	const n = 300
	ids := make([]string, n)
	r := rand.New(rand.NewSource(5))
	for i := range ids {
		ids[i] = ocNewID(r)
	}
	var wg sync.WaitGroup
	var writerErr atomic.Value
	var done atomic.Bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		for i, id := range ids {
			line := ocAssistant(id, time.Now(), 1, 1, 0, 10)
			if _, err := w.Exec(`INSERT INTO transcript_events(session_id, seq, event_json, created_at)
				VALUES (?, (SELECT coalesce(max(seq), -1) + 1 FROM transcript_events WHERE session_id = ?), ?, ?)`,
				ocOwnerSession, ocOwnerSession, line, time.Now().UnixMilli()); err != nil {
				writerErr.Store(fmt.Errorf("insert %d: %w", i, err))
				return
			}
			if i%50 == 49 {
				// The kept rows are copies; what matters is that the writer's
				// delete and re-insert go through beside the reader.
				if _, err := w.Exec(`DELETE FROM transcript_events WHERE session_id = ? AND seq < 3`, ocOmarSession); err != nil {
					writerErr.Store(fmt.Errorf("compact: %w", err))
					return
				}
			}
		}
	}()
	seen := map[string]bool{}
	var cur ocCursor
	for !done.Load() {
		if _, err := d.Changed(ctx); err != nil {
			t.Fatal(err)
		}
		cur = ocEntryIDs(t, d, cur, 40, seen)
		if _, err := d.Sessions(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err, _ := writerErr.Load().(error); err != nil {
		t.Fatalf("the writer failed beside the reader: %v", err)
	}
	cur = ocEntryIDs(t, d, cur, 0, seen)
	for _, id := range ids {
		if !seen[ocOwnerSession+"/"+id] {
			t.Fatalf("row %s inserted while reading was missed", id)
		}
	}

	// Phase 2: between our reads (ReadSince, Sessions, Changed, Archives)
	// the writer's TRUNCATE checkpoint completes: busy 0 and an empty WAL.
	// A read transaction left open by the reader would make it busy.
	checkpoint := func(after string) {
		t.Helper()
		ocCheckpointCompletes(t, w, after)
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
			t.Fatalf("checkpoint after %s left a %d-byte WAL", after, fi.Size())
		}
	}
	for i := 0; i < 5; i++ {
		ocAppend(t, w, ocOwnerSession, ocAssistant(ocNewID(r), time.Now(), 1, 1, 0, 10))
		if _, err := d.Changed(ctx); err != nil {
			t.Fatal(err)
		}
		checkpoint("Changed")
		cur = ocEntryIDs(t, d, cur, 2, seen)
		checkpoint("a partial ReadSince")
		cur = ocEntryIDs(t, d, cur, 0, seen)
		checkpoint("ReadSince")
		if _, err := d.Sessions(ctx); err != nil {
			t.Fatal(err)
		}
		checkpoint("Sessions")
		if err := d.Archives(ctx, nil, func(ocArchive, ocLine) error { return nil }); err != nil {
			t.Fatal(err)
		}
		checkpoint("Archives")
	}
}

func TestOpenClawUnknownSchemaIsAClearError(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	ocMustExec(t, w, `UPDATE schema_meta SET schema_version = 25`)
	ocMustExec(t, w, `PRAGMA user_version = 25`)
	_, err := openOCDB(path, "main")
	var se *UnknownSchemaError
	if !errors.As(err, &se) {
		t.Fatalf("want *UnknownSchemaError, got %T %v", err, err)
	}
	if se.Version != 25 || se.Path != path {
		t.Errorf("error fields: %+v", se)
	}
	msg := err.Error()
	for _, want := range []string{path, "schema version 25", "19, 21, 23", "update quotawatch"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %q", msg, want)
		}
	}
	// schema_meta is the agent's own record; user_version alone (a
	// database without schema_meta) is read too.
	ocMustExec(t, w, `DROP TABLE schema_meta`)
	ocMustExec(t, w, `PRAGMA user_version = 17`)
	if _, err := openOCDB(path, "main"); !errors.As(err, &se) || se.Version != 17 || !strings.Contains(err.Error(), "openclaw doctor --fix") {
		t.Errorf("user_version 17 without schema_meta: %v", err)
	}
}

// ocOldSchemaDDL is the part of the agent schema this reader touches, as
// OpenClaw 2026.9.4 (19) and 9.5 (21) create it: transcript_events has no
// event_zstd, event_utf8_bytes or navigation_json, event_json is NOT NULL;
// 19 has no cold archive table.
const ocOldSchemaDDL = `
CREATE TABLE schema_meta (meta_key TEXT NOT NULL PRIMARY KEY, role TEXT NOT NULL, schema_version INTEGER NOT NULL,
  agent_id TEXT, app_version TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;
CREATE TABLE session_nodes (session_key TEXT NOT NULL PRIMARY KEY, current_session_id TEXT NOT NULL, entry_json TEXT NOT NULL,
  updated_at INTEGER NOT NULL) STRICT;
CREATE TABLE session_windows (session_id TEXT NOT NULL PRIMARY KEY, session_key TEXT NOT NULL, previous_session_id TEXT,
  reason TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, chat_type TEXT, channel TEXT, account_id TEXT,
  primary_conversation_id TEXT) STRICT;
CREATE TABLE conversations (conversation_id TEXT NOT NULL PRIMARY KEY, channel TEXT NOT NULL, account_id TEXT NOT NULL,
  kind TEXT NOT NULL, peer_id TEXT NOT NULL, delivery_target TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;
CREATE TABLE session_conversations (session_id TEXT NOT NULL, conversation_id TEXT NOT NULL, role TEXT NOT NULL DEFAULT 'primary',
  route_context_json TEXT, first_seen_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL, PRIMARY KEY (session_id, conversation_id, role)) STRICT;
CREATE TABLE transcript_events (session_id TEXT NOT NULL, seq INTEGER NOT NULL, event_json TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (session_id, seq)) STRICT;
CREATE TABLE session_transcript_archives (session_id TEXT NOT NULL, generation TEXT NOT NULL, session_key TEXT NOT NULL,
  reason TEXT NOT NULL, encoding TEXT NOT NULL, archive_blob BLOB NOT NULL, archive_sha256 TEXT NOT NULL, archive_name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL, published_at INTEGER, publish_attempts INTEGER NOT NULL DEFAULT 0, last_publish_attempt_at INTEGER,
  last_publish_error TEXT, PRIMARY KEY (session_id, generation)) STRICT;
`

// ocDowngrade rewrites a copied sample's agent databases in the shape of
// an older schema, with the same rows.
func ocDowngrade(t testing.TB, stateDir string, version int) {
	t.Helper()
	for _, agent := range []string{"main", "ops"} {
		path := filepath.Join(stateDir, "agents", agent, "agent", "openclaw-agent.sqlite")
		old := path + ".v23"
		if err := os.Rename(path, old); err != nil {
			t.Fatal(err)
		}
		w := ocWriter(t, path)
		ddl := ocOldSchemaDDL
		if version >= 21 {
			ddl += `CREATE TABLE session_transcript_cold_archives (session_id TEXT NOT NULL PRIMARY KEY, generation TEXT NOT NULL,
  archive_name TEXT NOT NULL UNIQUE, archive_sha256 TEXT NOT NULL, event_count INTEGER NOT NULL, raw_bytes INTEGER NOT NULL,
  archive_bytes INTEGER NOT NULL, last_seq INTEGER NOT NULL, archived_at INTEGER NOT NULL, storage TEXT NOT NULL, archive_blob BLOB) STRICT;`
		}
		ocMustExec(t, w, ddl)
		ocMustExec(t, w, `ATTACH DATABASE ? AS old`, old)
		for _, q := range []string{
			`INSERT INTO schema_meta SELECT meta_key, role, ` + fmt.Sprint(version) + `, agent_id, app_version, created_at, updated_at FROM old.schema_meta`,
			`INSERT INTO session_nodes SELECT session_key, current_session_id, entry_json, updated_at FROM old.session_nodes`,
			`INSERT INTO session_windows SELECT session_id, session_key, previous_session_id, reason, created_at, updated_at, chat_type, channel, account_id, primary_conversation_id FROM old.session_windows`,
			`INSERT INTO conversations SELECT conversation_id, channel, account_id, kind, peer_id, delivery_target, created_at, updated_at FROM old.conversations`,
			`INSERT INTO session_conversations SELECT * FROM old.session_conversations`,
			`INSERT INTO transcript_events(rowid, session_id, seq, event_json, created_at) SELECT rowid, session_id, seq, event_json, created_at FROM old.transcript_events`,
			`INSERT INTO session_transcript_archives SELECT * FROM old.session_transcript_archives`,
			`DETACH DATABASE old`,
			fmt.Sprintf(`PRAGMA user_version = %d`, version),
		} {
			ocMustExec(t, w, q)
		}
		w.Close()
		os.Remove(old)
	}
}

func TestOpenClawSchemas19And21AreRead(t *testing.T) {
	for _, v := range []int{19, 21} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			root := ocFixture(t, "openclaw-sample")
			state := filepath.Join(root, "state")
			ocDowngrade(t, state, v)
			d, err := openOCDB(filepath.Join(state, "agents", "main", "agent", "openclaw-agent.sqlite"), "main")
			if err != nil {
				t.Fatal(err)
			}
			if d.Version != v || d.hasZstd {
				t.Errorf("version %d, compressed columns %v", d.Version, d.hasZstd)
			}
			d.Close()
			tl := ocReadState(t, state, ocMapping(t, root))
			if len(tl.bad) > 0 {
				t.Errorf("bad lines: %q", tl.bad)
			}
			ocCompare(t, tl.usage, ocExpected(t, root))
		})
	}
}

// ocNavigation is a navigation_json that satisfies schema 23's CHECK,
// taken from a compressed row of sample2.
func ocNavigation(t testing.TB, w *sql.DB) string {
	t.Helper()
	var nav string
	if err := w.QueryRow(`SELECT navigation_json FROM transcript_events WHERE event_zstd IS NOT NULL LIMIT 1`).Scan(&nav); err != nil {
		t.Fatal(err)
	}
	return nav
}

// ocZstd compresses b as OpenClaw does (level 1, with checksum).
func ocZstd(t testing.TB, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

func TestOpenClawUndecodableRowIsABadRowNotAStop(t *testing.T) {
	root := ocFixture(t, "openclaw-sample2")
	path := filepath.Join(root, "state", "agents", "main", "agent", "openclaw-agent.sqlite")
	w := ocWriter(t, path)
	nav := ocNavigation(t, w)
	const session = "226d7456-2acc-4597-813d-5b0cead2b4d6"
	r := rand.New(rand.NewSource(6))
	good := ocAssistant(ocNewID(r), time.Now(), 5, 5, 0.001, 5000)
	bomb := bytes.Repeat([]byte("x"), 3<<20) // declares 2000 bytes, inflates to 3 MiB
	insert := func(seq int, zs []byte, n int) {
		ocMustExec(t, w, `INSERT INTO transcript_events(session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes, navigation_json)
			VALUES (?, ?, NULL, ?, ?, ?, ?)`, session, seq, time.Now().UnixMilli(), zs, n, nav)
	}
	insert(100, []byte("not zstd at all, just bytes"), 2000)
	insert(101, ocZstd(t, []byte(good)), len(good)+7) // wrong declared size
	insert(102, ocZstd(t, bomb), 2000)
	insert(103, ocZstd(t, []byte(good)), len(good)) // fine, after the bad ones
	d := ocOpenTest(t, path)
	var bad []string
	var goodSeen bool
	if _, err := d.ReadSince(context.Background(), ocCursor{}, 0, func(row ocRow) error {
		if row.Err != nil {
			if row.Line != nil {
				t.Errorf("bad row with a line")
			}
			bad = append(bad, row.Err.Error())
			return nil
		}
		if row.Seq == 103 {
			goodSeen = bytes.Equal(row.Line, []byte(good)) && row.Compressed
		}
		return nil
	}); err != nil {
		t.Fatalf("a bad row stopped the read: %v", err)
	}
	if len(bad) != 3 {
		t.Fatalf("want 3 bad rows, got %d: %q", len(bad), bad)
	}
	for i, want := range []string{"seq 100", "seq 101", "seq 102"} {
		if !strings.Contains(bad[i], want) || !strings.Contains(bad[i], session) {
			t.Errorf("bad row %d: %q does not name %s of %s", i, bad[i], want, session)
		}
	}
	if !strings.Contains(bad[1], "event_utf8_bytes") {
		t.Errorf("size mismatch reason: %q", bad[1])
	}
	if !goodSeen {
		t.Error("the compressed row after the bad ones was not read intact")
	}
}

func TestOpenClawChangedSeesOtherConnectionsCommitsOnly(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	d := ocOpenTest(t, path)
	ctx := context.Background()
	want := func(step string, v bool) {
		t.Helper()
		got, err := d.Changed(ctx)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if got != v {
			t.Fatalf("%s: Changed = %v, want %v", step, got, v)
		}
	}
	want("first call", true)
	want("nothing happened", false)
	// Our own reads, on other pooled connections, are not changes.
	if _, err := d.ReadSince(ctx, ocCursor{}, 0, func(ocRow) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sessions(ctx); err != nil {
		t.Fatal(err)
	}
	want("after our own reads", false)
	ocAppend(t, w, ocOwnerSession, ocAssistant("x", time.Now(), 1, 1, 0, 1))
	want("after a commit by the writer", true)
	want("after seeing it", false)

	// The file replaced under its path (restored from a backup).
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Changed(ctx); !errors.Is(err, ErrOCDatabaseReplaced) {
		t.Fatalf("replaced file: %v", err)
	}
	os.Remove(path)
	if _, err := d.Changed(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("deleted file: %v", err)
	}
}

// ocMakeStateDB writes a state database with agent_databases rows.
func ocMakeStateDB(t testing.TB, path string, rows [][2]string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	w := ocWriter(t, path)
	ocMustExec(t, w, `CREATE TABLE agent_databases (agent_id TEXT NOT NULL, path TEXT NOT NULL, schema_version INTEGER NOT NULL,
		last_seen_at INTEGER NOT NULL, size_bytes INTEGER, PRIMARY KEY (agent_id, path)) STRICT`)
	for _, r := range rows {
		ocMustExec(t, w, `INSERT INTO agent_databases VALUES (?, ?, 23, 0, NULL)`, r[0], r[1])
	}
	w.Close()
}

// ocWriteZstd writes lines as a zstd JSONL file.
func ocWriteZstd(t testing.TB, path string, lines ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, ocZstd(t, []byte(strings.Join(lines, "\n")+"\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenClawDiscoveryFindsEveryAgentDatabaseOnce(t *testing.T) {
	root := ocFixture(t, "openclaw-sample")
	state := filepath.Join(root, "state")
	// A custom session.store dir shared by two agents: the default agent's
	// openclaw-agent.sqlite and openclaw-agent.<id>.sqlite for another.
	custom := filepath.Join(t.TempDir(), "store")
	if err := os.MkdirAll(custom, 0o755); err != nil {
		t.Fatal(err)
	}
	opsDB := filepath.Join(state, "agents", "ops", "agent", "openclaw-agent.sqlite")
	b, err := os.ReadFile(opsDB)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"openclaw-agent.sqlite", "openclaw-agent.salon2.sqlite"} {
		if err := os.WriteFile(filepath.Join(custom, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Change the second copy's session id so the archive below belongs to it.
	w := ocWriter(t, filepath.Join(custom, "openclaw-agent.salon2.sqlite"))
	ocMustExec(t, w, `UPDATE session_windows SET session_id = 'a2a2a2a2-0000-4000-8000-000000000002'`)
	w.Close()
	ocWriteZstd(t, filepath.Join(custom, "a2a2a2a2-0000-4000-8000-000000000002.jsonl.reset.2026-11-27T00-50-00.000Z.0123456789abcdef0123456789abcdef.zst"), `{"type":"session","version":4,"id":"a2a2a2a2-0000-4000-8000-000000000002"}`)
	ocWriteZstd(t, filepath.Join(custom, "ffffffff-0000-4000-8000-00000000000f.jsonl.deleted.2026-11-27T00-50-00.000Z.0123456789abcdef0123456789abcdef.zst"), `{"type":"session","version":4,"id":"ffffffff-0000-4000-8000-00000000000f"}`)
	ocWriteZstd(t, filepath.Join(custom, "cold", strings.Repeat("ab", 32)+".jsonl.zst"), `{"kind":"header","version":1,"sessionId":"x","generation":"g"}`)
	// Not archives: a live transcript, a cold name of the wrong shape.
	os.WriteFile(filepath.Join(custom, "live.jsonl"), []byte("{}\n"), 0o644)
	os.WriteFile(filepath.Join(custom, "cold", "short.jsonl.zst"), []byte{}, 0o644)

	// An agent folder that is a symlink to main: the same database twice.
	if err := os.Symlink(filepath.Join(state, "agents", "main"), filepath.Join(state, "agents", "alias")); err != nil {
		t.Fatal(err)
	}
	ocMakeStateDB(t, filepath.Join(state, "state", "openclaw.sqlite"), [][2]string{
		{"main", "agents/main/agent/openclaw-agent.sqlite"}, // relative to the state dir
		{"shop", filepath.Join(custom, "openclaw-agent.sqlite")},
		{"salon2", filepath.Join(custom, "openclaw-agent.salon2.sqlite")},
		{"gone", filepath.Join(custom, "openclaw-agent.gone.sqlite")}, // a stale row
	})

	refs, err := discoverOpenClaw(state)
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	got := map[string]ocDBRef{}
	for _, r := range refs {
		if _, dup := got[r.Agent]; dup {
			t.Errorf("agent %s listed twice", r.Agent)
		}
		got[r.Agent] = r
	}
	names := make([]string, 0, len(got))
	for a := range got {
		names = append(names, a)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "main,ops,salon2,shop" {
		t.Fatalf("agents: %v (refs %+v)", names, refs)
	}
	if len(refs) != 4 {
		t.Errorf("%d refs, want 4 (the symlinked folder is the same database as main)", len(refs))
	}
	archives := func(a string) []string {
		var out []string
		for _, f := range got[a].Archives {
			out = append(out, f.Kind+":"+filepath.Base(f.Path)+":"+f.SessionID)
		}
		return out
	}
	if a := archives("main"); len(a) != 1 || !strings.HasPrefix(a[0], "deleted:6258b633") || !strings.HasSuffix(a[0], ":6258b633-df31-47ae-a3fe-21edacd82e53") {
		t.Errorf("main's archives: %q", a)
	}
	if a := archives("ops"); len(a) != 0 {
		t.Errorf("ops's archives: %q", a)
	}
	if a := archives("salon2"); len(a) != 1 || !strings.HasPrefix(a[0], "reset:a2a2a2a2") {
		t.Errorf("salon2's archives (the one whose session it knows): %q", a)
	}
	if a := archives("shop"); len(a) != 2 || !strings.HasPrefix(a[0], "cold:abab") || !strings.HasPrefix(a[1], "deleted:ffffffff") {
		t.Errorf("shop's archives (the dir's default agent gets the rest): %q", a)
	}
	if got["shop"].ArchiveDir != custom || got["main"].ArchiveDir != filepath.Join(state, "agents", "main", "sessions") {
		t.Errorf("archive dirs: shop %s, main %s", got["shop"].ArchiveDir, got["main"].ArchiveDir)
	}
}

func TestOpenClawArchiveRowsOfEveryEncodingAreRead(t *testing.T) {
	root := ocFixture(t, "openclaw-sample")
	path := filepath.Join(root, "state", "agents", "ops", "agent", "openclaw-agent.sqlite")
	w := ocWriter(t, path)
	r := rand.New(rand.NewSource(7))
	plainID, coldID := ocNewID(r), ocNewID(r)
	plain := `{"type":"session","version":4,"id":"p1"}` + "\n" + ocAssistant(plainID, time.Now(), 1, 1, 0, 10) + "\n"
	ocMustExec(t, w, `INSERT INTO session_transcript_archives(session_id, generation, session_key, reason, encoding, archive_blob, archive_sha256, archive_name, created_at)
		VALUES ('p1', 'g1', 'agent:ops:main', 'reset', 'identity', ?, ?, 'p1.jsonl.reset.x', 1)`, []byte(plain), strings.Repeat("0", 64))
	ev, _ := json.Marshal(ocAssistant(coldID, time.Now(), 1, 1, 0, 10))
	cold := `{"kind":"header","version":1,"sessionId":"c1","generation":"g"}` + "\n" +
		`{"kind":"event","row":{"seq":0,"event_json":` + string(ev) + `,"created_at":1}}` + "\n" +
		`{"kind":"identity","row":{"event_id":"x","seq":0}}` + "\n"
	now := time.Now().UnixMilli()
	ocMustExec(t, w, `INSERT INTO session_windows(session_id, session_key, created_at, updated_at) VALUES ('c1', 'agent:ops:main', ?, ?)`, now, now)
	ocMustExec(t, w, `INSERT INTO session_transcript_cold_archives(session_id, generation, archive_name, archive_sha256, event_count, raw_bytes, archive_bytes, last_seq, archived_at, storage, archive_blob)
		VALUES ('c1', 'g', ?, ?, 1, 1, 1, 0, 1, 'sqlite', ?)`, strings.Repeat("cd", 32)+".jsonl.zst", strings.Repeat("0", 64), ocZstd(t, []byte(cold)))
	d, err := openOCDB(path, "ops")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got := map[string]string{}
	if err := d.Archives(context.Background(), nil, func(a ocArchive, l ocLine) error {
		if l.Bad != nil {
			t.Errorf("%s: %v", a.Name, l.Bad)
			return nil
		}
		var v struct{ ID string }
		json.Unmarshal(l.Line, &v)
		got[v.ID] = a.Kind + "/" + a.SessionID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got[plainID] != "reset/p1" || got[coldID] != "cold/c1" {
		t.Errorf("archive lines: %v", got)
	}
	// The callback's own error stops Archives and comes back as is.
	stop := errors.New("stop")
	if err := d.Archives(context.Background(), nil, func(ocArchive, ocLine) error { return stop }); err != stop {
		t.Errorf("callback error: got %v", err)
	}
}

func TestOpenClawArchiveFileBadRecordIsSkipped(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewSource(8))
	a, b := ocNewID(r), ocNewID(r)
	ea, _ := json.Marshal(ocAssistant(a, time.Now(), 1, 1, 0, 10))
	eb, _ := json.Marshal(ocAssistant(b, time.Now(), 1, 1, 0, 10))
	cold := filepath.Join(dir, "cold.jsonl.zst")
	ocWriteZstd(t, cold,
		`{"kind":"header","version":1,"sessionId":"s1","generation":"g"}`,
		`{"kind":"event","row":{"seq":0,"event_json":`+string(ea)+`}}`,
		`{"kind":"event","row":{"seq":1,"event_json":`, // truncated record
		`{"kind":"event","row":{"seq":2}}`,             // no event_json
		`{"kind":"event","row":{"seq":3,"event_json":`+string(eb)+`}}`)
	var lines []string
	var bad int
	if err := readZstdJSONL(cold, func(l ocLine) error {
		if l.SessionID != "s1" {
			t.Errorf("session %q", l.SessionID)
		}
		if l.Bad != nil {
			bad++
			return nil
		}
		var v struct{ ID string }
		if err := json.Unmarshal(l.Line, &v); err != nil {
			t.Errorf("unwrapped line is not the event: %v", err)
		}
		lines = append(lines, v.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if bad != 2 || len(lines) != 2 || lines[0] != a || lines[1] != b {
		t.Errorf("bad %d, lines %v", bad, lines)
	}

	// A plain (not compressed) archive is read too, whatever its name.
	plain := filepath.Join(dir, "s.jsonl.reset.2026")
	os.WriteFile(plain, []byte(ocAssistant(a, time.Now(), 1, 1, 0, 10)+"\n"+ocAssistant(b, time.Now(), 1, 1, 0, 10)), 0o644)
	n := 0
	if err := readZstdJSONL(plain, func(l ocLine) error { n++; return nil }); err != nil || n != 2 {
		t.Errorf("plain archive: %d lines, %v", n, err)
	}

	// A damaged stream: the lines before the damage, then an error naming the file.
	var many strings.Builder
	for i := 0; i < 3000; i++ {
		many.WriteString(ocAssistant(ocNewID(r), time.Now(), 1, 1, 0, 10) + "\n")
	}
	full := ocZstd(t, []byte(many.String()))
	cut := filepath.Join(dir, "cut.jsonl.deleted.x.zst")
	os.WriteFile(cut, full[:len(full)/2], 0o644)
	n = 0
	err := readZstdJSONL(cut, func(l ocLine) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), cut) || n == 0 || n >= 3000 {
		t.Errorf("damaged stream: %d lines, %v", n, err)
	}
	t.Logf("damaged stream: %d lines before the damage, then %v", n, err)

	// A FIFO named like an archive never blocks.
	fifo := filepath.Join(dir, "f.jsonl.deleted.x.zst")
	if err := syscall.Mkfifo(fifo, 0o644); err == nil {
		if err := readZstdJSONL(fifo, func(ocLine) error { return nil }); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("fifo: %v", err)
		}
	}
}

func TestOpenClawCursorIsSmallJSON(t *testing.T) {
	path := ocMainDB(t)
	d := ocOpenTest(t, path)
	cur, err := d.ReadSince(context.Background(), ocCursor{}, 0, func(ocRow) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cur)
	if err != nil {
		t.Fatal(err)
	}
	var back ocCursor
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Top != cur.Top || len(back.Marks) != len(cur.Marks) || back.DB != cur.DB || back.DB == "" {
		t.Fatalf("round trip: %s", b)
	}
	// Nothing new: a read from the stored cursor yields nothing.
	n := 0
	if _, err := d.ReadSince(context.Background(), back, 0, func(ocRow) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("re-read from a current cursor: %d rows, %v", n, err)
	}
	// A cursor of another database is not trusted: everything is read.
	other := back
	other.DB = "ops@1"
	if _, err := d.ReadSince(context.Background(), other, 0, func(ocRow) error { n++; return nil }); err != nil || n != 36 {
		t.Errorf("cursor of another database: %d rows, %v", n, err)
	}
	t.Logf("cursor: %s", b)
}

// A callback error returns the cursor before the failed batch, so nothing
// is skipped on the next call.
func TestOpenClawCallbackErrorKeepsTheCursor(t *testing.T) {
	path := ocMainDB(t)
	d := ocOpenTest(t, path)
	boom := errors.New("store full")
	n := 0
	cur, err := d.ReadSince(context.Background(), ocCursor{}, 0, func(ocRow) error {
		n++
		if n == 5 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || cur.Top != 0 {
		t.Fatalf("got cursor %+v, %v", cur, err)
	}
	n = 0
	if _, err := d.ReadSince(context.Background(), cur, 0, func(ocRow) error { n++; return nil }); err != nil || n != 36 {
		t.Errorf("after the failure: %d rows, %v", n, err)
	}
}

func TestOpenClawChatSendPeerIsThePhoneNotTheKey(t *testing.T) {
	d, err := openOCDB(ocMainDB(t), "main")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ss, err := d.Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]ocSession{
		// khalid's chat.send session: conversations.peer_id holds the key.
		"11abd210-b6ad-4b9e-ab7f-038813c7c0c2": {Key: "agent:main:whatsapp:dm:+966500000003", Peer: "+966500000003", Channel: "whatsapp"},
		// omar: a real conversation row.
		ocOmarSession: {Key: "agent:main:whatsapp:dm:+966500000001", Peer: "+966500000001", Channel: "whatsapp"},
		// layla's session was deleted: only its archive row names the key.
		"6258b633-df31-47ae-a3fe-21edacd82e53": {Key: "agent:main:whatsapp:dm:+966500000002", Peer: "+966500000002", Channel: "whatsapp"},
		// the shared main session has no peer.
		ocOwnerSession: {Key: "agent:main:main"},
	} {
		got := ss[id]
		if got.Key != want.Key || got.Peer != want.Peer || got.Channel != want.Channel {
			t.Errorf("session %s: got key %q peer %q channel %q, want %q %q %q", id, got.Key, got.Peer, got.Channel, want.Key, want.Peer, want.Channel)
		}
	}
}

// ocBenchDB writes the benchmarks' database: 20,000 rows over 50
// sessions, 30 % of them compressed ~4 KB replies.
func ocBenchDB(b *testing.B) (string, int64) {
	root := ocFixture(b, "openclaw-sample2")
	path := filepath.Join(root, "state", "agents", "main", "agent", "openclaw-agent.sqlite")
	w := ocWriter(b, path)
	nav := ocNavigation(b, w)
	r := rand.New(rand.NewSource(9))
	tx, err := w.Begin()
	if err != nil {
		b.Fatal(err)
	}
	const rows = 20000
	var bytesTotal int64
	for i := 0; i < rows; i++ {
		session := fmt.Sprintf("bench-%03d", i%50)
		if i%10 < 3 {
			line := []byte(ocAssistant(ocNewID(r), time.Now(), 1000, 100, 0.01, 4000))
			bytesTotal += int64(len(line))
			_, err = tx.Exec(`INSERT INTO transcript_events(session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes, navigation_json) VALUES (?, ?, NULL, ?, ?, ?, ?)`,
				session, i, time.Now().UnixMilli(), ocZstd(b, line), len(line), nav)
		} else {
			line := ocAssistant(ocNewID(r), time.Now(), 1000, 100, 0.01, 300)
			bytesTotal += int64(len(line))
			_, err = tx.Exec(`INSERT INTO transcript_events(session_id, seq, event_json, created_at) VALUES (?, ?, ?, ?)`, session, i, line, time.Now().UnixMilli())
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	ocMustExec(b, w, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return path, bytesTotal
}

// BenchmarkOpenClawReadFloor is what reading the same rows costs below
// ReadSince, for the record in docs/BENCHMARKS.md: "scan" is a bare
// database/sql loop scanning every column into sql.RawBytes (the reader's
// old way), "aggregate" the batch statement ReadSince runs, without the
// decoding, the marks and the callback.
func BenchmarkOpenClawReadFloor(b *testing.B) {
	path, bytesTotal := ocBenchDB(b)
	d, err := openOCDB(path, "main")
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	b.Run("scan", func(b *testing.B) {
		b.SetBytes(bytesTotal)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			rows, err := d.conn.QueryContext(ctx, `SELECT rowid, session_id, seq, created_at, event_json, event_zstd, event_utf8_bytes FROM transcript_events ORDER BY rowid`)
			if err != nil {
				b.Fatal(err)
			}
			var id, seq, at int64
			var s, js, zs sql.RawBytes
			var n sql.NullInt64
			for rows.Next() {
				if err := rows.Scan(&id, &s, &seq, &at, &js, &zs, &n); err != nil {
					b.Fatal(err)
				}
			}
			if err := rows.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("aggregate", func(b *testing.B) {
		b.SetBytes(bytesTotal)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			cur := ocCursor{}
			for {
				next, err := d.readBatch(ctx, cur, cur, ocBatchRows, false)
				if err != nil {
					b.Fatal(err)
				}
				if len(d.raw) < ocBatchRows && !d.full {
					break
				}
				cur = next
			}
		}
	})
}

// BenchmarkOpenClawReadSince reads a database of 20,000 rows, about 30 %
// of them compressed replies, from the start: rows/s and allocations per
// row of the reader alone (no parse, no store).
func BenchmarkOpenClawReadSince(b *testing.B) {
	path, bytesTotal := ocBenchDB(b)
	d, err := openOCDB(path, "main")
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.SetBytes(bytesTotal)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		if _, err := d.ReadSince(context.Background(), ocCursor{}, 0, func(r ocRow) error {
			if r.Err != nil {
				return r.Err
			}
			n++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
}

// Rows larger in total than one batch's byte budget are read over several
// read transactions, none skipped, in rowid order.
func TestOpenClawLargeRowsSpanSeveralBatches(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	r := rand.New(rand.NewSource(10))
	var ids []string
	for i := 0; i < 30; i++ {
		ids = append(ids, ocNewID(r))
		ocAppend(t, w, ocOwnerSession, ocAssistant(ids[i], time.Now(), 1, 1, 0, 400<<10))
	}
	d := ocOpenTest(t, path)
	seen := map[string]bool{}
	var last int64
	var p fastjson.Parser
	cur, err := d.ReadSince(context.Background(), ocCursor{}, 0, func(row ocRow) error {
		if row.RowID <= last {
			t.Errorf("rowid %d after %d", row.RowID, last)
		}
		last = row.RowID
		v, err := p.ParseBytes(row.Line)
		if err != nil {
			return err
		}
		seen[string(v.GetStringBytes("id"))] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !seen[id] {
			t.Fatalf("row %s missed", id)
		}
	}
	if cur.Top != last {
		t.Errorf("cursor top %d, last row %d", cur.Top, last)
	}
}

// Rows with values of a type OpenClaw never writes (possible only in a
// table without STRICT, as a hand-edited or older database may have) reach
// the callback as bad rows naming the column; the rows after them are read
// and the cursor moves past them, so one strange row never wedges a
// database.
func TestOpenClawRowOfAStrangeTypeIsABadRowNotAWedge(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	// The same table without STRICT, holding the same rows.
	for _, q := range []string{
		`CREATE TABLE te_loose (session_id TEXT, seq INTEGER, event_json TEXT, created_at INTEGER, event_zstd BLOB, event_utf8_bytes INTEGER, navigation_json TEXT)`,
		`INSERT INTO te_loose(rowid, session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes, navigation_json)
			SELECT rowid, session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes, navigation_json FROM transcript_events`,
		`DROP TABLE transcript_events`,
		`ALTER TABLE te_loose RENAME TO transcript_events`,
	} {
		ocMustExec(t, w, q)
	}
	r := rand.New(rand.NewSource(12))
	good := ocNewID(r)
	now := time.Now().UnixMilli()
	for _, row := range []struct {
		seq, created any
		js           any
	}{
		{"seven", now, ocAssistant(ocNewID(r), time.Now(), 1, 1, 0, 10)},
		{1000, 1.5, ocAssistant(ocNewID(r), time.Now(), 1, 1, 0, 10)},
		{1002, now, ocAssistant(good, time.Now(), 7, 7, 0.01, 10)},
	} {
		ocMustExec(t, w, `INSERT INTO transcript_events(session_id, seq, event_json, created_at) VALUES (?, ?, ?, ?)`,
			ocOwnerSession, row.seq, row.js, row.created)
	}
	top := ocMaxRowID(t, w)
	d := ocOpenTest(t, path)
	var bad []string
	seen := false
	var p fastjson.Parser
	cur, err := d.ReadSince(context.Background(), ocCursor{}, 0, func(row ocRow) error {
		if row.Err != nil {
			bad = append(bad, row.Err.Error())
			return nil
		}
		if v, err := p.ParseBytes(row.Line); err == nil && string(v.GetStringBytes("id")) == good {
			seen = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("a row of a strange type stopped the read: %v", err)
	}
	if len(bad) != 2 {
		t.Fatalf("want 2 bad rows, got %d: %q", len(bad), bad)
	}
	for i, want := range []string{"seq is text", "created_at is a real"} {
		if !strings.Contains(bad[i], want) {
			t.Errorf("bad row %d: %q does not say %q", i, bad[i], want)
		}
	}
	if !seen || cur.Top != top {
		t.Errorf("the row after the strange ones: seen %v, cursor top %d, want %d", seen, cur.Top, top)
	}
}

// Between two batches of one ReadSince the callback runs outside any read
// transaction, so OpenClaw may compact the newest session there: rows
// deleted from the top of the table, new rows on the freed rowids, below
// the top of the batch just read. The next batch must see that its
// resume point is gone and fall back to the marks it started from, so
// the new rows are read, never skipped.
func TestOpenClawCompactionBetweenBatchesMissesNoRow(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	r := rand.New(rand.NewSource(13))
	for i := 0; i < 3*ocBatchRows; i++ {
		ocAppend(t, w, ocOwnerSession, ocAssistant(ocNewID(r), time.Now(), 1, 1, 0, 10))
	}
	d := ocOpenTest(t, path)
	seen := map[string]bool{}
	cur := ocEntryIDs(t, d, ocCursor{}, 0, seen)
	for i := 0; i < 2*ocBatchRows; i++ {
		ocAppend(t, w, ocOmarSession, ocAssistant(ocNewID(r), time.Now(), 1, 1, 0, 10))
	}
	from := cur.Top
	var p fastjson.Parser
	var fresh string
	n := 0
	_, err := d.ReadSince(context.Background(), cur, 0, func(row ocRow) error {
		n++
		if n == 1 {
			// The first batch was read up to from+ocBatchRows: delete every row
			// above from+10 and write one turn, which gets rowid from+11.
			ocMustExec(t, w, `DELETE FROM transcript_events WHERE rowid > ?`, from+10)
			fresh = ocNewID(r)
			ocAppend(t, w, ocOmarSession, ocAssistant(fresh, time.Now(), 3, 3, 0.01, 10))
			if top := ocMaxRowID(t, w); top > from+ocBatchRows {
				t.Fatalf("setup: the new row should reuse a rowid below the batch's top, got %d", top)
			}
		}
		if row.Err == nil {
			if v, err := p.ParseBytes(row.Line); err == nil {
				seen[row.SessionID+"/"+string(v.GetStringBytes("id"))] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !seen[ocOmarSession+"/"+fresh] {
		t.Fatalf("the turn written on a reused rowid between two batches was missed")
	}
}

// A damaged compressed archive leaves no trace in the decoder the next
// archive is read with: the next one is read whole.
func TestOpenClawDamagedArchiveDoesNotSpoilTheNext(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewSource(14))
	var many strings.Builder
	for i := 0; i < 3000; i++ {
		many.WriteString(ocAssistant(ocNewID(r), time.Now(), 1, 1, 0, 10) + "\n")
	}
	full := ocZstd(t, []byte(many.String()))
	cut := filepath.Join(dir, "cut.jsonl.deleted.x.zst")
	whole := filepath.Join(dir, "whole.jsonl.deleted.x.zst")
	os.WriteFile(cut, full[:len(full)/2], 0o644)
	os.WriteFile(whole, full, 0o644)
	for i := 0; i < 3; i++ {
		if err := readZstdJSONL(cut, func(ocLine) error { return nil }); err == nil {
			t.Fatal("a damaged archive read without an error")
		}
		n := 0
		if err := readZstdJSONL(whole, func(l ocLine) error {
			if l.Bad == nil {
				n++
			}
			return nil
		}); err != nil || n != 3000 {
			t.Fatalf("round %d: the archive after a damaged one: %d of 3000 lines, %v", i, n, err)
		}
	}
}

// ReadSince reads the next batch while the callback handles the current
// one. Over several batches every row reaches the callback once, in rowid
// order; a callback that fails while the next batch is being read gets the
// cursor from before its own batch back, and by the time ReadSince returns
// the batch read ahead has ended its read transaction: OpenClaw's TRUNCATE
// checkpoint completes at once.
func TestOpenClawReadAheadHandsEveryRowOnceAndEndsItsTransaction(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	r := rand.New(rand.NewSource(12))
	ocMustExec(t, w, `BEGIN`)
	const added = 3*ocBatchRows + 100
	for i := 0; i < added; i++ {
		ocAppend(t, w, ocOwnerSession, ocAssistant(ocNewID(r), time.Now(), 1, 1, 0, 10))
	}
	ocMustExec(t, w, `COMMIT`)
	var total int
	if err := w.QueryRow(`SELECT count(*) FROM transcript_events`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	d := ocOpenTest(t, path)
	ctx := context.Background()
	checkpoint := func(after string) {
		t.Helper()
		ocCheckpointCompletes(t, w, after)
	}

	boom := errors.New("store full")
	for _, failAt := range []int{1, ocBatchRows + 7, 2*ocBatchRows + 1} {
		n := 0
		cur, err := d.ReadSince(ctx, ocCursor{}, 0, func(ocRow) error {
			// Failing at once, while the batch ahead is still being read:
			// were ReadSince to return without waiting for it, its read
			// transaction would still be open at the checkpoint below.
			if n++; n == failAt {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) {
			t.Fatalf("fail at row %d: %v", failAt, err)
		}
		checkpoint(fmt.Sprintf("a callback failing at row %d", failAt))
		// The cursor stops before the failing row's batch: reading on from
		// it hands the rows of that batch and all after it.
		batchStart := (failAt - 1) / ocBatchRows * ocBatchRows
		rows := 0
		var last int64
		if _, err := d.ReadSince(ctx, cur, 0, func(row ocRow) error {
			if row.RowID <= last {
				t.Fatalf("rowid %d after %d", row.RowID, last)
			}
			last = row.RowID
			rows++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if rows != total-batchStart {
			t.Fatalf("fail at row %d: read on from the cursor %+v: %d rows, want %d", failAt, cur.Top, rows, total-batchStart)
		}
		checkpoint("ReadSince")
	}

	// Bounded calls (max rows each) in a row hand every row exactly once.
	seen := map[int64]int{}
	var cur ocCursor
	for calls := 0; ; calls++ {
		n := 0
		next, err := d.ReadSince(ctx, cur, ocBatchRows+300, func(row ocRow) error {
			seen[row.RowID]++
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cur = next
		if n < ocBatchRows+300 {
			break
		}
		if calls > total {
			t.Fatal("ReadSince never ended")
		}
	}
	if len(seen) != total {
		t.Fatalf("%d distinct rows, want %d", len(seen), total)
	}
	for id, k := range seen {
		if k != 1 {
			t.Fatalf("row %d handed %d times", id, k)
		}
	}
	checkpoint("bounded ReadSince calls")
}

// ocCheckpointCompletes runs the writer's TRUNCATE checkpoint and fails the
// test unless it completed: busy, or frames left behind, mean a read
// transaction of the reader was still open.
func ocCheckpointCompletes(t testing.TB, w *sql.DB, after string) {
	t.Helper()
	var busy, logFrames, done int64
	if err := w.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		t.Fatalf("checkpoint after %s: %v", after, err)
	}
	if busy != 0 || logFrames != done {
		t.Fatalf("checkpoint after %s: busy=%d log=%d checkpointed=%d: the reader held a read transaction", after, busy, logFrames, done)
	}
}
