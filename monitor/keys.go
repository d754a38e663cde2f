package monitor

import (
	"strconv"
	"strings"

	"github.com/quotawatch/quotawatch/internal/eventkey"
)

// Event keys, the dedupe keys of the events table:
//
//	cb/<agent>/<sessionId>/<entry id>          a Clawdbot call
//	cb/<agent>/<sessionId>/@<offset>           a Clawdbot call without an entry id
//	jl/<source>/id:<id>                        a generic log line with an id
//	jl/<source>/<first-line hash>@<offset>     a generic log line without one
//
// Each component is written with '%' as %25 and '/' as %2F, and a Clawdbot
// entry id that starts with '@' has it written %40, so a key splits back
// into exactly one set of parts: sessionId "x/y" + entry "z" and sessionId
// "x" + entry "y/z" no longer both make cb/main/x/y/z, and an entry id
// "@5" is not the line at offset 5. A component without those characters
// is written as is, so every key stored before the escaping that did not
// need it is still the same key; migration 0003 rewrites the others.
//
// The escaping, and the prefix cb/<agent>/<sessionId>/ the store finds a
// session's events by, are package eventkey's.
//
// Each key is built with one allocation (the key itself): it is made for
// every event, on the backfill's hot path.

// clawdbotKey is the key of a Clawdbot call with an entry id.
func clawdbotKey(agent, session, entry string) string {
	ea, es, ee := eventkey.Escapes(agent), eventkey.Escapes(session), eventkey.Escapes(entry)
	at := len(entry) > 0 && entry[0] == '@'
	if ea == 0 && es == 0 && ee == 0 && !at {
		return "cb/" + agent + "/" + session + "/" + entry
	}
	var b strings.Builder
	b.Grow(len("cb///") + len(agent) + len(session) + len(entry) + 2*(ea+es+ee+1))
	b.WriteString("cb/")
	eventkey.WriteEscaped(&b, agent)
	b.WriteByte('/')
	eventkey.WriteEscaped(&b, session)
	b.WriteByte('/')
	if at {
		b.WriteString("%40")
		entry = entry[1:]
	}
	eventkey.WriteEscaped(&b, entry)
	return b.String()
}

// clawdbotOffsetKey is the key of a Clawdbot call without an entry id: the
// byte offset of its line.
func clawdbotOffsetKey(agent, session string, offset int64) string {
	var num [20]byte
	n := strconv.AppendInt(num[:0], offset, 10)
	ea, es := eventkey.Escapes(agent), eventkey.Escapes(session)
	if ea == 0 && es == 0 {
		return "cb/" + agent + "/" + session + "/@" + string(n)
	}
	var b strings.Builder
	b.Grow(len("cb///@") + len(agent) + len(session) + len(n) + 2*(ea+es))
	b.WriteString("cb/")
	eventkey.WriteEscaped(&b, agent)
	b.WriteByte('/')
	eventkey.WriteEscaped(&b, session)
	b.WriteString("/@")
	b.Write(n)
	return b.String()
}

// jsonlKey is the key of a generic log line with an id.
func jsonlKey(source, id string) string {
	es, ei := eventkey.Escapes(source), eventkey.Escapes(id)
	if es == 0 && ei == 0 {
		return "jl/" + source + "/id:" + id
	}
	var b strings.Builder
	b.Grow(len("jl//id:") + len(source) + len(id) + 2*(es+ei))
	b.WriteString("jl/")
	eventkey.WriteEscaped(&b, source)
	b.WriteString("/id:")
	eventkey.WriteEscaped(&b, id)
	return b.String()
}

// jsonlOffsetKey is the key of a generic log line without an id: the log
// file's identity (the hash of its first line) and the line's offset. The
// hex hash never starts with "id:", so it cannot be read as an id.
func jsonlOffsetKey(source string, firstLine uint64, offset int64) string {
	var num [40]byte
	n := strconv.AppendUint(num[:0], firstLine, 16)
	n = append(n, '@')
	n = strconv.AppendInt(n, offset, 10)
	es := eventkey.Escapes(source)
	if es == 0 {
		return "jl/" + source + "/" + string(n)
	}
	var b strings.Builder
	b.Grow(len("jl//") + len(source) + len(n) + 2*es)
	b.WriteString("jl/")
	eventkey.WriteEscaped(&b, source)
	b.WriteByte('/')
	b.Write(n)
	return b.String()
}
