package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/quotawatch/quotawatch/store"
)

const benchCustomers = 500

var benchPeriods = []string{"2026-09", "2026-10", "2026-11"}

// benchEvents fills b.Events with n distinct events numbered from first:
// 500 customers, three months, sessions of 40 calls, keys shaped like the
// monitor's.
func benchEvents(batch *store.Batch, first, n int) {
	batch.Reset()
	for i := first; i < first+n; i++ {
		// 40 calls per session, each session one customer in one month.
		s := i / 40
		sess := strconv.Itoa(s)
		c := "p9665" + strconv.Itoa(10000000+(s*7919)%benchCustomers)
		batch.Events = append(batch.Events, store.Event{
			Key:   "cb/main/" + sess + "/" + strconv.FormatInt(int64(i)*2654435761%(1<<32), 16),
			Agent: "main", SessionID: sess, TimeMs: 1793500000000 + int64(i)*1000,
			Period: benchPeriods[s%len(benchPeriods)], Customer: c,
			Provider: "openai", Model: "gpt-5-mini", Input: 5000 + int64(i%3000), Output: 40 + int64(i%500),
			CacheRead: int64(i%4) * 1024, CostUSD: 0.0021 + float64(i%100)*1e-5, Priced: true, Failed: i%97 == 0,
		})
	}
}

func periodOf(string, int64) string { return "2026-11-15" }

func openBench(b *testing.B) *store.Store {
	b.Helper()
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkCommit inserts batches of new events, each batch in one
// transaction with its checkpoint and rollup updates, as the monitor does.
func BenchmarkCommit(b *testing.B) {
	for _, size := range []int{100, 1000, 2000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			st := openBench(b)
			ctx := context.Background()
			var batch store.Batch
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				benchEvents(&batch, i*size, size)
				batch.Checkpoints = append(batch.Checkpoints, store.Checkpoint{FileID: store.FileID{Dev: 1, Ino: uint64(i % 100)},
					Path: "/x/" + strconv.Itoa(i%100) + ".jsonl", Agent: "main", Offset: int64(i) * 1000})
				b.StartTimer()
				res, err := st.Commit(ctx, &batch, periodOf)
				if err != nil {
					b.Fatal(err)
				}
				if res.Inserted != size {
					b.Fatalf("inserted %d of %d", res.Inserted, size)
				}
			}
			b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkCommitDuplicates re-commits events that are already stored (a
// file read again after a rewrite): every insert is a no-op.
func BenchmarkCommitDuplicates(b *testing.B) {
	const size = 2000
	st := openBench(b)
	ctx := context.Background()
	var batch store.Batch
	benchEvents(&batch, 0, size)
	if _, err := st.Commit(ctx, &batch, periodOf); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		res, err := st.Commit(ctx, &batch, periodOf)
		if err != nil || res.Duplicates != size {
			b.Fatalf("duplicates %d, err %v", res.Duplicates, err)
		}
	}
	b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkUsage answers a month's usage over 1M and then 5M stored events
// (500 customers, three months). The database is filled once, through
// Commit, before each size is measured; that takes a while.
func BenchmarkUsage(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "usage.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ident := func(s store.Session) string { return s.Customer }
	if _, err := st.Reattribute(ctx, "bench", ident, periodOf); err != nil {
		b.Fatal(err)
	}
	var batch store.Batch
	filled := 0
	for _, n := range []int{1_000_000, 5_000_000} {
		for ; filled < n; filled += 10000 {
			benchEvents(&batch, filled, 10000)
			if _, err := st.Commit(ctx, &batch, periodOf); err != nil {
				b.Fatal(err)
			}
		}
		name := fmt.Sprintf("events=%dM", n/1_000_000)
		b.Run(name, func(b *testing.B) {
			for range b.N {
				rows, err := st.UsageByPeriod(ctx, "2026-11", "")
				if err != nil || len(rows) != benchCustomers {
					b.Fatalf("%d rows, err %v", len(rows), err)
				}
			}
		})
		// What `quotawatch usage` does per invocation: open the database,
		// check the mapping fingerprint, query, close.
		b.Run(name+"/cold-open", func(b *testing.B) {
			for range b.N {
				s, err := store.Open(ctx, path)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Reattribute(ctx, "bench", ident, periodOf); err != nil {
					b.Fatal(err)
				}
				rows, err := s.UsageByPeriod(ctx, "2026-11", "")
				if err != nil || len(rows) != benchCustomers {
					b.Fatalf("%d rows, err %v", len(rows), err)
				}
				s.Close()
			}
		})
	}
}
