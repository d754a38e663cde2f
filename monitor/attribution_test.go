package monitor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

func TestParseSessionKey(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want KeyInfo
	}{
		{"agent:main:main", KeyInfo{Agent: "main", Shared: true}},
		{"agent:main:whatsapp:dm:+966500000001", KeyInfo{Agent: "main", Channel: "whatsapp", Peer: "+966500000001"}},
		{"agent:main:dm:+966500000001", KeyInfo{Agent: "main", Peer: "+966500000001"}},
		{"agent:ops:whatsapp:group:120363025550001111@g.us", KeyInfo{Agent: "ops", Channel: "whatsapp", Peer: "120363025550001111@g.us"}},
		{"agent:main:telegram:group:-100123:topic:7", KeyInfo{Agent: "main", Channel: "telegram", Peer: "-100123"}},
		{"agent:main:subagent:0b7e", KeyInfo{Agent: "main"}},
		{"global", KeyInfo{Shared: true}},
		{"cron:job1", KeyInfo{}},
	} {
		if got := ParseSessionKey(tt.key); got != tt.want {
			t.Errorf("ParseSessionKey(%q) = %+v, want %+v", tt.key, got, tt.want)
		}
	}
}

func TestCustomerOf(t *testing.T) {
	a := NewAttributor([]report.Customer{
		{ID: "vip", Match: report.Match{SessionKey: "agent:main:whatsapp:dm:+9665000000*", Channel: "whatsapp"}},
		{ID: "omar", Match: report.Match{Peer: "whatsapp:+966500000001"}},
		{ID: "ops", Match: report.Match{Agent: "OPS"}},
		{ID: "nobody"},
	}, "", time.UTC)
	for _, tt := range []struct {
		s    store.Session
		want string
	}{
		{store.Session{Agent: "main", Key: "agent:main:whatsapp:dm:+966500000001", Channel: "whatsapp", Peer: "+966500000001"}, "vip"},
		{store.Session{Agent: "main", Peer: "+966500000001"}, "omar"},
		{store.Session{Agent: "ops"}, "ops"},
		{store.Session{Agent: "main"}, Unassigned},
		{store.Session{Agent: "proxy", Hint: "nobody"}, "nobody"},
		{store.Session{Agent: "proxy", Hint: "+966500000001", Peer: "+966500000001"}, "omar"},
		// vip (an earlier general rule) wins over omar's peer rule.
		{store.Session{Agent: "main", Key: "agent:main:whatsapp:dm:+966500000001", Channel: "whatsapp", Peer: "whatsapp:+966500000001"}, "vip"},
		{store.Session{Agent: "ops", Peer: "+966500000001"}, "omar"},
	} {
		if got := a.CustomerOf(tt.s); got != tt.want {
			t.Errorf("CustomerOf(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestPeriodOfUsesCustomerTimezone(t *testing.T) {
	riyadh, _ := time.LoadLocation("Asia/Riyadh")
	la, _ := time.LoadLocation("America/Los_Angeles")
	a := NewAttributor([]report.Customer{{ID: "us", Location: la}}, "", riyadh)
	// 2026-11-30T22:30Z is already December in Riyadh, still November in LA.
	ts := time.Date(2026, 11, 30, 22, 30, 0, 0, time.UTC).UnixMilli()
	if got := a.PeriodOf("sa", ts); got != "2026-12" {
		t.Errorf("Riyadh period %s", got)
	}
	if got := a.PeriodOf("us", ts); got != "2026-11" {
		t.Errorf("LA period %s", got)
	}
}

func TestSessionIDFromName(t *testing.T) {
	for in, want := range map[string]string{
		"8fab0eb3-7f34-468e-bcd6-559ceb636503.jsonl":                          "8fab0eb3-7f34-468e-bcd6-559ceb636503",
		"be489d25-e28d.jsonl.deleted.2026-11-27T00-11-19.326Z":                "be489d25-e28d",
		"abc-topic-42.jsonl":                                                  "abc",
		"2026-01-25T10-00-00-000Z_0b7e3f5e-1111-2222-3333-444455556666.jsonl": "0b7e3f5e-1111-2222-3333-444455556666",
		"/x/agents/main/sessions/8fab0eb3.jsonl.bak.2026-11-27T00-11-16.266Z": "8fab0eb3",
	} {
		if got := sessionIDFromName(in); got != want {
			t.Errorf("sessionIDFromName(%q) = %q, want %q", in, got, want)
		}
	}
	for name, want := range map[string]bool{
		"a.jsonl": true, "a.jsonl.bak.x": true, "a.jsonl.deleted.x": true, "a.jsonl.reset.x": true,
		"a.jsonl.lock": false, "sessions.json": false, "a.jsonl.deleted.x.zst": false, "sessions.json.1.tmp": false,
	} {
		if got := isTranscript(name); got != want {
			t.Errorf("isTranscript(%q) = %v", name, got)
		}
	}
}

// TestAnAttributorOverABookBuildsNoSecondIndexOfItsCustomers: the
// monitor's attributor finds customers by id through the book the reports
// already hold, and peer-only rules through a sorted list of their
// indices; its map by id and its map by peer were ~0.4 MiB each of a
// 150,000-file history's idle heap (8,250 customers). What it builds is
// its two rule lists alone.
func TestAnAttributorOverABookBuildsNoSecondIndexOfItsCustomers(t *testing.T) {
	const n = 8250
	customers := make([]report.Customer, n)
	for i := range customers {
		customers[i] = report.Customer{ID: fmt.Sprintf("c%05d", i), Match: report.Match{Agent: "main", Channel: "whatsapp"}}
		if i%2 == 0 {
			customers[i].Match = report.Match{Peer: fmt.Sprintf("+9665%08d", i)}
		}
	}
	book := report.NewBook(customers, time.UTC)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := NewBookAttributor(book, "")
	runtime.ReadMemStats(&after)
	// The lists are 4,125 ints and 4,125 int32s (~50 kB); a map by id
	// added ~870 kB, one by peer ~200 kB.
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*n {
		t.Errorf("building an attributor over %d customers allocated %d bytes (%d a customer); want only its rule lists (at most 8 a customer)", n, got, got/n)
	}
	if got := a.CustomerOf(store.Session{Peer: "whatsapp:+966500008248"}); got != "c08248" {
		t.Errorf("peer +966500008248 went to %q, want c08248", got)
	}
	if got := a.CustomerOf(store.Session{Agent: "main", Channel: "whatsapp", Hint: "c08249"}); got != "c08249" {
		t.Errorf("a hint naming a configured id went to %q", got)
	}
	if got := a.Location("c00001"); got != time.UTC {
		t.Errorf("Location = %v, want UTC", got)
	}
}

// TestAPeerOnlyRuleIsFoundAsTheFirstMatchingRule: the sorted peer index
// answers what trying every rule in order answers, with peers named twice
// (the first wins), written with a channel prefix or in another case, and
// general rules before and after them.
func TestAPeerOnlyRuleIsFoundAsTheFirstMatchingRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	peers := []string{"+966500000001", "+966500000002", "whatsapp:+966500000003", "1203630@G.us", "1203630@g.us", " +966500000004 "}
	var customers []report.Customer
	for i := 0; i < 200; i++ {
		m := report.Match{Peer: peers[rng.IntN(len(peers))]}
		if rng.IntN(4) == 0 {
			m.Channel = "whatsapp"
		}
		customers = append(customers, report.Customer{ID: fmt.Sprintf("c%03d", i), Match: m})
	}
	a := NewAttributor(customers, "", time.UTC)
	for _, p := range append(peers, "+966500000001", "whatsapp:1203630@g.us", "+966500009999", "") {
		for _, ch := range []string{"", "whatsapp", "telegram"} {
			s := store.Session{Peer: p, Channel: ch}
			want := Unassigned
			for _, c := range customers {
				if matches(c.Match, s) {
					want = c.ID
					break
				}
			}
			if got := a.CustomerOf(s); got != want {
				t.Errorf("peer %q channel %q: %q, want the first matching rule's %q", p, ch, got, want)
			}
		}
	}
}
