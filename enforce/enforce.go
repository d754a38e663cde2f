// Package enforce decides, from memory, whether a customer's next AI call
// may go through a gateway (nginx auth_request, Kong, Envoy, a script): the
// seed's Phase 2 hard limits, fed by the counts quotawatch meters. It never
// changes what is metered; it only answers.
package enforce

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// Unknown-customer policies.
const (
	UnknownAllow = "allow"
	UnknownDeny  = "deny"
)

// Defaults of the enforce keys.
const (
	DefaultGracePercent    = 110
	DefaultInflightTimeout = 5 * time.Minute
	DefaultRefresh         = 30 * time.Second
)

// APIKey maps the SHA-256 of a gateway key (the seed's per-customer
// sk-omar-001-shared-key) to its customer; the key itself is never stored.
type APIKey struct {
	SHA256   string `mapstructure:"sha256" json:"sha256"`
	Customer string `mapstructure:"customer" json:"customer"`
}

// Config is the `enforce` section.
type Config struct {
	// Listen is the address of the decision endpoint; "" = not served.
	Listen string `mapstructure:"listen" json:"listen"`
	// Mode and GracePercent are the global policy (customers and tiers
	// override them with their own `enforce`).
	Mode         string  `mapstructure:"mode" json:"mode"`
	GracePercent float64 `mapstructure:"grace_percent" json:"grace_percent"`
	// UnknownCustomer is allow (metered as unassigned or the default
	// customer) or deny, for a request naming no configured customer.
	UnknownCustomer string `mapstructure:"unknown_customer" json:"unknown_customer"`
	// InflightTimeout is how long an admitted call counts as in flight
	// when its usage never arrives (a call the provider refused).
	InflightTimeout time.Duration `mapstructure:"inflight_timeout" json:"inflight_timeout"`
	// APIKeys identify customers by the key their requests carry.
	APIKeys []APIKey `mapstructure:"api_keys" json:"api_keys,omitempty"`
}

// HashKey is the hex SHA-256 of a gateway key, as enforce.api_keys holds it.
func HashKey(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:])
}

// Options are what New needs beside the config.
type Options struct {
	Book       *report.Book
	Tiers      map[string]report.Tier
	UpgradeURL string
	Language   string // alerts.language: the default of customers' messages
	Now        func() time.Time
	Log        *slog.Logger
}

// Enforcer holds every customer's standing in memory and answers quota
// questions without touching SQLite.
type Enforcer struct {
	cfg      Config
	opt      Options
	accounts map[string]*account
	keys     map[[sha256.Size]byte]string
	now      func() time.Time
	log      *slog.Logger

	mu      sync.Mutex
	pending map[store.CustomerPeriod]struct{}
	kick    chan struct{}
}

// account is one configured customer's standing in its running period.
type account struct {
	c    *report.Customer
	loc  *time.Location
	hard bool
	lang string
	// caps are the smallest usage that is denied (limit × grace rounded
	// up, computed exactly once); 0 = no limit on that measure.
	capReq, capTok, capCost int64

	mu         sync.Mutex
	period     string
	start, end int64 // unix ns of the period's bounds in loc
	used       report.Used
	metered    int64 // requests + failed requests metered: what releases reservations
	loaded     bool  // used holds the store's numbers for period
	inflight   []int64
	head       int
}

// Decision is the answer to one quota question.
type Decision struct {
	Allowed  bool
	Known    bool   // a configured customer
	Customer string // its id ("" when unknown)
	// Usage and Limit are the numbers of the limit that decides, in its
	// unit (requests and tokens as counted, cost in nano-dollars); for
	// requests Usage includes the calls let through and not yet metered.
	Unit         string
	Usage, Limit int64
	Lang         string
}

// Validate checks the config and names the key at fault; customers and
// tiers carry their own overrides, checked with CheckPolicy.
func (c *Config) Validate() error {
	if err := CheckPolicy(report.Enforce{Mode: c.Mode, GracePercent: c.GracePercent}); err != nil {
		return err
	}
	if c.Mode == "" || c.GracePercent == 0 {
		return &KeyError{Key: "mode", Reason: "mode and grace_percent are required"}
	}
	switch c.UnknownCustomer {
	case UnknownAllow, UnknownDeny:
	default:
		return &KeyError{Key: "unknown_customer", Reason: fmt.Sprintf("want allow or deny, got %q", c.UnknownCustomer)}
	}
	if c.InflightTimeout < time.Second {
		return &KeyError{Key: "inflight_timeout", Reason: "must be at least 1s"}
	}
	for i, k := range c.APIKeys {
		b, err := hex.DecodeString(k.SHA256)
		if err != nil || len(b) != sha256.Size {
			// The value is not echoed: it might be the key itself.
			return &KeyError{Key: fmt.Sprintf("api_keys[%d].sha256", i), Reason: "want the 64 hex digits of the key's SHA-256 (`printf %s KEY | sha256sum`), never the key"}
		}
		if k.Customer == "" {
			return &KeyError{Key: fmt.Sprintf("api_keys[%d].customer", i), Reason: "required"}
		}
	}
	return nil
}

// KeyError is a problem with one key of the enforce section (or of an
// `enforce` override); the caller prefixes where it is.
type KeyError struct{ Key, Reason string }

func (e *KeyError) Error() string { return e.Key + ": " + e.Reason }

// CheckPolicy checks a policy's values (empty fields inherit).
func CheckPolicy(p report.Enforce) error {
	switch p.Mode {
	case "", report.EnforceOff, report.EnforceHard:
	default:
		return &KeyError{Key: "mode", Reason: fmt.Sprintf("want off or hard, got %q", p.Mode)}
	}
	// Below 100 % a customer would be blocked before the 100 % warning
	// told them; far above, the limit means nothing.
	if p.GracePercent != 0 && !(p.GracePercent >= 100 && p.GracePercent <= 1000) {
		return &KeyError{Key: "grace_percent", Reason: fmt.Sprintf("want 100 to 1000, got %g", p.GracePercent)}
	}
	return nil
}

// New builds the enforcer from a validated config; every configured
// customer starts with no usage until Load.
func New(cfg Config, opt Options) (*Enforcer, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	e := &Enforcer{cfg: cfg, opt: opt, now: opt.Now, log: opt.Log,
		accounts: map[string]*account{}, keys: map[[sha256.Size]byte]string{},
		pending: map[store.CustomerPeriod]struct{}{}, kick: make(chan struct{}, 1)}
	global := report.Enforce{Mode: cfg.Mode, GracePercent: cfg.GracePercent}
	for i := range opt.Book.Customers {
		c := &opt.Book.Customers[i]
		var tierPolicy *report.Enforce
		if t, ok := opt.Tiers[c.Tier]; ok {
			tierPolicy = t.Enforce
		}
		p := global.Over(tierPolicy).Over(c.Enforce)
		a := &account{c: c, loc: c.In(opt.Book.Location), hard: p.Mode == report.EnforceHard, lang: c.Language}
		if a.lang == "" {
			a.lang = opt.Language
		}
		lim := c.TierLimits()
		a.capReq = capOf(lim.Requests, p.GracePercent)
		a.capTok = capOf(lim.Tokens, p.GracePercent)
		if lim.CostUSD > 0 {
			a.capCost = capOf(int64(report.USD(lim.CostUSD)), p.GracePercent)
		}
		e.accounts[c.ID] = a
	}
	for _, k := range cfg.APIKeys {
		b, err := hex.DecodeString(k.SHA256)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("enforce.api_keys: bad sha256 for customer %q", k.Customer)
		}
		if _, ok := e.accounts[k.Customer]; !ok {
			return nil, fmt.Errorf("enforce.api_keys: %q is not a configured customer id", k.Customer)
		}
		var h [sha256.Size]byte
		copy(h[:], b)
		e.keys[h] = k.Customer
	}
	return e, nil
}

// capOf is the smallest usage denied: ceil(limit × grace / 100), exactly.
// The seed's 110 % of 10 requests denies the 12th request (usage 11).
func capOf(limit int64, grace float64) int64 {
	if limit <= 0 {
		return 0
	}
	g := new(big.Rat)
	if _, ok := g.SetString(fmt.Sprint(grace)); !ok {
		g.SetFloat64(grace)
	}
	q := new(big.Rat).Mul(new(big.Rat).SetInt64(limit), g)
	q.Quo(q, big.NewRat(100, 1))
	n := new(big.Int).Quo(q.Num(), q.Denom())
	if new(big.Rat).SetInt(n).Cmp(q) < 0 {
		n.Add(n, big.NewInt(1))
	}
	if !n.IsInt64() {
		return math.MaxInt64
	}
	return n.Int64()
}

// CustomerOf names the customer of a request: a configured gateway key
// wins (a header is easier to forge than a key), else X-Customer-ID.
func (e *Enforcer) CustomerOf(apiKey, header string) string {
	if apiKey != "" && len(e.keys) > 0 {
		if id, ok := e.keys[sha256.Sum256([]byte(apiKey))]; ok {
			return id
		}
	}
	return header
}

// Decide answers whether customer id may make one more call now. When it
// may and enforcement is on, the call is reserved as in flight until its
// usage is metered (Committed) or the in-flight timeout passes. reserve =
// false only reads (the body of a denial).
func (e *Enforcer) Decide(id string, reserve bool) Decision {
	a, ok := e.accounts[id]
	if !ok {
		return Decision{Allowed: e.cfg.UnknownCustomer != UnknownDeny, Lang: e.opt.Language}
	}
	d := Decision{Allowed: true, Known: true, Customer: id, Lang: a.lang}
	now := e.now().UnixNano()
	a.mu.Lock()
	defer a.mu.Unlock()
	if now < a.start || now >= a.end {
		e.roll(a, now)
	}
	for a.head < len(a.inflight) && a.inflight[a.head] <= now {
		a.head++
	}
	if a.head == len(a.inflight) {
		a.inflight, a.head = a.inflight[:0], 0
	}
	n := int64(len(a.inflight) - a.head)
	if !reserve {
		// The numbers are for a body; an answer of 204 needs none.
		d.Unit, d.Usage, d.Limit = a.reading(n)
	}
	if !a.hard {
		return d
	}
	if a.over(n) {
		d.Allowed = false
		d.Unit, d.Usage, d.Limit = a.reading(n)
		return d
	}
	if reserve && (a.capReq > 0 || a.capTok > 0 || a.capCost > 0) {
		a.inflight = append(a.inflight, now+int64(e.cfg.InflightTimeout))
	}
	return d
}

// over says whether usage plus n calls in flight reaches a cap. Calls in
// flight count as one request each and, for token and cost limits, as the
// month's average call so far (their real size is known only once metered).
func (a *account) over(n int64) bool {
	u := a.used
	if a.capReq > 0 && u.Requests+n >= a.capReq {
		return true
	}
	calls := a.metered
	if a.capTok > 0 {
		est := u.Tokens
		if calls > 0 {
			est += n * (u.Tokens / calls)
		}
		if est >= a.capTok {
			return true
		}
	}
	if a.capCost > 0 {
		est := int64(u.Cost)
		if calls > 0 {
			est += n * (int64(u.Cost) / calls)
		}
		if est >= a.capCost {
			return true
		}
	}
	return false
}

// reading is the limit that decides the customer's percentage, with the
// requests in flight counted (what the gateway let through).
func (a *account) reading(n int64) (unit string, usage, limit int64) {
	u := a.used
	u.Requests += n
	r, ok := report.Read(a.c.TierLimits(), u)
	if !ok {
		return report.UnitRequests, u.Requests, 0
	}
	return r.Unit, r.Used, r.Limit
}

// roll moves a to the period containing now: a new month starts empty and
// its numbers are asked of the store.
func (e *Enforcer) roll(a *account, now int64) {
	t := time.Unix(0, now)
	p := report.PeriodOf(t, a.loc)
	start, end, err := report.PeriodBounds(p, a.loc)
	if err != nil {
		return // cannot happen for a period PeriodOf made
	}
	a.period, a.start, a.end = p, start.UnixNano(), end.UnixNano()
	a.used, a.metered, a.loaded = report.Used{}, 0, false
	a.inflight, a.head = a.inflight[:0], 0
	e.touch(store.CustomerPeriod{Customer: a.c.ID, Period: p})
}

// Committed tells the enforcer a batch was committed. It never blocks, so
// the ingest writer calls it after every batch (monitor.OnCommit); the
// numbers are read by Run.
func (e *Enforcer) Committed(res store.CommitResult) {
	if len(res.Touched) == 0 {
		return
	}
	e.mu.Lock()
	for _, cp := range res.Touched {
		if _, ok := e.accounts[cp.Customer]; ok {
			e.pending[cp] = struct{}{}
		}
	}
	e.mu.Unlock()
	e.signal()
}

func (e *Enforcer) touch(cp store.CustomerPeriod) {
	e.mu.Lock()
	e.pending[cp] = struct{}{}
	e.mu.Unlock()
	e.signal()
}

func (e *Enforcer) signal() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Load reads every configured customer's running period from the store:
// the counts decisions start from.
func (e *Enforcer) Load(ctx context.Context, st *store.Store) error {
	now := e.now().UnixNano()
	for _, a := range e.accounts {
		a.mu.Lock()
		if now < a.start || now >= a.end {
			e.roll(a, now)
		}
		a.mu.Unlock()
	}
	e.mu.Lock()
	todo := e.pending
	e.pending = map[store.CustomerPeriod]struct{}{}
	e.mu.Unlock()
	return e.refresh(ctx, st, todo)
}

// Run keeps the counts current until ctx ends: after each committed batch
// it reads the touched customers' totals (one keyed rollup row each), and
// every DefaultRefresh it reads them all, so nothing missed stays missed.
func (e *Enforcer) Run(ctx context.Context, st *store.Store) {
	tick := time.NewTicker(DefaultRefresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		case <-tick.C:
			for id, a := range e.accounts {
				a.mu.Lock()
				p := a.period
				a.mu.Unlock()
				e.touch(store.CustomerPeriod{Customer: id, Period: p})
			}
		}
		e.mu.Lock()
		todo := e.pending
		e.pending = map[store.CustomerPeriod]struct{}{}
		e.mu.Unlock()
		if err := e.refresh(ctx, st, todo); err != nil && ctx.Err() == nil {
			// Kept for the next batch or tick: the decision goes on from
			// the last numbers read.
			e.log.Warn("enforce: read usage", "err", err)
			e.mu.Lock()
			for cp := range todo {
				e.pending[cp] = struct{}{}
			}
			e.mu.Unlock()
		}
	}
}

// refresh reads the totals of todo and releases one reservation for each
// call newly metered.
func (e *Enforcer) refresh(ctx context.Context, st *store.Store, todo map[store.CustomerPeriod]struct{}) error {
	for cp := range todo {
		a := e.accounts[cp.Customer]
		if a == nil {
			continue
		}
		a.mu.Lock()
		current := a.period == cp.Period
		a.mu.Unlock()
		if !current {
			continue // an ended month (a backfill): nothing to decide on
		}
		rows, err := st.UsageByPeriod(ctx, cp.Period, cp.Customer)
		if err != nil {
			return fmt.Errorf("read usage of %s for %s: %w", cp.Customer, cp.Period, err)
		}
		var u store.Usage
		if len(rows) > 0 {
			u = rows[0]
		}
		a.mu.Lock()
		if a.period == cp.Period {
			a.set(report.UsedOf(u), u.Requests+u.FailedRequests)
		}
		a.mu.Unlock()
	}
	return nil
}

// set records the store's numbers; calls metered since the last read each
// release the oldest reservation (their own, or one that went through at
// the same time: the count is what matters).
func (a *account) set(u report.Used, metered int64) {
	if a.loaded {
		if d := metered - a.metered; d > 0 {
			a.head += int(min(d, int64(len(a.inflight)-a.head)))
		}
	} else {
		// The first read of a period releases as many reservations as the
		// calls it finds, made while the period looked empty.
		a.head += int(min(metered, int64(len(a.inflight)-a.head)))
		a.loaded = true
	}
	if a.head == len(a.inflight) {
		a.inflight, a.head = a.inflight[:0], 0
	}
	a.used, a.metered = u, metered
}

// InFlight is the number of calls let through for id and not yet metered.
func (e *Enforcer) InFlight(id string) int {
	a, ok := e.accounts[id]
	if !ok {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.inflight) - a.head
}

// normalizeLang picks a message language we have.
func normalizeLang(l string) string {
	l = strings.ToLower(l)
	if _, ok := deniedMessages[l]; ok {
		return l
	}
	return "ar"
}
