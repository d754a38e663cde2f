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
	Alert  store.Alert // as claimed (Attempts counts this attempt)
	Status string      // sent | pending (will retry) | failed
	ID     string      // provider message id
	Err    error
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
	// such as an expired token (default 15 minutes).
	HaltPause time.Duration
	Now       func() time.Time
	Log       *slog.Logger

	haltedUntil time.Time
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// DeliverDue sends every row due now, one by one, and returns what
// happened. ctx stops the loop between rows; a send in progress finishes
// (each notifier bounds its own time), so a shutdown never leaves a
// message in doubt that could have been settled.
func (d *Deliverer) DeliverDue(ctx context.Context) ([]Delivery, error) {
	var out []Delivery
	for ctx.Err() == nil {
		now := d.Now()
		if now.Before(d.haltedUntil) {
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
		id, err = d.Notifier.Send(ctx, n)
	}
	now := d.Now()
	lg := d.log().With("alert", a.ID, "customer", a.Customer, "period", a.Period, "threshold", a.Threshold, "to", a.To,
		"channel", d.Notifier.Channel(), "attempt", a.Attempts)
	switch {
	case err == nil:
		res.Status, res.ID = store.AlertSent, id
		if merr := d.Store.MarkAlertSent(ctx, a.ID, id, "", now.UnixMilli()); merr != nil {
			return res, merr
		}
		lg.Info("alert sent", "provider_id", id)
	case IsPermanent(err) || a.Attempts >= max(d.Backoff.Attempts, 1):
		res.Status, res.Err = store.AlertFailed, err
		reason := err.Error()
		if !IsPermanent(err) {
			reason = fmt.Sprintf("gave up after %d attempts: %s", a.Attempts, reason)
		}
		if merr := d.Store.MarkAlertFailed(ctx, a.ID, reason, now.UnixMilli()); merr != nil {
			return res, merr
		}
		lg.Error("alert delivery failed for good", "err", reason)
		if isHalt(err) {
			pause := d.HaltPause
			if pause <= 0 {
				pause = 15 * time.Minute
			}
			d.haltedUntil = now.Add(pause)
			lg.Error("account-level error: pausing every delivery; fix the credentials or the account", "pause", pause)
		}
	default:
		res.Status, res.Err = store.AlertPending, err
		next := now.Add(d.Backoff.Delay(a.Attempts))
		if merr := d.Store.MarkAlertRetry(ctx, a.ID, err.Error(), next.UnixMilli(), now.UnixMilli()); merr != nil {
			return res, merr
		}
		lg.Warn("alert delivery failed; will retry", "err", err, "next_attempt", next.Format(time.RFC3339))
	}
	return res, nil
}
