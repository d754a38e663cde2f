package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Alert statuses.
const (
	AlertPending = "pending"
	AlertSent    = "sent"
	AlertFailed  = "failed"
	AlertSkipped = "skipped"
)

// Alert is one row of the outbox: a threshold decision and the state of
// its delivery.
type Alert struct {
	ID            int64
	Customer      string
	Period        string
	Threshold     float64
	LimitKey      string
	To            string // customer | operator
	Recipient     string
	Channel       string
	Language      string
	Percent       float64
	Used          float64
	Limit         float64
	Unit          string
	Flag          bool
	Message       string
	Params        string // JSON object of template variables
	Status        string
	Attempts      int
	LastError     string
	ProviderID    string
	CreatedMs     int64
	NextAttemptMs int64
	SentMs        int64
	UpdatedMs     int64
	// ClaimedDueMs is set by ClaimDueAlert: when the row was due before the
	// claim moved its next attempt to the end of the lease.
	ClaimedDueMs int64
}

// Key is the alert's unique decision key.
func (a *Alert) Key() AlertKey {
	return AlertKey{Customer: a.Customer, Period: a.Period, Threshold: a.Threshold, LimitKey: a.LimitKey}
}

// AlertKey is what makes an alert once-only: customer, period, threshold
// and the limit in force.
type AlertKey struct {
	Customer  string
	Period    string
	Threshold float64
	LimitKey  string
}

const alertCols = `id, customer, period, threshold, limit_key, recipient_kind, recipient, channel, language,
 percent, used, lim, unit, flag, message, params, status, attempts, last_error, provider_id,
 created_ms, next_attempt_ms, sent_ms, updated_ms`

type scanner interface{ Scan(...any) error }

func scanAlert(r scanner) (Alert, error) {
	var a Alert
	var flag int64
	err := r.Scan(&a.ID, &a.Customer, &a.Period, &a.Threshold, &a.LimitKey, &a.To, &a.Recipient, &a.Channel, &a.Language,
		&a.Percent, &a.Used, &a.Limit, &a.Unit, &flag, &a.Message, &a.Params, &a.Status, &a.Attempts, &a.LastError, &a.ProviderID,
		&a.CreatedMs, &a.NextAttemptMs, &a.SentMs, &a.UpdatedMs)
	a.Flag = flag != 0
	return a, err
}

// recordedKeys reads the decision keys already in the outbox for periods.
func recordedKeys(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, periods []string) (map[AlertKey]bool, error) {
	out := map[AlertKey]bool{}
	if len(periods) == 0 {
		return out, nil
	}
	args := make([]any, len(periods))
	for i, p := range periods {
		args[i] = p
	}
	rows, err := q.QueryContext(ctx, "SELECT customer, period, threshold, limit_key FROM outbox WHERE period IN ("+placeholders(len(periods))+")", args...)
	if err != nil {
		return nil, fmt.Errorf("read recorded alerts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k AlertKey
		if err := rows.Scan(&k.Customer, &k.Period, &k.Threshold, &k.LimitKey); err != nil {
			return nil, fmt.Errorf("read recorded alerts: %w", err)
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read recorded alerts: %w", err)
	}
	return out, nil
}

// RecordedAlerts returns the decision keys already recorded for periods,
// read without taking the write lock (check --dry-run).
func (s *Store) RecordedAlerts(ctx context.Context, periods []string) (map[AlertKey]bool, error) {
	return recordedKeys(ctx, s.r, periods)
}

// RecordAlerts runs decide inside one write transaction, handing it the keys
// already recorded for periods, and inserts the alerts it returns. Because
// the transaction takes the write lock first, two processes deciding at the
// same time (the daemon and a manual `check`) see each other's rows and
// never decide the same threshold twice. It returns the rows inserted, with
// their ids; a row whose key already exists is silently left out.
func (s *Store) RecordAlerts(ctx context.Context, periods []string, decide func(recorded map[AlertKey]bool) ([]Alert, error)) ([]Alert, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin alert decision: %w", err)
	}
	defer tx.Rollback()
	recorded, err := recordedKeys(ctx, tx, periods)
	if err != nil {
		return nil, err
	}
	cands, err := decide(recorded)
	if err != nil {
		return nil, err
	}
	if len(cands) == 0 {
		return nil, nil
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO outbox (customer, period, threshold, limit_key, recipient_kind, recipient, channel,
		language, percent, used, lim, unit, flag, message, params, status, attempts, last_error, provider_id, created_ms,
		next_attempt_ms, sent_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(customer, period, threshold, limit_key) DO NOTHING`)
	if err != nil {
		return nil, fmt.Errorf("prepare alert insert: %w", err)
	}
	defer st.Close()
	var out []Alert
	for _, a := range cands {
		if a.Params == "" {
			a.Params = "{}"
		}
		r, err := st.ExecContext(ctx, a.Customer, a.Period, a.Threshold, a.LimitKey, a.To, a.Recipient, a.Channel, a.Language,
			a.Percent, a.Used, a.Limit, a.Unit, boolInt(a.Flag), a.Message, a.Params, a.Status, a.Attempts, a.LastError,
			a.ProviderID, a.CreatedMs, a.NextAttemptMs, a.SentMs, a.UpdatedMs)
		if err != nil {
			return nil, fmt.Errorf("record alert %s %s %g%%: %w", a.Customer, a.Period, a.Threshold, err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("record alert %s %s %g%%: %w", a.Customer, a.Period, a.Threshold, err)
		}
		if n == 0 {
			continue
		}
		if a.ID, err = r.LastInsertId(); err != nil {
			return nil, fmt.Errorf("record alert %s %s %g%%: %w", a.Customer, a.Period, a.Threshold, err)
		}
		out = append(out, a)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit alert decision: %w", err)
	}
	return out, nil
}

// ClaimDueAlert takes the oldest pending alert whose next attempt is due at
// nowMs, counts the attempt and pushes its next attempt leaseMs ahead, all in
// one write transaction. The lease keeps another process from sending the
// same row while this one is sending it; if this process dies mid-send the
// row becomes due again when the lease ends. channel records which notifier
// makes the attempt (the configured one may have changed since the
// decision). It returns nil when nothing is due.
//
// A due row whose customer has since been sent a higher threshold of the
// same period, decided after it, is not claimed: it is recorded skipped
// (superseded) in the same transaction and returned with Status
// AlertSkipped, for the caller to report and never send. Deciding it under
// the write lock is what keeps `run` and `check` claiming at the same time
// from both missing it, so an 80 % warning whose send was interrupted never
// reaches the customer after their 100 % one.
func (s *Store) ClaimDueAlert(ctx context.Context, nowMs, leaseMs int64, channel string) (*Alert, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin alert claim: %w", err)
	}
	defer tx.Rollback()
	if err := holdNoticesInOrder(ctx, tx, nowMs); err != nil {
		return nil, err
	}
	row := tx.QueryRowContext(ctx, "SELECT "+alertCols+` FROM outbox WHERE status = 'pending' AND next_attempt_ms <= ?
		ORDER BY next_attempt_ms, id LIMIT 1`, nowMs)
	a, err := scanAlert(row)
	if errors.Is(err, sql.ErrNoRows) {
		// Commit, not roll back: held digest parts keep their new time.
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("commit alert claim: %w", err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read due alert: %w", err)
	}
	// Only rows decided after this one (higher id) supersede it: a higher
	// threshold sent against an earlier, smaller limit must not silence the
	// warning against the customer's new one.
	var higher sql.NullFloat64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(threshold) FROM outbox WHERE customer = ? AND period = ? AND status = 'sent'
		AND threshold > ? AND id > ?`, a.Customer, a.Period, a.Threshold, a.ID).Scan(&higher); err != nil {
		return nil, fmt.Errorf("check alert %d against higher warnings: %w", a.ID, err)
	}
	if higher.Valid {
		a.Status = AlertSkipped
		a.LastError = fmt.Sprintf("superseded: the %s%% warning was sent first", strconv.FormatFloat(higher.Float64, 'f', -1, 64))
		a.NextAttemptMs, a.UpdatedMs = 0, nowMs
		if _, err := tx.ExecContext(ctx, "UPDATE outbox SET status = 'skipped', last_error = ?, next_attempt_ms = 0, updated_ms = ? WHERE id = ?",
			a.LastError, a.UpdatedMs, a.ID); err != nil {
			return nil, fmt.Errorf("skip superseded alert %d: %w", a.ID, err)
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("commit superseded alert %d: %w", a.ID, err)
		}
		return &a, nil
	}
	a.ClaimedDueMs = a.NextAttemptMs
	a.Attempts++
	a.NextAttemptMs = nowMs + leaseMs
	a.UpdatedMs = nowMs
	a.Channel = channel
	if _, err := tx.ExecContext(ctx, "UPDATE outbox SET attempts = ?, next_attempt_ms = ?, updated_ms = ?, channel = ? WHERE id = ?",
		a.Attempts, a.NextAttemptMs, a.UpdatedMs, a.Channel, a.ID); err != nil {
		return nil, fmt.Errorf("claim alert %d: %w", a.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit alert claim %d: %w", a.ID, err)
	}
	return &a, nil
}

func (s *Store) updatePending(ctx context.Context, what string, id int64, q string, args ...any) error {
	r, err := s.w.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("mark alert %d %s: %w", id, what, err)
	}
	if n, err := r.RowsAffected(); err != nil {
		return fmt.Errorf("mark alert %d %s: %w", id, what, err)
	} else if n == 0 {
		return fmt.Errorf("mark alert %d %s: %w (or no longer pending)", id, what, ErrNotFound)
	}
	return nil
}

// MarkAlertSent records a successful delivery and the provider's message id.
func (s *Store) MarkAlertSent(ctx context.Context, id int64, providerID string, lastError string, nowMs int64) error {
	return s.updatePending(ctx, "sent", id, `UPDATE outbox SET status = 'sent', provider_id = ?, last_error = ?, sent_ms = ?,
		next_attempt_ms = 0, updated_ms = ? WHERE id = ? AND status = 'pending'`, providerID, lastError, nowMs, nowMs, id)
}

// MarkAlertRetry records a failed attempt that will be tried again at nextMs.
func (s *Store) MarkAlertRetry(ctx context.Context, id int64, lastError string, nextMs, nowMs int64) error {
	return s.updatePending(ctx, "for retry", id, `UPDATE outbox SET last_error = ?, next_attempt_ms = ?, updated_ms = ?
		WHERE id = ? AND status = 'pending'`, lastError, nextMs, nowMs, id)
}

// MarkAlertHalted undoes a claim whose attempt met an account-level error
// (expired token, missing permission, restricted account): the failure says
// nothing about this message, so the row stays pending, the attempt the
// claim counted is taken back in the same update, the reason is kept for
// `quotawatch alerts`, and the row is due again at dueMs (the time it was
// due before the claim, so it keeps its place in the queue and a restart
// with a working token sends it at once).
func (s *Store) MarkAlertHalted(ctx context.Context, id int64, lastError string, dueMs, nowMs int64) error {
	return s.updatePending(ctx, "halted", id, `UPDATE outbox SET attempts = MAX(attempts - 1, 0), last_error = ?, next_attempt_ms = ?,
		updated_ms = ? WHERE id = ? AND status = 'pending'`, lastError, dueMs, nowMs, id)
}

// MarkAlertFailed records a delivery that failed for good.
func (s *Store) MarkAlertFailed(ctx context.Context, id int64, lastError string, nowMs int64) error {
	return s.updatePending(ctx, "failed", id, `UPDATE outbox SET status = 'failed', last_error = ?, next_attempt_ms = 0,
		updated_ms = ? WHERE id = ? AND status = 'pending'`, lastError, nowMs, id)
}

// NextAlertDue returns when the earliest pending alert is due (ok false
// when nothing is pending).
func (s *Store) NextAlertDue(ctx context.Context) (ms int64, ok bool, err error) {
	var v sql.NullInt64
	if err := s.r.QueryRowContext(ctx, "SELECT MIN(next_attempt_ms) FROM outbox WHERE status = 'pending'").Scan(&v); err != nil {
		return 0, false, fmt.Errorf("read next alert due: %w", err)
	}
	return v.Int64, v.Valid, nil
}

// Alerts lists the outbox rows of a period ("" = every period), optionally
// of one customer, oldest first.
func (s *Store) Alerts(ctx context.Context, period, customer string) ([]Alert, error) {
	var where []string
	var args []any
	if period != "" {
		where, args = append(where, "period = ?"), append(args, period)
	}
	if customer != "" {
		where, args = append(where, "customer = ?"), append(args, customer)
	}
	q := "SELECT " + alertCols + " FROM outbox"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_ms, id"
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return out, nil
}

// Alert reads one outbox row by id.
func (s *Store) Alert(ctx context.Context, id int64) (Alert, error) {
	a, err := scanAlert(s.r.QueryRowContext(ctx, "SELECT "+alertCols+" FROM outbox WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("read alert %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("read alert %d: %w", id, err)
	}
	return a, nil
}

// FlaggedCustomers returns the customers that crossed a flagging threshold
// in period. A skipped flag row counts: the threshold was crossed even if a
// higher one was the one sent.
func (s *Store) FlaggedCustomers(ctx context.Context, period string) (map[string]bool, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT DISTINCT customer FROM outbox WHERE period = ? AND flag = 1", period)
	if err != nil {
		return nil, fmt.Errorf("read flagged customers for %s: %w", period, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("read flagged customers for %s: %w", period, err)
		}
		out[c] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read flagged customers for %s: %w", period, err)
	}
	return out, nil
}
