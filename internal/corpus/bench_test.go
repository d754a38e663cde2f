package corpus_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/quotawatch/quotawatch/internal/corpus"
	"github.com/quotawatch/quotawatch/monitor"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

var (
	benchOnce sync.Once
	benchDir  string
	benchExp  *corpus.Expected
	benchErr  error
)

// benchCorpus is a 64 MiB, 2,000-file corpus generated once per test binary.
func benchCorpus(b *testing.B) (string, *corpus.Expected) {
	b.Helper()
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "qw-bench-corpus-")
		if benchErr != nil {
			return
		}
		benchExp, benchErr = corpus.Generate(corpus.Options{Dir: benchDir, Bytes: 64 << 20, Files: 2000, Agents: 4, Seed: 1})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir, benchExp
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// BenchmarkBackfill is the whole ingest path in-process: read, parse,
// attribute, batch and commit a 64 MiB corpus into a fresh database.
func BenchmarkBackfill(b *testing.B) {
	dir, exp := benchCorpus(b)
	b.SetBytes(exp.Bytes)
	b.ReportAllocs()
	b.ResetTimer() // generating the corpus is not part of it
	for i := range b.N {
		b.StopTimer()
		m := newBenchMeter(b, exp, filepath.Join(b.TempDir(), "qw.db"))
		b.StartTimer()
		mon := monitor.New(monitor.Config{}, m.st, m.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
		s, err := mon.Backfill(context.Background(), []string{dir}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if s.Inserted != exp.Calls {
			b.Fatalf("run %d: inserted %d, want %d", i, s.Inserted, exp.Calls)
		}
		b.StopTimer()
		m.st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(exp.Calls)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func newBenchMeter(b *testing.B, exp *corpus.Expected, db string) *meter {
	b.Helper()
	st, err := store.Open(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	var cs []report.Customer
	for _, c := range exp.Customers {
		cs = append(cs, report.Customer{ID: c.ID, Match: report.Match{Peer: c.Peer}})
	}
	return &meter{st: st, attr: monitor.NewAttributor(cs, exp.DefaultCustomer, nil), exp: exp}
}
