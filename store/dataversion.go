package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Version identifies the database's committed state as one reader
// connection sees it: it changes when any connection, in this process or
// another, commits a write. Two Versions are only comparable as a whole:
// equal means nothing was committed in between.
type Version struct {
	// Conn counts the connections DataVersion has used: PRAGMA
	// data_version is only comparable on one connection, so a new one
	// makes a new Version even if its counter repeats an old value.
	Conn int64
	// Data is PRAGMA data_version on that connection.
	Data int64
}

// versionConn is the reader connection DataVersion keeps for its pragma.
type versionConn struct {
	mu   sync.Mutex
	c    *sql.Conn
	used int64
}

// DataVersion returns the database's current Version, for caches of what
// is computed from it (the dashboard's rendered pages). It costs one
// pragma on a kept reader connection: no read transaction, no lock.
func (s *Store) DataVersion(ctx context.Context) (Version, error) {
	v := &s.version
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.c == nil {
		c, err := s.r.Conn(ctx)
		if err != nil {
			return Version{}, fmt.Errorf("data version of %s: %w", s.path, err)
		}
		v.c = c
		v.used++
	}
	var n int64
	if err := v.c.QueryRowContext(ctx, "PRAGMA data_version").Scan(&n); err != nil {
		// A broken connection is dropped; the next call takes a new one
		// (and so a new Version).
		v.c.Close()
		v.c = nil
		return Version{}, fmt.Errorf("data version of %s: %w", s.path, err)
	}
	return Version{Conn: v.used, Data: n}, nil
}

// closeVersion releases DataVersion's connection (Close calls it first,
// so closing the pool does not wait on it).
func (s *Store) closeVersion() error {
	v := &s.version
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.c == nil {
		return nil
	}
	err := v.c.Close()
	v.c = nil
	return err
}
