package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// Backoff is the delivery retry policy.
type Backoff struct {
	Base     time.Duration // delay after the first failed attempt
	Max      time.Duration // cap of the doubling delay
	Attempts int           // attempts before a row fails for good
	// Jitter, when set, returns the extra delay added to d; nil adds up to
	// a fifth of d at random, so many rows failing together do not retry
	// together.
	Jitter func(d time.Duration) time.Duration
}

// DefaultBackoff retries after 30 s, 1 m, 2 m ... up to 1 h between
// attempts, 10 attempts in all (about 5 hours).
func DefaultBackoff() Backoff {
	return Backoff{Base: 30 * time.Second, Max: time.Hour, Attempts: 10}
}

// Delay is the wait after the attempt-th failed attempt (1-based).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Base
	if d <= 0 {
		d = time.Second
	}
	for i := 1; i < attempt && (b.Max <= 0 || d < b.Max); i++ {
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if b.Jitter != nil {
		return d + b.Jitter(d)
	}
	if d >= 5 {
		d += rand.N(d / 5)
	}
	return d
}

// Delivery is the outcome of one attempt.
type Delivery struct {
	Alert store.Alert // as claimed (Attempts counts this attempt, unless Halted)
	// Status is sent, pending (will retry; also when Halted), failed, or
	// skipped (superseded by a higher warning already sent: not attempted).
	Status string
	// Halted: an account-level error (token, permission, account). The row
	// stays pending, the attempt is not counted, every delivery pauses.
	Halted bool
	ID     string // provider message id
	Err    error
}

// Reloader is a notifier whose credentials can be replaced while
// quotawatch runs (the WhatsApp token file).
type Reloader interface {
	// Reload re-reads the credentials and reports whether they changed. On
	// error the notifier keeps the credentials it has.
	Reload() (changed bool, err error)
}

// Deliverer sends due outbox rows through a notifier.
type Deliverer struct {
	Store    *store.Store
	Notifier Notifier
	Backoff  Backoff
	// Lease is how long a claimed row is reserved for the sender; it must
	// exceed the notifier's own timeout (default 2 minutes).
	Lease time.Duration
	// HaltPause is how long deliveries stop after an account-level error
	// such as an expired token (default 15 minutes); then one row is tried
	// as a probe.
	HaltPause time.Duration
	// ReloadEvery is how often, while deliveries are halted, a Reloader
	// notifier's credentials are re-read (default 5 s): a token replaced in
	// its file ends the pause at once instead of after HaltPause.
	ReloadEvery time.Duration
	Now         func() time.Time
	Log         *slog.Logger

	haltedUntil time.Time
	reloadErr   string // last reload error logged, so a broken file is logged once, not every few seconds
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// reload re-reads the notifier's credentials when it can, and reports
// whether they changed. The credentials themselves are never logged.
func (d *Deliverer) reload() bool {
	r, ok := d.Notifier.(Reloader)
	if !ok {
		return false
	}
	changed, err := r.Reload()
	if err != nil {
		if msg := err.Error(); msg != d.reloadErr {
			d.reloadErr = msg
			d.log().Warn("cannot re-read the notifier credentials; keeping the current ones", "channel", d.Notifier.Channel(), "err", err)
		}
		return false
	}
	d.reloadErr = ""
	if changed {
		d.log().Info("notifier credentials changed; the next send uses them", "channel", d.Notifier.Channel())
	}
	return changed
}

// halted reports whether deliveries are paused at now. New credentials end
// the pause early: the next row is the probe.
func (d *Deliverer) halted(now time.Time) bool {
	if !now.Before(d.haltedUntil) {
		return false
	}
	if d.reload() {
		d.haltedUntil = time.Time{}
		d.log().Info("deliveries resumed after an account-level error: the credentials changed")
		return false
	}
	return true
}

// haltWait is how long the delivery worker may sleep while deliveries are
// halted (ok false when they are not).
func (d *Deliverer) haltWait(now time.Time) (time.Duration, bool) {
	if !d.haltedUntil.After(now) {
		return 0, false
	}
	w := d.haltedUntil.Sub(now)
	if _, ok := d.Notifier.(Reloader); ok {
		every := d.ReloadEvery
		if every <= 0 {
			every = 5 * time.Second
		}
		w = min(w, every)
	}
	return max(w, 100*time.Millisecond), true
}

// DeliverDue sends every row due now, one by one, and returns what
// happened. ctx stops the loop between rows; a send in progress finishes
// (each notifier bounds its own time), so a shutdown never leaves a
// message in doubt that could have been settled. After an account-level
// error it stops and returns: the rest waits for the pause to end.
func (d *Deliverer) DeliverDue(ctx context.Context) ([]Delivery, error) {
	var out []Delivery
	for ctx.Err() == nil {
		now := d.Now()
		if d.halted(now) {
			return out, nil
		}
		lease := d.Lease
		if lease <= 0 {
			lease = 2 * time.Minute
		}
		a, err := d.Store.ClaimDueAlert(context.WithoutCancel(ctx), now.UnixMilli(), lease.Milliseconds(), d.Notifier.Channel())
		if err != nil {
			return out, err
		}
		if a == nil {
			return out, nil
		}
		if a.Status == store.AlertSkipped {
			d.log().Info("alert not sent: superseded", "alert", a.ID, "customer", a.Customer, "period", a.Period,
				"threshold", a.Threshold, "to", a.To, "reason", a.LastError)
			out = append(out, Delivery{Alert: *a, Status: store.AlertSkipped})
			continue
		}
		res, err := d.deliver(context.WithoutCancel(ctx), *a)
		out = append(out, res)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (d *Deliverer) deliver(ctx context.Context, a store.Alert) (Delivery, error) {
	n := Notification{AlertID: a.ID, Kind: a.To, To: a.Recipient, Customer: a.Customer, Period: a.Period, Threshold: a.Threshold,
		Percent: a.Percent, Used: a.Used, Limit: a.Limit, Unit: a.Unit, Language: a.Language, Text: a.Message}
	if err := json.Unmarshal([]byte(a.Params), &n.Vars); err != nil {
		n.Vars = map[string]string{}
	}
	res := Delivery{Alert: a}
	var id string
	var err error
	if d.Notifier.NeedsPhone() && a.Recipient == "" {
		who := "customer " + a.Customer + " has no phone configured"
		if a.To == ToOperator {
			who = "alerts.operator_phone is not configured"
		}
		err = permanent(0, "%s", who)
	} else {
		d.reload() // a token rotated in its file is used from this send on
		id, err = d.Notifier.Send(ctx, n)
	}
	now := d.Now()
	lg := d.log().With("alert", a.ID, "customer", a.Customer, "period", a.Period, "threshold", a.Threshold, "to", a.To,
		"channel", d.Notifier.Channel())
	switch {
	case err == nil:
		res.Status, res.ID = store.AlertSent, id
		if merr := d.Store.MarkAlertSent(ctx, a.ID, id, "", now.UnixMilli()); merr != nil {
			return res, merr
		}
		lg.Info("alert sent", "attempt", a.Attempts, "provider_id", id)
	case isHalt(err):
		// The account is broken, not this message: consuming the row would
		// lose the warning for good once the token is fixed.
		res.Status, res.Halted, res.Err = store.AlertPending, true, err
		res.Alert.Attempts = max(a.Attempts-1, 0)
		res.Alert.NextAttemptMs = a.ClaimedDueMs
		reason := "halted, not counted as an attempt; sent once the token or account works again: " + err.Error()
		res.Alert.LastError = reason
		if merr := d.Store.MarkAlertHalted(ctx, a.ID, reason, a.ClaimedDueMs, now.UnixMilli()); merr != nil {
			return res, merr
		}
		pause := d.HaltPause
		if pause <= 0 {
			pause = 15 * time.Minute
		}
		d.haltedUntil = now.Add(pause)
		lg.Error("account-level error: every delivery paused; the alert stays pending (fix the token, permissions or account)",
			"err", err, "pause", pause)
	case IsPermanent(err) || a.Attempts >= max(d.Backoff.Attempts, 1):
		res.Status, res.Err = store.AlertFailed, err
		reason := err.Error()
		if !IsPermanent(err) {
			reason = fmt.Sprintf("gave up after %d attempts: %s", a.Attempts, reason)
		}
		if merr := d.Store.MarkAlertFailed(ctx, a.ID, reason, now.UnixMilli()); merr != nil {
			return res, merr
		}
		lg.Error("alert delivery failed for good", "attempt", a.Attempts, "err", reason)
	default:
		res.Status, res.Err = store.AlertPending, err
		next := now.Add(d.Backoff.Delay(a.Attempts))
		if merr := d.Store.MarkAlertRetry(ctx, a.ID, err.Error(), next.UnixMilli(), now.UnixMilli()); merr != nil {
			return res, merr
		}
		lg.Warn("alert delivery failed; will retry", "attempt", a.Attempts, "err", err, "next_attempt", next.Format(time.RFC3339))
	}
	return res, nil
}
