package corpus

import (
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fastjson"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// ocAgentSchema is the agent database schema of OpenClaw 2026.9.6, taken
// verbatim from a database it wrote (see the file's header).
//
//go:embed openclaw_agent_schema.sql
var ocAgentSchema string

// ocStateSchema holds the state database tables quotawatch reads.
//
//go:embed openclaw_state_schema.sql
var ocStateSchema string

// ocNavigationSQL computes a compressed row's navigation_json the way
// OpenClaw does (SQLite JSON functions over the event and its report).
//
//go:embed openclaw_navigation.sql
var ocNavigationSQL string

// OpenClaw versions the generator writes (openclaw-formats.md §8).
const (
	// OpenClawVersion is the app_version recorded in schema_meta.
	OpenClawVersion = "2026.9.6"
	// OpenClawAgentSchemaVersion is the agent database schema of 2026.9.6.
	OpenClawAgentSchemaVersion = 23
	// OpenClawStateSchemaVersion is the state database schema of 2026.9.6.
	OpenClawStateSchemaVersion = 18
)

// OpenClaw's limits for compressed rows (dist/transcript-payload-*.mjs).
const (
	ocMaxEventBytes      = 4 << 20
	ocMinCompressBytes   = 1024
	ocMaxNavigationBytes = 16384
)

// ocFileURI is a modernc DSN for path (made absolute: a file: URI cannot
// hold a relative one) with query parameters.
func ocFileURI(path, query string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return (&url.URL{Scheme: "file", Path: path, RawQuery: query}).String()
}

// ocCodec holds the zstd encoders OpenClaw's two uses need: rows are level 1
// with a checksum (zstdCompressSync(bytes, level 1, checksum)); archives and
// cold files are zlib's defaults (level 3, no checksum).
type ocCodec struct {
	row, archive *zstd.Encoder
}

func newOCCodec() (*ocCodec, error) {
	row, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true),
		zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("corpus: zstd: %w", err)
	}
	archive, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("corpus: zstd: %w", err)
	}
	return &ocCodec{row: row, archive: archive}, nil
}

// ocPayload is how one event is stored in transcript_events.
type ocPayload struct {
	eventJSON []byte // nil when compressed
	zstd      []byte
	nav       sql.NullString
	utf8Bytes int
}

// ocEligible is OpenClaw's first test, before compressing: UTF-8, at least
// 1 KiB and at most 4 MiB, no `\u` escape, no NUL.
func ocEligible(ev []byte) bool {
	n := len(ev)
	return n >= ocMinCompressBytes && n <= ocMaxEventBytes && !bytes.Contains(ev, []byte(`\u`)) &&
		bytes.IndexByte(ev, 0) < 0 && utf8.Valid(ev)
}

// ocMaxStored is the most a compressed row (zstd bytes plus navigation_json)
// may take: it must save at least max(64 bytes, 10 %).
func ocMaxStored(n int) int {
	return n - max(64, (n+9)/10)
}

// ocNavigator computes navigation_json through SQLite, as OpenClaw does.
type ocNavigator interface {
	QueryRowContext(ctx context.Context, args ...any) *sql.Row
}

// payload applies OpenClaw's rule (prepareTranscriptPayload) to one event.
func (c *ocCodec) payload(ctx context.Context, nav ocNavigator, ev []byte) (ocPayload, error) {
	plain := ocPayload{eventJSON: ev, utf8Bytes: len(ev)}
	if !ocEligible(ev) {
		return plain, nil
	}
	z := c.row.EncodeAll(ev, nil)
	limit := ocMaxStored(len(ev))
	if len(z) > limit {
		return plain, nil
	}
	report, ok := ocReport(ev)
	if !ok { // the session header, or not an object
		return plain, nil
	}
	var n sql.NullString
	if err := nav.QueryRowContext(ctx, string(ev), report).Scan(&n); err != nil {
		return plain, fmt.Errorf("corpus: navigation_json: %w", err)
	}
	if !n.Valid || len(n.String) > ocMaxNavigationBytes || len(z)+len(n.String) > limit {
		return plain, nil
	}
	return ocPayload{zstd: z, nav: n, utf8Bytes: len(ev)}, nil
}

var ocEntryTypes = map[string]bool{"message": true, "thinking_level_change": true, "model_change": true,
	"compaction": true, "reset": true, "branch_summary": true, "custom": true, "custom_message": true,
	"label": true, "session_info": true}

// ocReport is JSON.stringify(projectSessionTranscriptReportFacts(event)) for
// the recognised entries the generator writes; ok is false for the session
// header (never compressed) and for anything that is not an object.
func ocReport(ev []byte) (string, bool) {
	v, err := fastjson.ParseBytes(ev)
	if err != nil || v.Type() != fastjson.TypeObject {
		return "", false
	}
	typ := string(v.GetStringBytes("type"))
	if typ == "session" && v.Get("id") != nil {
		return "", false
	}
	b := []byte(`{"kind":"`)
	if !ocEntryTypes[typ] || len(v.GetStringBytes("id")) == 0 {
		// Not a recognised entry: a parent-linked opaque one, or ignored.
		if len(v.GetStringBytes("id")) == 0 || v.Get("parentId") == nil {
			return `{"kind":"ignored"}`, true
		}
		b = append(b, `link","id":`...)
		b = appendJSONString(b, string(v.GetStringBytes("id")))
		b = append(b, `,"parentId":`...)
		b = appendJSONValue(b, v.Get("parentId"))
		return string(append(b, '}')), true
	}
	parent := v.Get("parentId")
	b = append(b, `canonical","hasParentId":`...)
	if parent != nil {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, `,"entry":{"id":`...)
	b = appendJSONString(b, string(v.GetStringBytes("id")))
	if parent != nil {
		b = append(b, `,"parentId":`...)
		b = appendJSONValue(b, parent)
	}
	if ts := v.Get("timestamp"); ts != nil {
		b = append(b, `,"timestamp":`...)
		b = appendJSONValue(b, ts)
	}
	if am := v.Get("appendMode"); am != nil {
		b = append(b, `,"appendMode":`...)
		b = appendJSONValue(b, am)
	}
	b = append(b, `,"type":`...)
	b = appendJSONString(b, typ)
	msg := v.Get("message")
	if typ == "message" && msg != nil && string(msg.GetStringBytes("role")) == "assistant" {
		if run := msg.GetStringBytes("__openclaw", "runId"); len(run) > 0 {
			b = append(b, `,"assistantRunId":`...)
			b = appendJSONString(b, string(run))
		}
		if rid := msg.Get("responseId"); rid != nil && rid.Type() == fastjson.TypeString {
			b = append(b, `,"assistantResponseId":`...)
			b = appendJSONString(b, string(rid.GetStringBytes()))
		}
	}
	return string(append(b, "}}"...)), true
}

func appendJSONValue(b []byte, v *fastjson.Value) []byte {
	if v.Type() == fastjson.TypeString {
		return appendJSONString(b, string(v.GetStringBytes()))
	}
	return v.MarshalTo(b)
}

// ocCreate creates a database for the generator. It is written with the
// rollback journal in memory and no syncs (a generator that fails leaves
// nothing worth keeping), then switched to WAL by ocSetWAL, as OpenClaw keeps
// its databases: writing through the WAL would write every page twice.
func ocCreate(path string) (*sql.DB, error) {
	// auto_vacuum must be chosen before the first table (the fixtures use
	// INCREMENTAL).
	q := "_pragma=auto_vacuum(2)&_pragma=journal_mode(MEMORY)&_pragma=synchronous(OFF)&_pragma=cache_size(-16384)" +
		"&_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("corpus: %s exists already", path)
	}
	db, err := sql.Open("sqlite", ocFileURI(path, q))
	if err != nil {
		return nil, fmt.Errorf("corpus: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("corpus: open %s: %w", path, err)
	}
	return db, nil
}

// ocSetWAL puts a generated database in WAL mode, as OpenClaw's are.
func ocSetWAL(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return fmt.Errorf("corpus: journal_mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("corpus: journal_mode is %s, not wal", mode)
	}
	return nil
}

// ocCreateAgentDB writes an empty agent database of schema 23 at path.
func ocCreateAgentDB(ctx context.Context, path, agentID string, at int64) (*sql.DB, error) {
	db, err := ocCreate(path)
	if err != nil {
		return nil, err
	}
	err = func() error {
		if _, err := db.ExecContext(ctx, ocAgentSchema); err != nil {
			return fmt.Errorf("agent schema: %w", err)
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", OpenClawAgentSchemaVersion)); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_meta (meta_key, role, schema_version, agent_id, app_version,
			created_at, updated_at) VALUES ('primary', 'agent', ?, ?, ?, ?, ?)`,
			OpenClawAgentSchemaVersion, agentID, OpenClawVersion, at, at); err != nil {
			return err
		}
		_, err := db.ExecContext(ctx, `INSERT INTO session_key_contract (id, main_key, canonical_ready, updated_at)
			VALUES (1, 'main', ?, 0)`, fmt.Sprintf(`[1,"main","65024:%d","%d"]`, at%100_000_000, at*1_000_000))
		return err
	}()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("corpus: %s: %w", path, err)
	}
	return db, nil
}

// ocCreateStateDB writes <state>/state/openclaw.sqlite listing the agent
// databases (agent_databases), with paths relative to the state directory
// when they are inside it, as OpenClaw stores them.
func ocCreateStateDB(ctx context.Context, stateDir string, dbs []OpenClawDatabase, at int64) (string, error) {
	path := filepath.Join(stateDir, "state", "openclaw.sqlite")
	db, err := ocCreate(path)
	if err != nil {
		return "", err
	}
	defer db.Close()
	err = func() error {
		if _, err := db.ExecContext(ctx, ocStateSchema); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", OpenClawStateSchemaVersion)); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_meta (meta_key, role, schema_version, agent_id, app_version,
			created_at, updated_at) VALUES ('primary', 'global', ?, NULL, ?, ?, ?)`,
			OpenClawStateSchemaVersion, OpenClawVersion, at, at); err != nil {
			return err
		}
		for _, d := range dbs {
			stored := d.Path
			if rel, err := filepath.Rel(stateDir, d.Path); err == nil && filepath.IsLocal(rel) {
				stored = rel
			}
			var size any
			if fi, err := os.Stat(d.Path); err == nil {
				size = fi.Size()
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO agent_databases (agent_id, path, schema_version, last_seen_at,
				size_bytes) VALUES (?, ?, ?, ?, ?)`, d.Agent, stored, OpenClawAgentSchemaVersion, at, size); err != nil {
				return err
			}
		}
		return ocSetWAL(ctx, db)
	}()
	if err != nil {
		return "", fmt.Errorf("corpus: %s: %w", path, err)
	}
	return path, db.Close()
}

// ocRowWriter inserts transcript rows and their identities inside one
// transaction, applying the compression rule row by row.
type ocRowWriter struct {
	codec               *ocCodec
	nav, event, ident   *sql.Stmt
	rows, compressed    int64
	callRows, compCalls int64
}

func newOCRowWriter(ctx context.Context, tx *sql.Tx, codec *ocCodec) (*ocRowWriter, error) {
	w := &ocRowWriter{codec: codec}
	var err error
	if w.nav, err = tx.PrepareContext(ctx, ocNavigationSQL); err != nil {
		return nil, fmt.Errorf("corpus: prepare navigation: %w", err)
	}
	if w.event, err = tx.PrepareContext(ctx, `INSERT INTO transcript_events (session_id, seq, event_json, created_at,
		event_zstd, event_utf8_bytes, navigation_json) VALUES (?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return nil, fmt.Errorf("corpus: prepare insert: %w", err)
	}
	if w.ident, err = tx.PrepareContext(ctx, `INSERT INTO transcript_event_identities (session_id, event_id, seq,
		event_type, parent_id, message_idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return nil, fmt.Errorf("corpus: prepare insert: %w", err)
	}
	return w, nil
}

func (w *ocRowWriter) close() {
	for _, s := range []*sql.Stmt{w.nav, w.event, w.ident} {
		if s != nil {
			s.Close()
		}
	}
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// insert stores one event at seq and returns whether it was compressed.
func (w *ocRowWriter) insert(ctx context.Context, sessionID string, seq int, ev *ocEvent) (bool, error) {
	p, err := w.codec.payload(ctx, w.nav, ev.json)
	if err != nil {
		return false, err
	}
	var ej any
	if p.eventJSON != nil {
		ej = string(p.eventJSON)
	}
	var z any
	if p.zstd != nil {
		z = p.zstd
	}
	if _, err := w.event.ExecContext(ctx, sessionID, seq, ej, ev.at, z, p.utf8Bytes, p.nav); err != nil {
		return false, fmt.Errorf("corpus: insert event %s/%d: %w", sessionID, seq, err)
	}
	id := ev.id
	if id == "" {
		id = fmt.Sprintf("%s:%d", sessionID, seq)
	}
	if _, err := w.ident.ExecContext(ctx, sessionID, id, seq, nullString(ev.typ), nullString(ev.parent),
		nullString(ev.idem), ev.at); err != nil {
		return false, fmt.Errorf("corpus: insert identity %s/%d: %w", sessionID, seq, err)
	}
	w.rows++
	isCall := ev.kind == lineUsage
	if isCall {
		w.callRows++
	}
	if p.zstd != nil {
		w.compressed++
		if isCall {
			w.compCalls++
		}
	}
	return p.zstd != nil, nil
}

// ocIsBusy reports whether err is SQLITE_BUSY (or one of its extended codes).
func ocIsBusy(err error) bool {
	var se interface{ Code() int }
	return errors.As(err, &se) && se.Code()&0xff == 5
}
