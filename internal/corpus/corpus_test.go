package corpus_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/corpus"
	"github.com/quotawatch/quotawatch/monitor"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

func generate(t *testing.T, dir string, opts corpus.Options) *corpus.Expected {
	t.Helper()
	opts.Dir = dir
	exp, err := corpus.Generate(opts)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

// meter is quotawatch configured the way the corpus's quotawatch.yaml is.
type meter struct {
	st   *store.Store
	attr *monitor.Attributor
	exp  *corpus.Expected
}

func newMeter(t *testing.T, exp *corpus.Expected) *meter {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	loc, err := time.LoadLocation(exp.Timezone)
	if err != nil {
		t.Fatal(err)
	}
	var cs []report.Customer
	for _, c := range exp.Customers {
		if c.Peer != "" {
			cs = append(cs, report.Customer{ID: c.ID, Match: report.Match{Peer: c.Peer}})
		} else {
			cs = append(cs, report.Customer{ID: c.ID})
		}
	}
	return &meter{st: st, attr: monitor.NewAttributor(cs, exp.DefaultCustomer, loc), exp: exp}
}

func (m *meter) backfill(t *testing.T, dir string) monitor.Stats {
	t.Helper()
	mon := monitor.New(monitor.Config{}, m.st, m.attr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	stats, err := mon.Backfill(context.Background(), []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

func (m *meter) check(t *testing.T) {
	t.Helper()
	rows, err := m.st.UsageByPeriod(context.Background(), m.exp.Month, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]corpus.Totals{}
	for _, u := range rows {
		got[u.Customer] = corpus.Totals{Requests: u.Requests, Failed: u.FailedRequests, Input: u.Input, Output: u.Output,
			CacheRead: u.CacheRead, CacheWrite: u.CacheWrite, CostUSD: u.CostUSD}
	}
	if err := m.exp.Compare(got, 1e-9); err != nil {
		t.Fatal(err)
	}
}

var small = corpus.Options{Bytes: 3 << 20, Files: 120, Agents: 3, Peers: 12, Seed: 7}

// TestBackfillMatchesExpected is the end-to-end check: quotawatch's usage
// for a generated corpus equals the generator's exact totals, and a second
// backfill of the same files adds nothing.
func TestBackfillMatchesExpected(t *testing.T) {
	dir := t.TempDir()
	exp := generate(t, dir, small)
	if exp.Calls == 0 || exp.UsageLines == exp.Calls || exp.Synthetic == 0 {
		t.Fatalf("corpus lacks variety: %+v", exp)
	}
	m := newMeter(t, exp)
	s := m.backfill(t, dir)
	if s.Lines != exp.Lines || s.Inserted != exp.Calls || s.Duplicates != exp.UsageLines-exp.Calls ||
		s.Synthetic != exp.Synthetic || s.Bad != 0 || s.Files != int64(exp.Files) {
		t.Errorf("stats %+v; want lines %d, new %d, duplicates %d, synthetic %d, files %d, no bad lines",
			s, exp.Lines, exp.Calls, exp.UsageLines-exp.Calls, exp.Synthetic, exp.Files)
	}
	m.check(t)
	if s := m.backfill(t, dir); s.Inserted != 0 || s.Lines != 0 {
		t.Errorf("second backfill read %d lines, inserted %d; want nothing new", s.Lines, s.Inserted)
	}
	m.check(t)
}

// TestBackfillInTwoHalves cuts every transcript at a random byte (mostly
// mid-line), backfills, appends the rest and backfills again: only complete
// lines may be consumed and every call counted exactly once.
func TestBackfillInTwoHalves(t *testing.T) {
	full := t.TempDir()
	exp := generate(t, full, corpus.Options{Bytes: 1 << 20, Files: 40, Agents: 2, Peers: 6, Seed: 11})
	cut := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	rest := map[string][]byte{}
	err := filepath.WalkDir(full, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(full, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(cut, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		n := len(data)
		if filepath.Base(p) != "sessions.json" {
			n = r.IntN(len(data) + 1)
			rest[dst] = data[n:]
		}
		return os.WriteFile(dst, data[:n], 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	m := newMeter(t, exp)
	first := m.backfill(t, cut)
	for p, b := range rest {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	second := m.backfill(t, cut)
	if got := first.Lines + second.Lines; got != exp.Lines {
		t.Errorf("read %d+%d lines, want %d", first.Lines, second.Lines, exp.Lines)
	}
	if got := first.Inserted + second.Inserted; got != exp.Calls || first.Bad+second.Bad != 0 {
		t.Errorf("inserted %d+%d, bad %d+%d; want %d calls, no bad lines", first.Inserted, second.Inserted, first.Bad, second.Bad, exp.Calls)
	}
	m.check(t)
}

func digest(t *testing.T, dir string) []byte {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return err
	})
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		rel, _ := filepath.Rel(dir, n)
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		// sessions.json names files by absolute path; compare it relative.
		data = bytes.ReplaceAll(data, []byte(dir), []byte("DIR"))
		h.Write([]byte(rel))
		h.Write(data)
	}
	return h.Sum(nil)
}

func TestDeterministic(t *testing.T) {
	opts := corpus.Options{Bytes: 256 << 10, Agents: 2, Seed: 3}
	a, b := t.TempDir(), t.TempDir()
	ea, eb := generate(t, a, opts), generate(t, b, opts)
	if !bytes.Equal(digest(t, a), digest(t, b)) {
		t.Error("same seed, different files")
	}
	if ea.Calls != eb.Calls || ea.Totals[corpus.DefaultCustomer] != eb.Totals[corpus.DefaultCustomer] {
		t.Error("same seed, different totals")
	}
	c := t.TempDir()
	opts.Seed = 4
	generate(t, c, opts)
	if bytes.Equal(digest(t, a), digest(t, c)) {
		t.Error("different seeds, same files")
	}
}

func TestSizeAndFiles(t *testing.T) {
	dir := t.TempDir()
	exp := generate(t, dir, corpus.Options{Bytes: 2 << 20, Files: 50, Agents: 4, Seed: 5})
	var files int
	var size int64
	filepath.WalkDir(filepath.Join(dir, "agents"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(p) != "sessions.json" {
			fi, _ := d.Info()
			files++
			size += fi.Size()
		}
		return err
	})
	if files != 50 || exp.Files != 50 {
		t.Errorf("files: %d on disk, %d reported; want 50", files, exp.Files)
	}
	if size != exp.Bytes || size < 1800<<10 || size > 2300<<10 {
		t.Errorf("size %d (reported %d), want about 2 MiB", size, exp.Bytes)
	}
}

func TestSample(t *testing.T) {
	s := corpus.Sample(1, 64<<10)
	if len(s) < 64<<10 || !bytes.Equal(s, corpus.Sample(1, 64<<10)) {
		t.Fatalf("Sample: %d bytes, or not deterministic", len(s))
	}
	line, cost := corpus.UsageLine("q1", "", time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC), 100, 10)
	if line[len(line)-1] != '\n' || cost <= 0 {
		t.Errorf("UsageLine: %q %v", line, cost)
	}
}

// TestDenseCorpusHasMoreCallsPerMiBAndExactTotals: Density 4 (issue 13's
// dense corpus) makes ~1.7× or more the calls of the default mix in the
// same bytes, still metered exactly; Density 1 is the default mix byte for
// byte.
func TestDenseCorpusHasMoreCallsPerMiBAndExactTotals(t *testing.T) {
	opts := small
	sparse, dense, one := t.TempDir(), t.TempDir(), t.TempDir()
	es := generate(t, sparse, opts)
	opts.Density = 4
	ed := generate(t, dense, opts)
	perMiB := func(e *corpus.Expected) float64 { return float64(e.Calls) / (float64(e.Bytes) / (1 << 20)) }
	if r := perMiB(ed) / perMiB(es); r < 1.7 {
		t.Errorf("dense corpus: %.0f calls per MiB vs %.0f (%.2f×), want ≥ 1.7×", perMiB(ed), perMiB(es), r)
	}
	m := newMeter(t, ed)
	if s := m.backfill(t, dense); s.Inserted != ed.Calls || s.Bad != 0 {
		t.Errorf("dense backfill: %d new events, %d bad; want %d, 0", s.Inserted, s.Bad, ed.Calls)
	}
	m.check(t)
	opts.Density = 1
	generate(t, one, opts)
	if !bytes.Equal(digest(t, sparse), digest(t, one)) {
		t.Error("Density 1 changed the default corpus")
	}
}
