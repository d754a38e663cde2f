package monitor

// The OpenClaw reader: OpenClaw 2026.8.1 and later keep sessions and
// transcripts in one SQLite database per agent (openclaw-formats.md §0, §8).
// This file finds those databases and their archives, reads them without
// ever getting in OpenClaw's way (read-only connections, short read
// transactions, no writes) and hands out every transcript line, plain or
// zstd-compressed, with a cursor that survives OpenClaw's in-place
// compaction. It does not parse, attribute or store: the caller does.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fastjson"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ocKnownSchemas are the agent schema versions this reader was written
// against: 19 (2026.8.1–9.4), 21 (9.5), 23 (9.6). A newer OpenClaw may move
// usage somewhere we do not look, so anything else is refused by name
// rather than read half-right.
var ocKnownSchemas = []int{19, 21, 23}

// Bounds of what one read holds in memory.
const (
	// ocMaxEventBytes is OpenClaw's own bound on a compressed event (a CHECK
	// on transcript_events); a row claiming more is bad, not decoded.
	ocMaxEventBytes = 4 << 20
	// ocBatchRows and ocBatchBytes bound one read transaction: short enough
	// that OpenClaw's checkpoints never wait long for it, large enough that
	// a backfill is not dominated by per-transaction cost.
	ocBatchRows  = 512
	ocBatchBytes = 8 << 20
	// ocMaxArchiveWindow bounds the zstd window of an archive stream
	// (OpenClaw writes level 1, whose window is far smaller).
	ocMaxArchiveWindow = 64 << 20
	// ocBusyTimeoutMs is how long SQLite itself waits on a lock before an
	// attempt fails with SQLITE_BUSY; ocBusyAttempts such attempts are made.
	ocBusyTimeoutMs = 2000
	ocBusyAttempts  = 6
)

// ErrOCDatabaseReplaced is returned by Changed when the file at the
// database's path is no longer the one that was opened (deleted and
// recreated, restored from a backup): the caller reopens it, and the
// cursor's marks make the new file read from where it really differs.
var ErrOCDatabaseReplaced = errors.New("openclaw database file replaced")

// UnknownSchemaError reports an agent database whose schema version this
// reader does not know.
type UnknownSchemaError struct {
	Path    string
	Version int
}

// Error names the version found and the versions known.
func (e *UnknownSchemaError) Error() string {
	known := make([]string, len(ocKnownSchemas))
	for i, v := range ocKnownSchemas {
		known[i] = strconv.Itoa(v)
	}
	found := "schema version " + strconv.Itoa(e.Version)
	if e.Version == 0 {
		found = "no schema version (schema_meta and user_version are empty)"
	}
	// Older than what we know is OpenClaw's own migration to run; newer is
	// a quotawatch that has not caught up.
	fix := "update quotawatch to read it"
	if e.Version < ocKnownSchemas[0] {
		fix = "run `openclaw doctor --fix` to migrate it"
	}
	return fmt.Sprintf("openclaw agent database %s has %s; quotawatch reads agent schema versions %s (OpenClaw 2026.8.1 to 2026.9.6): %s",
		e.Path, found, strings.Join(known, ", "), fix)
}

// ocDBRef is one agent database found under a state dir, with the archive
// files that belong to that agent.
type ocDBRef struct {
	// Agent is the agent id: from the state database's agent_databases,
	// else the agents/<id> folder or the openclaw-agent.<id>.sqlite name.
	Agent string
	// Path is the database path with symlinks resolved (the dedupe key).
	Path string
	// ArchiveDir is where OpenClaw publishes this database's .deleted and
	// .reset archives and its cold/ files.
	ArchiveDir string
	Archives   []ocArchiveFile
}

// ocArchiveFile is one archive file of an agent.
type ocArchiveFile struct {
	Path string
	// SessionID comes from the file name of .deleted/.reset/.bak archives;
	// cold files are named by a hash, their header record names the session.
	SessionID string
	// Kind is "deleted", "reset", "bak" or "cold".
	Kind string
	// Zstd is true for .zst files (readZstdJSONL also reads plain ones).
	Zstd bool
}

// ocArchiveName matches <sessionId>.jsonl.<kind>.<suffix>[.zst]; the suffix
// is <ts>.<32 hex> for today's archives, <ts> for older ones.
var ocArchiveName = regexp.MustCompile(`^(.+?)\.jsonl\.(deleted|reset|bak)\.(.+?)(\.zst)?$`)

// ocColdName is OpenClaw's own pattern for cold files
// (session-cold-storage-codec: /^[a-f0-9]{64}\.jsonl\.zst$/).
var ocColdName = regexp.MustCompile(`^[a-f0-9]{64}\.jsonl\.zst$`)

// ocArtifactDir mirrors OpenClaw's resolveSessionArtifactDirectory: a
// database in an "agent" folder publishes into the sibling "sessions"
// folder, one elsewhere (a custom session.store) into its own folder.
func ocArtifactDir(dbPath string) string {
	dir := filepath.Dir(dbPath)
	if filepath.Base(dir) == "agent" {
		return filepath.Join(filepath.Dir(dir), "sessions")
	}
	return dir
}

// ocStateDBPaths are where the state database may be: OpenClaw 2026.9
// writes <state>/state/openclaw.sqlite; <state>/openclaw.sqlite is checked
// too, as the issue describes it.
func ocStateDBPaths(stateDir string) []string {
	return []string{
		filepath.Join(stateDir, "state", "openclaw.sqlite"),
		filepath.Join(stateDir, "openclaw.sqlite"),
	}
}

// ocDSN makes a read-only SQLite URI for path. query_only is a second lock
// on the door: even a bug here cannot write to OpenClaw's database.
func ocDSN(path string) string {
	u := url.URL{Path: path}
	return "file:" + u.EscapedPath() + "?mode=ro&_pragma=cache_size(-256)&_pragma=busy_timeout(" + strconv.Itoa(ocBusyTimeoutMs) + ")&_pragma=query_only(1)"
}

// discoverOpenClaw lists every agent database of a state dir: the
// agents/<id>/agent/openclaw-agent.sqlite files and those registered in the
// state database's agent_databases (custom session.store locations),
// deduplicated by real path, each with its archive files. The refs are
// usable even when err is non-nil: err then says what could not be read
// (an unreadable registry, a registered path that cannot be resolved).
func discoverOpenClaw(stateDir string) ([]ocDBRef, error) {
	type cand struct{ agent, path string }
	var cands []cand
	var errs []error

	// The registry first: it is OpenClaw's own list, so its agent ids win
	// over folder names for the same file.
	for _, sp := range ocStateDBPaths(stateDir) {
		if _, err := os.Stat(sp); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("stat openclaw state database %s: %w", sp, err))
			}
			continue
		}
		regs, err := ocReadRegistry(sp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range regs {
			p := r.path
			if !filepath.IsAbs(p) {
				p = filepath.Join(stateDir, p)
			}
			cands = append(cands, cand{r.agent, p})
		}
	}

	agentsDir := filepath.Join(stateDir, "agents")
	ents, err := os.ReadDir(agentsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("list openclaw agents in %s: %w", agentsDir, err))
	}
	for _, e := range ents {
		p := filepath.Join(agentsDir, e.Name(), "agent", "openclaw-agent.sqlite")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			cands = append(cands, cand{e.Name(), p})
		}
	}

	var refs []ocDBRef
	seen := map[string]bool{}
	for _, c := range cands {
		real, err := filepath.EvalSymlinks(c.path)
		if err != nil {
			// A registry row can outlive its file (an agent deleted by hand);
			// that is not an error worth a warning at every scan.
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("resolve openclaw agent database %s: %w", c.path, err))
			}
			continue
		}
		if real, err = filepath.Abs(real); err != nil {
			errs = append(errs, fmt.Errorf("resolve openclaw agent database %s: %w", c.path, err))
			continue
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		agent := c.agent
		if agent == "" {
			agent = ocAgentFromName(real)
		}
		refs = append(refs, ocDBRef{Agent: agent, Path: real, ArchiveDir: ocArtifactDir(c.path)})
	}

	if err := ocAssignArchives(refs); err != nil {
		errs = append(errs, err)
	}
	return refs, errors.Join(errs...)
}

// ocAgentFromName reads the agent id out of openclaw-agent.<id>.sqlite, or
// out of agents/<id>/agent/…; "" when the path says nothing.
func ocAgentFromName(p string) string {
	base := filepath.Base(p)
	if strings.HasPrefix(base, "openclaw-agent.") && strings.HasSuffix(base, ".sqlite") {
		if id := strings.TrimSuffix(strings.TrimPrefix(base, "openclaw-agent."), ".sqlite"); id != "" {
			return id
		}
	}
	dir := filepath.Dir(p)
	if filepath.Base(dir) == "agent" {
		return filepath.Base(filepath.Dir(dir))
	}
	return ""
}

// ocRegistryRow is one row of the state database's agent_databases.
type ocRegistryRow struct{ agent, path string }

// ocReadRegistry reads agent_databases from the state database, read-only
// and in one short statement.
func ocReadRegistry(statePath string) ([]ocRegistryRow, error) {
	db, err := sql.Open("sqlite", ocDSN(statePath))
	if err != nil {
		return nil, fmt.Errorf("open openclaw state database %s: %w", statePath, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []ocRegistryRow
	err = ocRetry(ctx, func() error {
		out = out[:0]
		rows, err := db.QueryContext(ctx, `SELECT agent_id, path FROM agent_databases ORDER BY agent_id, path`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r ocRegistryRow
			if err := rows.Scan(&r.agent, &r.path); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, nil // a state database older than the registry
		}
		return nil, fmt.Errorf("read agent_databases of openclaw state database %s: %w", statePath, err)
	}
	return out, nil
}

// ocAssignArchives lists the archive files of each database's archive dir.
// Several databases can share one dir (a custom session.store with
// openclaw-agent.<id>.sqlite files); there each file goes to the database
// that knows its session (windows, archive rows, cold archive rows), else
// to the dir's openclaw-agent.sqlite (the default agent), else the first.
func ocAssignArchives(refs []ocDBRef) error {
	byDir := map[string][]int{}
	var dirs []string
	for i := range refs {
		d := refs[i].ArchiveDir
		if _, ok := byDir[d]; !ok {
			dirs = append(dirs, d)
		}
		byDir[d] = append(byDir[d], i)
	}
	var errs []error
	for _, dir := range dirs {
		files, err := ocListArchives(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		idx := byDir[dir]
		if len(idx) == 1 {
			refs[idx[0]].Archives = append(refs[idx[0]].Archives, files...)
			continue
		}
		owners := make([]ocOwnership, len(idx))
		fallback := idx[0]
		for j, i := range idx {
			owners[j], err = ocReadOwnership(refs[i].Path)
			if err != nil {
				errs = append(errs, err)
			}
			if filepath.Base(refs[i].Path) == "openclaw-agent.sqlite" {
				fallback = i
			}
		}
		for _, f := range files {
			to := fallback
			for j, i := range idx {
				if owners[j].owns(f) {
					to = i
					break
				}
			}
			refs[to].Archives = append(refs[to].Archives, f)
		}
	}
	return errors.Join(errs...)
}

// ocListArchives lists the archive files in dir and dir/cold, sorted by path.
func ocListArchives(dir string) ([]ocArchiveFile, error) {
	var out []ocArchiveFile
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list openclaw archives in %s: %w", dir, err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		m := ocArchiveName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		out = append(out, ocArchiveFile{Path: filepath.Join(dir, e.Name()), SessionID: m[1], Kind: m[2], Zstd: m[4] != ""})
	}
	cold := filepath.Join(dir, "cold")
	ents, err = os.ReadDir(cold)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return out, fmt.Errorf("list openclaw cold archives in %s: %w", cold, err)
	}
	for _, e := range ents {
		if ocColdName.MatchString(e.Name()) {
			out = append(out, ocArchiveFile{Path: filepath.Join(cold, e.Name()), Kind: "cold", Zstd: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// ocOwnership is what one database knows of sessions and archive names, to
// tell which agent an archive in a shared dir belongs to.
type ocOwnership struct {
	sessions map[string]bool
	names    map[string]bool
}

// owns reports whether the database knows the archive's session or name.
func (o ocOwnership) owns(f ocArchiveFile) bool {
	return (f.SessionID != "" && o.sessions[f.SessionID]) || o.names[filepath.Base(f.Path)]
}

// ocReadOwnership reads session ids and archive names of one database;
// missing tables (older schemas) are simply not asked.
func ocReadOwnership(path string) (ocOwnership, error) {
	o := ocOwnership{sessions: map[string]bool{}, names: map[string]bool{}}
	db, err := sql.Open("sqlite", ocDSN(path))
	if err != nil {
		return o, fmt.Errorf("open openclaw agent database %s: %w", path, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	qs := []struct {
		q    string
		into map[string]bool
	}{
		{`SELECT session_id FROM session_windows`, o.sessions},
		{`SELECT session_id FROM session_transcript_archives`, o.sessions},
		{`SELECT archive_name FROM session_transcript_archives`, o.names},
		{`SELECT archive_name FROM session_transcript_cold_archives`, o.names},
	}
	for _, q := range qs {
		err := ocRetry(ctx, func() error {
			rows, err := db.QueryContext(ctx, q.q)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					return err
				}
				q.into[s] = true
			}
			return rows.Err()
		})
		if err != nil && !strings.Contains(err.Error(), "no such table") {
			return o, fmt.Errorf("read sessions of openclaw agent database %s: %w", path, err)
		}
	}
	return o, nil
}

// ocDB is one open agent database. Its methods are for one goroutine at a
// time (the reader's): they share one connection (see conn). They never
// write and never leave a read transaction open when they return, nor
// while a callback of theirs runs.
type ocDB struct {
	Path    string
	Agent   string
	Version int

	db *sql.DB
	// conn is the database's one connection, held from open to Close:
	// every read goes through it, and so does PRAGMA data_version, which
	// compares commits by *other* connections with this connection's last
	// look (on a pooled connection the answer would depend on which one
	// the pool handed out). Each connection parses OpenClaw's schema (189
	// objects) into its own C heap: one instead of the two a pool beside a
	// watch connection used was 0.4 MiB per database.
	conn   *sql.Conn
	lastDV int64
	haveDV bool
	// What the last PRAGMA data_version saw of the database and its -wal
	// file on disk, and when: while neither changes and both have been
	// quiet for ocQuietFiles, Changed answers from two stats (see there).
	lastFiles ocFileLook
	lastAsk   time.Time
	asks      int // PRAGMA data_version queries, for tests
	dev       uint64
	ino       uint64
	ident     string
	hasZstd   bool
	tables    map[string]bool

	// Buffers reused from batch to batch so a backfill allocates per batch,
	// not per row (the driver's own per-row copies aside).
	arena []byte
	raw   []ocRawRow
	out   []byte
	lastS string
	// spareArena and spareRaw are the other pair of batch buffers: the
	// batch ReadSince reads ahead collects into one pair while its caller
	// handles the rows of the other.
	spareArena []byte
	spareRaw   []ocRawRow
	// full says the batch being collected reached ocBatchBytes.
	full bool
	// token names this reader to the batch aggregate (ocCollectors).
	token int64
	// rowsQ, resumeQ and markQ are readBatch's queries, prepared once (see
	// prepare).
	rowsQ, resumeQ, markQ *sql.Stmt
}

// ocRawRow is a row as collected, before decoding; json and zstd are
// [start, end) offsets into ocDB.arena (offsets, not slices: the arena may
// move while a batch grows).
type ocRawRow struct {
	rowID     int64
	session   string
	seq       int64
	createdAt int64
	json      [2]int
	zstd      [2]int
	utf8Bytes int64
	hasJSON   bool
	hasZstd   bool
	// err says why the row's values cannot be used (a type OpenClaw never
	// writes); the row reaches the callback as a bad row.
	err error
}

// ocRow is one transcript_events row handed to ReadSince's callback.
type ocRow struct {
	SessionID string
	Seq       int64
	RowID     int64
	CreatedAt int64
	// Line is the event JSON (the old JSONL line): event_json, or event_zstd
	// decompressed. It is valid only during the callback.
	Line []byte
	// Compressed says the row was stored in event_zstd.
	Compressed bool
	// Err is set for a row that could not be decoded (Line is nil); the read
	// goes on with the next row.
	Err error
}

// ocCursor is how far ReadSince got: small, JSON-serialisable, committed by
// the caller with the events it produced.
//
// Rowids are not AUTOINCREMENT, so once OpenClaw deletes rows at the top of
// transcript_events (an in-place compaction of the newest session) the next
// inserts reuse rowids at or below Top, where "rowid > Top" would never
// look. A new row always gets a rowid above every row present when it was
// inserted, so a row we already read that is still there (same session,
// seq, created_at) proves that nothing new sits at or below it. Marks keeps
// such proofs at Top and at exponentially growing distances below it;
// reading resumes after the highest mark that is intact (from the start
// when none is), which re-reads about as many rows as were deleted at the
// top. Re-read rows are duplicates the caller drops by entry id. VACUUM,
// which renumbers rowids, is handled the same way: the marks above the
// first renumbered row no longer match.
type ocCursor struct {
	// DB identifies the database file (schema_meta's agent and creation
	// time): a cursor from another file is not trusted.
	DB    string   `json:"db,omitempty"`
	Top   int64    `json:"top"`
	Marks []ocMark `json:"marks,omitempty"`
}

// ocMark is a row known to be read: its rowid and a hash of its identity.
type ocMark struct {
	RowID int64  `json:"r"`
	Sum   uint64 `json:"s"`
}

// ocMarkDistances are how far below Top the marks sit (4^i - 1).
var ocMarkDistances = func() []int64 {
	var d []int64
	for p := int64(1); p <= 1<<26; p *= 4 {
		d = append(d, p-1)
	}
	return d
}()

// ocSum hashes a row's identity and content; (session_id, seq) is the
// primary key and created_at the time OpenClaw wrote it, but a compaction
// of the newest session can put a renumbered row with the same seq and a
// created_at of the same millisecond on a reused rowid: the stored event
// (plain or compressed bytes) tells them apart.
func ocSum(session []byte, seq, createdAt int64, content []byte) uint64 {
	h := fnv.New64a()
	h.Write(session)
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(seq >> (8 * i))
		b[8+i] = byte(createdAt >> (8 * i))
	}
	h.Write(b[:])
	h.Write(content)
	return h.Sum64()
}

// markCols selects what ocSum hashes of a row. The casts change nothing in
// OpenClaw's STRICT table; in a table without STRICT they keep a value of
// another type from failing the scan (such a row is a bad row, not a
// wedge). The stored event bytes come from whichever column holds them.
func (d *ocDB) markCols() string {
	if d.hasZstd {
		return "session_id, CAST(seq AS INTEGER), CAST(created_at AS INTEGER), coalesce(CAST(event_json AS BLOB), event_zstd)"
	}
	return "session_id, CAST(seq AS INTEGER), CAST(created_at AS INTEGER), CAST(event_json AS BLOB)"
}

// openOCDB opens an agent database read-only and checks its schema: an
// unknown version is an *UnknownSchemaError.
func openOCDB(path, agent string) (*ocDB, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open openclaw agent database %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open openclaw agent database %s: not a regular file (mode %s)", path, fi.Mode())
	}
	db, err := sql.Open("sqlite", ocDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open openclaw agent database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	d := &ocDB{Path: path, Agent: agent, db: db, token: ocNextToken.Add(1)}
	ocCollectors.Store(d.token, d)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		d.dev, d.ino = uint64(st.Dev), uint64(st.Ino)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d.conn, err = db.Conn(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("open openclaw agent database %s: %w", path, err)
	}
	if err := d.init(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.prepare(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("open openclaw agent database %s: %w", path, err)
	}
	return d, nil
}

// prepare prepares readBatch's three queries once: prepared in each read
// transaction they were a fifth of the CPU of the goroutine that reads
// rows ahead in a backfill (SQLite parses the query every time). They are
// prepared through the pool, on its one connection while d.conn hands it
// back for a moment, so that tx.StmtContext in d.conn's transactions finds
// them prepared on that connection and uses them as they are (a statement
// prepared on a *sql.Conn is prepared again in every transaction); were
// the connection ever replaced, database/sql prepares them on the new one.
func (d *ocDB) prepare(ctx context.Context) error {
	rows := `SELECT ` + ocRowsFuncName + `(?, rowid, session_id, seq, created_at, event_json, NULL, NULL) FROM (SELECT rowid, session_id, seq, created_at, event_json FROM transcript_events WHERE rowid > ? ORDER BY rowid LIMIT ?)`
	if d.hasZstd {
		rows = `SELECT ` + ocRowsFuncName + `(?, rowid, session_id, seq, created_at, event_json, event_zstd, event_utf8_bytes) FROM (SELECT rowid, session_id, seq, created_at, event_json, event_zstd, event_utf8_bytes FROM transcript_events WHERE rowid > ? ORDER BY rowid LIMIT ?)`
	}
	if err := d.conn.Close(); err != nil {
		return fmt.Errorf("hand the connection back to prepare queries: %w", err)
	}
	d.conn = nil
	for _, q := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&d.rowsQ, rows},
		{&d.resumeQ, `SELECT ` + d.markCols() + ` FROM transcript_events WHERE rowid = ?`},
		{&d.markQ, `SELECT rowid, ` + d.markCols() + ` FROM transcript_events WHERE rowid <= ? ORDER BY rowid DESC LIMIT 1`},
	} {
		err := ocRetry(ctx, func() error {
			var err error
			*q.st, err = d.db.PrepareContext(ctx, q.sql)
			return err
		})
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q.sql, err)
		}
	}
	var err error
	if d.conn, err = d.db.Conn(ctx); err != nil {
		return fmt.Errorf("take the connection back: %w", err)
	}
	return nil
}

// init reads the schema version and which tables and columns exist.
func (d *ocDB) init(ctx context.Context) error {
	var role, agentID string
	var metaVersion, created int64
	haveMeta := false
	err := ocRetry(ctx, func() error {
		err := d.conn.QueryRowContext(ctx, `SELECT role, schema_version, coalesce(agent_id, ''), created_at FROM schema_meta WHERE meta_key = 'primary'`).
			Scan(&role, &metaVersion, &agentID, &created)
		switch {
		case err == nil:
			haveMeta = true
		case errors.Is(err, sql.ErrNoRows), strings.Contains(err.Error(), "no such table"):
			err = nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("read schema_meta of openclaw agent database %s: %w", d.Path, err)
	}
	var userVersion int64
	if err := ocRetry(ctx, func() error {
		return d.conn.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&userVersion)
	}); err != nil {
		return fmt.Errorf("read user_version of openclaw agent database %s: %w", d.Path, err)
	}
	if haveMeta && role != "agent" {
		return fmt.Errorf("open openclaw agent database %s: not an agent database (schema_meta role %q)", d.Path, role)
	}
	version := userVersion
	if haveMeta {
		version = metaVersion
	}
	known := false
	for _, v := range ocKnownSchemas {
		known = known || int64(v) == version
	}
	if !known {
		return &UnknownSchemaError{Path: d.Path, Version: int(version)}
	}
	d.Version = int(version)
	if haveMeta {
		d.ident = agentID + "@" + strconv.FormatInt(created, 10)
	}

	d.tables = map[string]bool{}
	cols := map[string]bool{}
	err = ocRetry(ctx, func() error {
		rows, err := d.conn.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			d.tables[n] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		rows, err = d.conn.QueryContext(ctx, `SELECT name FROM pragma_table_info('transcript_events')`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			cols[n] = true
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("read the tables of openclaw agent database %s: %w", d.Path, err)
	}
	for _, c := range []string{"session_id", "seq", "event_json", "created_at"} {
		if !cols[c] {
			return fmt.Errorf("open openclaw agent database %s (schema %d): transcript_events has no column %s", d.Path, d.Version, c)
		}
	}
	// Compressed rows exist since schema 23; read the columns that exist
	// rather than trust the version number alone.
	d.hasZstd = cols["event_zstd"] && cols["event_utf8_bytes"]
	return nil
}

// Close releases the connection.
func (d *ocDB) Close() error {
	ocCollectors.Delete(d.token)
	for _, st := range []*sql.Stmt{d.rowsQ, d.resumeQ, d.markQ} {
		if st != nil {
			st.Close()
		}
	}
	if d.conn != nil {
		d.conn.Close()
	}
	return d.db.Close()
}

// ocFileLook is the size and modification time of an agent database and
// of its -wal file (zero when there is none).
type ocFileLook struct {
	dbSize, walSize int64
	dbMod, walMod   time.Time
	walIno          uint64
}

const (
	// ocQuietFiles is how long both files must have been unmodified before
	// an unchanged look is trusted without asking SQLite: a write within
	// one timestamp granule of the previous may keep the same mtime, so
	// recently modified files are always asked.
	ocQuietFiles = time.Second
	// ocAskAtLeast bounds how long Changed trusts the files alone (a clock
	// stepped back, a filesystem with odd timestamps).
	ocAskAtLeast = 5 * time.Second
)

// Changed reports whether another connection committed to the database
// since the last call (true on the first call). A commit writes the -wal
// file (or, without WAL, the database file), so while both files keep
// their size and mtime and have been quiet for ocQuietFiles, it answers
// from two stats; otherwise it asks PRAGMA data_version (no table read).
// Idle, that is most polls: the PRAGMA through database/sql was most of
// run's idle CPU. A file replaced under its path gives
// ErrOCDatabaseReplaced; a file gone gives an error wrapping fs.ErrNotExist.
func (d *ocDB) Changed(ctx context.Context) (bool, error) {
	fi, err := os.Stat(d.Path)
	if err != nil {
		return false, fmt.Errorf("stat openclaw agent database %s: %w", d.Path, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && d.ino != 0 && (uint64(st.Dev) != d.dev || uint64(st.Ino) != d.ino) {
		return true, fmt.Errorf("%s: %w", d.Path, ErrOCDatabaseReplaced)
	}
	look := ocFileLook{dbSize: fi.Size(), dbMod: fi.ModTime()}
	if wi, err := os.Stat(d.Path + "-wal"); err == nil {
		look.walSize, look.walMod = wi.Size(), wi.ModTime()
		if st, ok := wi.Sys().(*syscall.Stat_t); ok {
			look.walIno = uint64(st.Ino)
		}
	}
	now := time.Now()
	if d.haveDV && look == d.lastFiles && now.Sub(d.lastAsk) < ocAskAtLeast &&
		d.lastAsk.Sub(look.dbMod) >= ocQuietFiles && d.lastAsk.Sub(look.walMod) >= ocQuietFiles {
		return false, nil
	}
	var v int64
	d.asks++
	if err := ocRetry(ctx, func() error {
		return d.conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v)
	}); err != nil {
		return false, fmt.Errorf("read data_version of openclaw agent database %s: %w", d.Path, err)
	}
	changed := !d.haveDV || v != d.lastDV
	d.lastDV, d.haveDV = v, true
	// The look was taken before the PRAGMA: a commit between the two shows
	// in the next look.
	d.lastFiles, d.lastAsk = look, now
	return changed, nil
}

// ocSession is what the database says about one session id (one window).
type ocSession struct {
	SessionID string
	// Key is the window's session key (several windows share one key).
	Key      string
	Channel  string
	ChatType string
	Account  string
	// Peer is the conversation's peer (E.164 or group id). For chat.send
	// sessions OpenClaw stores the session key as peer_id; the peer is then
	// read out of that key (§4), as it is for sessions with no
	// conversation (groups, deleted sessions).
	Peer string
	// Current is true for the window session_nodes points at.
	Current bool
	// PreviousSessionID is the window this one replaced (a reset).
	PreviousSessionID string
}

// ocPeer picks the peer of a session: the conversation's peer_id unless it
// is itself a session key, else what the session key names.
func ocPeer(peerID, key string) string {
	if peerID != "" && !strings.HasPrefix(peerID, "agent:") {
		return peerID
	}
	if peerID != "" {
		if p := ParseSessionKey(peerID).Peer; p != "" {
			return p
		}
	}
	return ParseSessionKey(key).Peer
}

// Sessions returns every session id the database knows with its key and
// peer: every window (one per generation of a key), the current session of
// every node, and the sessions of archive rows (deleted or reset sessions,
// whose windows are gone).
func (d *ocDB) Sessions(ctx context.Context) (map[string]ocSession, error) {
	out := map[string]ocSession{}
	err := ocRetry(ctx, func() error {
		clear(out)
		tx, err := d.conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()

		type conv struct{ channel, account, peer string }
		convs := map[string]conv{}
		if d.tables["conversations"] {
			if err := ocEach(ctx, tx, `SELECT conversation_id, channel, account_id, peer_id FROM conversations`, func(r *sql.Rows) error {
				var id string
				var c conv
				if err := r.Scan(&id, &c.channel, &c.account, &c.peer); err != nil {
					return err
				}
				convs[id] = c
				return nil
			}); err != nil {
				return err
			}
		}
		primary := map[string]string{}
		if d.tables["session_conversations"] {
			// Primary first, then the most recently seen: the first row per
			// session wins.
			if err := ocEach(ctx, tx, `SELECT session_id, conversation_id FROM session_conversations
				ORDER BY session_id, CASE role WHEN 'primary' THEN 0 WHEN 'participant' THEN 1 ELSE 2 END, last_seen_at DESC`, func(r *sql.Rows) error {
				var s, c string
				if err := r.Scan(&s, &c); err != nil {
					return err
				}
				if _, ok := primary[s]; !ok {
					primary[s] = c
				}
				return nil
			}); err != nil {
				return err
			}
		}
		fill := func(s *ocSession, convID string) {
			if c, ok := primary[s.SessionID]; ok {
				convID = c
			}
			peerID := ""
			if c, ok := convs[convID]; ok {
				peerID = c.peer
				if s.Channel == "" {
					s.Channel = c.channel
				}
				if s.Account == "" {
					s.Account = c.account
				}
			}
			s.Peer = ocPeer(peerID, s.Key)
			if s.Channel == "" {
				s.Channel = ParseSessionKey(s.Key).Channel
			}
		}
		if d.tables["session_windows"] {
			if err := ocEach(ctx, tx, `SELECT session_id, session_key, coalesce(channel, ''), coalesce(chat_type, ''),
				coalesce(account_id, ''), coalesce(previous_session_id, ''), coalesce(primary_conversation_id, '') FROM session_windows`, func(r *sql.Rows) error {
				var s ocSession
				var convID string
				if err := r.Scan(&s.SessionID, &s.Key, &s.Channel, &s.ChatType, &s.Account, &s.PreviousSessionID, &convID); err != nil {
					return err
				}
				fill(&s, convID)
				out[s.SessionID] = s
				return nil
			}); err != nil {
				return err
			}
		}
		if d.tables["session_nodes"] {
			if err := ocEach(ctx, tx, `SELECT session_key, current_session_id FROM session_nodes`, func(r *sql.Rows) error {
				var key, id string
				if err := r.Scan(&key, &id); err != nil {
					return err
				}
				s, ok := out[id]
				if !ok {
					s = ocSession{SessionID: id, Key: key}
					fill(&s, "")
				}
				s.Current = true
				out[id] = s
				return nil
			}); err != nil {
				return err
			}
		}
		if d.tables["session_transcript_archives"] {
			if err := ocEach(ctx, tx, `SELECT session_id, session_key FROM session_transcript_archives ORDER BY created_at`, func(r *sql.Rows) error {
				var id, key string
				if err := r.Scan(&id, &key); err != nil {
					return err
				}
				if _, ok := out[id]; !ok {
					s := ocSession{SessionID: id, Key: key}
					fill(&s, "")
					out[id] = s
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return tx.Commit()
	})
	if err != nil {
		return nil, fmt.Errorf("read sessions of openclaw agent database %s: %w", d.Path, err)
	}
	return out, nil
}

// ocQuerier is what ocEach needs from a *sql.Tx or *sql.Conn.
type ocQuerier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// ocEach runs q and calls fn per row, closing the rows whatever happens.
func ocEach(ctx context.Context, q ocQuerier, query string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ReadSince hands fn every transcript_events row not yet covered by cur, in
// rowid order, at most max rows (max <= 0: all), and returns the cursor
// after them. Rows are read in short read transactions of at most
// ocBatchRows rows / ocBatchBytes bytes, and fn runs outside them, so a
// slow caller never holds OpenClaw's checkpoints back. A row that cannot be
// decoded reaches fn with Err set. When fn fails, the cursor before that
// batch is returned with the error: its rows are read again next time.
func (d *ocDB) ReadSince(ctx context.Context, cur ocCursor, max int, fn func(ocRow) error) (ocCursor, error) {
	if cur.DB != "" && d.ident != "" && cur.DB != d.ident {
		cur = ocCursor{}
	}
	cur.DB = d.ident
	// base is the last cursor with a full set of marks: the batches in
	// between carry only a mark at their own top, and fall back to base's.
	base := cur
	// bounds is the size of the batch after done rows, and whether it is
	// the call's last.
	bounds := func(done int) (limit int, last bool) {
		limit = ocBatchRows
		if max > 0 && max-done < limit {
			limit = max - done
		}
		return limit, max > 0 && done+limit >= max
	}
	fetch := func(from ocCursor, limit int, last bool) (next ocCursor, err error) {
		err = ocRetry(ctx, func() error {
			var err error
			next, err = d.readBatch(ctx, from, base, limit, last)
			return err
		})
		if err != nil {
			err = fmt.Errorf("read transcript_events of openclaw agent database %s: %w", d.Path, err)
		}
		return next, err
	}
	type fetched struct {
		next ocCursor
		err  error
	}
	done := 0
	limit, last := bounds(0)
	next, err := fetch(cur, limit, last)
	for {
		if err != nil {
			return cur, err
		}
		raw, arena := d.raw, d.arena
		n := len(raw)
		more := (n == limit || d.full) && (max <= 0 || done+n < max)
		// The next batch is read on the connection (its own short read
		// transaction) while fn handles this one: a backfill of an OpenClaw
		// state was bound by this goroutine, SQLite's page reads and fn's
		// parsing one after the other, with the writer idle a third of the
		// time. Its rows go into the spare buffers.
		var ahead chan fetched
		nextLimit, nextLast := 0, false
		if more {
			nextLimit, nextLast = bounds(done + n)
			d.raw, d.arena = d.spareRaw[:0], d.spareArena[:0]
			ahead = make(chan fetched, 1)
			go func(from ocCursor) {
				nx, err := fetch(from, nextLimit, nextLast)
				ahead <- fetched{nx, err}
			}(next)
		}
		var fnErr error
		for i := range raw {
			if fnErr = fn(d.decode(&raw[i], arena)); fnErr != nil {
				break
			}
		}
		if ahead == nil {
			if fnErr != nil {
				return cur, fnErr
			}
			return next, nil
		}
		// Wait for the batch ahead even when fn failed: its read
		// transaction must have ended before the connection is used again
		// or the call returns.
		f := <-ahead
		d.spareRaw, d.spareArena = raw, arena
		if fnErr != nil {
			return cur, fnErr
		}
		done += n
		cur = next
		next, err, limit = f.next, f.err, nextLimit
	}
}

// readBatch is one read transaction: find where to resume (the highest
// intact mark), read up to limit rows after it into d.raw, and compute the
// cursor after them, all against one snapshot. The full set of marks is
// computed only for the batch that ends a ReadSince (last, or the end of
// the table): the others get a mark at their top plus base's marks, which
// are as much a proof (rows that were read and are still there) and cost
// no query.
func (d *ocDB) readBatch(ctx context.Context, cur, base ocCursor, limit int, last bool) (ocCursor, error) {
	d.raw = d.raw[:0]
	d.arena = d.arena[:0]
	d.full = false
	tx, err := d.conn.BeginTx(ctx, nil)
	if err != nil {
		return cur, err
	}
	defer tx.Rollback()

	start, err := d.resume(ctx, tx, cur)
	if err != nil {
		return cur, err
	}
	// The rows come through ocRowsFunc in one statement: SQLite hands it
	// each row's values in place, where a database/sql scan costs a
	// driver-side copy of every text and blob, the connection's mutex for
	// each column and an interface conversion per value (this query was
	// 2.1x faster on the 300 MiB benchmark state).
	var n sql.NullInt64 // NULL when no row is left
	err = tx.StmtContext(ctx, d.rowsQ).QueryRowContext(ctx, d.token, start, limit).Scan(&n)
	if err != nil && !d.full {
		// A batch cut by the byte budget ends with the function's own
		// error: the rows collected before it are the batch.
		return cur, err
	}
	top := start
	if len(d.raw) > 0 {
		top = d.raw[len(d.raw)-1].rowID
	}
	next := ocCursor{DB: cur.DB, Top: top}
	switch {
	case len(d.raw) == 0 && start == cur.Top && len(cur.Marks) > 0:
		// Nothing new and the cursor's own top intact: its marks stand.
		next = cur
	case last || (len(d.raw) < limit && !d.full):
		if next.Marks, err = d.marks(ctx, tx, top); err != nil {
			return cur, err
		}
	default:
		r := &d.raw[len(d.raw)-1]
		if r.err == nil {
			next.Marks = append(next.Marks, ocMark{RowID: r.rowID, Sum: ocSum([]byte(r.session), r.seq, r.createdAt, d.content(r))})
		}
		for _, m := range base.Marks {
			if m.RowID <= start {
				next.Marks = append(next.Marks, m)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return cur, err
	}
	return next, nil
}

// content is what ocSum hashes of a row: the stored event bytes, as
// markCols selects them.
func (d *ocDB) content(r *ocRawRow) []byte {
	if r.hasJSON {
		return d.arena[r.json[0]:r.json[1]]
	}
	return d.arena[r.zstd[0]:r.zstd[1]]
}

// ocRowsFuncName is the SQL aggregate that collects a batch of rows.
const ocRowsFuncName = "quotawatch_openclaw_rows"

// errOCBatchFull ends a batch statement once its byte budget is used.
var errOCBatchFull = errors.New("openclaw read batch full")

// ocCollectors are the databases a batch statement may be collecting for,
// by token (the aggregate's first argument): a registered function is
// global to the driver and is told nothing else about who runs it.
var (
	ocCollectors sync.Map // int64 -> *ocDB
	ocNextToken  atomic.Int64
)

func init() {
	// VolatileArgs: the text and blob arguments are views of SQLite's own
	// memory, valid during the call only; collect copies each one into
	// the batch arena before it returns.
	sqlite.MustRegisterFunction(ocRowsFuncName, &sqlite.FunctionImpl{
		NArgs:        8,
		VolatileArgs: true,
		MakeAggregate: func(sqlite.FunctionContext) (sqlite.AggregateFunction, error) {
			return &ocRowsAgg{}, nil
		},
	})
}

// ocRowsAgg is one evaluation of the batch aggregate.
type ocRowsAgg struct {
	d *ocDB
	n int64
}

// Step collects one row.
func (a *ocRowsAgg) Step(_ *sqlite.FunctionContext, args []driver.Value) error {
	if a.d == nil {
		tok, _ := args[0].(int64)
		v, ok := ocCollectors.Load(tok)
		if !ok {
			return fmt.Errorf("%s: no reader with token %d", ocRowsFuncName, tok)
		}
		a.d = v.(*ocDB)
	}
	if a.d.full {
		return errOCBatchFull
	}
	a.d.collect(args[1:])
	a.n++
	return nil
}

// WindowInverse is never called: the aggregate is not used as a window.
func (a *ocRowsAgg) WindowInverse(*sqlite.FunctionContext, []driver.Value) error {
	return errors.New(ocRowsFuncName + " is not a window function")
}

// WindowValue returns how many rows were collected.
func (a *ocRowsAgg) WindowValue(*sqlite.FunctionContext) (driver.Value, error) { return a.n, nil }

// Final has nothing to release.
func (a *ocRowsAgg) Final(*sqlite.FunctionContext) {}

// collect appends one row (rowid, session_id, seq, created_at, event_json,
// event_zstd, event_utf8_bytes) to d.raw, copying its bytes into the
// arena. A value of a type OpenClaw never writes makes the row bad (it
// reaches the callback with an error), never the batch.
func (d *ocDB) collect(v []driver.Value) {
	var r ocRawRow
	r.rowID, _ = v[0].(int64)
	var bad []string
	var ok bool
	if r.seq, ok = v[2].(int64); !ok {
		bad = append(bad, "seq is "+ocTypeName(v[2]))
	}
	if r.createdAt, ok = v[3].(int64); !ok {
		bad = append(bad, "created_at is "+ocTypeName(v[3]))
	}
	switch s := v[1].(type) {
	case string:
		if s != d.lastS {
			d.lastS = strings.Clone(s) // consecutive rows mostly share a session
		}
	case []byte:
		if string(s) != d.lastS {
			d.lastS = string(s)
		}
	case nil:
		d.lastS = ""
	default:
		bad = append(bad, "session_id is "+ocTypeName(v[1]))
		d.lastS = ""
	}
	r.session = d.lastS
	var kind string
	r.json, r.hasJSON, kind = d.keepValue(v[4])
	if kind != "" {
		bad = append(bad, "event_json is "+kind)
	}
	r.zstd, r.hasZstd, kind = d.keepValue(v[5])
	if kind != "" {
		bad = append(bad, "event_zstd is "+kind)
	}
	switch n := v[6].(type) {
	case int64:
		r.utf8Bytes = n
	case nil:
	default:
		bad = append(bad, "event_utf8_bytes is "+ocTypeName(v[6]))
	}
	if bad != nil {
		r.err = errors.New(strings.Join(bad, ", "))
	}
	d.raw = append(d.raw, r)
	d.full = len(d.arena) >= ocBatchBytes
}

// keepValue copies a text or blob value into the arena and returns its
// place there; NULL is absent; any other type is named in kind.
func (d *ocDB) keepValue(v driver.Value) (at [2]int, present bool, kind string) {
	n := len(d.arena)
	switch s := v.(type) {
	case string:
		d.arena = append(d.arena, s...)
	case []byte:
		d.arena = append(d.arena, s...)
	case nil:
		return at, false, ""
	default:
		return at, false, ocTypeName(v)
	}
	return [2]int{n, len(d.arena)}, true, ""
}

// ocTypeName names the SQLite type of a value handed to a function.
func ocTypeName(v driver.Value) string {
	switch v.(type) {
	case nil:
		return "NULL"
	case int64:
		return "an integer"
	case float64:
		return "a real"
	case string:
		return "text"
	case []byte:
		return "a blob"
	}
	return fmt.Sprintf("%T", v)
}

// resume returns the rowid to read after: Top when the row there is still
// the one read, else the highest intact mark, else 0.
func (d *ocDB) resume(ctx context.Context, tx *sql.Tx, cur ocCursor) (int64, error) {
	var session, content []byte
	var seq, created int64
	if len(cur.Marks) == 0 {
		return 0, nil
	}
	q := tx.StmtContext(ctx, d.resumeQ)
	for _, m := range cur.Marks {
		err := q.QueryRowContext(ctx, m.RowID).Scan(&session, &seq, &created, &content)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if ocSum(session, seq, created, content) == m.Sum {
			return m.RowID, nil
		}
	}
	return 0, nil
}

// marks computes the marks of a cursor at top: the row at top and the
// nearest rows at or below top - 4^i + 1.
func (d *ocDB) marks(ctx context.Context, tx *sql.Tx, top int64) ([]ocMark, error) {
	var out []ocMark
	var session, content []byte
	var rowID, seq, created int64
	below := top
	q := tx.StmtContext(ctx, d.markQ)
	for _, dist := range ocMarkDistances {
		target := top - dist
		if target > below {
			target = below
		}
		if target < 1 {
			break
		}
		err := q.QueryRowContext(ctx, target).Scan(&rowID, &session, &seq, &created, &content)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ocMark{RowID: rowID, Sum: ocSum(session, seq, created, content)})
		below = rowID - 1
	}
	return out, nil
}

// ocRowDecoder decodes compressed rows. One decoder serves every database:
// DecodeAll is safe for concurrent use and keeps its buffers between calls.
// The cap limit makes a row that inflates past its declared size fail
// instead of allocating. One decoder state (concurrency 1), kept small
// (low memory), is enough: rows are inflated by the one reader goroutine,
// and GOMAXPROCS decoder states only held memory (about 1 MiB of the 300
// MiB backfill's peak RSS).
var ocRowDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(ocMaxEventBytes))
})

// decode turns a scanned row into what the callback gets.
func (d *ocDB) decode(r *ocRawRow, arena []byte) ocRow {
	row := ocRow{SessionID: r.session, Seq: r.seq, RowID: r.rowID, CreatedAt: r.createdAt}
	switch {
	case r.err != nil:
		row.Err = r.err
	case r.hasJSON:
		row.Line = arena[r.json[0]:r.json[1]]
	case r.hasZstd:
		row.Compressed = true
		row.Line, row.Err = d.inflate(r, arena)
	default:
		row.Err = errors.New("row has neither event_json nor event_zstd")
	}
	if row.Err != nil {
		row.Line = nil
		row.Err = fmt.Errorf("transcript_events row %d (session %s seq %d): %w", r.rowID, r.session, r.seq, row.Err)
	}
	return row
}

// inflate decompresses event_zstd into a buffer reused between rows and
// checks the result against event_utf8_bytes.
func (d *ocDB) inflate(r *ocRawRow, arena []byte) ([]byte, error) {
	n := r.utf8Bytes
	if n <= 0 || n > ocMaxEventBytes {
		return nil, fmt.Errorf("event_utf8_bytes %d is outside 1..%d", n, ocMaxEventBytes)
	}
	dec, err := ocRowDecoder()
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	if int64(cap(d.out)) < n {
		d.out = make([]byte, 0, int(n))
	}
	z := arena[r.zstd[0]:r.zstd[1]]
	out, err := dec.DecodeAll(z, d.out[:0:int(n)])
	if err != nil {
		return nil, fmt.Errorf("decode event_zstd (%d bytes, %d declared): %w", len(z), n, err)
	}
	if int64(len(out)) != n {
		return nil, fmt.Errorf("event_zstd decodes to %d bytes, event_utf8_bytes says %d", len(out), n)
	}
	return out, nil
}

// ocBusy reports whether err is SQLite saying "busy" or "locked", which a
// later attempt can get past.
func ocBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// ocRetry runs f again while it fails with SQLITE_BUSY (each attempt has
// already waited busy_timeout inside SQLite), with a growing pause, up to
// ocBusyAttempts attempts or until ctx ends.
func ocRetry(ctx context.Context, f func() error) error {
	pause := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !ocBusy(err) || attempt >= ocBusyAttempts {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		pause *= 2
	}
}

// ocArchive is one archive row of an agent database.
type ocArchive struct {
	SessionID  string
	SessionKey string // "" for cold archives (their window keeps the key)
	Name       string
	// Kind is "deleted" or "reset" (session_transcript_archives) or "cold"
	// (session_transcript_cold_archives stored in the database).
	Kind string
}

// ocLine is one line read out of an archive.
type ocLine struct {
	// SessionID is the session a cold file's header record names; "" for
	// plain archives (their file name or row names it).
	SessionID string
	// Line is the event JSON, valid only during the callback; nil when Bad.
	Line []byte
	// Bad says why a record could not be read; reading goes on.
	Bad error
}

// Archives calls fn for every line of the archives kept in the database:
// session_transcript_archives rows (identity or zstd JSONL) and cold
// archives stored in SQLite (wrapped records, unwrapped here). Cold
// archives stored as files are not read here: discoverOpenClaw lists them.
// Each blob is read by its own short statement, never inside a transaction
// that spans the callback.
//
// skip, when set, leaves out the archives it returns true for (those the
// caller has read already) before their blob is fetched.
func (d *ocDB) Archives(ctx context.Context, skip func(ocArchive) bool, fn func(ocArchive, ocLine) error) error {
	type ref struct {
		a        ocArchive
		table    string
		encoding string
		gen      string
	}
	var refs []ref
	collect := func(q, table string, scan func(*sql.Rows, *ref) error) error {
		return ocRetry(ctx, func() error {
			return ocEach(ctx, d.conn, q, func(r *sql.Rows) error {
				var x ref
				x.table = table
				if err := scan(r, &x); err != nil {
					return err
				}
				refs = append(refs, x)
				return nil
			})
		})
	}
	if d.tables["session_transcript_archives"] {
		if err := collect(`SELECT session_id, generation, session_key, reason, encoding, archive_name FROM session_transcript_archives ORDER BY created_at, session_id`,
			"session_transcript_archives", func(r *sql.Rows, x *ref) error {
				return r.Scan(&x.a.SessionID, &x.gen, &x.a.SessionKey, &x.a.Kind, &x.encoding, &x.a.Name)
			}); err != nil {
			return fmt.Errorf("list session_transcript_archives of openclaw agent database %s: %w", d.Path, err)
		}
	}
	if d.tables["session_transcript_cold_archives"] {
		if err := collect(`SELECT session_id, generation, archive_name FROM session_transcript_cold_archives WHERE storage = 'sqlite' ORDER BY archived_at, session_id`,
			"session_transcript_cold_archives", func(r *sql.Rows, x *ref) error {
				x.a.Kind, x.encoding = "cold", "zstd"
				return r.Scan(&x.a.SessionID, &x.gen, &x.a.Name)
			}); err != nil {
			return fmt.Errorf("list session_transcript_cold_archives of openclaw agent database %s: %w", d.Path, err)
		}
	}
	for _, x := range refs {
		if skip != nil && skip(x.a) {
			continue
		}
		var blob []byte
		err := ocRetry(ctx, func() error {
			q := `SELECT archive_blob FROM ` + x.table + ` WHERE session_id = ? AND generation = ?`
			return d.conn.QueryRowContext(ctx, q, x.a.SessionID, x.gen).Scan(&blob)
		})
		if errors.Is(err, sql.ErrNoRows) {
			continue // deleted by OpenClaw's retention since the listing
		}
		if err != nil {
			return fmt.Errorf("read archive %s of openclaw agent database %s: %w", x.a.Name, d.Path, err)
		}
		var r io.Reader = bytes.NewReader(blob)
		switch x.encoding {
		case "identity":
		case "zstd":
		default:
			if err := fn(x.a, ocLine{Bad: fmt.Errorf("archive %s: unknown encoding %q", x.a.Name, x.encoding)}); err != nil {
				return err
			}
			continue
		}
		err = ocReadJSONL(r, x.encoding == "zstd", func(l ocLine) error { return fn(x.a, l) })
		if err != nil {
			var cb ocCallbackError
			if errors.As(err, &cb) {
				return cb.err
			}
			// A damaged blob is one bad record; the other archives are read.
			if err := fn(x.a, ocLine{Bad: fmt.Errorf("archive %s: %w", x.a.Name, err)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ocCallbackError carries a callback's own error through ocReadJSONL, so
// that it is returned as is rather than reported as a damaged archive.
type ocCallbackError struct{ err error }

// Error returns the callback's error text.
func (e ocCallbackError) Error() string { return e.err.Error() }

// Unwrap returns the callback's error.
func (e ocCallbackError) Unwrap() error { return e.err }

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// readZstdJSONL reads an archive file: zstd JSONL (.zst) or plain JSONL,
// told apart by the zstd magic, not by the name. Cold files (records
// wrapped as {"kind":"event","row":{"event_json":…}}) are unwrapped: fn
// gets the event lines only, with the session id of the header record. A
// record that cannot be read reaches fn with Bad set and reading goes on; a
// damaged stream ends the file with an error after the lines before it.
func readZstdJSONL(path string, fn func(ocLine) error) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("open openclaw archive %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat openclaw archive %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("open openclaw archive %s: not a regular file (mode %s)", path, fi.Mode())
	}
	st := ocStreams.Get().(*ocStream)
	if st.in == nil {
		st.in = bufio.NewReaderSize(f, 64<<10)
	} else {
		st.in.Reset(f)
	}
	head, _ := st.in.Peek(4)
	err = st.read(st.in, bytes.Equal(head, zstdMagic), fn)
	st.in.Reset(nil)
	ocStreams.Put(st)
	var cb ocCallbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	if err != nil {
		return fmt.Errorf("read openclaw archive %s: %w", path, err)
	}
	return nil
}

// ocStream is what reading one archive stream needs: a zstd decoder, the
// line buffer and a JSON parser. A backfill reads hundreds of archives one
// after another; made afresh for each, they were a third of all bytes the
// process allocated (the decoder's history ring and block buffers, 64 KiB
// readers), so they are kept in ocStreams between archives.
type ocStream struct {
	in    *bufio.Reader // an archive file's bytes (the decoder reads headers a few bytes at a time)
	dec   *zstd.Decoder
	lines *bufio.Reader
	p     fastjson.Parser
}

// ocStreams holds idle ocStreams. A pooled decoder runs with concurrency 1,
// which decodes in the caller's goroutine, so one the pool drops leaves no
// goroutine behind.
var ocStreams = sync.Pool{New: func() any { return new(ocStream) }}

// ocReadJSONL reads lines from r (zstd-compressed when z), unwrapping cold
// records when the first line is a cold header. A callback error comes
// back as ocCallbackError.
func ocReadJSONL(r io.Reader, z bool, fn func(ocLine) error) error {
	st := ocStreams.Get().(*ocStream)
	err := st.read(r, z, fn)
	ocStreams.Put(st)
	return err
}

// read is ocReadJSONL with st's decoder and buffers.
func (st *ocStream) read(r io.Reader, z bool, fn func(ocLine) error) (err error) {
	defer func() {
		// A stream that failed may leave the decoder mid-frame: it is not
		// trusted with the next archive.
		if err != nil && st.dec != nil {
			st.dec.Close()
			st.dec = nil
		}
		if st.dec != nil {
			st.dec.Reset(nil) // drop the reference to r
		}
		if st.lines != nil {
			st.lines.Reset(nil)
		}
	}()
	if z {
		if st.dec == nil {
			if st.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(ocMaxArchiveWindow)); err != nil {
				return fmt.Errorf("zstd: %w", err)
			}
		}
		if err := st.dec.Reset(r); err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		r = st.dec
	}
	if st.lines == nil {
		st.lines = bufio.NewReaderSize(r, 64<<10)
	} else {
		st.lines.Reset(r)
	}
	lr := ocLineReader{r: st.lines, max: DefaultMaxLineBytes}
	p := &st.p
	cold, first := false, true
	session := ""
	for {
		line, bad, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if bad != nil {
			if err := fn(ocLine{SessionID: session, Bad: bad}); err != nil {
				return ocCallbackError{err}
			}
			continue
		}
		t := bytes.TrimSpace(line)
		if len(t) == 0 {
			continue
		}
		if first {
			first = false
			if bytes.HasPrefix(t, []byte(`{"kind"`)) {
				if v, err := p.ParseBytes(t); err == nil && string(v.GetStringBytes("kind")) == "header" {
					cold = true
					session = string(v.GetStringBytes("sessionId"))
					continue
				}
			}
		}
		if !cold {
			if err := fn(ocLine{Line: line}); err != nil {
				return ocCallbackError{err}
			}
			continue
		}
		v, err := p.ParseBytes(t)
		if err != nil {
			if err := fn(ocLine{SessionID: session, Bad: fmt.Errorf("cold record: decode JSON: %w", err)}); err != nil {
				return ocCallbackError{err}
			}
			continue
		}
		switch string(v.GetStringBytes("kind")) {
		case "event":
			ev := v.Get("row", "event_json")
			if ev == nil || ev.Type() != fastjson.TypeString {
				if err := fn(ocLine{SessionID: session, Bad: errors.New("cold event record without row.event_json string")}); err != nil {
					return ocCallbackError{err}
				}
				continue
			}
			b, _ := ev.StringBytes()
			if err := fn(ocLine{SessionID: session, Line: b}); err != nil {
				return ocCallbackError{err}
			}
		case "header":
			session = string(v.GetStringBytes("sessionId"))
		default:
			// identity, active, index, fts: navigation and search, no usage.
		}
	}
}

// ocLineReader splits a stream into lines of at most max bytes; a longer
// line is skipped up to its newline and reported as bad, so one runaway
// record does not end the archive.
type ocLineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// next returns the next line without its newline, or bad for an oversized
// one, or io.EOF. A last line without a newline is returned as a line: an
// archive is complete when published.
func (l *ocLineReader) next() (line []byte, bad error, err error) {
	l.buf = l.buf[:0]
	skipping := false
	for {
		chunk, err := l.r.ReadSlice('\n')
		if !skipping {
			if len(l.buf)+len(chunk) > l.max+1 {
				skipping = true
				l.buf = l.buf[:0]
			} else if err == nil && len(l.buf) == 0 {
				return chunk[:len(chunk)-1], nil, nil // the common case, no copy
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			if skipping {
				return nil, fmt.Errorf("line longer than %d bytes", l.max), nil
			}
			return l.buf[:len(l.buf)-1], nil, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if skipping {
				return nil, fmt.Errorf("line longer than %d bytes", l.max), nil
			}
			if len(l.buf) > 0 {
				return l.buf, nil, nil
			}
			return nil, nil, io.EOF
		default:
			return nil, nil, err
		}
	}
}
