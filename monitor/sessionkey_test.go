package monitor

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// TestSessionKeysOfBothProductsNameTheirPeer: every session-key shape that
// Clawdbot (dm) and OpenClaw 2026.9 (direct) build, per dmScope, for
// groups and rooms, with thread and topic suffixes, gives its agent,
// channel, account and peer; keys of other shapes give no peer.
func TestSessionKeysOfBothProductsNameTheirPeer(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want KeyInfo
	}{
		// dmScope main, both products: one session for every DM.
		{"agent:main:main", KeyInfo{Agent: "main", Shared: true}},
		{"agent:main:support", KeyInfo{Agent: "main", Shared: true}}, // session.mainKey
		{"agent:main:main:thread:42", KeyInfo{Agent: "main", Shared: true}},
		{"global", KeyInfo{Shared: true}},

		// Clawdbot DMs.
		{"agent:main:dm:+966500000001", KeyInfo{Agent: "main", Peer: "+966500000001"}},
		{"agent:main:whatsapp:dm:+966500000001", KeyInfo{Agent: "main", Channel: "whatsapp", Peer: "+966500000001"}},
		{"agent:main:whatsapp:default:dm:+966500000001", KeyInfo{Agent: "main", Channel: "whatsapp", Account: "default", Peer: "+966500000001"}},

		// OpenClaw DMs: per-peer, per-channel-peer, per-account-channel-peer.
		{"agent:main:direct:+966500000001", KeyInfo{Agent: "main", Peer: "+966500000001"}},
		{"agent:main:whatsapp:direct:+966500000001", KeyInfo{Agent: "main", Channel: "whatsapp", Peer: "+966500000001"}},
		{"agent:main:whatsapp:default:direct:+966500000001", KeyInfo{Agent: "main", Channel: "whatsapp", Account: "default", Peer: "+966500000001"}},
		{"agent:sales:whatsapp:biz-2:direct:+966500000002", KeyInfo{Agent: "sales", Channel: "whatsapp", Account: "biz-2", Peer: "+966500000002"}},
		{"agent:main:telegram:direct:12345:thread:99", KeyInfo{Agent: "main", Channel: "telegram", Peer: "12345"}},
		{"agent:main:whatsapp:default:direct:+966500000001:thread:7", KeyInfo{Agent: "main", Channel: "whatsapp", Account: "default", Peer: "+966500000001"}},
		{"agent:main:direct:+966500000001:thread:7", KeyInfo{Agent: "main", Peer: "+966500000001"}},
		{"agent:main:WhatsApp:DIRECT:+966500000001", KeyInfo{Agent: "main", Channel: "WhatsApp", Peer: "+966500000001"}},

		// Groups and rooms, both products.
		{"agent:ops:whatsapp:group:120363025550001111@g.us", KeyInfo{Agent: "ops", Channel: "whatsapp", Peer: "120363025550001111@g.us"}},
		{"agent:main:telegram:group:-100123:topic:7", KeyInfo{Agent: "main", Channel: "telegram", Peer: "-100123"}},
		{"agent:main:discord:channel:123456789012:thread:987", KeyInfo{Agent: "main", Channel: "discord", Peer: "123456789012"}},
		{"agent:main:slack:channel:c0123abcd:thread:1700000000.000100", KeyInfo{Agent: "main", Channel: "slack", Peer: "c0123abcd"}},
		{"agent:main:matrix:channel:!RoomId:example.org", KeyInfo{Agent: "main", Channel: "matrix", Peer: "!RoomId:example.org"}},
		{"agent:main:signal:group:AbC+dEf/g0=", KeyInfo{Agent: "main", Channel: "signal", Peer: "AbC+dEf/g0="}},

		// A peer id that reads like a suffix stays the peer.
		{"agent:main:direct:thread", KeyInfo{Agent: "main", Peer: "thread"}},

		// Keys that name no peer.
		{"agent:main:subagent:0b7e", KeyInfo{Agent: "main"}},
		{"agent:main:cron:nightly:run:3f2a", KeyInfo{Agent: "main"}},
		{"agent:main:whatsapp:direct:", KeyInfo{Agent: "main"}},
		{"agent:main:a:b:c:direct:+966500000001", KeyInfo{Agent: "main"}},
		{"cron:job1", KeyInfo{}},
		{"hook:0b7e3f5e", KeyInfo{}},
	} {
		if got := ParseSessionKey(tt.key); got != tt.want {
			t.Errorf("ParseSessionKey(%q) = %+v, want %+v", tt.key, got, tt.want)
		}
	}
}

// TestPeerCustomerGetsTheDirectSessions: a customer matched by peer (E.164,
// with or without a channel prefix) gets the sessions of every DM key shape
// of both products, a group customer written in another case gets the
// lower-cased group key, and the shared main session stays with the default.
func TestPeerCustomerGetsTheDirectSessions(t *testing.T) {
	a := NewAttributor([]report.Customer{
		{ID: "omar", Match: report.Match{Peer: "+966500000001"}},
		{ID: "layla", Match: report.Match{Peer: "whatsapp:+966500000002"}},
		{ID: "salon", Match: report.Match{Peer: "120363025550001111@G.US"}},
		{ID: "ops", Match: report.Match{Agent: "ops"}},
	}, "owner", time.UTC)
	session := func(key string) store.Session {
		ki := ParseSessionKey(key)
		return store.Session{Agent: ki.Agent, Key: key, Channel: ki.Channel, Peer: ki.Peer}
	}
	for key, want := range map[string]string{
		"agent:main:direct:+966500000001":                           "omar",
		"agent:main:whatsapp:direct:+966500000001":                  "omar",
		"agent:main:whatsapp:default:direct:+966500000001":          "omar",
		"agent:main:whatsapp:default:direct:+966500000001:thread:3": "omar",
		"agent:main:dm:+966500000001":                               "omar",
		"agent:main:whatsapp:dm:+966500000001":                      "omar",
		"agent:support:whatsapp:biz-2:direct:+966500000002":         "layla",
		"agent:main:whatsapp:group:120363025550001111@g.us":         "salon",
		"agent:ops:whatsapp:direct:+966500000009":                   "ops",
		"agent:main:main":                          "owner",
		"agent:main:whatsapp:direct:+966500000009": "owner",
	} {
		if got := a.CustomerOf(session(key)); got != want {
			t.Errorf("%s billed to %q, want %q", key, got, want)
		}
	}
}

// TestOpenClawDirectKeysInTheSessionStoreBillThePeer: transcripts named in
// sessions.json under OpenClaw's direct keys (per-channel-peer,
// per-account-channel-peer, per-peer) are billed to the peer's customer,
// read end to end into the store; the main session goes to the default.
func TestOpenClawDirectKeysInTheSessionStoreBillThePeer(t *testing.T) {
	h := newHarness(t)
	sessions := map[string]string{
		"agent:main:whatsapp:direct:+966500000001":         "a1111111-0000-4000-8000-000000000001",
		"agent:main:whatsapp:default:direct:+966500000002": "a1111111-0000-4000-8000-000000000002",
		"agent:main:direct:+966500000003":                  "a1111111-0000-4000-8000-000000000003",
		"agent:main:main":                                  "a1111111-0000-4000-8000-000000000004",
	}
	storeJSON := "{"
	for key, id := range sessions {
		if len(storeJSON) > 1 {
			storeJSON += ","
		}
		storeJSON += fmt.Sprintf("%q:{\"sessionId\":%q,\"updatedAt\":1795740130646}", key, id)
		// No envelope (chat.send): only the key can name the peer.
		appendFile(t, h.path("main", id+".jsonl"), fmt.Sprintf(header, id)+call("c1", 100))
	}
	if err := os.WriteFile(h.path("main", "sessions.json"), []byte(storeJSON+"}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s := h.backfill(); s.Inserted != 4 || s.Bad != 0 {
		t.Fatalf("backfill: %+v", s)
	}
	got := h.usage()
	for _, c := range []string{"omar", "layla", "khalid", "owner"} {
		if got[c].Requests != 1 || got[c].Input != 100 {
			t.Errorf("%s: %+v, want 1 request of 100 input tokens", c, got[c])
		}
	}
}

// TestOpenClawNamedEnvelopeBillsTheSender: a transcript no session store
// names, whose inbound envelope is OpenClaw's "<name> id:<E.164>" (an
// Arabic name with a space) or "<group label> id:<jid>", is billed to the
// sender's customer (the old reading took the name's first word for the
// peer, which billed the default customer).
func TestOpenClawNamedEnvelopeBillsTheSender(t *testing.T) {
	h := newHarness(t)
	h.attr = NewAttributor([]report.Customer{
		{ID: "omar", Match: report.Match{Peer: "+966500000001"}},
		{ID: "salon", Match: report.Match{Peer: "120363025550001111@g.us"}},
	}, "owner", time.UTC)
	userLine := func(text string) string {
		return fmt.Sprintf(`{"type":"message","id":"u1","parentId":"p","timestamp":"2026-11-10T10:00:00.500Z","message":{"role":"user","content":[{"type":"text","text":%q}]}}`+"\n", text)
	}
	dm, group := "b2222222-0000-4000-8000-000000000001", "b2222222-0000-4000-8000-000000000002"
	appendFile(t, h.path("main", dm+".jsonl"), fmt.Sprintf(header, dm)+
		userLine("[WhatsApp عمر الحربي id:+966500000001 +5m Tue 2026-11-10 13:00:00 GMT+3] عمر الحربي: id:+966500000009 مرحبا")+call("c1", 10))
	appendFile(t, h.path("main", group+".jsonl"), fmt.Sprintf(header, group)+
		userLine("[WhatsApp Salon Team id:120363025550001111@g.us +5m Tue 2026-11-10 13:00:00 GMT+3] Omar (+966500000009): hi")+call("c1", 20))
	if s := h.backfill(); s.Inserted != 2 || s.Bad != 0 {
		t.Fatalf("backfill: %+v", s)
	}
	got := h.usage()
	if got["omar"].Requests != 1 || got["omar"].Input != 10 {
		t.Errorf("omar: %+v", got["omar"])
	}
	if got["salon"].Requests != 1 || got["salon"].Input != 20 {
		t.Errorf("salon: %+v", got["salon"])
	}
	if got["owner"].Requests != 0 {
		t.Errorf("owner got %+v", got["owner"])
	}
}
