package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/robfig/cron/v3"
)

// Daemon runs the checks and deliveries inside `quotawatch run`: a check on
// the cron schedule, a debounced check after ingested batches, the daily
// digest on its own schedule, and a delivery worker that retries due
// outbox rows.
type Daemon struct {
	Checker   *Checker
	Deliverer *Deliverer
	// Schedule is alerts.schedule (standard 5-field cron), run in Location.
	Schedule string
	Location *time.Location
	// Debounce is the quiet time after the last ingested batch before a
	// check runs; MaxWait bounds the delay under a steady stream.
	Debounce time.Duration
	MaxWait  time.Duration
	// Poll bounds how long the worker sleeps: another process (`quotawatch
	// check`) may add rows it cannot be told about.
	Poll time.Duration
	Log  *slog.Logger
	// Digest, when set, records the operator's daily digest on
	// DigestSchedule (alerts.digest_schedule, "" = DefaultDigestSchedule)
	// in Location, and once the first catch-up is done if today's
	// scheduled time has passed without one (the sidecar was down).
	Digest         *Digester
	DigestSchedule string

	once      sync.Once
	readyOnce sync.Once
	kick      chan struct{}
	wake      chan struct{}
	readyCh   chan struct{}
	checkMu   sync.Mutex

	digestMu    sync.Mutex
	digestSched cron.Schedule
}

func (d *Daemon) init() {
	d.once.Do(func() {
		d.kick = make(chan struct{}, 1)
		d.wake = make(chan struct{}, 1)
		d.readyCh = make(chan struct{})
		if d.Log == nil {
			d.Log = slog.Default()
		}
		if d.Debounce <= 0 {
			d.Debounce = time.Second
		}
		if d.MaxWait <= 0 {
			d.MaxWait = 5 * time.Second
		}
		if d.Poll <= 0 {
			d.Poll = 30 * time.Second
		}
	})
}

// Kick asks for a check soon. It never blocks, so the ingest writer can
// call it after every committed batch (monitor.OnCommit).
func (d *Daemon) Kick() {
	d.init()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Ready tells the daemon the first catch-up is committed. Checks wait for
// it, so a restart with a backlog decides on the whole backlog (one 100 %
// message) rather than on a half-read one (an 80 % and then a 100 %).
func (d *Daemon) Ready() {
	d.init()
	d.readyOnce.Do(func() { close(d.readyCh) })
	d.Kick()
}

func (d *Daemon) isReady() bool {
	select {
	case <-d.readyCh:
		return true
	default:
		return false
	}
}

func (d *Daemon) wakeWorker() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// CheckNow runs one check (serialized with every other check of this
// daemon) and wakes the delivery worker when it recorded something.
func (d *Daemon) CheckNow(ctx context.Context) {
	d.init()
	if !d.isReady() {
		d.Log.Debug("alerts check deferred until the first catch-up is done")
		return
	}
	d.checkMu.Lock()
	defer d.checkMu.Unlock()
	rows, err := d.Checker.Check(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.Log.Error("alerts check", "err", err)
		}
		return
	}
	for _, r := range rows {
		d.Log.Info("alert decided", "alert", r.ID, "customer", r.Customer, "period", r.Period, "threshold", r.Threshold,
			"percent", report.RoundFloat2(r.Percent), "to", r.To, "status", r.Status)
	}
	if len(rows) > 0 {
		d.wakeWorker()
	}
}

// guard keeps a panic in alert code from taking the sidecar (and its
// ingest) down; cron jobs get cron.Recover, the other loops this.
func (d *Daemon) guard(what string) {
	if r := recover(); r != nil {
		d.Log.Error("panic recovered", "in", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}

// Run starts the scheduler, the debouncer and the delivery worker and
// returns once ctx is done and all three have stopped.
func (d *Daemon) Run(ctx context.Context) error {
	d.init()
	loc := d.Location
	if loc == nil {
		loc = time.UTC
	}
	cl := cronLogger{d.Log}
	// Order matters: Chain(a, b) wraps as a(b(job)). SkipIfStillRunning
	// hands its token back only when the job returns normally, so with
	// Recover outside it a single panic would skip every later run for
	// good; Recover goes inside.
	c := cron.New(cron.WithLocation(loc), cron.WithLogger(cl),
		cron.WithChain(cron.SkipIfStillRunning(cl), cron.Recover(cl)))
	if d.Schedule != "" {
		if _, err := c.AddFunc(d.Schedule, func() { d.CheckNow(ctx) }); err != nil {
			return fmt.Errorf("alerts.schedule %q: %w", d.Schedule, err)
		}
	}
	if d.Digest != nil {
		sched, err := d.digestSchedule()
		if err != nil {
			return err
		}
		c.Schedule(sched, cron.FuncJob(func() { d.digestNow(ctx) }))
	}
	c.Start()
	var wg sync.WaitGroup
	if d.Digest != nil {
		// A digest missed while the sidecar was down goes out once the
		// backlog is read, if its day is not over.
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer d.guard("digest catch-up")
			select {
			case <-ctx.Done():
			case <-d.readyCh:
				d.digestNow(ctx)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		d.debounceLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		d.workerLoop(ctx)
	}()
	<-ctx.Done()
	stopped := c.Stop()
	wg.Wait()
	<-stopped.Done()
	return nil
}

func (d *Daemon) debounceLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		}
		// Wait for a quiet moment (a batch rarely comes alone), but no
		// longer than MaxWait after the first kick.
		deadline := time.Now().Add(d.MaxWait)
		quiet := time.NewTimer(d.Debounce)
	wait:
		for {
			select {
			case <-ctx.Done():
				quiet.Stop()
				return
			case <-d.kick:
				if time.Until(deadline) > d.Debounce {
					quiet.Reset(d.Debounce)
				}
			case <-quiet.C:
				break wait
			}
		}
		func() {
			defer d.guard("debounced alerts check")
			d.CheckNow(ctx)
		}()
	}
}

func (d *Daemon) workerLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
		func() {
			defer d.guard("alert delivery")
			if _, err := d.Deliverer.DeliverDue(ctx); err != nil && ctx.Err() == nil {
				d.Log.Error("alert delivery", "err", err)
			}
		}()
		wait := d.Poll
		if ms, ok, err := d.Deliverer.Store.NextAlertDue(context.WithoutCancel(ctx)); err == nil && ok {
			if w := time.Until(time.UnixMilli(ms)); w < wait {
				wait = max(w, 100*time.Millisecond)
			}
		}
		if hw, halted := d.Deliverer.haltWait(d.Deliverer.Now()); halted {
			// Due rows wait for the pause (or new credentials), not for
			// their own time.
			wait = min(hw, d.Poll)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// cronLogger sends robfig/cron's logging to slog (its default logger
// prints to stdout, which belongs to machine-readable output).
type cronLogger struct{ l *slog.Logger }

// Info implements cron.Logger; cron's routine chatter is debug level.
func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }

// Error implements cron.Logger.
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
