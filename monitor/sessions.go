package monitor

import (
	"context"
	"hash/maphash"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/quotawatch/quotawatch/store"
)

// Where a session's attribution came from, strongest last.
const (
	originName     = "name"     // only the file name was known
	originLog      = "log"      // a generic log's customer field
	originEnvelope = "envelope" // the first inbound envelope in the transcript
	originStore    = "store"    // Clawdbot's sessions.json
)

// storeEntry is what one sessions.json entry says about a session.
type storeEntry struct {
	SessionID string
	Key       string
	Channel   string
	Peer      string
}

var (
	topicSuffix = regexp.MustCompile(`-topic-[^.]*$`)
	forkPrefix  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T[0-9_-]+Z?_`)
)

// sessionIDFromName derives a sessionId from a transcript's file name, for
// files without a header (compacted copies, rewritten files).
func sessionIDFromName(name string) string {
	base := filepath.Base(name)
	if i := strings.Index(base, ".jsonl"); i >= 0 {
		base = base[:i]
	}
	base = topicSuffix.ReplaceAllString(base, "")
	if loc := forkPrefix.FindStringIndex(base); loc != nil {
		base = base[loc[1]:]
	}
	return base
}

// agentOf returns the <agentId> of .../agents/<agentId>/sessions/<file>,
// else "main" (Clawdbot's default agent).
func agentOf(file string) string {
	dir := filepath.Dir(file)
	if filepath.Base(dir) == "sessions" {
		if a := filepath.Base(filepath.Dir(dir)); a != "" && a != "." && a != string(filepath.Separator) {
			return a
		}
	}
	return "main"
}

// isTranscript reports whether a file name is a live or archived transcript.
func isTranscript(name string) bool {
	base := filepath.Base(name)
	if strings.HasSuffix(base, ".jsonl") {
		return true
	}
	i := strings.Index(base, ".jsonl.")
	if i < 0 {
		return false
	}
	rest := base[i+len(".jsonl."):]
	if strings.HasSuffix(rest, ".zst") || strings.HasSuffix(rest, ".gz") || strings.HasSuffix(rest, ".lock") || strings.HasSuffix(rest, ".tmp") {
		return false
	}
	return strings.HasPrefix(rest, "bak.") || strings.HasPrefix(rest, "deleted.") || strings.HasPrefix(rest, "reset.")
}

// sessionState is the monitor's in-memory view of one session.
type sessionState struct {
	store.Session
	dirty bool
	// seq is the batch that holds the session's last change (job.seq).
	seq int
}

// sessions indexes session state by agent and sessionId. Only sessions in
// use since the last settle are held (m); every other one is in the store
// and read back on demand, so memory does not grow with the history. stored
// says which sessions the store may hold (a 32-bit hash per session: 4
// bytes instead of the whole row), so asking for a session never seen
// costs no query. A hash two sessions share costs a query that finds
// nothing (one lookup in ~30,000 at 150,000 sessions), never a wrong
// answer: the store says whether the session is there.
type sessions struct {
	m     map[string]*sessionState
	attr  *Attributor
	dirty []*sessionState // changed since the last flush
	// load reads one session from the store (nil: everything is in m).
	load   func(agent, id string) (store.Session, bool, error)
	stored hashSet
	seed   maphash.Seed
	// failed is told when the store cannot be read: a session taken for new
	// would be written over its stored attribution.
	failed func(error)
}

// mark queues a changed session for the next batch.
func (s *sessions) mark(st *sessionState) {
	if !st.dirty {
		st.dirty = true
		s.dirty = append(s.dirty, st)
	}
}

func sessKey(agent, id string) string { return agent + "\x00" + id }

func newSessions(attr *Attributor, known []store.Session) *sessions {
	s := &sessions{m: make(map[string]*sessionState, len(known)), attr: attr}
	for _, k := range known {
		st := &sessionState{Session: k}
		st.Customer = attr.CustomerOf(k)
		s.m[sessKey(k.Agent, k.SessionID)] = st
	}
	return s
}

// newStoredSessions indexes the sessions of st without reading them: each is
// read (and attributed with the current mapping) when first used.
func newStoredSessions(ctx context.Context, attr *Attributor, st *store.Store, failed func(error)) (*sessions, error) {
	s := &sessions{m: map[string]*sessionState{}, attr: attr, stored: hashSet{added: map[uint32]struct{}{}}, seed: maphash.MakeSeed(), failed: failed}
	s.load = func(agent, id string) (store.Session, bool, error) {
		return st.Session(context.Background(), agent, id)
	}
	err := st.EachSessionID(ctx, func(agent, id string) { s.stored.sorted = append(s.stored.sorted, s.hash(agent, id)) })
	slices.Sort(s.stored.sorted)
	// Appends leave up to half of the slice unused: a copy of the exact
	// size is what stays.
	s.stored.sorted = slices.Clone(slices.Compact(s.stored.sorted))
	return s, err
}

func (s *sessions) hash(agent, id string) uint32 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(agent)
	h.WriteByte(0)
	h.WriteString(id)
	return uint32(h.Sum64())
}

// lookup returns the session from memory or the store, nil if never seen.
func (s *sessions) lookup(k, agent, id string) (*sessionState, error) {
	if st := s.m[k]; st != nil || s.load == nil {
		return st, nil
	}
	if !s.stored.has(s.hash(agent, id)) {
		return nil, nil
	}
	x, ok, err := s.load(agent, id)
	if err != nil || !ok {
		return nil, err
	}
	st := &sessionState{Session: x}
	st.Customer = s.attr.CustomerOf(x)
	s.m[k] = st
	return st, nil
}

// peek returns the session if it is known, without creating it.
func (s *sessions) peek(agent, id string) *sessionState {
	st, err := s.lookup(sessKey(agent, id), agent, id)
	if err != nil {
		s.failed(err)
	}
	return st
}

// get returns the session, creating it (attributed by agent alone) if new.
func (s *sessions) get(agent, id string, nowMs int64) *sessionState {
	k := sessKey(agent, id)
	st, err := s.lookup(k, agent, id)
	if err != nil {
		// Not kept and never committed: failed stops every later commit.
		s.failed(err)
		st = &sessionState{Session: store.Session{Agent: agent, SessionID: id, Origin: originName, FirstMs: nowMs}}
		st.Customer = s.attr.CustomerOf(st.Session)
		return st
	}
	if st == nil {
		st = &sessionState{Session: store.Session{Agent: agent, SessionID: id, Origin: originName, FirstMs: nowMs}}
		st.Customer = s.attr.CustomerOf(st.Session)
		s.m[k] = st
		s.mark(st)
		if s.load != nil {
			s.stored.added[s.hash(agent, id)] = struct{}{}
		}
	}
	return st
}

// evict forgets the sessions that are committed as they are: those not
// changed since batch seq, which callers make sure is committed.
func (s *sessions) evict(seq int) {
	if s.load == nil {
		return
	}
	for k, st := range s.m {
		if !st.dirty && st.seq <= seq {
			delete(s.m, k)
		}
	}
	s.stored.merge()
}

// hashSet is a set of 32-bit hashes: a sorted slice (4 bytes each) plus
// those added since the last merge.
type hashSet struct {
	sorted []uint32
	added  map[uint32]struct{}
}

func (h *hashSet) has(x uint32) bool {
	if _, ok := h.added[x]; ok {
		return true
	}
	_, ok := slices.BinarySearch(h.sorted, x)
	return ok
}

func (h *hashSet) merge() {
	if len(h.added) == 0 {
		return
	}
	h.sorted = roomFor(h.sorted, len(h.added))
	for x := range h.added {
		h.sorted = append(h.sorted, x)
	}
	h.added = map[uint32]struct{}{} // clear would keep its size
	slices.Sort(h.sorted)
	h.sorted = slices.Compact(h.sorted)
}

// roomFor returns s with room for n more elements. Past its capacity it is
// copied to its new length plus 1/64, not grown by append's quarter: a
// slice of every mark or session of a history stays about its size, and
// a few files or sessions added per settle do not copy it each time.
func roomFor[E any](s []E, n int) []E {
	need := len(s) + n
	if need <= cap(s) {
		return s
	}
	out := make([]E, len(s), need+need/64)
	copy(out, s)
	return out
}

// learn applies new knowledge to a session and reports whether its customer
// changed (the stored events must then move).
func (s *sessions) learn(st *sessionState, origin, key, channel, peer, hint string) (moved bool) {
	if rank(origin) < rank(st.Origin) {
		return false
	}
	if st.Origin == origin && st.Key == key && st.Channel == channel && st.Peer == peer && st.Hint == hint {
		return false
	}
	st.Origin, st.Key, st.Channel, st.Peer, st.Hint = origin, key, channel, peer, hint
	s.mark(st)
	c := s.attr.CustomerOf(st.Session)
	if c != st.Customer {
		st.Customer = c
		return true
	}
	return false
}

func rank(origin string) int {
	switch origin {
	case originStore:
		return 3
	case originEnvelope, originLog:
		return 2
	case originName:
		return 1
	}
	return 0
}
