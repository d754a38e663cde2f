package main

// The Phase 2 parts of `run` (issue 12): the quota decision endpoint a
// gateway asks, and the Redis mirror of the seed's keys. Both are off
// unless configured, and neither can stop or slow metering.

import (
	"context"
	"sync"

	"github.com/quotawatch/quotawatch/enforce"
	"github.com/quotawatch/quotawatch/redismirror"
	"github.com/quotawatch/quotawatch/store"
)

// phase2 is what run started for enforcement and the mirror.
type phase2 struct {
	enf    *enforce.Enforcer
	mirror *redismirror.Mirror
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stopFn func()
}

// startPhase2 loads the counts and binds enforce.listen before ingest
// begins, so a taken address stops run at start, and starts the Redis
// mirror when redis.addr is set.
func (a *app) startPhase2(ctx context.Context, c *Config, st *store.Store) (*phase2, error) {
	ctx, cancel := context.WithCancel(ctx)
	p := &phase2{cancel: cancel}
	if c.Enforce.Listen != "" {
		enf, err := enforce.New(c.Enforce, enforce.Options{Book: c.book(), Tiers: c.Tiers,
			UpgradeURL: c.Alerts.UpgradeURL, Language: c.Alerts.Language, Now: a.now, Log: a.log})
		if err != nil {
			cancel()
			return nil, err
		}
		if err := enf.Load(ctx, st); err != nil {
			cancel()
			return nil, err
		}
		stop, err := enf.Serve(ctx, c.Enforce.Listen)
		if err != nil {
			cancel()
			return nil, err
		}
		p.enf, p.stopFn = enf, stop
		p.wg.Add(1)
		go func() { defer p.wg.Done(); enf.Run(ctx, st) }()
	}
	if c.Redis.Enabled() {
		p.mirror = redismirror.New(c.Redis, st, c.book(), a.log, a.now)
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.mirror.Run(ctx) }()
		a.log.Info("redis mirror on", "addr", c.Redis.Addr, "db", c.Redis.DB)
	}
	return p, nil
}

// committed passes a committed batch on; it never blocks the writer.
func (p *phase2) committed(r store.CommitResult) {
	if p.enf != nil {
		p.enf.Committed(r)
	}
	if p.mirror != nil {
		p.mirror.Committed(r)
	}
}

// stop ends the endpoint and the mirror and waits for them.
func (p *phase2) stop() {
	if p.stopFn != nil {
		p.stopFn()
	}
	p.cancel()
	p.wg.Wait()
}
