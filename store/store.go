// Package store keeps quotawatch's state in one SQLite file: usage events,
// per-customer rollups, file checkpoints and the sessions ever seen.
//
// One writer connection does all writes (SQLite allows one writer); readers
// use a separate pool, which WAL lets run during a write.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"modernc.org/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

func init() {
	// The DSN carries only pragmas we write ourselves, but refusing
	// multi-statement pragma values costs nothing.
	sqlite.StrictPragmas(true)
}

// Store is an open quotawatch database.
type Store struct {
	path string
	w    *sql.DB // single writer connection (the reader pool when read-only)
	r    *sql.DB // readers
	// readOnly stores refuse every write: SQLite answers "attempt to write
	// a readonly database".
	readOnly bool
	// version is DataVersion's kept reader connection.
	version versionConn
	// session is Session's query, prepared once: a backfill asks it for
	// every transcript whose session sessions.json named, and preparing it
	// each time was most of its cost (0.15 of 0.2 s over 9,500 files).
	session struct {
		mu sync.Mutex
		st *sql.Stmt
	}
	// stmts are the batches' statements, prepared once.
	stmts writerStmts
}

// ErrNoDatabase is returned by OpenReadOnly when the file does not exist.
var ErrNoDatabase = errors.New("no database")

// ErrSchemaNewer is returned when the database was written by a newer
// quotawatch than this binary.
var ErrSchemaNewer = errors.New("database schema is newer than this binary")

// ErrSchemaOlder is returned by OpenReadOnly when the database still needs a
// migration, which only a writer may apply.
var ErrSchemaOlder = errors.New("database schema is older than this binary")

// SchemaVersion is the schema this binary writes: the number of embedded
// migrations.
func SchemaVersion() int {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	return len(names)
}

func fileURI(path, query string) string {
	u := url.URL{Scheme: "file", Path: path}
	return u.String() + "?" + query
}

// Open opens (creating with mode 0600 if needed) and migrates the database.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open store: empty path")
	}
	// A file: URI needs an absolute path ("file://./x.db" would name a host).
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	path = abs
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open store: create directory %s: %w", dir, err)
		}
	}
	// Create the file ourselves so it is 0600 from its first byte; SQLite
	// gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	f.Close()

	dsn := func(extra string) string {
		return fileURI(path, "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(OFF)"+extra)
	}
	// The writer's page cache: 1 MiB, not SQLite's 2 MiB. Each 4 KiB page
	// takes an 8 KiB slot in modernc's allocator, so the default held ~4 MiB
	// at a backfill's peak; at 1 MiB the backfill's CPU is the same within
	// the noise (docs/BENCHMARKS.md) and 256 KiB was measurably slower.
	// Its WAL is checkpointed every 4,000 pages (16 MiB), not SQLite's
	// 1,000: a backfill's batches dirty the same index and rollup pages
	// again and again, and each checkpoint copies them (with an fsync of
	// the WAL and one of the database); at 1,000 the writer, which bounds
	// the backfill, spent ~0.2 s copying and ~0.27 s in fsync of a 1.7 s
	// sparse backfill. The WAL file may grow to ~16 MiB of disk; memory
	// does not (docs/BENCHMARKS.md, Round 5).
	w, err := sql.Open("sqlite", dsn("&_txlock=immediate&_pragma=cache_size(-1024)&_pragma=wal_autocheckpoint(4000)"))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	// A reader's page cache is emptied whenever a write has happened since
	// its last read (WAL), which in a backfill or run is almost every read:
	// SQLite's default 2 MiB a connection (4 MiB in modernc's allocator,
	// each 4 KiB page in an 8 KiB slot) bought nothing but resident memory.
	r, err := sql.Open("sqlite", dsn("&_pragma=cache_size(-256)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{path: path, w: w, r: r}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// OpenReadOnly opens an existing database for reading only: it creates no
// file, applies no migration and writes nothing, so a read command can run
// beside `run`, as another user with read access, or with another config
// without touching the shared history.
func OpenReadOnly(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open store: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoDatabase, abs)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open store %s: not a regular file", abs)
	}
	// mode=ro: SQLite never writes the database file. A WAL database still
	// needs a -shm file to be read; while a writer runs, it exists. With no
	// -wal file no writer is open and the main file holds everything: it
	// is read as immutable, which creates no -wal/-shm beside it and works
	// for a user who may read the file but not write its directory. (A
	// writer that starts meanwhile writes to its WAL, not to this file,
	// until a checkpoint.)
	query := "mode=ro&_pragma=busy_timeout(10000)"
	if _, err := os.Stat(abs + "-wal"); errors.Is(err, os.ErrNotExist) {
		query = "mode=ro&immutable=1"
	}
	db, err := sql.Open("sqlite", fileURI(abs, query))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	db.SetMaxOpenConns(4)
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("read schema version of %s: %w", abs, err)
	}
	s := &Store{path: abs, w: db, r: db, readOnly: true}
	switch want := SchemaVersion(); {
	case version == 0:
		db.Close()
		return nil, fmt.Errorf("%w at %s (the file is not a quotawatch database yet)", ErrNoDatabase, abs)
	case version > want:
		db.Close()
		return nil, fmt.Errorf("%w: %s has schema version %d, this binary knows %d: use the newer quotawatch", ErrSchemaNewer, abs, version, want)
	case version < want:
		db.Close()
		return nil, fmt.Errorf("%w: %s has schema version %d, this binary writes %d: `quotawatch run` or `quotawatch backfill` upgrades it", ErrSchemaOlder, abs, version, want)
	}
	return s, nil
}

// ReadOnly reports whether the store was opened with OpenReadOnly.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Backup writes a consistent copy of the database, WAL included, to dst
// (which must not exist) with VACUUM INTO: a read transaction, so it is
// safe while `run` writes. The copy is created 0600, like the database.
func (s *Store) Backup(ctx context.Context, dst string) error {
	abs, err := filepath.Abs(dst)
	if err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	// VACUUM INTO accepts an empty existing file: creating it first, with
	// O_EXCL, refuses to overwrite anything and fixes the mode.
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup to %s: %w", abs, err)
	}
	f.Close()
	if _, err := s.r.ExecContext(ctx, "VACUUM INTO ?", abs); err != nil {
		os.Remove(abs)
		return fmt.Errorf("backup %s to %s: %w", s.path, abs, err)
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close closes both pools.
func (s *Store) Close() error {
	errs := []error{s.closeVersion(), s.closeWriterStmts()}
	s.session.mu.Lock()
	if s.session.st != nil {
		errs = append(errs, s.session.st.Close())
		s.session.st = nil
	}
	s.session.mu.Unlock()
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil && s.w != s.r {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// DB exposes the writer pool to sibling packages' stores (alerts outbox).
func (s *Store) DB() *sql.DB { return s.w }

func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	var version int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version of %s: %w", s.path, err)
	}
	if version > len(names) {
		return fmt.Errorf("database %s has schema version %d, newer than this binary knows (%d)", s.path, version, len(names))
	}
	if version == len(names) {
		return nil
	}
	// Every pending migration runs in one transaction: a process killed
	// part-way leaves the database at the version it had, never between
	// two, where read commands would refuse it until a writer ran. A stop
	// (SIGTERM) does not cancel it: rolled back, it would start over on
	// every start, and a service stopped early each time would never get
	// past it.
	ctx = context.WithoutCancel(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration of %s: %w", s.path, err)
	}
	defer tx.Rollback()
	for i := version; i < len(names); i++ {
		body, err := migrations.ReadFile(names[i])
		if err != nil {
			return fmt.Errorf("read migration %s: %w", names[i], err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("apply migration %s: %w", names[i], err)
		}
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(len(names))); err != nil {
		return fmt.Errorf("record schema version %d: %w", len(names), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration of %s to version %d: %w", s.path, len(names), err)
	}
	return nil
}

// Meta reads a value from the meta table ("" when absent).
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read meta %s: %w", key, err)
	}
	return v, nil
}

// SetMeta writes a value to the meta table.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	_, err := s.w.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value)
	if err != nil {
		return fmt.Errorf("write meta %s: %w", key, err)
	}
	return nil
}

// placeholders returns "?,?,?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
