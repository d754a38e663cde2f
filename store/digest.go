package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The operator's daily digest lives in the outbox, next to the warnings, so
// it is recorded, retried, leased and listed exactly like them. A digest row
// is told apart by its customer: NoticeCustomer, which no configured
// customer can have (the config refuses an empty id), so no reader that
// looks up a customer's warnings, flags or decision keys ever sees one.
// Its period is the month of its day (so `alerts --month` lists it), its
// threshold 0 (so it never supersedes and is never superseded), and its
// limit_key "digest <day> <part>/<parts>": unique per part, and one day's
// parts share the prefix RecordDigest checks.
const (
	// NoticeCustomer is the customer of operator notices that are about no
	// one customer (the digest).
	NoticeCustomer = ""
	// DigestUnit is the unit column of a digest row; Used and Limit hold
	// the part number and the number of parts.
	DigestUnit = "digest"
)

// DigestLimitKey is the limit_key of one part of the digest of day.
func DigestLimitKey(day string, part, parts int) string {
	return "digest " + day + " " + strconv.Itoa(part) + "/" + strconv.Itoa(parts)
}

// digestPrefix is the limit_key prefix every part of day's digest shares.
func digestPrefix(day string) string { return "digest " + day + " " }

// ErrDigestRecorded is returned by RecordDigest when the day's digest is
// already in the outbox.
var ErrDigestRecorded = errors.New("the digest of this day is already recorded")

// RecordDigest inserts every part of the digest of day (YYYY-MM-DD) in one
// write transaction, unless a digest of that day is already recorded: then
// it inserts nothing and returns ErrDigestRecorded. The check and the
// inserts share the write lock, so `run` and `quotawatch digest` at the
// same moment record one digest, and a digest split differently by two
// processes (its text changed in between) is never recorded twice. The
// parts must be in order; they are returned with their ids.
func (s *Store) RecordDigest(ctx context.Context, day string, parts []Alert) ([]Alert, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("record digest %s: no parts", day)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin digest %s: %w", day, err)
	}
	defer tx.Rollback()
	done, err := digestRecorded(ctx, tx, day)
	if err != nil {
		return nil, err
	}
	if done {
		return nil, ErrDigestRecorded
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO outbox (customer, period, threshold, limit_key, recipient_kind, recipient, channel,
		language, percent, used, lim, unit, flag, message, params, status, attempts, last_error, provider_id, created_ms,
		next_attempt_ms, sent_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return nil, fmt.Errorf("prepare digest %s insert: %w", day, err)
	}
	defer st.Close()
	out := make([]Alert, 0, len(parts))
	for _, a := range parts {
		if a.Customer != NoticeCustomer || !strings.HasPrefix(a.LimitKey, digestPrefix(day)) {
			return nil, fmt.Errorf("record digest %s: part %q is not a digest row of that day", day, a.LimitKey)
		}
		if a.Params == "" {
			a.Params = "{}"
		}
		r, err := st.ExecContext(ctx, a.Customer, a.Period, a.Threshold, a.LimitKey, a.To, a.Recipient, a.Channel, a.Language,
			a.Percent, a.Used, a.Limit, a.Unit, boolInt(a.Flag), a.Message, a.Params, a.Status, a.Attempts, a.LastError,
			a.ProviderID, a.CreatedMs, a.NextAttemptMs, a.SentMs, a.UpdatedMs)
		if err != nil {
			return nil, fmt.Errorf("record digest %s part %s: %w", day, a.LimitKey, err)
		}
		if a.ID, err = r.LastInsertId(); err != nil {
			return nil, fmt.Errorf("record digest %s part %s: %w", day, a.LimitKey, err)
		}
		out = append(out, a)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit digest %s: %w", day, err)
	}
	return out, nil
}

type querier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func digestRecorded(ctx context.Context, q querier, day string) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE customer = ? AND period = ? AND substr(limit_key, 1, ?) = ?`,
		NoticeCustomer, periodOfDay(day), len(digestPrefix(day)), digestPrefix(day)).Scan(&n); err != nil {
		return false, fmt.Errorf("look up the digest of %s: %w", day, err)
	}
	return n > 0, nil
}

// DigestRecorded reports whether the digest of day is in the outbox
// (whatever became of its delivery).
func (s *Store) DigestRecorded(ctx context.Context, day string) (bool, error) {
	return digestRecorded(ctx, s.r, day)
}

// DigestParts returns the parts of day's digest in order (none when it is
// not recorded).
func (s *Store) DigestParts(ctx context.Context, day string) ([]Alert, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+alertCols+` FROM outbox WHERE customer = ? AND period = ? AND substr(limit_key, 1, ?) = ?
		ORDER BY id`, NoticeCustomer, periodOfDay(day), len(digestPrefix(day)), digestPrefix(day))
	if err != nil {
		return nil, fmt.Errorf("read the digest of %s: %w", day, err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("read the digest of %s: %w", day, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the digest of %s: %w", day, err)
	}
	return out, nil
}

// LastDigest is what the newest recorded digest kept about itself: its day,
// when it was recorded, and the variables of its first part (the bad-line
// total at that moment, which the next digest subtracts). ok is false
// before the first digest.
func (s *Store) LastDigest(ctx context.Context) (day string, createdMs int64, vars map[string]string, ok bool, err error) {
	var key, params string
	err = s.r.QueryRowContext(ctx, `SELECT limit_key, created_ms, params FROM outbox WHERE customer = ? AND unit = ?
		ORDER BY created_ms DESC, id ASC LIMIT 1`, NoticeCustomer, DigestUnit).Scan(&key, &createdMs, &params)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil, false, nil
	}
	if err != nil {
		return "", 0, nil, false, fmt.Errorf("read the last digest: %w", err)
	}
	if f := strings.Fields(key); len(f) == 3 {
		day = f[1]
	}
	vars = map[string]string{}
	_ = json.Unmarshal([]byte(params), &vars) // a row written by hand is no reason to stop the digest
	return day, createdMs, vars, true, nil
}

func periodOfDay(day string) string {
	if len(day) >= 7 {
		return day[:7]
	}
	return day
}

// holdNoticesInOrder keeps the parts of a digest in order when one of them
// waits for a retry (or sits under another process's lease): a pending
// notice row (NoticeCustomer) that is due is moved to the next attempt of
// the latest earlier pending notice of its period. The claim takes rows by
// (next_attempt_ms, id), so an earlier part always goes first, and a held
// part never looks due (which would make the delivery worker poll it).
// It runs in the claim's write transaction.
func holdNoticesInOrder(ctx context.Context, tx *sql.Tx, nowMs int64) error {
	const earlier = `(SELECT MAX(e.next_attempt_ms) FROM outbox e WHERE e.customer = outbox.customer AND e.period = outbox.period
		AND e.status = 'pending' AND e.id < outbox.id)`
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET next_attempt_ms = `+earlier+`
		WHERE status = 'pending' AND next_attempt_ms <= ? AND customer = ? AND next_attempt_ms < `+earlier,
		nowMs, NoticeCustomer); err != nil {
		return fmt.Errorf("keep digest parts in order: %w", err)
	}
	return nil
}

// AlertsSince returns the outbox rows whose state changed at or after
// sinceMs (sent, failed, skipped or retried since then), and every row
// still pending, oldest first: what the digest reports as the last 24
// hours of warnings.
func (s *Store) AlertsSince(ctx context.Context, sinceMs int64) ([]Alert, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+alertCols+` FROM outbox WHERE updated_ms >= ? OR status = 'pending'
		ORDER BY created_ms, id`, sinceMs)
	if err != nil {
		return nil, fmt.Errorf("list alerts since %d: %w", sinceMs, err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("list alerts since %d: %w", sinceMs, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list alerts since %d: %w", sinceMs, err)
	}
	return out, nil
}

// SessionUsage is one session's calls billed to a customer in a period.
type SessionUsage struct {
	Agent     string
	SessionID string
	Key       string
	Peer      string
	Channel   string
	Requests  int64 // successful calls
	Failed    int64
	LastMs    int64
}

// SessionsOf returns the sessions billed to customer with calls in period,
// the most requests first, at most limit of them (0 = all), and how many
// there are in all. It starts from the sessions table, which is small, and
// reads each one's events the two ways a session's events are found
// (sessionCB, sessionOther in ingest.go): cb/ keys by their range in the
// key index, the prefix built in SQL exactly as eventkey.SessionPrefix
// builds it, and the others through the partial index. CROSS JOIN keeps
// sessions the outer loop, and the unary + on the events' columns keeps
// SQLite from building an automatic index over all the events instead of
// searching the key range.
func (s *Store) SessionsOf(ctx context.Context, customer, period string, limit int) ([]SessionUsage, int, error) {
	rows, err := s.r.QueryContext(ctx, sessionsOfQuery, customer, period)
	if err != nil {
		return nil, 0, fmt.Errorf("list the sessions of %s in %s: %w", customer, period, err)
	}
	defer rows.Close()
	var out []SessionUsage
	n := 0
	for rows.Next() {
		n++
		if limit > 0 && len(out) >= limit {
			continue
		}
		var u SessionUsage
		if err := rows.Scan(&u.Agent, &u.SessionID, &u.Key, &u.Peer, &u.Channel, &u.Requests, &u.Failed, &u.LastMs); err != nil {
			return nil, 0, fmt.Errorf("list the sessions of %s in %s: %w", customer, period, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list the sessions of %s in %s: %w", customer, period, err)
	}
	return out, n, nil
}

// sessionsOfQuery is SessionsOf's query: ?1 the customer, ?2 the period.
const sessionsOfQuery = `SELECT agent, session_id, session_key, peer, channel, SUM(failed = 0), SUM(failed), MAX(ts)
	FROM (SELECT s.agent, s.session_id, s.session_key, s.peer, s.channel, e.failed, e.ts
		FROM sessions s CROSS JOIN events e
		ON e.key >= ` + sqlSessionPrefix + ` || '/' AND e.key < ` + sqlSessionPrefix + ` || '0'
			AND +e.agent = s.agent AND +e.session_id = s.session_id
		WHERE s.customer = ?1 AND +e.customer = ?1 AND +e.period = ?2
	UNION ALL SELECT s.agent, s.session_id, s.session_key, s.peer, s.channel, e.failed, e.ts
		FROM sessions s CROSS JOIN events e
		ON e.agent = s.agent AND e.session_id = s.session_id AND (e.key < 'cb/' OR e.key >= 'cb0')
		WHERE s.customer = ?1 AND e.customer = ?1 AND e.period = ?2)
	GROUP BY agent, session_id
	ORDER BY SUM(failed = 0) DESC, MAX(ts) DESC, agent, session_id`

// FileHealth is one followed file as the digest's health section sees it.
type FileHealth struct {
	Path      string
	Bad       int64
	UpdatedMs int64
}

// Health is what the database knows of the sidecar's reading: the OpenClaw
// databases read (by cursor), the files' bad lines, and the newest event.
// The files themselves are handed to ReadHealth's callback one at a time:
// a history of 150,000 files held as a slice was ~45 MiB of a digest's
// heap, the largest peak of a sidecar that otherwise holds a few MiB.
type Health struct {
	// Databases are the items of the cursors of the OpenClaw kind (database
	// paths) with when each last advanced.
	Databases []FileHealth
	// BadLines is the sum of every file's bad-line count.
	BadLines int64
	// LastEventMs is the newest event's time (ok false: no event).
	LastEventMs int64
	HasEvents   bool
}

// ReadHealth reads the sidecar's health from the database, handing each
// followed file to file (by path) as it is read.
func (s *Store) ReadHealth(ctx context.Context, file func(FileHealth)) (Health, error) {
	var h Health
	err := s.EachFileStatus(ctx, func(f FileStatus) {
		h.BadLines += f.Bad
		file(FileHealth{Path: f.Path, Bad: f.Bad, UpdatedMs: f.UpdatedMs})
	})
	if err != nil {
		return h, err
	}
	cursors, err := s.CursorStatuses(ctx)
	if err != nil {
		return h, err
	}
	for _, c := range cursors {
		if c.Source == "openclaw" {
			h.Databases = append(h.Databases, FileHealth{Path: c.Item, UpdatedMs: c.UpdatedMs})
		}
	}
	var last sql.NullInt64
	if err := s.r.QueryRowContext(ctx, "SELECT MAX(ts) FROM events").Scan(&last); err != nil {
		return h, fmt.Errorf("read the last event time: %w", err)
	}
	h.LastEventMs, h.HasEvents = last.Int64, last.Valid
	return h, nil
}
