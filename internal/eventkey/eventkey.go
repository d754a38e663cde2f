// Package eventkey holds the escaping of event-key components and the
// prefix every Clawdbot/OpenClaw event key of a session starts with: the
// monitor builds the keys with it and the store finds a session's events
// by it, so the two can never disagree about the rules.
package eventkey

import "strings"

// Escapes reports how many bytes of s need escaping ('%' and '/'; each
// becomes three bytes).
func Escapes(s string) int {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '/') < 0 {
		return 0
	}
	return strings.Count(s, "%") + strings.Count(s, "/")
}

// WriteEscaped writes s with '%' as %25 and '/' as %2F.
func WriteEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteString("%25")
		case '/':
			b.WriteString("%2F")
		default:
			b.WriteByte(c)
		}
	}
}

// SessionPrefix is "cb/<agent>/<session>/" with both escaped: the start of
// the key of every Clawdbot (and OpenClaw) call of that session.
func SessionPrefix(agent, session string) string {
	var b strings.Builder
	b.Grow(len("cb///") + len(agent) + len(session) + 2*(Escapes(agent)+Escapes(session)))
	b.WriteString("cb/")
	WriteEscaped(&b, agent)
	b.WriteByte('/')
	WriteEscaped(&b, session)
	b.WriteByte('/')
	return b.String()
}

// SessionRange is the key range [lo, hi) holding exactly the keys that
// start with SessionPrefix(agent, session): hi is the prefix with its last
// byte, '/', raised to '0'. No byte sorts between the two, and an escaped
// component holds no '/', so a session whose id merely starts with this
// one's ("s" and "s-2") falls outside: its prefix goes on with a byte
// other than '/' where this one's ends.
func SessionRange(agent, session string) (lo, hi string) {
	lo = SessionPrefix(agent, session)
	return lo, lo[:len(lo)-1] + "0"
}

// HasSessionPrefix reports whether key starts with SessionPrefix(agent,
// session), without building the prefix (it is checked for every event).
func HasSessionPrefix(key, agent, session string) bool {
	if !strings.HasPrefix(key, "cb/") {
		return false
	}
	rest, ok := cutEscaped(key[3:], agent)
	if !ok {
		return false
	}
	rest, ok = cutEscaped(rest, session)
	return ok
}

// cutEscaped cuts the escaped form of s and a '/' from the start of key.
func cutEscaped(key, s string) (string, bool) {
	i := 0
	for j := 0; j < len(s); j++ {
		var want string
		switch s[j] {
		case '%':
			want = "%25"
		case '/':
			want = "%2F"
		default:
			if i >= len(key) || key[i] != s[j] {
				return "", false
			}
			i++
			continue
		}
		if !strings.HasPrefix(key[i:], want) {
			return "", false
		}
		i += len(want)
	}
	if i >= len(key) || key[i] != '/' {
		return "", false
	}
	return key[i+1:], true
}
