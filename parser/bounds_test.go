package parser

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// assistantLine is a Clawdbot assistant call whose usage object is given
// verbatim and whose entry timestamp is ts (omitted when empty).
func assistantLine(usage, ts string) string {
	t := ""
	if ts != "" {
		t = `"timestamp":"` + ts + `",`
	}
	return `{"type":"message","id":"e1",` + t + `"message":{"role":"assistant","content":[],"provider":"p","model":"m","usage":` + usage + `,"stopReason":"stop"}}`
}

// wantBad asserts a bad line whose error names every part of want (the
// field and the reason).
func wantBad(t *testing.T, r Result, want ...string) {
	t.Helper()
	if r.Kind != KindBad {
		t.Fatalf("kind = %v (event %+v), want bad", r.Kind, r.Event)
	}
	if r.Err == nil {
		t.Fatal("bad line without a reason")
	}
	for _, w := range want {
		if !strings.Contains(r.Err.Error(), w) {
			t.Errorf("error %q does not say %q", r.Err, w)
		}
	}
}

func wantUsage(t *testing.T, r Result) Event {
	t.Helper()
	if r.Kind != KindUsage {
		t.Fatalf("kind = %v (err %v), want usage", r.Kind, r.Err)
	}
	return r.Event
}

// Every token count and cost a Clawdbot line carries must be finite,
// non-negative, whole (tokens) and within MaxTokens / MaxCostUSD, else the
// line is bad with a reason naming the field: never +Inf, NaN, a clamp or
// the int64 that 1e300 converts to.
func TestClawdbotNumberOutsideBoundsIsABadLine(t *testing.T) {
	for _, tt := range []struct {
		name, usage string
		want        []string
	}{
		{"tokens 1e309", `{"input":1e309,"output":1}`, []string{"usage.input", "infinite"}},
		{"tokens -1e309", `{"input":1,"output":-1e309}`, []string{"usage.output", "infinite"}},
		{"tokens bare NaN (fastjson reads it)", `{"input":NaN}`, []string{"usage.input", "NaN"}},
		{"tokens bare inf (fastjson reads it)", `{"cacheRead":inf}`, []string{"usage.cacheRead", "infinite"}},
		{"tokens string NaN", `{"input":"NaN"}`, []string{"usage.input", "not a number"}},
		{"tokens string inf", `{"input":"inf"}`, []string{"usage.input", "not a number"}},
		{"tokens string Infinity", `{"input":"Infinity"}`, []string{"usage.input", "not a number"}},
		{"tokens 1e300", `{"input":1e300}`, []string{"usage.input", "1e300", "MaxTokens"}},
		{"tokens just above MaxTokens", `{"input":1000000001}`, []string{"usage.input", "MaxTokens"}},
		{"tokens 1.5", `{"input":1.5}`, []string{"usage.input", "1.5", "not a whole number"}},
		{"tokens negative", `{"cacheWrite":-4}`, []string{"usage.cacheWrite", "negative"}},
		{"tokens +1 is not read as 0", `{"input":+1}`, []string{"usage.input", "not a number"}},
		{"tokens hex string", `{"input":"0x10"}`, []string{"usage.input", "not a number"}},
		{"total only, 1e300", `{"totalTokens":1e300}`, []string{"usage.totalTokens", "MaxTokens"}},
		{"total only, 2.5", `{"total_tokens":2.5}`, []string{"usage.total_tokens", "not a whole number"}},
		{"alias input_tokens NaN", `{"input_tokens":NaN}`, []string{"usage.input_tokens", "NaN"}},
		{"cost.total 1e309", `{"input":1,"cost":{"total":1e309}}`, []string{"usage.cost.total", "infinite"}},
		{"cost.total -1e309", `{"input":1,"cost":{"total":-1e309}}`, []string{"usage.cost.total", "infinite"}},
		{"cost.total NaN", `{"input":1,"cost":{"total":NaN}}`, []string{"usage.cost.total", "NaN"}},
		{"cost.total string NaN", `{"input":1,"cost":{"total":"NaN"}}`, []string{"usage.cost.total", "not a number"}},
		{"cost.total 1e300", `{"input":1,"cost":{"total":1e300}}`, []string{"usage.cost.total", "MaxCostUSD"}},
		{"cost.total just above MaxCostUSD", `{"input":1,"cost":{"total":100000.01}}`, []string{"usage.cost.total", "MaxCostUSD"}},
		{"cost.total negative", `{"input":1,"cost":{"total":-0.01}}`, []string{"usage.cost.total", "negative"}},
		{"cost.total object", `{"input":1,"cost":{"total":{}}}`, []string{"usage.cost.total", "not a number"}},
		{"cost number inf", `{"input":1,"cost":inf}`, []string{"usage.cost", "infinite"}},
		{"cost boolean", `{"input":1,"cost":true}`, []string{"usage.cost", "not a number"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p Clawdbot
			wantBad(t, p.Parse([]byte(assistantLine(tt.usage, "2026-11-10T10:00:00.000Z"))), tt.want...)
		})
	}
	// Infinity is not JSON: fastjson refuses the line, which is bad too.
	var p Clawdbot
	wantBad(t, p.Parse([]byte(assistantLine(`{"input":1,"cost":{"total":Infinity}}`, ""))), "decode JSON")
}

// The bounds are inclusive, and numeric strings are read like numbers: a
// legitimate extreme call is billed exactly, not rejected.
func TestNumbersAtTheBoundsAreBilledExactly(t *testing.T) {
	var p Clawdbot
	e := wantUsage(t, p.Parse([]byte(assistantLine(`{"input":1000000000,"output":"12","cacheRead":0,"cacheWrite":1e3,"cost":{"total":100000}}`, ""))))
	if e.Input != MaxTokens || e.Output != 12 || e.CacheWrite != 1000 || !e.Priced || e.CostUSD != MaxCostUSD {
		t.Errorf("event %+v", e)
	}
	e = wantUsage(t, p.Parse([]byte(assistantLine(`{"input":3,"cost":{"total":-0}}`, ""))))
	if !e.Priced || e.CostUSD != 0 || math.Signbit(e.CostUSD) {
		t.Errorf("cost -0 must be a plain $0: %+v", e)
	}
	j := NewJSONL(DefaultFields())
	e = wantUsage(t, j.Parse([]byte(`{"usage":{"prompt_tokens":"1000000000","completion_tokens":1e9},"cost":"100000"}`)))
	if e.Input != MaxTokens || e.Output != MaxTokens || e.CostUSD != MaxCostUSD {
		t.Errorf("jsonl event %+v", e)
	}
}

// cost.total null is JavaScript's NaN serialised: unpriced, as cost null
// already was (a null-cost call used to be a bad line and lost its tokens).
func TestNullCostTotalIsUnpriced(t *testing.T) {
	var p Clawdbot
	for _, usage := range []string{`{"input":7,"cost":{"total":null}}`, `{"input":7,"cost":null}`, `{"input":7,"cost":{}}`} {
		e := wantUsage(t, p.Parse([]byte(assistantLine(usage, ""))))
		if e.Priced || e.CostUSD != 0 || e.Input != 7 {
			t.Errorf("%s: event %+v, want 7 input tokens, unpriced", usage, e)
		}
	}
	j := NewJSONL(DefaultFields())
	e := wantUsage(t, j.Parse([]byte(`{"usage":{"prompt_tokens":7},"cost":null}`)))
	if e.Priced || e.Input != 7 {
		t.Errorf("jsonl cost null: %+v", e)
	}
}

// The generic JSONL parser follows the same rule: "cost":"NaN" used to
// reach SQLite and wedge ingest; "NaN", "inf" and 1e300 tokens were stored
// as -9223372036854775808.
func TestJSONLNumberOutsideBoundsIsABadLine(t *testing.T) {
	j := NewJSONL(Fields{Input: "usage.prompt_tokens", Output: "usage.completion_tokens", CacheRead: "cr",
		CacheWrite: "cw", Tokens: "tokens", Cost: "cost"})
	for _, tt := range []struct {
		name, line string
		want       []string
	}{
		{"cost string NaN", `{"usage":{"prompt_tokens":1},"cost":"NaN"}`, []string{"field cost", "not a number"}},
		{"cost string inf", `{"usage":{"prompt_tokens":1},"cost":"inf"}`, []string{"field cost", "not a number"}},
		{"cost string Infinity", `{"usage":{"prompt_tokens":1},"cost":"Infinity"}`, []string{"field cost", "not a number"}},
		{"cost string 1e309", `{"usage":{"prompt_tokens":1},"cost":"1e309"}`, []string{"field cost", "infinite"}},
		{"cost number 1e309", `{"usage":{"prompt_tokens":1},"cost":1e309}`, []string{"field cost", "infinite"}},
		{"cost number -1e309", `{"usage":{"prompt_tokens":1},"cost":-1e309}`, []string{"field cost", "infinite"}},
		{"cost bare NaN", `{"usage":{"prompt_tokens":1},"cost":NaN}`, []string{"field cost", "NaN"}},
		{"cost 1e300", `{"cost":1e300}`, []string{"field cost", "MaxCostUSD"}},
		{"cost negative string", `{"cost":"-0.5"}`, []string{"field cost", "negative"}},
		{"tokens string NaN", `{"usage":{"prompt_tokens":"NaN"}}`, []string{"field usage.prompt_tokens", "not a number"}},
		{"tokens string inf", `{"usage":{"completion_tokens":"inf"}}`, []string{"field usage.completion_tokens", "not a number"}},
		{"tokens string Infinity", `{"cr":"Infinity"}`, []string{"field cr", "not a number"}},
		{"tokens 1e300", `{"cw":1e300}`, []string{"field cw", "MaxTokens"}},
		{"tokens string 1e300", `{"usage":{"prompt_tokens":"1e300"}}`, []string{"field usage.prompt_tokens", "MaxTokens"}},
		{"tokens 1.5", `{"usage":{"prompt_tokens":1.5}}`, []string{"field usage.prompt_tokens", "not a whole number"}},
		{"tokens string 1.5", `{"usage":{"prompt_tokens":"1.5"}}`, []string{"field usage.prompt_tokens", "not a whole number"}},
		{"tokens total 1e300", `{"tokens":1e300}`, []string{"field tokens", "MaxTokens"}},
		{"tokens total NaN", `{"tokens":"NaN"}`, []string{"field tokens", "not a number"}},
		{"tokens hex string", `{"tokens":"0x1p4"}`, []string{"field tokens", "not a number"}},
		{"tokens negative", `{"tokens":-3}`, []string{"field tokens", "negative"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantBad(t, j.Parse([]byte(tt.line)), tt.want...)
		})
	}
}

// The last millisecond the parser accepts is the last of 9999-12, the last
// period with a four-digit year.
func TestMaxTimeMsIsTheLastMillisecondOf9999(t *testing.T) {
	if want := time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli(); MaxTimeMs != want {
		t.Fatalf("MaxTimeMs = %d, want %d", MaxTimeMs, want)
	}
	if MinTimeMs != 0 {
		t.Fatalf("MinTimeMs = %d, want 0", MinTimeMs)
	}
}

// Epoch 0 is a time, not a missing one: it used to be billed to "now".
func TestEpochZeroIsATimeNotAMissingOne(t *testing.T) {
	var p Clawdbot
	for _, line := range []string{
		assistantLine(`{"input":1}`, "1970-01-01T00:00:00.000Z"),
		assistantLine(`{"input":1}`, "1970-01-01T00:00:00Z"),
		`{"type":"message","id":"e","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":1},"timestamp":0}}`,
	} {
		e := wantUsage(t, p.Parse([]byte(line)))
		if !e.HasTime || e.TimeMs != 0 {
			t.Errorf("%s: HasTime %v TimeMs %d, want epoch 0 as a time", line, e.HasTime, e.TimeMs)
		}
		if got := time.UnixMilli(e.TimeMs).UTC().Format("2006-01"); got != "1970-01" {
			t.Errorf("period in UTC = %s, want 1970-01", got)
		}
	}
	j := NewJSONL(DefaultFields())
	for _, line := range []string{
		`{"time":0,"usage":{"prompt_tokens":1}}`,
		`{"time":"0","usage":{"prompt_tokens":1}}`,
		`{"time":"1970-01-01T00:00:00.000Z","usage":{"prompt_tokens":1}}`,
	} {
		e := wantUsage(t, j.Parse([]byte(line)))
		if !e.HasTime || e.TimeMs != 0 {
			t.Errorf("%s: HasTime %v TimeMs %d, want epoch 0 as a time", line, e.HasTime, e.TimeMs)
		}
	}
}

// A line with no time at all says so (HasTime false): the monitor bills it
// by its own clock. An unparseable ISO time falls back to message.timestamp.
func TestLineWithoutTimeHasNoTime(t *testing.T) {
	var p Clawdbot
	for _, line := range []string{
		assistantLine(`{"input":1}`, ""),
		assistantLine(`{"input":1}`, "yesterday"),
		`{"type":"message","id":"e","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":1},"timestamp":null}}`,
	} {
		if e := wantUsage(t, p.Parse([]byte(line))); e.HasTime || e.TimeMs != 0 {
			t.Errorf("%s: HasTime %v TimeMs %d, want no time", line, e.HasTime, e.TimeMs)
		}
	}
	e := wantUsage(t, p.Parse([]byte(`{"type":"message","id":"e","timestamp":"not a time","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":1},"timestamp":1795738179921}}`)))
	if !e.HasTime || e.TimeMs != 1795738179921 {
		t.Errorf("fallback to message.timestamp: %+v", e)
	}
	j := NewJSONL(DefaultFields())
	if e := wantUsage(t, j.Parse([]byte(`{"usage":{"prompt_tokens":1}}`))); e.HasTime {
		t.Errorf("jsonl without time: %+v", e)
	}
	if e := wantUsage(t, j.Parse([]byte(`{"time":null,"usage":{"prompt_tokens":1}}`))); e.HasTime {
		t.Errorf("jsonl time null: %+v", e)
	}
}

// The parser accepts every time in [MinTimeMs, MaxTimeMs] (whether a time
// is too far ahead of the host's clock is the monitor's call: the parser
// has no clock), and refuses, with the reason, every time outside it,
// checked as a float before any int64 conversion.
func TestTimeOutsideAnyBillingMonthIsABadLine(t *testing.T) {
	var p Clawdbot
	e := wantUsage(t, p.Parse([]byte(assistantLine(`{"input":1}`, "9999-12-31T23:59:59.999Z"))))
	if !e.HasTime || e.TimeMs != MaxTimeMs {
		t.Errorf("9999-12-31T23:59:59.999Z: %+v", e)
	}
	e = wantUsage(t, p.Parse([]byte(`{"type":"message","id":"e","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":1},"timestamp":253402300799999}}`)))
	if !e.HasTime || e.TimeMs != MaxTimeMs {
		t.Errorf("message.timestamp MaxTimeMs: %+v", e)
	}
	msgTS := func(ts string) string {
		return `{"type":"message","id":"e","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":1},"timestamp":` + ts + `}}`
	}
	for _, tt := range []struct {
		name, line string
		want       []string
	}{
		{"message.timestamp 1e20 ms", msgTS("1e20"), []string{"message.timestamp", "1e20", "outside"}},
		{"message.timestamp -1e20 ms", msgTS("-1e20"), []string{"message.timestamp", "-1e20", "outside"}},
		{"message.timestamp one ms past 9999", msgTS("253402300800000"), []string{"message.timestamp", "outside"}},
		{"message.timestamp -1", msgTS("-1"), []string{"message.timestamp", "outside"}},
		{"message.timestamp 1e309", msgTS("1e309"), []string{"message.timestamp", "infinite"}},
		{"message.timestamp NaN", msgTS("NaN"), []string{"message.timestamp", "NaN"}},
		{"ISO past 9999 by its offset", assistantLine(`{"input":1}`, "9999-12-31T23:59:59-05:00"), []string{"timestamp", "outside"}},
		{"ISO before 1970", assistantLine(`{"input":1}`, "1969-12-31T23:59:59.999Z"), []string{"timestamp", "outside"}},
		{"ISO year 0000", assistantLine(`{"input":1}`, "0000-01-01T00:00:00.000Z"), []string{"timestamp", "outside"}},
		// An ISO time out of range is not silently replaced by message.timestamp.
		{"ISO out of range, valid fallback", `{"type":"message","id":"e","timestamp":"1900-01-01T00:00:00.000Z","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":1},"timestamp":1795738179921}}`, []string{"timestamp", "1900", "outside"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantBad(t, p.Parse([]byte(tt.line)), tt.want...)
		})
	}

	j := NewJSONL(DefaultFields())
	e = wantUsage(t, j.Parse([]byte(`{"time":"9999-12-31T23:59:59.999Z","usage":{"prompt_tokens":1}}`)))
	if !e.HasTime || e.TimeMs != MaxTimeMs {
		t.Errorf("jsonl 9999-12-31T23:59:59.999Z: %+v", e)
	}
	for _, tt := range []struct {
		name, time string
		want       []string
	}{
		{"1e20 ms", `1e20`, []string{"field time", "outside"}},
		{"-1e20 ms", `-1e20`, []string{"field time", "outside"}},
		{"string 1e20", `"1e20"`, []string{"field time", "outside"}},
		{"1e309", `1e309`, []string{"field time", "infinite"}},
		{"string NaN", `"NaN"`, []string{"field time", "not RFC 3339"}},
		{"string inf", `"inf"`, []string{"field time", "not RFC 3339"}},
		{"negative seconds", `-5`, []string{"field time", "outside"}},
		{"ISO past 9999 by its offset", `"9999-12-31T23:59:59-05:00"`, []string{"field time", "outside"}},
		{"ISO before 1970", `"1969-07-20T20:17:40Z"`, []string{"field time", "outside"}},
		{"object", `{}`, []string{"field time", "not a time"}},
	} {
		t.Run("jsonl "+tt.name, func(t *testing.T) {
			wantBad(t, j.Parse([]byte(`{"time":`+tt.time+`,"usage":{"prompt_tokens":1}}`)), tt.want...)
		})
	}
}

// A reason quotes the offending value, capped, and never cuts a character
// in two (the log line stays valid UTF-8).
func TestBadValueInReasonIsCappedAtACharacter(t *testing.T) {
	j := NewJSONL(DefaultFields())
	r := j.Parse([]byte(`{"cost":"x` + strings.Repeat("ب", 100) + `"}`))
	wantBad(t, r, "field cost", "...", "not a number")
	if len(r.Err.Error()) > 100 || !utf8.ValidString(r.Err.Error()) {
		t.Errorf("reason %q: want capped, valid UTF-8", r.Err)
	}
}
