// Package redismirror mirrors each customer's running month into Redis
// under the seed's keys, for operators whose gateway (the seed's own Lua,
// Kong) reads Redis: usage:<customer>:<YYYY-MM> = requests, plus …:tokens
// and …:cost (USD), expiring at the month's end in the customer's
// timezone. SQLite stays the source of truth: the mirror is rebuilt from it
// on start and after Redis comes back, and Redis being down never slows
// metering.
package redismirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// Config is the `redis` section; Addr "" turns the mirror off.
type Config struct {
	Addr        string `mapstructure:"addr" json:"addr"`
	PasswordEnv string `mapstructure:"password_env" json:"password_env"`
	DB          int    `mapstructure:"db" json:"db"`
	// Resync is how often every key is rewritten from SQLite, so a Redis
	// restarted empty between two batches is healed.
	Resync time.Duration `mapstructure:"resync_interval" json:"resync_interval"`
}

// DefaultResync is the default of redis.resync_interval.
const DefaultResync = time.Minute

// Enabled reports whether a Redis address is configured.
func (c Config) Enabled() bool { return c.Addr != "" }

// Key is the seed's key of a customer's month: usage:<customer>:<YYYY-MM>.
func Key(customer, period string) string { return "usage:" + customer + ":" + period }

// Mirror writes the counts of touched customers after each batch.
type Mirror struct {
	cfg  Config
	st   *store.Store
	book *report.Book
	rdb  *redis.Client
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	pending map[store.CustomerPeriod]struct{}
	kick    chan struct{}
}

func init() {
	// go-redis logs pool errors on its own (to stderr, unstructured);
	// the mirror reports Redis trouble itself, once per outage.
	redis.SetLogger(quiet{})
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...interface{}) {}

// New connects lazily (go-redis dials on first use), so a Redis that is
// down at start is not an error: the mirror catches up when it is back.
func New(cfg Config, st *store.Store, book *report.Book, log *slog.Logger, now func() time.Time) *Mirror {
	if now == nil {
		now = time.Now
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	opt := &redis.Options{Addr: cfg.Addr, DB: cfg.DB, DialTimeout: time.Second, ReadTimeout: time.Second,
		WriteTimeout: time.Second, MaxRetries: 1, PoolSize: 4}
	if cfg.PasswordEnv != "" {
		opt.Password = os.Getenv(cfg.PasswordEnv)
	}
	return &Mirror{cfg: cfg, st: st, book: book, rdb: redis.NewClient(opt), now: now, log: log,
		pending: map[store.CustomerPeriod]struct{}{}, kick: make(chan struct{}, 1)}
}

// Committed queues the batch's touched customers; it never blocks (the
// ingest writer calls it).
func (m *Mirror) Committed(res store.CommitResult) {
	if len(res.Touched) == 0 {
		return
	}
	m.mu.Lock()
	for _, cp := range res.Touched {
		m.pending[cp] = struct{}{}
	}
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run rebuilds every key of the running month, then writes what each
// batch touched, until ctx ends. A failed write is retried with backoff and
// followed by a full rebuild (Redis may have lost everything).
func (m *Mirror) Run(ctx context.Context) {
	defer m.rdb.Close()
	full := true
	down := false
	backoff := 250 * time.Millisecond
	resync := time.NewTicker(m.cfg.Resync)
	defer resync.Stop()
	for {
		var err error
		if full {
			err = m.rebuild(ctx)
		} else {
			m.mu.Lock()
			todo := m.pending
			m.pending = map[store.CustomerPeriod]struct{}{}
			m.mu.Unlock()
			err = m.write(ctx, todo)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !down {
				m.log.Warn("redis mirror: write failed; metering goes on, the mirror catches up when Redis is back", "addr", m.cfg.Addr, "err", err)
			}
			down, full = true, true
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		if down {
			m.log.Info("redis mirror: Redis is back; keys rebuilt from SQLite", "addr", m.cfg.Addr)
		}
		down, full, backoff = false, false, 250*time.Millisecond
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		case <-resync.C:
			full = true
		}
	}
}

// rebuild writes every configured customer's running month, and that of
// every other id with usage in it (unassigned, removed customers).
func (m *Mirror) rebuild(ctx context.Context) error {
	now := m.now()
	todo := map[store.CustomerPeriod]struct{}{}
	periods := map[string]bool{report.PeriodOf(now, m.book.Location): true}
	for i := range m.book.Customers {
		c := &m.book.Customers[i]
		p := report.PeriodOf(now, c.In(m.book.Location))
		periods[p] = true
		todo[store.CustomerPeriod{Customer: c.ID, Period: p}] = struct{}{}
	}
	for p := range periods {
		rows, err := m.st.UsageByPeriod(ctx, p, "")
		if err != nil {
			return fmt.Errorf("redis mirror: read usage for %s: %w", p, err)
		}
		for _, u := range rows {
			if report.PeriodOf(now, m.book.LocationOf(u.Customer)) == p {
				todo[store.CustomerPeriod{Customer: u.Customer, Period: p}] = struct{}{}
			}
		}
	}
	// What a batch touched meanwhile is in todo too, or in a later period.
	m.mu.Lock()
	for cp := range m.pending {
		todo[cp] = struct{}{}
	}
	m.pending = map[store.CustomerPeriod]struct{}{}
	m.mu.Unlock()
	return m.write(ctx, todo)
}

// write sets the three keys of each pair in one MULTI/EXEC per pair, with
// EXPIREAT at the period's end. Ended periods are skipped (their keys would
// expire at once). On error the unwritten pairs go back to pending.
func (m *Mirror) write(ctx context.Context, todo map[store.CustomerPeriod]struct{}) error {
	now := m.now()
	var failed error
	for cp := range todo {
		if failed != nil {
			m.requeue(cp)
			continue
		}
		loc := m.book.LocationOf(cp.Customer)
		_, end, err := report.PeriodBounds(cp.Period, loc)
		if err != nil || !end.After(now) {
			continue
		}
		rows, err := m.st.UsageByPeriod(ctx, cp.Period, cp.Customer)
		if err != nil {
			failed = fmt.Errorf("redis mirror: read usage of %s for %s: %w", cp.Customer, cp.Period, err)
			m.requeue(cp)
			continue
		}
		var u store.Usage
		if len(rows) > 0 {
			u = rows[0]
		}
		k := Key(cp.Customer, cp.Period)
		vals := [3][2]string{
			{k, strconv.FormatInt(u.Requests, 10)},
			{k + ":tokens", strconv.FormatInt(u.TotalTokens(), 10)},
			{k + ":cost", report.CostOf(u).String()},
		}
		_, err = m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for _, kv := range vals {
				p.Set(ctx, kv[0], kv[1], 0)
				p.ExpireAt(ctx, kv[0], end)
			}
			return nil
		})
		if err != nil {
			failed = fmt.Errorf("redis mirror: write %s: %w", k, err)
			m.requeue(cp)
		}
	}
	if failed != nil && errors.Is(failed, context.Canceled) {
		return ctx.Err()
	}
	return failed
}

func (m *Mirror) requeue(cp store.CustomerPeriod) {
	m.mu.Lock()
	m.pending[cp] = struct{}{}
	m.mu.Unlock()
}
