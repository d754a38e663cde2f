package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// benchCustomers and benchEvents size the benchmark database:
// QUOTAWATCH_BENCH_EVENTS=5000000 for the docs/BENCHMARKS.md run (building
// it takes a minute or two); the default keeps `make bench` short.
const benchCustomers = 1000

func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("QUOTAWATCH_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 200_000
}

// benchStore builds (once per size, kept in the temp dir) a database of
// benchCustomers customers and n events spread over November 2026.
func benchStore(b *testing.B, n int) (*store.Store, *report.Book) {
	b.Helper()
	var cs []report.Customer
	for i := range benchCustomers {
		cs = append(cs, report.Customer{ID: fmt.Sprintf("c%04d", i), Name: fmt.Sprintf("عميل %d", i), Tier: "standard",
			Limits: &report.Tier{Requests: int64(n / benchCustomers * 5 / 4)}})
	}
	book := report.NewBook(cs, riyadh)
	// The schema is in the name: a binary of another schema cannot open it.
	path := filepath.Join(os.TempDir(), fmt.Sprintf("quotawatch-webbench-%d-%d-v%d.db", benchCustomers, n, store.SchemaVersion()))
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".building"
		os.Remove(tmp)
		st, err := store.Open(context.Background(), tmp)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Date(2026, 11, 1, 0, 0, 0, 0, riyadh).UnixMilli()
		span := int64(28 * 24 * time.Hour / time.Millisecond)
		dayOf := func(_ string, ms int64) string { return report.DayOf(time.UnixMilli(ms), riyadh) }
		batch := &store.Batch{}
		models := []string{"claude-sonnet-4", "gpt-5", "gemini-3"}
		for i := 0; i < n; i++ {
			ts := start + int64(i)*span/int64(n)
			batch.Events = append(batch.Events, store.Event{Key: fmt.Sprintf("bench/%d", i), Agent: "main", SessionID: fmt.Sprintf("s%d", i%5000),
				TimeMs: ts, Period: "2026-11", Customer: cs[(i*7919)%benchCustomers].ID, Provider: "p", Model: models[i%3],
				Input: 1200, Output: 80, CacheRead: 4000, Priced: true, CostUSD: 0.0123, Failed: i%97 == 0})
			if len(batch.Events) == 10_000 || i == n-1 {
				if _, err := st.Commit(context.Background(), batch, dayOf); err != nil {
					b.Fatal(err)
				}
				batch = &store.Batch{}
			}
		}
		st.Close()
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	st, err := store.OpenReadOnly(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st, book
}

// benchGet requests path b.N times and reports the p50 and p99 latency.
// Warm, every request after the first is served from the caches (no
// commit comes between them); cold, the clock moves a minute before each
// request, so each one renders from the store, as after every commit.
func benchGet(b *testing.B, path string, cold bool) {
	st, book := benchStore(b, benchEvents())
	var minutes atomic.Int64
	clock := func() time.Time { return inNovember().Add(time.Duration(minutes.Load()) * time.Minute) }
	h, err := New(Options{Store: st, Book: book, Clock: clock, Version: "bench",
		Live: func() Live { return Live{CaughtUp: true} }})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	lat := make([]time.Duration, 0, b.N)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		if cold {
			minutes.Add(1)
		}
		t0 := time.Now()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := resp.Body.Read(make([]byte, 1))
		for n > 0 {
			n, _ = resp.Body.Read(make([]byte, 32<<10))
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", path, resp.StatusCode)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	// The machine is shared: the process's CPU time (server and client)
	// per request is the measure that other jobs disturb least.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}

func BenchmarkIndex(b *testing.B)        { benchGet(b, "/?month=2026-11", false) }
func BenchmarkIndexCold(b *testing.B)    { benchGet(b, "/?month=2026-11", true) }
func BenchmarkMetrics(b *testing.B)      { benchGet(b, "/metrics", false) }
func BenchmarkMetricsCold(b *testing.B)  { benchGet(b, "/metrics", true) }
func BenchmarkCustomer(b *testing.B)     { benchGet(b, "/customer/c0042?month=2026-11", false) }
func BenchmarkAPIUsage(b *testing.B)     { benchGet(b, "/api/usage?month=2026-11", false) }
func BenchmarkAPIUsageCold(b *testing.B) { benchGet(b, "/api/usage?month=2026-11", true) }

// cpuTime is the process's user+sys time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
