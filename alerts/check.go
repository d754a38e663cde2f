package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	return report.ForecastOf(cu.Limits, d.days[cu.ID], period, loc, s.now), nil
}

// read loads the running period's usage of every limited customer. Only
// the running period is read: an ended period never alerts.
func (c *Checker) read(ctx context.Context) (snapshot, error) {
	s := snapshot{now: c.Now(), usage: map[store.CustomerPeriod]store.Usage{}, daily: &dailySeries{ctx: ctx, st: c.Store}}
	seen := map[string]bool{}
	for i := range c.Customers {
		cu := &c.Customers[i]
		if cu.Limits.Unlimited() {
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
		if cu.Limits.Unlimited() {
			continue // tracked, never warned
		}
		loc := c.loc(cu)
		period := report.PeriodOf(s.now, loc)
		if !report.PeriodOpen(period, loc, s.now) {
			continue
		}
		u := s.usage[store.CustomerPeriod{Customer: cu.ID, Period: period}]
		r, ok := report.Read(cu.Limits, report.UsedOf(u))
		if !ok {
			continue
		}
		limitKey := cu.Limits.LimitKey()
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
		row := func(t Threshold, status, skipReason string) (store.Alert, error) {
			lang := c.language(cu)
			to := cu.Phone
			if t.To == ToOperator {
				lang, to = c.language(nil), c.Config.OperatorPhone
			}
			md := MessageData{Customer: cu.ID, Name: cu.Name, Tier: cu.Tier, Period: period, Threshold: FormatPercent(t.Percent),
				Percent: FormatPercent(math.Floor(pct + percentEpsilon)), Used: FormatAmount(r.Used, r.Unit),
				Limit: FormatAmount(r.Limit, r.Unit), Unit: UnitName(r.Unit, lang), UpgradeURL: c.Config.UpgradeURL,
				Degraded: c.Config.DegradedAfterLimit, Language: lang}
			if t.Pace() {
				md.Threshold = FormatPercent(t.ProjectedPercent)
			}
			md.WithForecast(f)
			if md.Name == "" {
				md.Name = cu.ID
			}
			msg, err := c.Templates.Render(t, lang, md)
			if err != nil {
				return store.Alert{}, err
			}
			params, err := json.Marshal(md.Vars())
			if err != nil {
				return store.Alert{}, fmt.Errorf("encode message variables: %w", err)
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
		if d.Send != nil {
			for _, t := range d.Skip {
				if err := add(t, store.AlertSkipped, fmt.Sprintf("skipped: crossed together with %s%%, which was sent instead", FormatPercent(d.Send.Percent))); err != nil {
					return nil, err
				}
			}
			if err := add(*d.Send, store.AlertPending, ""); err != nil {
				return nil, err
			}
		}
		if pd.Send != nil {
			// A warning due now to the same recipient carries the forecast
			// itself (the 80 % text names the day), so the pre-warning is
			// recorded skipped rather than sent as a second message.
			for _, t := range pd.Skip {
				if err := add(t, store.AlertSkipped, fmt.Sprintf("skipped: due together with the projected %s%% pre-warning, which was sent instead",
					FormatPercent(pd.Send.ProjectedPercent))); err != nil {
					return nil, err
				}
			}
			status, reason := store.AlertPending, ""
			if d.Send != nil && d.Send.To == pd.Send.To {
				status, reason = store.AlertSkipped, fmt.Sprintf("skipped: due together with the %s%% warning, which was sent instead", FormatPercent(d.Send.Percent))
			}
			if err := add(*pd.Send, status, reason); err != nil {
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
// pending rows (the highest per customer) or skipped rows (the lower ones),
// committed before anything is sent. It returns the rows it recorded.
func (c *Checker) Check(ctx context.Context) ([]store.Alert, error) {
	s, err := c.read(ctx)
	if err != nil {
		return nil, err
	}
	if len(s.periods) == 0 {
		return nil, nil
	}
	// Most checks (one after every ingested batch) find nothing due: decide
	// on a read first and take the write lock, which the ingest writer
	// needs, only when there is something to record. The decision is made
	// again under the lock, so this shortcut never records a stale one.
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
// (check --dry-run).
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
