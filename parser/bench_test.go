package parser_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/quotawatch/quotawatch/internal/corpus"
	"github.com/quotawatch/quotawatch/parser"
)

// sample is about 8 MB of generated transcript lines (the corpus's mix).
func sample(b *testing.B) [][]byte {
	b.Helper()
	data := corpus.Sample(42, 8<<20)
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	return lines
}

func benchLines(b *testing.B, lines [][]byte, envelope bool) {
	var n int64
	for _, l := range lines {
		n += int64(len(l)) + 1
	}
	var p parser.Clawdbot
	p.WantEnvelope = envelope
	b.SetBytes(n)
	b.ReportAllocs()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	b.ResetTimer()
	var usage int
	for range b.N {
		for _, l := range lines {
			if p.Parse(l).Kind == parser.KindUsage {
				usage++
			}
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	total := float64(b.N) * float64(len(lines))
	b.ReportMetric(total/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(usage)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(ms.Mallocs-mallocs)/total, "allocs/line")
}

// BenchmarkClawdbot parses the whole line mix, as the monitor does once a
// session is attributed (envelopes not wanted).
func BenchmarkClawdbot(b *testing.B) {
	benchLines(b, sample(b), false)
}

// BenchmarkClawdbotEnvelope also decodes user lines for their envelope, as
// for a session not yet attributed.
func BenchmarkClawdbotEnvelope(b *testing.B) {
	benchLines(b, sample(b), true)
}

// BenchmarkClawdbotAssistant parses only assistant usage lines (the
// decoded path).
func BenchmarkClawdbotAssistant(b *testing.B) {
	var p parser.Clawdbot
	var lines [][]byte
	for _, l := range sample(b) {
		if p.Parse(l).Kind == parser.KindUsage {
			lines = append(lines, l)
		}
	}
	benchLines(b, lines, false)
}

// BenchmarkClawdbotSkipped parses only lines the pre-filter rejects
// (tool results, user messages, metadata).
func BenchmarkClawdbotSkipped(b *testing.B) {
	var p parser.Clawdbot
	var lines [][]byte
	for _, l := range sample(b) {
		if p.Parse(l).Kind == parser.KindIgnored {
			lines = append(lines, l)
		}
	}
	benchLines(b, lines, false)
}

// BenchmarkJSONL parses generic request-log lines (default OpenAI-style
// fields, numbers as JSON numbers and as strings), the generic decoded path.
func BenchmarkJSONL(b *testing.B) {
	lines := [][]byte{
		[]byte(`{"id":"req-000001","time":"2026-11-03T10:00:00.123Z","customer":"omar-001","model":"gpt-4o-mini","provider":"openai","usage":{"prompt_tokens":1234,"completion_tokens":56},"cost":0.00123}`),
		[]byte(`{"id":"req-000002","time":1793700000123,"customer":"layla","model":"gpt-4o","usage":{"prompt_tokens":"2048","completion_tokens":"128"},"cost":"0.0345"}`),
		[]byte(`{"id":"req-000003","time":"2026-11-03T10:00:02Z","customer":"omar-001","model":"gpt-4o-mini","usage":{"prompt_tokens":10,"completion_tokens":2},"cost":null}`),
	}
	var n int64
	for _, l := range lines {
		n += int64(len(l)) + 1
	}
	p := parser.NewJSONL(parser.DefaultFields())
	b.SetBytes(n)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, l := range lines {
			if p.Parse(l).Kind != parser.KindUsage {
				b.Fatal("not usage")
			}
		}
	}
}
