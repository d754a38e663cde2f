package monitor

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// Unassigned is the customer of events that match no rule when no
// default_customer is configured.
const Unassigned = report.Unassigned

// Attributor decides which customer a session is billed to and which
// billing period an event falls in.
type Attributor struct {
	customers []report.Customer
	// book finds a customer by id: the index the reports already hold
	// (config ids are unique), not a second map of every customer.
	book *report.Book
	def  string
	loc  *time.Location
	// byPeer indexes customers matched by peer alone (the common case, one
	// rule per WhatsApp number): their indices sorted by normalised peer,
	// then by index, so the first of a peer named twice is found first (a
	// map of 8,250 peers was ~0.4 MiB of run's idle heap; this is 33 kB).
	// general lists the others, in order.
	byPeer  []int32
	general []int
}

// NewAttributor builds an attributor; loc is the global timezone.
func NewAttributor(customers []report.Customer, defaultCustomer string, loc *time.Location) *Attributor {
	return NewBookAttributor(report.NewBook(customers, loc), defaultCustomer)
}

// NewBookAttributor builds an attributor over a customer book shared with
// the reports; the book's Location is the global timezone.
func NewBookAttributor(book *report.Book, defaultCustomer string) *Attributor {
	loc := book.Location
	if loc == nil {
		loc = time.UTC
	}
	a := &Attributor{customers: book.Customers, book: book, def: defaultCustomer, loc: loc}
	peerOnly := func(m report.Match) bool {
		return m.Peer != "" && m.Agent == "" && m.SessionKey == "" && m.Channel == ""
	}
	// Sized first: appends grow a large slice by a quarter, allocating
	// about five times what they keep.
	np, ng := 0, 0
	for i := range a.customers {
		if m := a.customers[i].Match; peerOnly(m) {
			np++
		} else if !m.Empty() {
			ng++
		}
	}
	a.byPeer, a.general = make([]int32, 0, np), make([]int, 0, ng)
	for i := range a.customers {
		if m := a.customers[i].Match; peerOnly(m) {
			a.byPeer = append(a.byPeer, int32(i))
		} else if !m.Empty() {
			a.general = append(a.general, i)
		}
	}
	slices.SortFunc(a.byPeer, func(x, y int32) int {
		if c := strings.Compare(a.peerOf(x), a.peerOf(y)); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})
	return a
}

// peerOf is the normalised peer of customer i's rule.
func (a *Attributor) peerOf(i int32) string { return normPeer(a.customers[i].Match.Peer) }

// peerRule is the first customer whose rule is peer p alone.
func (a *Attributor) peerRule(p string) (int, bool) {
	p = normPeer(p)
	j, _ := slices.BinarySearchFunc(a.byPeer, p, func(i int32, p string) int { return strings.Compare(a.peerOf(i), p) })
	if j < len(a.byPeer) && a.peerOf(a.byPeer[j]) == p {
		return int(a.byPeer[j]), true
	}
	return 0, false
}

// normPeer makes "+9665…", "whatsapp:+9665…" and mixed-case JIDs compare equal.
func normPeer(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if i := strings.LastIndexByte(p, ':'); i >= 0 && !strings.Contains(p, "@") {
		p = p[i+1:]
	}
	return p
}

func matches(m report.Match, s store.Session) bool {
	if m.Empty() {
		return false
	}
	if m.Agent != "" && !strings.EqualFold(m.Agent, s.Agent) {
		return false
	}
	if m.SessionKey != "" {
		ok, err := path.Match(strings.ToLower(m.SessionKey), strings.ToLower(s.Key))
		if err != nil || !ok {
			return false
		}
	}
	if m.Peer != "" && (s.Peer == "" || normPeer(m.Peer) != normPeer(s.Peer)) {
		return false
	}
	if m.Channel != "" && !strings.EqualFold(m.Channel, s.Channel) {
		return false
	}
	return true
}

// CustomerOf applies the rules: a generic log's customer value naming a
// configured id, then the first matching customer, then default_customer,
// else "unassigned".
func (a *Attributor) CustomerOf(s store.Session) string {
	if s.Hint != "" {
		if _, ok := a.book.Customer(s.Hint); ok {
			return s.Hint
		}
	}
	// First match wins: a peer-only rule found by index still loses to an
	// earlier general rule that matches.
	best := -1
	if s.Peer != "" {
		if i, ok := a.peerRule(s.Peer); ok {
			best = i
		}
	}
	for _, i := range a.general {
		if best >= 0 && i > best {
			break
		}
		if matches(a.customers[i].Match, s) {
			return a.customers[i].ID
		}
	}
	if best >= 0 {
		return a.customers[best].ID
	}
	if a.def != "" {
		return a.def
	}
	return Unassigned
}

// Location is the timezone of a customer's billing periods.
func (a *Attributor) Location(customer string) *time.Location {
	if c, ok := a.book.Customer(customer); ok {
		return c.In(a.loc)
	}
	return a.loc
}

// PeriodOf is the calendar month (YYYY-MM) of an event in its customer's timezone.
func (a *Attributor) PeriodOf(customer string, tsMs int64) string {
	return time.UnixMilli(tsMs).In(a.Location(customer)).Format("2006-01")
}

// DayOf is the calendar day (YYYY-MM-DD) of an event in its customer's
// timezone, whose first seven bytes are PeriodOf's month (a store.DayFunc).
func (a *Attributor) DayOf(customer string, tsMs int64) string {
	return time.UnixMilli(tsMs).In(a.Location(customer)).Format("2006-01-02")
}

// Fingerprint changes whenever the mapping or a timezone changes, which is
// when the stored history must be re-attributed.
func (a *Attributor) Fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "v1|%s|%s\n", a.def, a.loc)
	for _, c := range a.customers {
		tz := ""
		if c.Location != nil {
			tz = c.Location.String()
		}
		fmt.Fprintf(h, "%q|%q|%q|%q|%q|%q\n", c.ID, c.Match.Agent, c.Match.SessionKey, c.Match.Peer, c.Match.Channel, tz)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// KeyInfo is what a session key, Clawdbot's or OpenClaw's, says about its
// session.
type KeyInfo struct {
	Agent   string
	Channel string
	// Account is the channel account of a per-account-channel-peer DM key
	// (agent:<a>:<channel>:<account>:direct:<peer>), as written (OpenClaw
	// normalises it, "default" when the channel has one account); empty for
	// every other shape. It names which of the operator's own numbers the
	// peer wrote to, not who the peer is, so attribution does not use it.
	Account string
	Peer    string
	// Shared is true for a key that many peers share (agent:<id>:main,
	// global): no single peer can be read from it.
	Shared bool
}

// isPeerKind reports whether a key segment is the marker before a peer id:
// Clawdbot's "dm", OpenClaw's "direct", and both products' "group" and
// "channel".
func isPeerKind(s string) bool {
	return strings.EqualFold(s, "direct") || strings.EqualFold(s, "dm") ||
		strings.EqualFold(s, "group") || strings.EqualFold(s, "channel")
}

// isThreadMarker reports whether a key segment starts a thread or topic
// suffix (:thread:<id>, Telegram's :topic:<id>), which does not change who
// the peer is.
func isThreadMarker(s string) bool {
	return strings.EqualFold(s, "thread") || strings.EqualFold(s, "topic")
}

// ParseSessionKey reads agent, channel, account and peer out of a session
// key. The shapes, by dmScope (clawdbot-formats.md §3, openclaw-formats.md
// §4 and §8):
//
//	agent:<a>:main (or <mainKey>)                  main: shared by every DM
//	agent:<a>:dm:<peer>, agent:<a>:direct:<peer>   per-peer
//	agent:<a>:<ch>:dm:<peer>, …:<ch>:direct:<peer> per-channel-peer
//	agent:<a>:<ch>:<acct>:dm|direct:<peer>         per-account-channel-peer
//	agent:<a>:<ch>:group|channel:<id>              groups and rooms
//
// each optionally followed by :thread:<id> or :topic:<id>. Clawdbot writes
// "dm", OpenClaw 2026.9 "direct"; both lower-case the peer. The peer kind
// is looked for only where these shapes put it (third to fifth segment):
// a key of another shape (cron, hooks, subagents) names no peer, rather
// than a wrong one.
func ParseSessionKey(key string) KeyInfo {
	parts := strings.Split(key, ":")
	var ki KeyInfo
	if len(parts) < 2 || !strings.EqualFold(parts[0], "agent") {
		ki.Shared = strings.EqualFold(key, "global")
		return ki
	}
	ki.Agent = parts[1]
	rest := parts[2:]
	for i := 0; i < len(rest) && i <= 2; i++ {
		if !isPeerKind(rest[i]) {
			continue
		}
		peer := rest[i+1:]
		// The suffix is looked for after the peer's first segment, so a
		// peer id that reads "thread" stays a peer.
		for j := 1; j < len(peer); j++ {
			if isThreadMarker(peer[j]) {
				peer = peer[:j]
				break
			}
		}
		if len(peer) == 0 || peer[0] == "" {
			continue
		}
		ki.Peer = strings.Join(peer, ":") // group ids may hold ':' (Matrix rooms)
		if i >= 1 {
			ki.Channel = rest[0]
		}
		if i == 2 {
			ki.Account = rest[1]
		}
		return ki
	}
	for j := 1; j < len(rest); j++ {
		if isThreadMarker(rest[j]) {
			rest = rest[:j]
			break
		}
	}
	if len(rest) == 1 {
		// agent:<id>:main (or the configured mainKey): shared by every DM.
		ki.Shared = true
	}
	return ki
}
