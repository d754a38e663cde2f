// Package corpus writes Clawdbot-shaped state directories of any size,
// deterministically from a seed, together with the exact totals a correct
// meter must report for them. quotawatch's tests and benchmarks use it.
//
// The line mix follows ../shared/clawdbot-formats.md: session headers,
// model and thinking-level changes, model snapshots, user messages with
// WhatsApp envelopes, assistant calls with usage and cost, tool loops with
// tool results, failed calls (stopReason error, zero usage), gateway-injected
// replies, delivery mirrors and compaction entries; sessions forgotten by
// sessions.json (attributed by their envelope), deleted sessions
// (<id>.jsonl.deleted.<ts>) and compacted ones (<id>.jsonl.bak.<ts> plus a
// header-less copy of the last lines, whose calls must be counted once).
//
// GenerateOpenClaw writes OpenClaw 2026.9.6 states the same way (per-agent
// SQLite databases, compressed rows, session windows, archives, cold
// storage; openclaw.go), and OpenClawWriter writes to one live as OpenClaw
// does (openclaw_live.go).
package corpus

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Options says what to generate.
type Options struct {
	// Dir is the state directory to create (<Dir>/agents/<agent>/sessions/).
	Dir string
	// Bytes is the approximate total size of the transcripts. 0 means
	// Files × 30 KB.
	Bytes int64
	// Files is the number of transcript files. 0 means Bytes / 30 KB.
	Files int
	// Agents is the number of Clawdbot agents (default 3).
	Agents int
	// Peers is the number of WhatsApp DM customers (default Files/20, at
	// least 8); Groups the number of WhatsApp groups billed as customers
	// (default Peers/10, at least 1).
	Peers  int
	Groups int
	// Seed makes the output reproducible: same options, same bytes.
	Seed uint64
	// Month is the billing month every call falls in, YYYY-MM (default 2026-11).
	Month string
	// Timezone is the billing timezone (default Asia/Riyadh).
	Timezone string
	// Density scales the calls per megabyte: above 1, user messages,
	// replies and tool results are that many times shorter and more turns
	// run tool loops (issue 13's dense corpus: short turns, many tool
	// loops). 0 or 1 is the default mix, byte for byte.
	Density float64
}

// DefaultFileBytes is the mean transcript size when only one of Bytes and
// Files is given.
const DefaultFileBytes = 30 << 10

// DefaultCustomer bills the agents' shared main sessions (CLI, heartbeats).
const DefaultCustomer = "owner"

// Totals is one customer's expected usage; the JSON keys are those of
// `quotawatch usage --format json`.
type Totals struct {
	Requests   int64   `json:"requests"`
	Failed     int64   `json:"failed_requests"`
	Input      int64   `json:"input_tokens"`
	Output     int64   `json:"output_tokens"`
	CacheRead  int64   `json:"cache_read_tokens"`
	CacheWrite int64   `json:"cache_write_tokens"`
	CostUSD    float64 `json:"cost_usd"`
}

// Customer is a billed party: a WhatsApp peer, a WhatsApp group or the
// default customer.
type Customer struct {
	ID string `json:"id"`
	// Peer is the E.164 number or group JID the customer is matched by
	// ("" for the default customer).
	Peer string `json:"peer,omitempty"`
}

// FollowFile is a live transcript (referenced by sessions.json) that a
// benchmark may append to; its calls are billed to Customer.
type FollowFile struct {
	Path      string `json:"path"`
	Agent     string `json:"agent"`
	SessionID string `json:"session_id"`
	Customer  string `json:"customer"`
	Peer      string `json:"peer"`
}

// Expected is what a correct meter reports for a generated corpus.
type Expected struct {
	// Source is the quotawatch source type that reads the corpus: "" or
	// "clawdbot" for Generate's, "openclaw" for GenerateOpenClaw's.
	Source          string   `json:"source,omitempty"`
	Seed            uint64   `json:"seed"`
	Month           string   `json:"month"`
	Timezone        string   `json:"timezone"`
	DefaultCustomer string   `json:"default_customer"`
	Agents          []string `json:"agents"`
	Files           int      `json:"files"`
	Bytes           int64    `json:"bytes"`
	Lines           int64    `json:"lines"`
	// UsageLines counts assistant lines that are provider calls, copies in
	// compacted files included; Calls counts each call once.
	UsageLines int64 `json:"usage_lines"`
	Calls      int64 `json:"calls"`
	// Synthetic counts injected replies and delivery mirrors (every copy).
	Synthetic int64 `json:"synthetic_lines"`
	// Customers lists every customer, configured ones by peer.
	Customers []Customer `json:"customers"`
	// Totals is keyed by customer id.
	Totals map[string]Totals `json:"totals"`
	Follow []FollowFile      `json:"follow"`
}

type kind uint8

const (
	kindDM kind = iota
	kindGroup
	kindMain
)

type model struct {
	provider, api, id   string
	in, out, cr, cw     float64 // USD per million tokens
	anthropic, thinking bool
}

var models = []model{
	{provider: "openai", api: "openai-completions", id: "gpt-5-mini", in: 0.25, out: 2, cr: 0.025, thinking: true},
	{provider: "anthropic", api: "anthropic-messages", id: "claude-sonnet-4-5", in: 3, out: 15, cr: 0.3, cw: 3.75, anthropic: true, thinking: true},
	{provider: "openrouter", api: "openai-completions", id: "google/gemini-2.5-flash", in: 0.3, out: 2.5, cr: 0.075},
	{provider: "ollama", api: "openai-completions", id: "qwen3:8b"}, // configured cost 0: priced, $0
}

func pickModel(r *rand.Rand) model {
	switch x := r.IntN(100); {
	case x < 45:
		return models[0]
	case x < 75:
		return models[1]
	case x < 95:
		return models[2]
	}
	return models[3]
}

var agentNames = []string{"main", "sales", "support", "bookings", "ops", "delivery", "clinic", "store"}

// plan is one session before it is written.
type plan struct {
	agent     string
	kind      kind
	peer      string
	customer  string
	id        string
	start     int64
	files     int // 1, or 2 when compacted
	deleted   bool
	compacted bool
	greeting  bool
	live      bool
	archiveMs int64
}

func (p *plan) key() string {
	switch p.kind {
	case kindDM:
		return "agent:" + p.agent + ":whatsapp:dm:" + p.peer
	case kindGroup:
		return "agent:" + p.agent + ":whatsapp:group:" + p.peer
	}
	return "agent:" + p.agent + ":main"
}

// gen holds what the whole corpus shares.
type gen struct {
	r        *rand.Rand
	loc      *time.Location
	from, to int64 // ms window every timestamp falls in
	exp      *Expected
	comp     map[string]float64 // Neumaier compensation per customer
	density  float64            // Options.Density, at least 1
}

// short scales a text length down by the density.
func (g *gen) short(n int) int {
	if g.density <= 1 {
		return n
	}
	return max(8, int(float64(n)/g.density))
}

func (g *gen) addCall(customer string, u usage, failed bool) {
	t := g.exp.Totals[customer]
	if failed {
		t.Failed++
	} else {
		t.Requests++
	}
	t.Input += u.input
	t.Output += u.output
	t.CacheRead += u.cacheRead
	t.CacheWrite += u.cacheWrite
	// Neumaier summation: the expected cost is the exact sum, rounded once.
	s := t.CostUSD + u.cost
	if math.Abs(t.CostUSD) >= math.Abs(u.cost) {
		g.comp[customer] += (t.CostUSD - s) + u.cost
	} else {
		g.comp[customer] += (u.cost - s) + t.CostUSD
	}
	t.CostUSD = s
	g.exp.Totals[customer] = t
	g.exp.Calls++
}

func (o *Options) defaults() error {
	if o.Month == "" {
		o.Month = "2026-11"
	}
	if o.Timezone == "" {
		o.Timezone = "Asia/Riyadh"
	}
	if o.Agents <= 0 {
		o.Agents = 3
	}
	switch {
	case o.Bytes <= 0 && o.Files <= 0:
		return errors.New("corpus: set Bytes or Files")
	case o.Bytes <= 0:
		o.Bytes = int64(o.Files) * DefaultFileBytes
	case o.Files <= 0:
		o.Files = int(max(1, o.Bytes/DefaultFileBytes))
	}
	if o.Peers <= 0 {
		o.Peers = max(8, o.Files/20)
	}
	if o.Groups <= 0 {
		o.Groups = max(1, o.Peers/10)
	}
	return nil
}

// Generate writes a corpus into opts.Dir (which must not hold one already)
// and returns what a meter must report for it. It writes
// <Dir>/agents/<agent>/sessions/*.jsonl and sessions.json, nothing else.
func Generate(opts Options) (*Expected, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("corpus: empty Dir")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	g, err := newGen(opts)
	if err != nil {
		return nil, err
	}
	plans := g.plan(opts)
	agents := g.exp.Agents
	for _, a := range agents {
		if err := os.MkdirAll(filepath.Join(dir, "agents", a, "sessions"), 0o755); err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
	}
	remaining := opts.Bytes
	filesLeft := opts.Files
	for _, p := range plans {
		// Each session gets its share of what is left, varied, so the total
		// lands close to opts.Bytes whatever the variation.
		share := float64(remaining) / float64(max(filesLeft, 1)) * float64(p.files)
		target := int(share * (0.3 + 1.4*g.r.Float64()))
		target = max(target, 4<<10)
		n, err := g.writeSession(dir, p, target)
		if err != nil {
			return nil, err
		}
		remaining -= n
		filesLeft -= p.files
	}
	if err := g.writeStores(dir, plans); err != nil {
		return nil, err
	}
	for c, t := range g.exp.Totals {
		t.CostUSD += g.comp[c]
		g.exp.Totals[c] = t
	}
	g.exp.Files = opts.Files
	return g.exp, nil
}

func newGen(opts Options) (*gen, error) {
	loc, err := time.LoadLocation(opts.Timezone)
	if err != nil {
		return nil, fmt.Errorf("corpus: timezone: %w", err)
	}
	m, err := time.ParseInLocation("2006-01", opts.Month, loc)
	if err != nil {
		return nil, fmt.Errorf("corpus: month %q: %w", opts.Month, err)
	}
	exp := &Expected{Seed: opts.Seed, Month: opts.Month, Timezone: opts.Timezone, DefaultCustomer: DefaultCustomer,
		Totals: map[string]Totals{}}
	g := &gen{
		r:       rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15)),
		loc:     loc,
		from:    m.Add(time.Hour).UnixMilli(),
		to:      m.AddDate(0, 1, 0).Add(-time.Hour).UnixMilli(),
		exp:     exp,
		comp:    map[string]float64{},
		density: max(1, opts.Density),
	}
	for i := 0; i < opts.Agents; i++ {
		if i < len(agentNames) {
			exp.Agents = append(exp.Agents, agentNames[i])
		} else {
			exp.Agents = append(exp.Agents, fmt.Sprintf("agent%d", i+1))
		}
	}
	return g, nil
}

// plan decides every session: agent, kind, customer, start time, archive state.
func (g *gen) plan(opts Options) []*plan {
	r := g.r
	peers := make([]string, opts.Peers)
	seen := map[string]bool{}
	for i := range peers {
		for {
			p := fmt.Sprintf("+9665%08d", r.IntN(100_000_000))
			if !seen[p] {
				seen[p], peers[i] = true, p
				break
			}
		}
	}
	groups := make([]string, opts.Groups)
	for i := range groups {
		groups[i] = fmt.Sprintf("1203630%011d@g.us", r.IntN(100_000_000_000))
	}
	g.exp.Customers = append(g.exp.Customers, Customer{ID: DefaultCustomer})
	for _, p := range peers {
		g.exp.Customers = append(g.exp.Customers, Customer{ID: "p" + p[1:], Peer: p})
	}
	for _, jid := range groups {
		g.exp.Customers = append(g.exp.Customers, Customer{ID: "g" + strings.TrimSuffix(jid, "@g.us"), Peer: jid})
	}
	// A few customers talk a lot: pick with a skew towards low indices.
	skew := func(n int) int { u := r.Float64(); return int(float64(n) * u * u) }
	var plans []*plan
	span := g.to - g.from - 12*3600*1000
	for files := opts.Files; files > 0; {
		p := &plan{agent: g.exp.Agents[r.IntN(len(g.exp.Agents))], id: uuid(r), files: 1,
			start: g.from + r.Int64N(span)}
		switch x := r.IntN(100); {
		case x < 8:
			p.kind, p.customer = kindMain, DefaultCustomer
		case x < 20:
			p.kind = kindGroup
			p.peer = groups[skew(len(groups))]
			p.customer = "g" + strings.TrimSuffix(p.peer, "@g.us")
		default:
			p.kind = kindDM
			p.peer = peers[skew(len(peers))]
			p.customer = "p" + p.peer[1:]
			p.greeting = r.IntN(100) < 30
			p.deleted = r.IntN(100) < 4
			if !p.deleted && files >= 2 && r.IntN(100) < 3 {
				p.compacted, p.files = true, 2
			}
		}
		files -= p.files
		plans = append(plans, p)
	}
	// sessions.json references the newest session of each key that was not deleted.
	newest := map[string]*plan{}
	for _, p := range plans {
		if p.deleted {
			continue
		}
		if q := newest[p.key()]; q == nil || p.start > q.start {
			newest[p.key()] = p
		}
	}
	for _, p := range newest {
		p.live = true
	}
	return plans
}

func (g *gen) transcriptPath(dir string, p *plan) string {
	return filepath.Join(dir, "agents", p.agent, "sessions", p.id+".jsonl")
}

// archiveStamp formats a time the way Clawdbot names archives:
// toISOString() with ':' and '.' kept as in 2026-11-27T00-11-19.326Z.
func archiveStamp(ms int64) string {
	return strings.ReplaceAll(time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"), ":", "-")
}

// writeSession writes a session's file(s) and returns the bytes written.
func (g *gen) writeSession(dir string, p *plan, target int) (int64, error) {
	s := newSession(g, p)
	path := g.transcriptPath(dir, p)
	if !p.compacted {
		s.run(target)
		final := path
		if p.deleted {
			final = path + ".deleted." + archiveStamp(s.t+g.r.Int64N(3600_000))
		}
		if err := s.flush(final); err != nil {
			return 0, err
		}
		if p.live && p.kind == kindDM && len(g.exp.Follow) < 64 && !g.following(p.customer) {
			g.exp.Follow = append(g.exp.Follow, FollowFile{Path: final, Agent: p.agent, SessionID: p.id,
				Customer: p.customer, Peer: p.peer})
		}
		return s.written, nil
	}
	// Compacted: the original moves to .bak.<ts>; a new file at the same
	// path holds its last lines (no header, same ids) and later turns.
	s.run(target / 2)
	if err := s.flush(path + ".bak." + archiveStamp(s.t+1000)); err != nil {
		return 0, err
	}
	s.copyTail(10 + g.r.IntN(30))
	s.run(target / 2)
	if err := s.flush(path); err != nil {
		return 0, err
	}
	return s.written, nil
}

func (g *gen) following(customer string) bool {
	for _, f := range g.exp.Follow {
		if f.Customer == customer {
			return true
		}
	}
	return false
}

type storeEntry struct {
	SessionID       string         `json:"sessionId"`
	UpdatedAt       int64          `json:"updatedAt"`
	SessionFile     string         `json:"sessionFile,omitempty"`
	ChatType        string         `json:"chatType,omitempty"`
	Channel         string         `json:"channel,omitempty"`
	Origin          map[string]any `json:"origin,omitempty"`
	DeliveryContext map[string]any `json:"deliveryContext,omitempty"`
	LastChannel     string         `json:"lastChannel,omitempty"`
	LastTo          string         `json:"lastTo,omitempty"`
	ModelProvider   string         `json:"modelProvider"`
	Model           string         `json:"model"`
	ContextTokens   int            `json:"contextTokens"`
	AbortedLastRun  bool           `json:"abortedLastRun"`
	InputTokens     int            `json:"inputTokens"`
	OutputTokens    int            `json:"outputTokens"`
	TotalTokens     int            `json:"totalTokens"`
}

// writeStores writes each agent's sessions.json (pretty JSON, as Clawdbot does).
func (g *gen) writeStores(dir string, plans []*plan) error {
	stores := map[string]map[string]storeEntry{}
	for _, a := range g.exp.Agents {
		stores[a] = map[string]storeEntry{}
	}
	for _, p := range plans {
		if !p.live {
			continue
		}
		m := models[int(p.start)%len(models)]
		e := storeEntry{SessionID: p.id, UpdatedAt: p.start + 3600_000, SessionFile: g.transcriptPath(dir, p),
			ModelProvider: m.provider, Model: m.id, ContextTokens: 200000, InputTokens: 5000 + int(p.start%5000), OutputTokens: 40}
		e.TotalTokens = e.InputTokens + e.OutputTokens
		switch p.kind {
		case kindDM, kindGroup:
			chat := "direct"
			if p.kind == kindGroup {
				chat = "group"
			}
			e.ChatType, e.Channel, e.LastChannel, e.LastTo = chat, "whatsapp", "whatsapp", p.peer
			e.Origin = map[string]any{"provider": "whatsapp", "surface": "whatsapp", "chatType": chat, "from": p.peer, "to": "+966110000000", "accountId": "default"}
			e.DeliveryContext = map[string]any{"channel": "whatsapp", "to": p.peer, "accountId": "default"}
		default:
			e.DeliveryContext = map[string]any{"channel": "webchat"}
			e.LastChannel = "webchat"
		}
		stores[p.agent][p.key()] = e
	}
	for a, m := range stores {
		data, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			return fmt.Errorf("corpus: sessions.json: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "agents", a, "sessions", "sessions.json"), data, 0o600); err != nil {
			return fmt.Errorf("corpus: %w", err)
		}
	}
	return nil
}

// WriteExpected writes e as indented JSON.
func (e *Expected) WriteExpected(path string) error {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("corpus: encode expected totals: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	return nil
}

// ReadExpected reads a file written by WriteExpected.
func ReadExpected(path string) (*Expected, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	var e Expected
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("corpus: %s: %w", path, err)
	}
	return &e, nil
}

// Config returns a quotawatch configuration (YAML) that bills every
// customer of the corpus by peer, reading stateDir.
func (e *Expected) Config(stateDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by internal/corpus (seed %d): one customer per WhatsApp peer or group.\n", e.Seed)
	source := e.Source
	if source == "" {
		source = "clawdbot"
	}
	fmt.Fprintf(&b, "timezone: %s\nsources:\n  - {type: %s, dir: %q}\n", e.Timezone, source, stateDir)
	fmt.Fprintf(&b, "tiers:\n  basic: {requests: 100000}\n  pro: {}\ncustomers:\n")
	ids := make([]Customer, len(e.Customers))
	copy(ids, e.Customers)
	sort.Slice(ids, func(i, j int) bool { return ids[i].ID < ids[j].ID })
	for _, c := range ids {
		if c.Peer == "" {
			fmt.Fprintf(&b, "  - {id: %s, tier: pro}\n", c.ID)
			continue
		}
		fmt.Fprintf(&b, "  - {id: %s, tier: basic, match: {peer: %q}}\n", c.ID, c.Peer)
	}
	fmt.Fprintf(&b, "default_customer: %s\n", e.DefaultCustomer)
	return b.String()
}

// Compare checks reported totals (customer id → totals) against the
// expected ones: counts and tokens exactly, cost within tol. Customers with
// no usage may be absent from got.
func (e *Expected) Compare(got map[string]Totals, tol float64) error {
	var errs []error
	ids := make([]string, 0, len(e.Totals))
	for id := range e.Totals {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		want := e.Totals[id]
		g := got[id]
		wc, gc := want, g
		wc.CostUSD, gc.CostUSD = 0, 0
		if wc != gc || math.Abs(want.CostUSD-g.CostUSD) > tol {
			errs = append(errs, fmt.Errorf("customer %s: got %+v, want %+v", id, g, want))
		}
	}
	for id, g := range got {
		if _, ok := e.Totals[id]; !ok && g != (Totals{}) {
			errs = append(errs, fmt.Errorf("customer %s: unexpected usage %+v", id, g))
		}
	}
	if len(errs) > 10 {
		errs = append(errs[:10], fmt.Errorf("... and %d more", len(errs)-10))
	}
	return errors.Join(errs...)
}
