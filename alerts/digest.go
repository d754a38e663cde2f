package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// DefaultDigestSchedule is alerts.digest_schedule when none is set: 09:00
// every day in the configured timezone.
const DefaultDigestSchedule = "0 9 * * *"

// Digester composes the operator's daily digest and records it in the
// outbox, where the Deliverer sends it like any alert.
type Digester struct {
	Store   *store.Store
	Book    *report.Book
	Sources []report.DigestSource
	// Language is the operator's language (alerts.language).
	Language      string
	OperatorPhone string
	Channel       string
	// MaxChars bounds one message (report.MaxMessageChars when 0).
	MaxChars int
	// Now is the injected clock.
	Now func() time.Time
}

// Compose builds the digest at now and its messages in lang ("" = the
// operator's language).
func (g *Digester) Compose(ctx context.Context, lang string) (*report.Digest, []string, error) {
	d, err := report.ComposeDigest(ctx, g.Store, g.Book, g.Sources, g.Now())
	if err != nil {
		return nil, nil, err
	}
	return d, d.Parts(g.lang(lang), g.MaxChars), nil
}

func (g *Digester) lang(lang string) string {
	if lang == "" {
		lang = g.Language
	}
	if lang == "" {
		lang = "ar"
	}
	return report.DigestLanguage(lang)
}

// Day is the digest day at now (YYYY-MM-DD in the global timezone).
func (g *Digester) Day(now time.Time) string { return report.DayOf(now, g.loc()) }

// loc is the global timezone, the one the digest's day is read in.
func (g *Digester) loc() *time.Location {
	if g.Book != nil && g.Book.Location != nil {
		return g.Book.Location
	}
	return time.UTC
}

// Record composes today's digest and records all its parts, in order, in one
// transaction. It returns store.ErrDigestRecorded (wrapped) when today's is
// already recorded: a digest goes out once per day, whoever asks.
func (g *Digester) Record(ctx context.Context, lang string) ([]store.Alert, error) {
	d, parts, err := g.Compose(ctx, lang)
	if err != nil {
		return nil, err
	}
	lang = g.lang(lang)
	nowMs := d.Now.UnixMilli()
	rows := make([]store.Alert, len(parts))
	for i, text := range parts {
		vars, err := json.Marshal(d.Vars(i+1, len(parts)))
		if err != nil {
			return nil, fmt.Errorf("encode digest variables: %w", err)
		}
		rows[i] = store.Alert{Customer: store.NoticeCustomer, Period: d.Day[:7], LimitKey: store.DigestLimitKey(d.Day, i+1, len(parts)),
			To: ToOperator, Recipient: g.OperatorPhone, Channel: g.Channel, Language: lang, Used: float64(i + 1), Limit: float64(len(parts)),
			Unit: store.DigestUnit, Message: text, Params: string(vars), Status: store.AlertPending,
			CreatedMs: nowMs, NextAttemptMs: nowMs, UpdatedMs: nowMs}
	}
	out, err := g.Store.RecordDigest(ctx, d.Day, rows)
	if err != nil {
		return nil, fmt.Errorf("digest %s: %w", d.Day, err)
	}
	return out, nil
}

// ParseDigestSchedule parses alerts.digest_schedule (standard 5-field cron;
// "" = DefaultDigestSchedule).
func ParseDigestSchedule(spec string) (cron.Schedule, error) {
	if spec == "" {
		spec = DefaultDigestSchedule
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("alerts.digest_schedule %q: %w", spec, err)
	}
	return s, nil
}

// digestDue reports whether a scheduled digest time of today (in loc) has
// passed at now. Whatever the schedule, the digest is one per day: a
// sidecar down at 09:00 and started at 15:00 sends it then, and one started
// at 07:00 waits for 09:00. A day that is over is never caught up.
func digestDue(s cron.Schedule, now time.Time, loc *time.Location) bool {
	n := now.In(loc)
	midnight := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, loc)
	first := s.Next(midnight.Add(-time.Second))
	return !first.After(n) && report.DayOf(first, loc) == report.DayOf(n, loc)
}

// DigestIfDue records today's digest when its scheduled time has passed and
// none is recorded yet, and reports what it recorded (nil when nothing was
// due). It is what the daemon runs on the schedule and once the first
// catch-up is done.
func (d *Daemon) DigestIfDue(ctx context.Context) ([]store.Alert, error) {
	d.init()
	g := d.Digest
	if g == nil {
		return nil, nil
	}
	sched, err := d.digestSchedule()
	if err != nil {
		return nil, err
	}
	d.digestMu.Lock()
	defer d.digestMu.Unlock()
	now := g.Now()
	if !digestDue(sched, now, g.loc()) {
		return nil, nil
	}
	// Composing reads every customer: look first, compose only when needed.
	if done, err := g.Store.DigestRecorded(ctx, g.Day(now)); err != nil || done {
		return nil, err
	}
	rows, err := g.Record(ctx, "")
	if errors.Is(err, store.ErrDigestRecorded) {
		return nil, nil // another process (`quotawatch digest`) was first
	}
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		d.Log.Info("digest recorded", "alert", r.ID, "part", r.LimitKey, "to", r.Recipient, "chars", len([]rune(r.Message)))
	}
	d.wakeWorker()
	return rows, nil
}

// digestNow is the scheduled job: only once the first catch-up is done, so
// the digest counts the whole backlog (Ready runs it otherwise).
func (d *Daemon) digestNow(ctx context.Context) {
	if !d.isReady() {
		d.Log.Debug("digest deferred until the first catch-up is done")
		return
	}
	if _, err := d.DigestIfDue(ctx); err != nil && ctx.Err() == nil {
		d.Log.Error("digest", "err", err)
	}
}

// digestSchedule parses DigestSchedule once.
func (d *Daemon) digestSchedule() (cron.Schedule, error) {
	d.digestMu.Lock()
	defer d.digestMu.Unlock()
	if d.digestSched == nil {
		s, err := ParseDigestSchedule(d.DigestSchedule)
		if err != nil {
			return nil, err
		}
		d.digestSched = s
	}
	return d.digestSched, nil
}
