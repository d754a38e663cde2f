package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Cursor is how far a source that is not read by byte offset has read one
// of its items (an OpenClaw database, say). Files keep Checkpoints. State
// is the source kind's own JSON; the store only keeps it, in the same
// transaction as the events it accounts for.
type Cursor struct {
	Source    string // the source kind (and name, if it has one)
	Item      string // what was read, as the source names it
	State     string // JSON
	UpdatedMs int64  // set by Commit
}

const upsertCursor = `INSERT INTO cursors (source, item, state, updated_ms) VALUES (?, ?, ?, ?)
 ON CONFLICT(source, item) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms`

// writeCursors upserts a batch's cursors inside its transaction.
func writeCursors(ctx context.Context, s *Store, tx *sql.Tx, cs []Cursor) error {
	st, err := s.txStmt(ctx, tx, upsertCursor)
	if err != nil {
		return fmt.Errorf("prepare cursor upsert: %w", err)
	}
	defer st.Close()
	now := time.Now().UnixMilli()
	for _, c := range cs {
		if _, err := st.ExecContext(ctx, c.Source, c.Item, c.State, now); err != nil {
			return fmt.Errorf("write cursor for %s %s: %w", c.Source, c.Item, err)
		}
	}
	return nil
}

// Cursors returns every stored cursor.
func (s *Store) Cursors(ctx context.Context) ([]Cursor, error) {
	return readCursors(ctx, s.w, "state")
}

// readCursors reads the cursors through db (the writer's connection, or
// the reader pool), with state the column expression for their state.
func readCursors(ctx context.Context, db *sql.DB, state string) ([]Cursor, error) {
	rows, err := db.QueryContext(ctx, `SELECT source, item, `+state+`, updated_ms FROM cursors ORDER BY source, item`)
	if err != nil {
		return nil, fmt.Errorf("read cursors: %w", err)
	}
	defer rows.Close()
	var out []Cursor
	for rows.Next() {
		var c Cursor
		if err := rows.Scan(&c.Source, &c.Item, &c.State, &c.UpdatedMs); err != nil {
			return nil, fmt.Errorf("read cursors: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cursors: %w", err)
	}
	return out, nil
}
