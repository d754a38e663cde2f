package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// Checker evaluates every customer's running period against the
// thresholds and records the decisions in the outbox.
type Checker struct {
	Store     *store.Store
	Config    Config
	Customers []report.Customer
	// Location is the global timezone (customers may override it).
	Location  *time.Location
	Channel   string
	Templates *Templates
	// Now is the injected clock: every decision reads the time from it.
	Now func() time.Time
	// Tiers are the configured tiers by key: a customer's upgrade offer
	// names the plan, price and currency of its tier's UpgradeTo tier.
	Tiers map[string]report.Tier
	// HoldBacklog is `run` without --arm: on a database whose alerts were
	// never armed, the first check records what the history already
	// crossed as skipped (held) instead of sending it, then arms the
	// database, so installing quotawatch mid-month is no burst of messages
	// to every customer. Without it (check, run --arm) a check sends what
	// is due and arms the database.
	HoldBacklog bool
	// ArmedBy says in the database which command armed it ("run --arm").
	ArmedBy string
	// Log receives the held warnings (nil: slog.Default()).
	Log *slog.Logger

	armed bool // the database is known to be armed: no more meta reads
}

// MetaArmed is the meta key that records when and by what the database's
// alerts were armed.
const MetaArmed = "alerts_armed"

// heldReason is the last_error of a warning held on the first run.
const heldReason = "held: crossed by the history read before alerts were armed (the first run on this database, without --arm); not sent. " +
	"Warnings crossed from now on are sent"

func (c *Checker) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// Armed reports whether the database's alerts are armed: armed by a
// check, a run, or a database that already has outbox rows (written by a
// version before arming existed, which sent at once).
func (c *Checker) Armed(ctx context.Context) (bool, error) {
	if c.armed {
		return true, nil
	}
	v, err := c.Store.Meta(ctx, MetaArmed)
	if err != nil {
		return false, fmt.Errorf("read whether alerts are armed: %w", err)
	}
	if v != "" {
		c.armed = true
		return true, nil
	}
	// Read once per database: from then on the meta key answers.
	as, err := c.Store.Alerts(ctx, "", "")
	if err != nil {
		return false, fmt.Errorf("read whether alerts are armed: %w", err)
	}
	// Cached in memory only: a dry run may not write, and the next `run`
	// or `check` finds the rows again.
	c.armed = len(as) > 0
	return c.armed, nil
}

// arm records that the database's alerts are armed, once.
func (c *Checker) arm(ctx context.Context, now time.Time, by string) error {
	if c.armed {
		return nil
	}
	if err := c.Store.SetMeta(ctx, MetaArmed, now.UTC().Format(time.RFC3339)+" by "+by); err != nil {
		return fmt.Errorf("arm alerts: %w", err)
	}
	c.armed = true
	return nil
}

// offer is the upgrade offer of a customer's tier: the plan its UpgradeTo
// tier sells (zero: no offer, and the messages leave the sentence out).
func (c *Checker) offer(cu *report.Customer) Offer {
	to := cu.TierLimits().UpgradeTo
	if to == "" {
		return Offer{}
	}
	t, ok := c.Tiers[to]
	if !ok || t.DisplayName == "" {
		return Offer{}
	}
	return Offer{Plan: t.DisplayName, Price: t.Price, Currency: t.Currency, Unlimited: t.Unlimited()}
}

func (c *Checker) loc(cu *report.Customer) *time.Location { return cu.In(c.Location) }

func (c *Checker) language(cu *report.Customer) string {
	if cu != nil && cu.Language != "" {
		return cu.Language
	}
	if c.Config.Language != "" {
		return c.Config.Language
	}
	return "ar"
}

func (c *Checker) thresholds() []Threshold {
	if len(c.Config.Thresholds) == 0 {
		return DefaultThresholds()
	}
	return c.Config.Thresholds
}

// snapshot is what a check reads before deciding.
type snapshot struct {
	now     time.Time
	periods []string
	usage   map[store.CustomerPeriod]store.Usage
	// daily is read on the first forecast a plan needs: most checks (one
	// after every ingested batch) decide nothing and never read it.
	daily *dailySeries
	// prevLimits caches, per customer, the limit key of its latest outbox
	// row of the period under another limit ("" = none), read only for a
	// customer with something due.
	prevLimits map[string]string
	// hold records every due warning as held instead of pending.
	hold bool
}

// previousLimit is the limit in force at the customer's latest warning of
// the period decided under another limit than limitKey ("" when none was):
// a warning due again because the limit changed says so.
func (s *snapshot) previousLimit(cu *report.Customer, period, limitKey string, recorded map[store.AlertKey]bool) (string, error) {
	if v, ok := s.prevLimits[cu.ID]; ok {
		return v, nil
	}
	other := false
	for k := range recorded {
		if k.Customer == cu.ID && k.Period == period && k.LimitKey != limitKey && k.Threshold > 0 {
			other = true
			break
		}
	}
	prev := ""
	if other {
		// Only the outbox knows which limit came last: read the customer's
		// rows of the period (a handful), oldest first.
		as, err := s.daily.st.Alerts(s.daily.ctx, period, cu.ID)
		if err != nil {
			return "", fmt.Errorf("read earlier warnings of %s: %w", cu.ID, err)
		}
		for _, a := range as {
			if a.LimitKey != limitKey && a.Threshold > 0 {
				prev = a.LimitKey
			}
		}
	}
	s.prevLimits[cu.ID] = prev
	return prev, nil
}

// dailySeries is the daily usage of every customer over the snapshot's
// periods, read once (one query for all customers) and kept for the
// plan made again under the write lock.
type dailySeries struct {
	ctx    context.Context
	st     *store.Store
	loaded bool
	days   map[string][]report.Daily // nil: not available (being built)
}

// forecast projects a customer's running period (nil: no projection).
func (s *snapshot) forecast(cu *report.Customer, period string, loc *time.Location) (*report.Forecast, error) {
	d := s.daily
	if !d.loaded {
		days, err := report.ReadDaily(d.ctx, d.st, s.periods, "")
		switch {
		case errors.Is(err, store.ErrDailyPending):
			// An upgraded database whose days are still being filled in:
			// no projection until they are (no pre-warning is decided, and
			// the 80 % text makes no promise either way).
		case err != nil:
			return nil, fmt.Errorf("forecast: %w", err)
		}
		d.days, d.loaded = days, true
	}
	if d.days == nil {
		return nil, nil
	}
	return report.ForecastOf(cu.TierLimits(), d.days[cu.ID], period, loc, s.now), nil
}

// read loads the running period's usage of every limited customer. Only
// the running period is read: an ended period never alerts.
func (c *Checker) read(ctx context.Context) (snapshot, error) {
	s := snapshot{now: c.Now(), usage: map[store.CustomerPeriod]store.Usage{}, daily: &dailySeries{ctx: ctx, st: c.Store},
		prevLimits: map[string]string{}}
	seen := map[string]bool{}
	for i := range c.Customers {
		cu := &c.Customers[i]
		if cu.TierLimits().Unlimited() {
			continue
		}
		p := report.PeriodOf(s.now, c.loc(cu))
		if !seen[p] {
			seen[p] = true
			s.periods = append(s.periods, p)
		}
		us, err := c.Store.UsageByPeriod(ctx, p, cu.ID)
		if err != nil {
			return s, fmt.Errorf("check %s: %w", cu.ID, err)
		}
		for _, u := range us {
			s.usage[store.CustomerPeriod{Customer: u.Customer, Period: u.Period}] = u
		}
	}
	sort.Strings(s.periods)
	return s, nil
}

// plan turns a snapshot and the recorded keys into outbox rows.
func (c *Checker) plan(s snapshot, recorded map[store.AlertKey]bool) ([]store.Alert, error) {
	var out []store.Alert
	nowMs := s.now.UnixMilli()
	for i := range c.Customers {
		cu := &c.Customers[i]
		if cu.TierLimits().Unlimited() {
			continue // tracked, never warned
		}
		loc := c.loc(cu)
		period := report.PeriodOf(s.now, loc)
		if !report.PeriodOpen(period, loc, s.now) {
			continue
		}
		u := s.usage[store.CustomerPeriod{Customer: cu.ID, Period: period}]
		r, ok := report.Read(cu.TierLimits(), report.UsedOf(u))
		if !ok {
			continue
		}
		limitKey := cu.TierLimits().LimitKey()
		recordedKey := func(key float64) bool {
			return recorded[store.AlertKey{Customer: cu.ID, Period: period, Threshold: key, LimitKey: limitKey}]
		}
		pct := r.Percent()
		d := Decide(c.thresholds(), pct, recordedKey)
		// The forecast is read only when something may be due: a warning
		// (whose 80 % text depends on it) or a pre-warning in reach.
		var f *report.Forecast
		if !d.Empty() || c.paceInReach(pct, recordedKey) {
			var err error
			if f, err = s.forecast(cu, period, loc); err != nil {
				return nil, err
			}
		}
		pd := DecidePace(c.thresholds(), pct, f, recordedKey)
		if d.Empty() && pd.Empty() {
			continue
		}
		prev, err := s.previousLimit(cu, period, limitKey, recorded)
		if err != nil {
			return nil, err
		}
		reason := ""
		if prev != "" {
			reason = "limit changed from " + prev + " to " + limitKey
		}
		row := func(t Threshold, status, skipReason string) (store.Alert, error) {
			lang := c.language(cu)
			to := cu.Phone
			if t.To == ToOperator {
				lang, to = c.language(nil), c.Config.OperatorPhone
			}
			md := MessageData{Customer: cu.ID, Name: cu.Name, Tier: cu.Tier, Period: period, Threshold: FormatPercent(t.Percent),
				Percent: FormatPercent(math.Floor(pct + percentEpsilon)), Used: FormatAmount(r.Used, r.Unit),
				Limit: FormatAmount(r.Limit, r.Unit), Unit: UnitName(r.Unit, lang), UpgradeURL: c.Config.UpgradeURL,
				Degraded: c.Config.DegradedAfterLimit, Language: lang, LimitChanged: prev != ""}
			if t.Pace() {
				md.Threshold = FormatPercent(t.ProjectedPercent)
			}
			md.WithForecast(f)
			md.WithOffer(c.offer(cu))
			if md.Name == "" {
				md.Name = cu.ID
			}
			msg, err := c.Templates.Render(t, lang, md)
			if err != nil {
				return store.Alert{}, err
			}
			vars := md.Vars()
			if reason != "" {
				// Kept with the row for `alerts`: why it was sent again.
				vars[ReasonVar] = reason
			}
			params, err := json.Marshal(vars)
			if err != nil {
				return store.Alert{}, fmt.Errorf("encode message variables: %w", err)
			}
			if status == store.AlertPending && s.hold {
				status, skipReason = store.AlertSkipped, heldReason
			}
			a := store.Alert{Customer: cu.ID, Period: period, Threshold: t.Key(), LimitKey: limitKey, To: t.To, Recipient: to,
				Channel: c.Channel, Language: lang, Percent: pct, Used: unitValue(r.Used, r.Unit), Limit: unitValue(r.Limit, r.Unit), Unit: r.Unit, Flag: t.Flag,
				Message: msg, Params: string(params), Status: status, CreatedMs: nowMs, NextAttemptMs: nowMs, UpdatedMs: nowMs}
			if status == store.AlertSkipped {
				a.NextAttemptMs = 0
				a.LastError = skipReason
			}
			return a, nil
		}
		add := func(t Threshold, status, skipReason string) error {
			a, err := row(t, status, skipReason)
			if err == nil {
				out = append(out, a)
			}
			return err
		}
		// Rows are inserted lowest first: ids are the delivery order, so the
		// customer's 100 % goes out before the operator's 120 % decided with it.
		for _, t := range d.Skip {
			sent := d.SentTo(t.To)
			if err := add(t, store.AlertSkipped, fmt.Sprintf("skipped: crossed together with %s%%, which was sent instead", FormatPercent(sent.Percent))); err != nil {
				return nil, err
			}
		}
		for _, t := range d.Send {
			if err := add(t, store.AlertPending, ""); err != nil {
				return nil, err
			}
		}
		if len(pd.Send) > 0 {
			// A warning due now to the same recipient carries the forecast
			// itself (the 80 % text names the day), so the pre-warning is
			// recorded skipped rather than sent as a second message.
			top := pd.Send[0]
			for _, t := range pd.Skip {
				if err := add(t, store.AlertSkipped, fmt.Sprintf("skipped: due together with the projected %s%% pre-warning, which was sent instead",
					FormatPercent(top.ProjectedPercent))); err != nil {
					return nil, err
				}
			}
			status, why := store.AlertPending, ""
			if w := d.SentTo(top.To); w != nil {
				status, why = store.AlertSkipped, fmt.Sprintf("skipped: due together with the %s%% warning, which was sent instead", FormatPercent(w.Percent))
			}
			if err := add(top, status, why); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// paceInReach reports whether a pre-warning could be due at pct, before
// the forecast is read: one is configured, not recorded, and pct is within
// its min_percent and below 100.
func (c *Checker) paceInReach(pct float64, recorded func(float64) bool) bool {
	if pct+percentEpsilon >= 100 {
		return false
	}
	for _, t := range c.thresholds() {
		if t.Pace() && pct+percentEpsilon >= t.MinPercent && !recorded(t.Key()) {
			return true
		}
	}
	return false
}

// Check decides now and records the decisions: due thresholds become
// pending rows (the highest per customer and recipient) or skipped rows (the
// lower ones), committed before anything is sent. With HoldBacklog on a
// database never armed, due warnings are recorded held (skipped) instead,
// logged, and the database is armed. It returns the rows it recorded.
func (c *Checker) Check(ctx context.Context) ([]store.Alert, error) {
	armed, err := c.Armed(ctx)
	if err != nil {
		return nil, err
	}
	s, err := c.read(ctx)
	if err != nil {
		return nil, err
	}
	s.hold = !armed && c.HoldBacklog
	rows, err := c.record(ctx, s)
	if err != nil {
		return nil, err
	}
	if !armed {
		by := c.ArmedBy
		if by == "" {
			by = "check"
		}
		if s.hold {
			by += fmt.Sprintf(" (backlog held: %d rows)", c.logHeld(rows))
		}
		// Armed after the decision is committed: a crash in between holds
		// nothing twice (the held rows are recorded) and sends nothing held.
		if err := c.arm(ctx, s.now, by); err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// logHeld tells the operator, per customer, which warnings the first run
// held and how to have sent them, and returns how many it held.
func (c *Checker) logHeld(rows []store.Alert) int {
	n := 0
	for _, r := range rows {
		if r.LastError != heldReason {
			continue
		}
		n++
		c.log().Warn("warning held: crossed before alerts were armed (first run on this database); not sent",
			"customer", r.Customer, "period", r.Period, "threshold", FormatThreshold(r.Threshold), "percent", report.RoundFloat2(r.Percent), "to", r.To)
	}
	if n > 0 {
		c.log().Warn("first run: the history already crossed thresholds; those warnings were recorded as held and not sent, so installing sends no burst. "+
			"Warnings crossed from now on are sent. To send a backlog instead, start the first run with --arm (or run `quotawatch check` before it)",
			"held", n)
	}
	return n
}

// record decides and records. Most checks (one after every ingested batch)
// find nothing due: it decides on a read first and takes the write lock,
// which the ingest writer needs, only when there is something to record.
// The decision is made again under the lock, so this shortcut never
// records a stale one.
func (c *Checker) record(ctx context.Context, s snapshot) ([]store.Alert, error) {
	if len(s.periods) == 0 {
		return nil, nil
	}
	recorded, err := c.Store.RecordedAlerts(ctx, s.periods)
	if err != nil {
		return nil, err
	}
	if pre, err := c.plan(s, recorded); err != nil || len(pre) == 0 {
		return nil, err
	}
	return c.Store.RecordAlerts(ctx, s.periods, func(recorded map[store.AlertKey]bool) ([]store.Alert, error) {
		return c.plan(s, recorded)
	})
}

// Plan is Check without recording anything: what a check would decide now
// (check --dry-run). A `check` sends what is due even on a database never
// armed; see Armed for what the first `run` would do instead.
func (c *Checker) Plan(ctx context.Context) ([]store.Alert, error) {
	s, err := c.read(ctx)
	if err != nil {
		return nil, err
	}
	recorded, err := c.Store.RecordedAlerts(ctx, s.periods)
	if err != nil {
		return nil, err
	}
	return c.plan(s, recorded)
}
