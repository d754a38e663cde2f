package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/parser"
)

// timedCall is one assistant call written at the entry time ts (ISO).
func timedCall(id, ts string, input int) string {
	return fmt.Sprintf(`{"type":"message","id":"%s","parentId":"p","timestamp":"%s","message":{"role":"assistant","content":[],"provider":"fakeoai","model":"fake-gpt","usage":{"input":%d,"output":1,"cost":{"total":0.5}},"stopReason":"stop"}}`+"\n", id, ts, input)
}

// backfillAt runs one backfill with the monitor's clock fixed at now and
// returns its stats and what it logged.
func (h *harness) backfillAt(now time.Time) (Stats, string) {
	h.t.Helper()
	st := h.open()
	defer st.Close()
	var logs bytes.Buffer
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}}}, st, h.attr, slog.New(slog.NewTextHandler(&logs, nil)))
	m.SetClock(func() time.Time { return now })
	s, err := m.Backfill(context.Background(), nil, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return s, logs.String()
}

func (h *harness) usageIn(period string) map[string]int64 {
	h.t.Helper()
	st := h.open()
	defer st.Close()
	us, err := st.UsageByPeriod(context.Background(), period, "")
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, u := range us {
		out[u.Customer] += u.Input
	}
	return out
}

// A call written at exactly 1970-01-01T00:00:00.000Z is billed to its own
// period (1970-01 in Asia/Riyadh), not to the monitor's "now": epoch 0 is a
// time, not a missing one. A call with no time at all still gets the clock.
func TestEpochZeroIsBilledToItsOwnMonthNotToNow(t *testing.T) {
	h := newHarness(t)
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
	noTime := `{"type":"message","id":"c3","message":{"role":"assistant","content":[],"provider":"p","model":"m","usage":{"input":300,"output":1}}}` + "\n"
	appendFile(t, h.path("main", "e0000000.jsonl"), fmt.Sprintf(header, "e0000000")+
		timedCall("c1", "1970-01-01T00:00:00.000Z", 100)+
		timedCall("c2", "2026-11-10T10:00:00.000Z", 20)+
		noTime)
	if s, logs := h.backfillAt(now); s.Inserted != 3 || s.Bad != 0 {
		t.Fatalf("stats %+v, want 3 events and no bad line\n%s", s, logs)
	}
	if got := h.usageIn("1970-01"); got["owner"] != 100 {
		t.Errorf("1970-01 usage %v, want the epoch-0 call's 100 input tokens", got)
	}
	if got := h.usageIn("2026-11"); got["owner"] != 320 {
		t.Errorf("2026-11 usage %v, want 20 + 300 (the timeless call billed to the clock's month), not the epoch-0 call", got)
	}
}

// A line whose time is more than MaxFutureSkew ahead of the host's clock
// is a bad line, counted and logged with the reason, and the good lines
// around it are stored; up to MaxFutureSkew ahead is billed as written, in
// the line's own period.
func TestFarFutureLineIsABadLineAndItsNeighboursAreStored(t *testing.T) {
	h := newHarness(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) // 15:00 in Riyadh
	iso := func(d time.Duration) string { return now.Add(d).UTC().Format("2006-01-02T15:04:05.000Z") }
	appendFile(t, h.path("main", "f0000000.jsonl"), fmt.Sprintf(header, "f0000000")+
		timedCall("c1", "2026-11-10T10:00:00.000Z", 1)+
		timedCall("far", "9999-12-31T23:59:59.999Z", 1000)+
		timedCall("c2", iso(-time.Hour), 10)+
		timedCall("skew", iso(23*time.Hour), 100)+ // 2026-12-01 14:00 in Riyadh
		timedCall("past", iso(MaxFutureSkew+time.Minute), 10000)+
		timedCall("c3", iso(0), 100000))
	s, logs := h.backfillAt(now)
	if s.Bad != 2 || s.Inserted != 4 {
		t.Fatalf("stats %+v, want 2 bad lines (9999-12-31, 24h1m ahead) and 4 events", s)
	}
	for _, want := range []string{"time 9999-12-31T23:59:59.999Z is more than 24h ahead of this host's clock", "time 2026-12-01T12:01:00.000Z is more than 24h ahead"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log does not say %q:\n%s", want, logs)
		}
	}
	if got := h.usageIn("2026-11"); got["owner"] != 1+10+100000 {
		t.Errorf("2026-11 usage %v, want the three good November calls (100011)", got)
	}
	if got := h.usageIn("2026-12"); got["owner"] != 100 {
		t.Errorf("2026-12 usage %v, want the 23h-ahead call in its own period", got)
	}
	for _, p := range []string{"10000-01", "9999-12"} {
		if got := h.usageIn(p); len(got) != 0 {
			t.Errorf("%s usage %v, want nothing", p, got)
		}
	}
}

// Non-finite and absurd numbers never reach the store, from either format:
// "cost":"NaN" in a generic log used to fail the batch's commit (NOT NULL
// constraint on rollup.cost) and stop metering for good, and cost 1e309 was
// stored as +Inf. They are bad lines; the good lines after them are exact.
func TestNonFiniteNumbersAreBadLinesAndMeteringGoesOn(t *testing.T) {
	h := newHarness(t)
	logDir := t.TempDir()
	jl := SourceConfig{Type: SourceJSONL, Name: "proxy", Path: logDir + "/*.jsonl", Fields: parser.DefaultFields()}
	good := `{"id":"g%d","time":"2026-11-05T10:00:00Z","customer":"salon","usage":{"prompt_tokens":%d,"completion_tokens":1},"cost":0.25}` + "\n"
	appendFile(t, logDir+"/a.jsonl", fmt.Sprintf(good, 1, 10)+
		`{"id":"b1","time":"2026-11-05T10:00:01Z","customer":"salon","usage":{"prompt_tokens":1},"cost":"NaN"}`+"\n"+
		`{"id":"b2","time":"2026-11-05T10:00:02Z","customer":"salon","usage":{"prompt_tokens":"inf"},"cost":0.1}`+"\n"+
		`{"id":"b3","time":"2026-11-05T10:00:03Z","customer":"salon","usage":{"prompt_tokens":1e300},"cost":0.1}`+"\n"+
		`{"id":"b4","time":1e20,"customer":"salon","usage":{"prompt_tokens":1},"cost":0.1}`+"\n"+
		fmt.Sprintf(good, 2, 20))
	appendFile(t, h.path("main", "n0000000.jsonl"), fmt.Sprintf(header, "n0000000")+
		strings.Replace(timedCall("x1", "2026-11-10T10:00:00.000Z", 5), `"total":0.5`, `"total":1e309`, 1)+
		strings.Replace(timedCall("x2", "2026-11-10T10:00:00.000Z", 5), `"input":5`, `"input":1.5`, 1)+
		strings.Replace(timedCall("x3", "2026-11-10T10:00:00.000Z", 7), `"total":0.5`, `"total":null`, 1)+
		timedCall("x4", "2026-11-10T10:00:01.000Z", 30))
	st := h.open()
	var logs bytes.Buffer
	m := New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: h.dir}, jl}}, st, h.attr, slog.New(slog.NewTextHandler(&logs, nil)))
	m.SetClock(func() time.Time { return time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC) })
	s, err := m.Backfill(context.Background(), nil, nil)
	st.Close()
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, logs.String())
	}
	if s.Bad != 6 || s.Inserted != 4 {
		t.Errorf("stats %+v, want 6 bad lines and 4 events (2 jsonl, x3 unpriced, x4)", s)
	}
	for _, want := range []string{`field cost: \"NaN\" is not a number`, "usage.cost.total: 1e309 is infinite", "MaxTokens", "not a whole number", "field time: 1e20 is outside"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not say %q", want)
		}
	}
	got := h.usage()
	if u := got["salon"]; u.Input != 30 || u.CostUSD != 0.5 || u.Requests != 2 {
		t.Errorf("salon %+v, want the 2 good jsonl lines", u)
	}
	if u := got["owner"]; u.Input != 37 || u.CostUSD != 0.5 || u.Requests != 2 || u.Unpriced != 1 {
		t.Errorf("owner %+v, want x3 (unpriced) + x4", u)
	}
	if _, err := json.Marshal(got); err != nil {
		t.Errorf("usage is not JSON-encodable: %v", err)
	}
}
