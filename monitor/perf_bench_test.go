package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/corpus"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// BenchmarkAttribute is the attribution of one session (CustomerOf) with
// 500 configured WhatsApp customers, as every new session and every learn
// pays it.
func BenchmarkAttribute(b *testing.B) {
	var cs []report.Customer
	for i := range 500 {
		cs = append(cs, report.Customer{ID: fmt.Sprintf("c%d", i), Match: report.Match{Peer: fmt.Sprintf("+9665%08d", i)}})
	}
	cs = append(cs, report.Customer{ID: "owner"})
	a := NewAttributor(cs, "owner", time.UTC)
	sess := make([]store.Session, 1024)
	for i := range sess {
		sess[i] = store.Session{Agent: "main", SessionID: fmt.Sprint(i), Channel: "whatsapp", Peer: fmt.Sprintf("+9665%08d", i*7%600),
			Key: fmt.Sprintf("agent:main:whatsapp:dm:+9665%08d", i*7%600), Origin: originStore}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		_ = a.CustomerOf(sess[i%len(sess)])
	}
}

// BenchmarkRestartCatchUp is `run` starting over a history of 2,000
// ingested, quiet files: open the store, load the marks, verify every file,
// settle, until "caught up". allocs/file is what the catch-up allocates
// per file (it must not hold them: see TestQuietFilesAreHeldAsMarksAndSessionsInTheStore).
// The files were written just before they were ingested, too recently for
// their stamps to be stored: each is opened and verified.
func BenchmarkRestartCatchUp(b *testing.B) { benchRestart(b, false) }

// BenchmarkRestartCatchUpStamped is the same over files ingested more than
// stampMargin after they were written: each is trusted after a stat.
func BenchmarkRestartCatchUpStamped(b *testing.B) { benchRestart(b, true) }

func benchRestart(b *testing.B, stamped bool) {
	const files = 2000
	root := b.TempDir()
	dir, db := filepath.Join(root, "state"), filepath.Join(root, "qw.db")
	peers := []string{"+966500000001", "+966500000002", "+966500000003"}
	for i := range files {
		id := fmt.Sprintf("%08d-bench", i)
		p := filepath.Join(dir, "agents", fmt.Sprintf("a%d", i%4), "sessions", id+".jsonl")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		body := fmt.Sprintf(header, id) + user(peers[i%3])
		for j := range 5 {
			body += call(fmt.Sprintf("c%d", j), 10+j)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if stamped {
		time.Sleep(stampMargin)
	}
	attr := sampleAttributor()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: dir}}, Rescan: time.Hour}
	catchUp := func() {
		st, err := store.Open(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		m := New(cfg, st, attr, quiet)
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx, func() { close(ready) }) }()
		select {
		case <-ready:
		case err := <-done:
			b.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
	catchUp() // the first run ingests everything
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.Mallocs
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		catchUp()
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Mallocs-before)/float64(files*b.N), "allocs/file")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(files*b.N), "ns/file")
}

// BenchmarkOpenClawBackfill is a backfill of a generated OpenClaw state
// (qwcorpus -kind openclaw -size 20: three agent databases, ~30 % of the
// replies compressed, archives) into a fresh store: the reader, the line
// path and the real writer together, as `quotawatch backfill` runs them.
// events/s is wall time over every event read (the figure issue 8's target
// is stated in); compare it with BenchmarkBackfill-like JSONL runs only at
// the same load. The whole-binary numbers are scripts/bench-openclaw.sh's.
func BenchmarkOpenClawBackfill(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "state")
	exp, err := corpus.GenerateOpenClaw(corpus.OpenClawOptions{
		Options:         corpus.Options{Dir: dir, Bytes: 20 << 20, Seed: 1, Month: "2026-11"},
		CompressedShare: corpus.DefaultCompressedShare,
	})
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{Sources: []SourceConfig{{Type: SourceOpenClaw, Dir: dir}}}
	var events int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), fmt.Sprintf("qw%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		s, err := New(cfg, st, sampleAttributor(), quiet).Backfill(context.Background(), nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if s.Inserted == 0 || s.Bad != 0 {
			b.Fatalf("backfill: %+v", s)
		}
		events += s.Events
		st.Close()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(exp.OpenClaw.Rows), "rows")
}
