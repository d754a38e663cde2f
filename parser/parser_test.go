package parser

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClawdbotLineKinds(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		env   bool
		want  Kind
		check func(t *testing.T, r Result)
	}{
		{name: "header", line: `{"type":"session","version":3,"id":"8a51f00f-419e-42b2-a06a-03fcdd97eac7","timestamp":"2026-11-27T00:09:39.908Z","cwd":"/w"}`,
			want: KindHeader, check: func(t *testing.T, r Result) {
				if r.SessionID != "8a51f00f-419e-42b2-a06a-03fcdd97eac7" {
					t.Errorf("session id = %q", r.SessionID)
				}
			}},
		{name: "assistant call", line: `{"type":"message","id":"1ba3a720","parentId":"a33ae4bd","timestamp":"2026-11-27T00:09:40.043Z","message":{"role":"assistant","content":[],"api":"openai-completions","provider":"fakeoai","model":"fake-gpt","usage":{"input":11351,"output":13,"cacheRead":5,"cacheWrite":7,"totalTokens":11376,"cost":{"total":0.0285075}},"stopReason":"stop","timestamp":1795738179921}}`,
			want: KindUsage, check: func(t *testing.T, r Result) {
				e := r.Event
				if e.EntryID != "1ba3a720" || e.Provider != "fakeoai" || e.Model != "fake-gpt" || e.Input != 11351 || e.Output != 13 ||
					e.CacheRead != 5 || e.CacheWrite != 7 || !e.Priced || e.CostUSD != 0.0285075 || e.Failed {
					t.Errorf("event = %+v", e)
				}
				if e.TimeMs != 1795738180043 {
					t.Errorf("time = %d, want the entry's ISO time 1795738180043", e.TimeMs)
				}
			}},
		{name: "failed call", line: `{"type":"message","id":"d2732461","timestamp":"2026-11-27T00:10:05.341Z","message":{"role":"assistant","content":[],"provider":"fakeoai","model":"fake-gpt","usage":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"totalTokens":0,"cost":{"total":0}},"stopReason":"error","errorMessage":"500"}}`,
			want: KindUsage, check: func(t *testing.T, r Result) {
				if !r.Event.Failed {
					t.Error("stopReason error must be a failed request")
				}
			}},
		{name: "aborted call", line: `{"type":"message","id":"x","message":{"role":"assistant","provider":"a","model":"m","usage":{"input":5},"stopReason":"aborted"}}`,
			want: KindUsage, check: func(t *testing.T, r Result) {
				if !r.Event.Failed || r.Event.Input != 5 || r.Event.Priced {
					t.Errorf("event = %+v", r.Event)
				}
			}},
		{name: "injected", line: `{"type":"message","id":"1da7d716","timestamp":"2026-11-27T00:02:58.302Z","message":{"role":"assistant","content":[{"type":"text","text":"[ops]"}],"timestamp":1795737778302,"stopReason":"injected","usage":{"input":0,"output":0,"totalTokens":0}}}`,
			want: KindSynthetic},
		{name: "delivery mirror", line: `{"type":"message","id":"a","message":{"role":"assistant","api":"openai-responses","provider":"clawdbot","model":"delivery-mirror","usage":{"input":0,"output":0},"stopReason":"stop"}}`,
			want: KindSynthetic},
		{name: "alternate usage names at entry level", line: `{"type":"message","id":"b","provider":"anthropic","model":"claude","usage":{"input_tokens":10,"output_tokens":3,"cache_read_input_tokens":4,"cache_creation_input_tokens":2},"message":{"role":"assistant","content":[]}}`,
			want: KindUsage, check: func(t *testing.T, r Result) {
				e := r.Event
				if e.Input != 10 || e.Output != 3 || e.CacheRead != 4 || e.CacheWrite != 2 || e.Provider != "anthropic" || e.Priced {
					t.Errorf("event = %+v", e)
				}
			}},
		{name: "openai names", line: `{"type":"message","id":"c","message":{"role":"assistant","provider":"p","model":"m","usage":{"prompt_tokens":7,"completion_tokens":2,"cost":0.5}}}`,
			want: KindUsage, check: func(t *testing.T, r Result) {
				if r.Event.Input != 7 || r.Event.Output != 2 || !r.Event.Priced || r.Event.CostUSD != 0.5 {
					t.Errorf("event = %+v", r.Event)
				}
			}},
		{name: "missing cost is unpriced", line: `{"type":"message","id":"d","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":7}}}`,
			want: KindUsage, check: func(t *testing.T, r Result) {
				if r.Event.Priced {
					t.Error("a call without cost must be unpriced, never $0")
				}
			}},
		{name: "wrong type", line: `{"type":"message","id":"e","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":"abc"}}}`, want: KindBad},
		{name: "negative tokens", line: `{"type":"message","id":"e","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":-4}}}`, want: KindBad},
		{name: "truncated", line: `{"type":"message","id":"e","message":{"role":"assistant","usage":{"input":4`, want: KindBad},
		{name: "binary", line: "\x00\x01\xff\xfe garbage", want: KindBad},
		{name: "invalid utf8 object", line: "{\"a\":\"\xff\"}", want: KindBad},
		{name: "broken json with usage", line: `{"type":"message","usage":"assistant",}`, want: KindBad},
		{name: "blank", line: "", want: KindEmpty},
		{name: "crlf blank", line: "\r", want: KindEmpty},
		{name: "user without envelope wanted", line: `{"type":"message","id":"f","message":{"role":"user","content":[{"type":"text","text":"[WhatsApp +966500000001 +3m 2026-11-27 03:01 GMT+3] hi"}]}}`,
			want: KindIgnored},
		{name: "user envelope", env: true, line: `{"type":"message","id":"f","message":{"role":"user","content":[{"type":"text","text":"[WhatsApp +966500000001 +3m 2026-11-27 03:01 GMT+3] hi"}]}}`,
			want: KindEnvelope, check: func(t *testing.T, r Result) {
				if r.Channel != "whatsapp" || r.Peer != "+966500000001" {
					t.Errorf("channel %q peer %q", r.Channel, r.Peer)
				}
			}},
		{name: "group envelope", env: true, line: `{"type":"message","message":{"role":"user","content":"[WhatsApp 120363025550001111@g.us +5m 2026-11-27 03:04 GMT+3] Omar (+966500000009): hi"}}`,
			want: KindEnvelope, check: func(t *testing.T, r Result) {
				if r.Peer != "120363025550001111@g.us" {
					t.Errorf("peer %q", r.Peer)
				}
			}},
		{name: "bracket text is no envelope", env: true, line: `{"type":"message","message":{"role":"user","content":"[note to self] buy milk"}}`, want: KindIgnored},
		{name: "tool result", line: `{"type":"message","id":"g","message":{"role":"toolResult","toolCallId":"c","content":[{"type":"text","text":"usage: the \"assistant\" said"}]}}`, want: KindIgnored},
		{name: "model change", line: `{"type":"model_change","id":"142d1a03","parentId":null,"provider":"fakeoai","modelId":"fake-gpt"}`, want: KindIgnored},
		{name: "compaction", line: `{"type":"compaction","id":"6e","summary":"s","tokensBefore":11675}`, want: KindIgnored},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Clawdbot{WantEnvelope: tt.env}
			r := p.Parse([]byte(tt.line))
			if r.Kind != tt.want {
				t.Fatalf("kind = %v (err %v), want %v", r.Kind, r.Err, tt.want)
			}
			if r.Kind == KindBad && r.Err == nil {
				t.Error("a bad line must say why")
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// TestSampleTotals parses the real sample's files line by line and checks
// the per-file counts the sample's README describes.
func TestSampleTotals(t *testing.T) {
	dir := filepath.Join("..", "testdata", "clawdbot-sample", "agents")
	files, err := filepath.Glob(filepath.Join(dir, "*", "sessions", "*.jsonl*"))
	if err != nil || len(files) != 7 {
		t.Fatalf("want the 7 sample transcripts, got %d (%v)", len(files), err)
	}
	var usage, failed, synthetic, headers int
	var input int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var p Clawdbot
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			r := p.Parse(sc.Bytes())
			switch r.Kind {
			case KindUsage:
				usage++
				input += r.Event.Input
				if r.Event.Failed {
					failed++
				}
			case KindSynthetic:
				synthetic++
			case KindHeader:
				headers++
			case KindBad:
				t.Errorf("%s: bad line: %v", f, r.Err)
			}
		}
	}
	// The README's 12 requests + 4 failed calls; the compacted 8fab… file was
	// reset by pi to a blank line + one new call, so no copy remains here
	// (copies are the monitor's business, tested there).
	if usage != 16 || failed != 4 || synthetic != 3 || headers != 6 {
		t.Errorf("usage %d failed %d synthetic %d headers %d", usage, failed, synthetic, headers)
	}
	if input != 34468+28673+22821+10030 {
		t.Errorf("input tokens = %d", input)
	}
}

func TestParseEnvelope(t *testing.T) {
	for _, tt := range []struct{ in, ch, from string }{
		{"[WhatsApp +966500000001 +2m 2026-01-25 10:00 GMT+3] مرحبا", "whatsapp", "+966500000001"},
		{"[Telegram 12345 2026-01-25T10:00Z] hi", "telegram", "12345"},
		{"[WhatsApp whatsapp:+966500000001] hi", "whatsapp", "+966500000001"},
	} {
		ch, from, ok := ParseEnvelope(tt.in)
		if !ok || ch != tt.ch || from != tt.from {
			t.Errorf("ParseEnvelope(%q) = %q %q %v", tt.in, ch, from, ok)
		}
	}
	for _, in := range []string{"", "hello", "[WhatsApp]", "[Unknown +1] x", "[WhatsApp +1 no close"} {
		if _, _, ok := ParseEnvelope(in); ok {
			t.Errorf("ParseEnvelope(%q) accepted", in)
		}
	}
}

func TestJSONL(t *testing.T) {
	p := NewJSONL(Fields{ID: "req.id", Time: "ts", Customer: "meta.customer", Model: "model",
		Input: "usage.prompt_tokens", Output: "usage.completion_tokens", Cost: "cost", Error: "error"})
	r := p.Parse([]byte(`{"req":{"id":"r1"},"ts":"2026-11-03T10:00:00Z","meta":{"customer":"omar"},"model":"gpt","usage":{"prompt_tokens":10,"completion_tokens":5},"cost":"0.25"}`))
	if r.Kind != KindUsage {
		t.Fatalf("kind %v err %v", r.Kind, r.Err)
	}
	e := r.Event
	if e.EntryID != "r1" || e.Customer != "omar" || e.Input != 10 || e.Output != 5 || e.CostUSD != 0.25 || !e.Priced || e.TimeMs != 1793700000000 || e.Failed {
		t.Errorf("event %+v", e)
	}
	r = p.Parse([]byte(`{"ts":1793700000,"usage":{"prompt_tokens":1},"error":{"code":500}}`))
	if r.Kind != KindUsage || !r.Event.Failed || r.Event.TimeMs != 1793700000000 || r.Event.Priced {
		t.Errorf("epoch seconds / error object: %+v", r)
	}
	if r := p.Parse([]byte(`{"note":"no usage here"}`)); r.Kind != KindIgnored {
		t.Errorf("line without usage fields: %v", r.Kind)
	}
	if r := p.Parse([]byte(`{"usage":{"prompt_tokens":"many"}}`)); r.Kind != KindBad {
		t.Errorf("non-numeric tokens: %v", r.Kind)
	}
	if r := p.Parse([]byte(`{"usage":{"prompt_tokens":1},"ts":"yesterday"}`)); r.Kind != KindBad {
		t.Errorf("bad time: %v", r.Kind)
	}
	if r := p.Parse([]byte(`not json`)); r.Kind != KindBad {
		t.Errorf("garbage: %v", r.Kind)
	}
}

func seedCorpus(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "clawdbot-sample", "agents", "*", "sessions", "*.jsonl*"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			f.Add([]byte(line))
		}
	}
	f.Add([]byte(`{"type":"message","usage":{"input":1e300},"message":{"role":"assistant","usage":{"input":1e300,"cost":{"total":-1}}}}`))
	f.Add([]byte("\x00{}"))
}

// checkResult asserts what every parse result must satisfy, whatever the
// input: a bad line says why; only a usage result carries an event; and a
// usage event's numbers are finite and within bounds, its time within
// [MinTimeMs, MaxTimeMs] when it has one.
func checkResult(t *testing.T, line []byte, r Result) {
	t.Helper()
	if r.Kind == KindBad && r.Err == nil {
		t.Fatalf("bad without error: %q", line)
	}
	if r.Kind != KindUsage {
		if r.Event != (Event{}) {
			t.Fatalf("%v result carries an event %+v: %q", r.Kind, r.Event, line)
		}
		return
	}
	e := r.Event
	for _, n := range []int64{e.Input, e.Output, e.CacheRead, e.CacheWrite} {
		if n < 0 || n > MaxTokens {
			t.Fatalf("token count %d outside [0, MaxTokens] in %+v: %q", n, e, line)
		}
	}
	if e.Priced {
		if math.IsNaN(e.CostUSD) || math.IsInf(e.CostUSD, 0) || e.CostUSD < 0 || e.CostUSD > MaxCostUSD || math.Signbit(e.CostUSD) {
			t.Fatalf("cost %v outside [0, MaxCostUSD] in %+v: %q", e.CostUSD, e, line)
		}
	} else if e.CostUSD != 0 {
		t.Fatalf("unpriced event with a cost %+v: %q", e, line)
	}
	if e.HasTime {
		if e.TimeMs < MinTimeMs || e.TimeMs > MaxTimeMs {
			t.Fatalf("time %d outside [MinTimeMs, MaxTimeMs] in %+v: %q", e.TimeMs, e, line)
		}
	} else if e.TimeMs != 0 {
		t.Fatalf("time %d without HasTime: %q", e.TimeMs, line)
	}
}

// boundSeeds are lines at and past every bound, for both fuzz targets.
var boundSeeds = []string{
	`{"type":"message","id":"a","timestamp":"9999-12-31T23:59:59.999Z","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":1000000000,"output":"7","cost":{"total":100000}}}}`,
	`{"type":"message","id":"a","timestamp":"1970-01-01T00:00:00.000Z","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":1e309,"cost":{"total":null}}}}`,
	`{"type":"message","id":"a","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":1.5,"cost":{"total":NaN}},"timestamp":1e20}}`,
	`{"type":"message","id":"a","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":1,"cost":{"total":1e309}},"timestamp":1e20}}`,
	`{"type":"message","id":"a","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":1,"cost":1e300},"timestamp":-1e20}}`,
	`{"type":"message","id":"a","message":{"role":"assistant","provider":"p","model":"m","usage":{"totalTokens":"inf","cost":-1e309},"timestamp":-1e20}}`,
	`{"type":"message","id":"a","message":{"role":"assistant","provider":"p","model":"m","usage":{"input":+1,"cost":"Infinity"},"timestamp":0}}`,
	`{"id":"1","time":"9999-12-31T23:59:59.999Z","usage":{"prompt_tokens":"NaN"},"cost":"NaN"}`,
	`{"id":"1","time":1e20,"usage":{"prompt_tokens":"inf","completion_tokens":1e300},"cost":"1e309"}`,
	`{"id":"1","time":"0","usage":{"prompt_tokens":"1e9"},"cost":"-0","tokens":2.5}`,
	`{"id":"1","time":-1e20,"tokens":"Infinity","cost":null,"session":"s","error":NaN}`,
}

// FuzzClawdbot: no input may panic, and every result must be coherent.
func FuzzClawdbot(f *testing.F) {
	seedCorpus(f)
	for _, s := range boundSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, env := range []bool{false, true} {
			p := Clawdbot{WantEnvelope: env}
			r := p.Parse(line)
			checkResult(t, line, r)
			if r.Kind == KindHeader && r.SessionID == "" {
				t.Fatal("header without session id")
			}
		}
	})
}

// FuzzJSONL: the generic parser never panics, and every result is coherent,
// with the default paths and with every field mapped.
func FuzzJSONL(f *testing.F) {
	f.Add([]byte(`{"id":"1","time":"2026-11-03T10:00:00Z","customer":"c","usage":{"prompt_tokens":3,"completion_tokens":4},"cost":0.1}`))
	f.Add([]byte(`{"usage":{"prompt_tokens":"x"}}`))
	for _, s := range boundSeeds {
		f.Add([]byte(s))
	}
	all := Fields{ID: "id", Time: "time", Customer: "customer", Session: "session", Provider: "provider", Model: "model",
		Input: "usage.prompt_tokens", Output: "usage.completion_tokens", CacheRead: "usage.cache_read",
		CacheWrite: "usage.cache_write", Tokens: "tokens", Cost: "cost", Error: "error"}
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, fields := range []Fields{DefaultFields(), all} {
			checkResult(t, line, NewJSONL(fields).Parse(line))
		}
	})
}
