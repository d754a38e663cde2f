package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// Unassigned is the customer of events that match no rule when no
// default_customer is configured.
const Unassigned = "unassigned"

// Match selects the sessions billed to a customer. Every field that is set
// must match; a Match with no field set matches nothing.
type Match struct {
	Agent      string `mapstructure:"agent" json:"agent,omitempty"`
	SessionKey string `mapstructure:"session_key" json:"session_key,omitempty"` // glob, e.g. agent:main:whatsapp:dm:+9665*
	Peer       string `mapstructure:"peer" json:"peer,omitempty"`
	Channel    string `mapstructure:"channel" json:"channel,omitempty"`
}

// Empty reports whether no field is set.
func (m Match) Empty() bool {
	return m.Agent == "" && m.SessionKey == "" && m.Peer == "" && m.Channel == ""
}

// Customer is the part of a customer's configuration attribution needs.
type Customer struct {
	ID       string
	Match    Match
	Timezone *time.Location // nil = the global timezone
}

// Attributor decides which customer a session is billed to and which
// billing period an event falls in.
type Attributor struct {
	customers []Customer
	byID      map[string]*Customer
	def       string
	loc       *time.Location
	// byPeer indexes customers matched by peer alone (the common case, one
	// rule per WhatsApp number); general lists the others, in order.
	byPeer  map[string]int
	general []int
}

// NewAttributor builds an attributor; loc is the global timezone.
func NewAttributor(customers []Customer, defaultCustomer string, loc *time.Location) *Attributor {
	if loc == nil {
		loc = time.UTC
	}
	a := &Attributor{customers: customers, byID: map[string]*Customer{}, def: defaultCustomer, loc: loc}
	a.byPeer = map[string]int{}
	for i := range a.customers {
		c := &a.customers[i]
		a.byID[c.ID] = c
		if c.Match.Peer != "" && c.Match.Agent == "" && c.Match.SessionKey == "" && c.Match.Channel == "" {
			if _, dup := a.byPeer[normPeer(c.Match.Peer)]; !dup {
				a.byPeer[normPeer(c.Match.Peer)] = i
			}
		} else if !c.Match.Empty() {
			a.general = append(a.general, i)
		}
	}
	return a
}

// normPeer makes "+9665…", "whatsapp:+9665…" and mixed-case JIDs compare equal.
func normPeer(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if i := strings.LastIndexByte(p, ':'); i >= 0 && !strings.Contains(p, "@") {
		p = p[i+1:]
	}
	return p
}

func (m Match) matches(s store.Session) bool {
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
		if _, ok := a.byID[s.Hint]; ok {
			return s.Hint
		}
	}
	// First match wins: a peer-only rule found by index still loses to an
	// earlier general rule that matches.
	best := -1
	if s.Peer != "" {
		if i, ok := a.byPeer[normPeer(s.Peer)]; ok {
			best = i
		}
	}
	for _, i := range a.general {
		if best >= 0 && i > best {
			break
		}
		if a.customers[i].Match.matches(s) {
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
	if c, ok := a.byID[customer]; ok && c.Timezone != nil {
		return c.Timezone
	}
	return a.loc
}

// PeriodOf is the calendar month (YYYY-MM) of an event in its customer's timezone.
func (a *Attributor) PeriodOf(customer string, tsMs int64) string {
	return time.UnixMilli(tsMs).In(a.Location(customer)).Format("2006-01")
}

// Fingerprint changes whenever the mapping or a timezone changes, which is
// when the stored history must be re-attributed.
func (a *Attributor) Fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "v1|%s|%s\n", a.def, a.loc)
	for _, c := range a.customers {
		tz := ""
		if c.Timezone != nil {
			tz = c.Timezone.String()
		}
		fmt.Fprintf(h, "%q|%q|%q|%q|%q|%q\n", c.ID, c.Match.Agent, c.Match.SessionKey, c.Match.Peer, c.Match.Channel, tz)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// KeyInfo is what a Clawdbot session key says about its session.
type KeyInfo struct {
	Agent   string
	Channel string
	Peer    string
	// Shared is true for a key that many peers share (agent:<id>:main,
	// global): no single peer can be read from it.
	Shared bool
}

// ParseSessionKey reads agent, channel and peer out of a session key such as
// agent:main:whatsapp:dm:+966500000001 or agent:ops:whatsapp:group:<jid>.
func ParseSessionKey(key string) KeyInfo {
	parts := strings.Split(key, ":")
	var ki KeyInfo
	if len(parts) < 2 || parts[0] != "agent" {
		ki.Shared = key == "global"
		return ki
	}
	ki.Agent = parts[1]
	rest := parts[2:]
	// Thread and topic suffixes do not change who the peer is.
	for i, p := range rest {
		if p == "thread" || p == "topic" {
			rest = rest[:i]
			break
		}
	}
	for i, p := range rest {
		switch p {
		case "dm", "group", "channel":
			if i+1 < len(rest) {
				ki.Peer = strings.Join(rest[i+1:], ":")
				if i > 0 {
					ki.Channel = rest[i-1]
				}
				return ki
			}
		}
	}
	if len(rest) == 1 {
		// agent:<id>:main (or the configured mainKey): shared by every DM.
		ki.Shared = true
	}
	return ki
}
