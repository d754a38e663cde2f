package monitor

import (
	"path/filepath"
	"regexp"
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
}

// sessions indexes session state by agent and sessionId.
type sessions struct {
	m     map[string]*sessionState
	attr  *Attributor
	dirty []*sessionState // changed since the last flush
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

// peek returns the session if it is known, without creating it.
func (s *sessions) peek(agent, id string) *sessionState { return s.m[sessKey(agent, id)] }

// get returns the session, creating it (attributed by agent alone) if new.
func (s *sessions) get(agent, id string, nowMs int64) *sessionState {
	k := sessKey(agent, id)
	st := s.m[k]
	if st == nil {
		st = &sessionState{Session: store.Session{Agent: agent, SessionID: id, Origin: originName, FirstMs: nowMs}}
		st.Customer = s.attr.CustomerOf(st.Session)
		s.m[k] = st
		s.mark(st)
	}
	return st
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
