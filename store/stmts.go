package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
)

// writerStmts are the statements every batch runs, prepared once on the
// writer connection instead of once per batch: a backfill commits a batch
// every ~1,000 events, and SQLite's parser was 6 % of its CPU (0.22 s of a
// 3.7 s sparse backfill, docs/BENCHMARKS.md Round 7).
//
// The database/sql ones are prepared through the writer pool before a
// batch takes its connection (the pool's only one: preparing while a batch
// holds it would wait for ever), and a batch's transaction reuses them by
// Tx.StmtContext, which re-prepares on its own should the pool have
// replaced the connection. The driver ones (event inserts and rollup
// upserts, which bind hundreds of values a statement and go straight to
// the driver) belong to one driver connection and are dropped with it.
type writerStmts struct {
	mu  sync.Mutex
	sql map[string]*sql.Stmt
	// dc is the driver connection raw's statements were prepared on.
	dc  any
	raw map[string]driver.StmtExecContext
}

// writerQueries are the statements prepared through the pool.
func writerQueries() []string {
	qs := []string{lastEventID, newKeys, upsertSession, upsertCheckpoint, stampCheckpoint, upsertCursor, pruneDaily, pruneRollup, moveSelect, moveUpdate}
	for _, n := range elsewhereSizes {
		qs = append(qs, elsewhereQuery(n))
	}
	return qs
}

// prepare prepares the writer's database/sql statements once. It must run
// while no batch holds the writer connection.
func (s *Store) prepareWriter(ctx context.Context) error {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if s.stmts.sql != nil || s.readOnly {
		return nil
	}
	m := map[string]*sql.Stmt{}
	for _, q := range writerQueries() {
		st, err := s.w.PrepareContext(ctx, q)
		if err != nil {
			for _, st := range m {
				st.Close()
			}
			return fmt.Errorf("prepare the writer's statements: %w", err)
		}
		m[q] = st
	}
	s.stmts.sql = m
	return nil
}

// txStmt returns query bound to tx: the writer's prepared statement when
// there is one, else a statement prepared in tx. The caller closes it
// (which leaves a prepared one prepared).
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.stmts.mu.Lock()
	st := s.stmts.sql[query]
	s.stmts.mu.Unlock()
	if st != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, query)
}

// rawStmt returns query prepared on driver connection dc (inside
// Conn.Raw), preparing it on first use on that connection.
func (s *Store) rawStmt(ctx context.Context, dc any, query string) (driver.StmtExecContext, error) {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if s.stmts.dc != dc {
		// The pool replaced the connection (it closed the old one, and its
		// statements with it): start again on this one.
		s.stmts.dc, s.stmts.raw = dc, map[string]driver.StmtExecContext{}
	}
	if st := s.stmts.raw[query]; st != nil {
		return st, nil
	}
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("driver %T cannot prepare with a context", dc)
	}
	ds, err := pc.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(driver.StmtExecContext)
	if !ok {
		ds.Close()
		return nil, fmt.Errorf("driver statement %T cannot execute with a context", ds)
	}
	s.stmts.raw[query] = st
	return st, nil
}

// closeRaw finalizes the driver statements of dc while it is still open
// (before the pool drops it, or the store closes).
func (s *Store) closeRaw(dc any) error {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if s.stmts.dc != dc {
		return nil
	}
	var errs []error
	for _, st := range s.stmts.raw {
		errs = append(errs, st.(driver.Stmt).Close())
	}
	s.stmts.dc, s.stmts.raw = nil, nil
	return errors.Join(errs...)
}

// closeWriterStmts closes every prepared writer statement; Close calls it
// before closing the pools.
func (s *Store) closeWriterStmts() error {
	var errs []error
	s.stmts.mu.Lock()
	for _, st := range s.stmts.sql {
		errs = append(errs, st.Close())
	}
	s.stmts.sql = nil
	held := s.stmts.dc != nil
	s.stmts.mu.Unlock()
	if held && s.w != nil {
		conn, err := s.w.Conn(context.Background())
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("close the writer's statements: %w", err))...)
		}
		errs = append(errs, conn.Raw(func(dc any) error { return s.closeRaw(dc) }), conn.Close())
	}
	return errors.Join(errs...)
}
