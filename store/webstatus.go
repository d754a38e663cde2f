package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
)

// FileStatus is one file's checkpoint as `status` and the dashboard show it.
type FileStatus struct {
	Path      string
	Agent     string
	Offset    int64
	Lines     int64
	Events    int64
	Bad       int64
	UpdatedMs int64
}

// FileStatuses returns every file checkpoint, by path.
func (s *Store) FileStatuses(ctx context.Context) ([]FileStatus, error) {
	var out []FileStatus
	err := s.EachFileStatus(ctx, func(f FileStatus) { out = append(out, f) })
	return out, err
}

// EachFileStatus hands every file checkpoint to fn, by path, without
// holding them all.
func (s *Store) EachFileStatus(ctx context.Context, fn func(FileStatus)) error {
	rows, err := s.r.QueryContext(ctx, `SELECT path, agent, off, lines, events, bad, updated_ms FROM files ORDER BY path`)
	if err != nil {
		return fmt.Errorf("read file checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f FileStatus
		if err := rows.Scan(&f.Path, &f.Agent, &f.Offset, &f.Lines, &f.Events, &f.Bad, &f.UpdatedMs); err != nil {
			return fmt.Errorf("read file checkpoints: %w", err)
		}
		fn(f)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read file checkpoints: %w", err)
	}
	return nil
}

// NewestEventWindow is how many of the most recently stored events
// NewestEventMs looks at.
const NewestEventWindow = 10_000

// NewestEventMs is the newest event time among the NewestEventWindow events
// stored last (ok false when there is none). events has no index on time,
// and MAX(ts) over millions of rows is a full scan on every scrape; the
// rowid range is a seek, and while following, the events stored last are
// the newest ones.
func (s *Store) NewestEventMs(ctx context.Context) (ms int64, ok bool, err error) {
	var v sql.NullInt64
	err = s.r.QueryRowContext(ctx, `SELECT MAX(ts) FROM events WHERE id > (SELECT COALESCE(MAX(id), 0) FROM events) - ?`,
		NewestEventWindow).Scan(&v)
	if err != nil {
		return 0, false, fmt.Errorf("read newest event time: %w", err)
	}
	return v.Int64, v.Valid, nil
}

// AlertStats counts the outbox.
type AlertStats struct {
	// ByStatus counts rows per status (pending, sent, failed, skipped).
	ByStatus map[string]int64
	// FailedAttempts is the delivery attempts that did not succeed: every
	// attempt of a failed or pending row, all but the last of a sent one.
	// A paused (halted) delivery takes its attempt back, so it is not here.
	FailedAttempts int64
}

// AlertStats counts the outbox rows by status and the failed attempts.
func (s *Store) AlertStats(ctx context.Context) (AlertStats, error) {
	out := AlertStats{ByStatus: map[string]int64{AlertPending: 0, AlertSent: 0, AlertFailed: 0, AlertSkipped: 0}}
	rows, err := s.r.QueryContext(ctx, `SELECT status, COUNT(*), COALESCE(SUM(attempts), 0) FROM outbox GROUP BY status`)
	if err != nil {
		return out, fmt.Errorf("count alerts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n, attempts int64
		if err := rows.Scan(&status, &n, &attempts); err != nil {
			return out, fmt.Errorf("count alerts: %w", err)
		}
		out.ByStatus[status] = n
		switch status {
		case AlertSent:
			out.FailedAttempts += max(attempts-n, 0)
		case AlertFailed, AlertPending:
			out.FailedAttempts += attempts
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("count alerts: %w", err)
	}
	return out, nil
}

// SizeBytes is the size on disk of the database file and its -wal.
func (s *Store) SizeBytes() (int64, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", s.path, err)
	}
	n := fi.Size()
	if w, err := os.Stat(s.path + "-wal"); err == nil {
		n += w.Size()
	}
	return n, nil
}

// LastActiveDays returns, for every customer with usage in period, the last
// day of the period (YYYY-MM-DD in its timezone) on which it made a call.
// Each customer's day is one seek in daily_totals' primary key (a third of rollup_daily's rows), so the
// dashboard's front page stays fast with thousands of customers.
func (s *Store) LastActiveDays(ctx context.Context, period string) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT customer,
		(SELECT MAX(day) FROM daily_totals d WHERE d.customer = r.customer AND d.day BETWEEN ? AND ?)
		FROM rollup r WHERE r.period = ?`, period+"-01", period+"-31", period)
	if err != nil {
		return nil, fmt.Errorf("read last active days of %s: %w", period, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var c string
		var d sql.NullString
		if err := rows.Scan(&c, &d); err != nil {
			return nil, fmt.Errorf("read last active days of %s: %w", period, err)
		}
		if d.Valid {
			out[c] = d.String
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read last active days of %s: %w", period, err)
	}
	return out, nil
}

// CursorStatuses is Cursors read through the reader pool, without their
// state: the dashboard must never wait for, or hold up, the ingest
// writer's one connection.
func (s *Store) CursorStatuses(ctx context.Context) ([]Cursor, error) {
	return readCursors(ctx, s.r, "''")
}

// Ping checks that the database answers a read.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		return fmt.Errorf("ping %s: %w", s.path, err)
	}
	return nil
}
