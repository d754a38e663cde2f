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
