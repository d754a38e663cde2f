package monitor

import (
	"strconv"
	"testing"

	"github.com/quotawatch/quotawatch/internal/eventkey"
)

// keyParts is every string of up to two characters over the characters
// that matter to the key syntax (plus one that does not), and "".
func keyParts(alphabet ...string) []string {
	if len(alphabet) == 0 {
		alphabet = []string{"a", "/", "%", "@", "2", "F", ":"}
	}
	out := []string{""}
	for _, x := range alphabet {
		out = append(out, x)
		for _, y := range alphabet {
			out = append(out, x+y)
		}
	}
	return out
}

// TestEventKeysNeverCollide: two different calls never get the same key,
// whatever '/', '%', '@' or ':' their sessionIds, entry ids, agents, source
// names or ids hold (sessionId "x/y" + entry "z" against sessionId "x" +
// entry "y/z" was a real call dropped as a duplicate), and a Clawdbot entry
// id never reads as a line offset.
func TestEventKeysNeverCollide(t *testing.T) {
	parts := keyParts()
	seen := map[string]string{}
	add := func(key, what string) {
		if prev, ok := seen[key]; ok {
			t.Fatalf("%s and %s share the key %q", prev, what, key)
		}
		seen[key] = what
	}
	for _, a := range parts {
		for _, s := range parts {
			for _, e := range parts {
				if e != "" {
					add(clawdbotKey(a, s, e), "cb "+a+" | "+s+" | entry "+e)
				}
			}
			for _, off := range []int64{0, 2, 5, 25, 1234567} {
				add(clawdbotOffsetKey(a, s, off), "cb "+a+" | "+s+" | offset "+strconv.FormatInt(off, 10))
			}
		}
		for _, id := range parts {
			if id != "" {
				add(jsonlKey(a, id), "jl "+a+" | id "+id)
			}
		}
		for _, h := range []uint64{0x2, 0xf, 0x538cd1a820e840a4} {
			for _, off := range []int64{0, 5, 25} {
				add(jsonlOffsetKey(a, h, off), "jl "+a+" | hash/offset")
			}
		}
	}
	for _, c := range []struct{ a, b [3]string }{
		{[3]string{"main", "x/y", "z"}, [3]string{"main", "x", "y/z"}},
		{[3]string{"main", "x%2Fy", "z"}, [3]string{"main", "x/y", "z"}},
	} {
		if ka, kb := clawdbotKey(c.a[0], c.a[1], c.a[2]), clawdbotKey(c.b[0], c.b[1], c.b[2]); ka == kb {
			t.Errorf("%v and %v share the key %q", c.a, c.b, ka)
		}
	}
	if clawdbotKey("main", "s", "@5") == clawdbotOffsetKey("main", "s", 5) {
		t.Error(`entry id "@5" and the line at offset 5 share a key`)
	}
}

// TestEventKeysWithoutSpecialCharactersAreUnchanged: keys that never needed
// escaping are exactly what earlier versions stored, so their events stay
// recognised after the upgrade without any rewrite.
func TestEventKeysWithoutSpecialCharactersAreUnchanged(t *testing.T) {
	for got, want := range map[string]string{
		clawdbotKey("main", "8a51f00f-419e-42b2-a06a-03fcdd97eac7", "1ba3a720"): "cb/main/8a51f00f-419e-42b2-a06a-03fcdd97eac7/1ba3a720",
		clawdbotOffsetKey("ops", "46937300-db72-42fe-8dbe-aacf9fc3a9e7", 736):   "cb/ops/46937300-db72-42fe-8dbe-aacf9fc3a9e7/@736",
		clawdbotKey("main", "s", "a@b"):                                         "cb/main/s/a@b",
		jsonlKey("proxy", "chatcmpl-9x"):                                        "jl/proxy/id:chatcmpl-9x",
		jsonlOffsetKey("proxy", 0x538cd1a820e840a4, 416):                        "jl/proxy/538cd1a820e840a4@416",
		clawdbotKey("a%b", "p%q", "y/z"):                                        "cb/a%25b/p%25q/y%2Fz",
		clawdbotKey("main", "x/y", "@x1"):                                       "cb/main/x%2Fy/%40x1",
		jsonlKey("eu/proxy", "r/1"):                                             "jl/eu%2Fproxy/id:r%2F1",
		jsonlOffsetKey("eu/proxy", 0xab, 7):                                     "jl/eu%2Fproxy/ab@7",
		clawdbotOffsetKey("main", "x/y", 7):                                     "cb/main/x%2Fy/@7",
	} {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
}

// TestEventKeyIsOneAllocation: a key costs one allocation, escaped or not
// (the key is built for every event of a backfill).
func TestEventKeyIsOneAllocation(t *testing.T) {
	var sink string
	for name, f := range map[string]func(){
		"cb":             func() { sink = clawdbotKey("main", "8a51f00f-419e-42b2-a06a-03fcdd97eac7", "1ba3a720") },
		"cb escaped":     func() { sink = clawdbotKey("main", "x/y", "@z%") },
		"cb offset":      func() { sink = clawdbotOffsetKey("main", "8a51f00f-419e-42b2-a06a-03fcdd97eac7", 1234567) },
		"cb offset esc.": func() { sink = clawdbotOffsetKey("a%b", "x/y", 1234567) },
		"jl id":          func() { sink = jsonlKey("proxy", "chatcmpl-9x") },
		"jl id escaped":  func() { sink = jsonlKey("proxy", "r/1") },
		"jl offset":      func() { sink = jsonlOffsetKey("proxy", 0x538cd1a820e840a4, 1234567) },
		"jl offset esc.": func() { sink = jsonlOffsetKey("eu/proxy", 0x538cd1a820e840a4, 1234567) },
	} {
		if n := testing.AllocsPerRun(100, f); n > 1 {
			t.Errorf("%s: %v allocations per key, want 1", name, n)
		}
	}
	_ = sink
}

// BenchmarkEventKey builds the key of a typical Clawdbot call, with and
// without an entry id.
func BenchmarkEventKey(b *testing.B) {
	b.Run("entry", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = clawdbotKey("main", "8a51f00f-419e-42b2-a06a-03fcdd97eac7", "1ba3a720")
		}
	})
	b.Run("offset", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			_ = clawdbotOffsetKey("main", "8a51f00f-419e-42b2-a06a-03fcdd97eac7", int64(i))
		}
	})
	b.Run("escaped", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = clawdbotKey("main", "x/y", "1ba3a720")
		}
	})
}

// TestEveryClawdbotKeyIsInItsSessionsRangeAndNoOther: the store finds a
// session's events (to move them to another customer) by the key range of
// eventkey.SessionRange, so every key the monitor builds for a session,
// with an entry id or an offset, must lie in that session's range, be
// recognised by eventkey.HasSessionPrefix, and lie in no other session's
// range, whatever '/', '%' or '@' the agents and sessionIds hold and
// though one sessionId starts with another ("s" and "s-2").
func TestEveryClawdbotKeyIsInItsSessionsRangeAndNoOther(t *testing.T) {
	parts := keyParts("a", "/", "%", "@", "2", "F", "-", "0")
	type sess struct{ agent, id string }
	var all []sess
	for _, a := range []string{"main", "a%b", "a/b", "%2F"} {
		for _, s := range parts {
			all = append(all, sess{a, s})
		}
	}
	for _, owner := range all {
		keys := []string{clawdbotOffsetKey(owner.agent, owner.id, 7)}
		for _, e := range []string{"1ba3a720", "@x", "a/b", "%", ""} {
			keys = append(keys, clawdbotKey(owner.agent, owner.id, e))
		}
		for _, k := range keys {
			if !eventkey.HasSessionPrefix(k, owner.agent, owner.id) {
				t.Errorf("key %q of %q/%q: HasSessionPrefix is false", k, owner.agent, owner.id)
			}
			for _, other := range all {
				lo, hi := eventkey.SessionRange(other.agent, other.id)
				if in := k >= lo && k < hi; in != (other == owner) {
					t.Errorf("key %q of %q/%q: in the range [%q, %q) of %q/%q: %v", k, owner.agent, owner.id, lo, hi, other.agent, other.id, in)
				}
				if other != owner && eventkey.HasSessionPrefix(k, other.agent, other.id) {
					t.Errorf("key %q of %q/%q: HasSessionPrefix of %q/%q", k, owner.agent, owner.id, other.agent, other.id)
				}
			}
		}
	}
}
