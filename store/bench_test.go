package store_test

import (
	"context"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

const benchCustomers = 500

var benchPeriods = []string{"2026-09", "2026-10", "2026-11"}

// benchDays[p][d] is day d+1 of benchPeriods[p], made once so that
// building batches allocates nothing per event.
var benchDays = func() [][]string {
	out := make([][]string, len(benchPeriods))
	for i, p := range benchPeriods {
		for d := 1; d <= 28; d++ {
			out[i] = append(out[i], fmt.Sprintf("%s-%02d", p, d))
		}
	}
	return out
}()

// benchUUID is a 36-character id shaped like the session ids (and
// OpenClaw entry ids) real transcripts carry: keys that long are what the
// events table's key index holds, and its cost per row grows with them.
func benchUUID(n, salt int) string {
	h := uint64(n)*0x9E3779B97F4A7C15 ^ uint64(salt)*0xC2B2AE3D27D4EB4F
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", uint32(h>>32), uint16(h>>16), uint16(h)&0xfff,
		0x8000|uint16(h>>40)&0x3fff, (h*0xFF51AFD7ED558CCD)&0xffffffffffff)
}

// benchAgents are the agents of the bench's sessions (qwcorpus -agents 4).
var benchAgents = []string{"main", "support", "sales", "ops"}

// benchEvents fills b.Events with n distinct events numbered from first:
// 500 customers, three months, sessions of 40 calls (each on one day, as
// the monitor fills Day), keys shaped like the monitor's real ones:
// cb/<agent>/<36-char session uuid>/<entry id>, the entry id 8 hex digits
// (a Clawdbot session) or a 36-char uuid (an OpenClaw one), every other
// session.
func benchEvents(batch *store.Batch, first, n int) {
	batch.Reset()
	sess, agent, s := "", "", -1
	for i := first; i < first+n; i++ {
		// 40 calls per session, each session one customer in one month.
		if i/40 != s {
			s = i / 40
			sess, agent = benchUUID(s, 1), benchAgents[s%len(benchAgents)]
		}
		c := "p9665" + strconv.Itoa(10000000+(s*7919)%benchCustomers)
		day := benchDays[s%len(benchPeriods)][s%28]
		entry := benchUUID(i, 2)
		if s%2 == 0 {
			entry = strconv.FormatInt(0x10000000+int64(i)*2654435761%(1<<28), 16)
		}
		batch.Events = append(batch.Events, store.Event{
			Key:   "cb/" + agent + "/" + sess + "/" + entry,
			Agent: agent, SessionID: sess, TimeMs: 1793500000000 + int64(i)*1000,
			Day: day, Period: day[:7], Customer: c,
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
			var mm mallocMeter
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				benchEvents(&batch, i*size, size)
				batch.Checkpoints = append(batch.Checkpoints, store.Checkpoint{FileID: store.FileID{Dev: 1, Ino: uint64(i % 100)},
					Path: "/x/" + strconv.Itoa(i%100) + ".jsonl", Agent: "main", Offset: int64(i) * 1000})
				mm.start()
				b.StartTimer()
				res, err := st.Commit(ctx, &batch, periodOf)
				b.StopTimer()
				mm.stop()
				if err != nil {
					b.Fatal(err)
				}
				if res.Inserted != size {
					b.Fatalf("inserted %d of %d", res.Inserted, size)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			mm.report(b, size*b.N)
		})
	}
}

// BenchmarkCommitMoves is BenchmarkCommit/batch=2000 with the moves a
// backfill's batches carry: each of the batch's 50 sessions learns its
// customer after its calls were read (its events are inserted under
// "pending" and moved in the same transaction), and 150 more sessions
// learn theirs before any call (a move with nothing to move).
func BenchmarkCommitMoves(b *testing.B) {
	const size = 2000
	st := openBench(b)
	ctx := context.Background()
	var batch store.Batch
	var mm mallocMeter
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		benchEvents(&batch, i*size, size)
		for j := range batch.Events {
			e := &batch.Events[j]
			if j == 0 || e.SessionID != batch.Events[j-1].SessionID {
				batch.Moves = append(batch.Moves, store.Move{Agent: e.Agent, SessionID: e.SessionID, Customer: e.Customer})
			}
			e.Customer = "pending"
		}
		for j := range 150 {
			batch.Moves = append(batch.Moves, store.Move{Agent: "main", SessionID: benchUUID(i*150+j, 3), Customer: "c"})
		}
		mm.start()
		b.StartTimer()
		res, err := st.Commit(ctx, &batch, periodOf)
		b.StopTimer()
		mm.stop()
		if err != nil {
			b.Fatal(err)
		}
		if res.Inserted != size || res.Billed["pending"].Requests != 0 {
			b.Fatalf("inserted %d of %d, pending %+v", res.Inserted, size, res.Billed["pending"])
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	mm.report(b, size*b.N)
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

// daily5M builds, once per run, a database of 5 M events through Commit:
// 20 customers, 3 models of 2 providers, 91 days (2026-09-01 to
// 2026-11-30, UTC), sessions of 40 calls, 10,000 events a batch.
func daily5M(b *testing.B) (*store.Store, string) {
	b.Helper()
	const n, batchSize = 5_000_000, 10_000
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "daily5m.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	span := int64(91 * 24 * 3600_000)
	days := map[int64]string{}
	customers := make([]string, 20)
	for i := range customers {
		customers[i] = "cust-" + strconv.Itoa(i)
	}
	models := [3][2]string{{"openai", "gpt-5-mini"}, {"openai", "gpt-5"}, {"anthropic", "claude-sonnet-4"}}
	var batch store.Batch
	began := time.Now()
	for first := 0; first < n; first += batchSize {
		batch.Reset()
		for i := first; i < first+batchSize; i++ {
			s := i / 40
			ts := start + int64(i)*span/n
			d := ts / (24 * 3600_000)
			day, ok := days[d]
			if !ok {
				day = time.UnixMilli(ts).UTC().Format("2006-01-02")
				days[d] = day
			}
			m := models[(i/7)%3]
			sess := strconv.Itoa(s)
			batch.Events = append(batch.Events, store.Event{
				Key: "cb/main/" + sess + "/" + strconv.Itoa(i), Agent: "main", SessionID: sess, TimeMs: ts,
				Day: day, Period: day[:7], Customer: customers[(s*7919)%len(customers)], Provider: m[0], Model: m[1],
				Input: 5000 + int64(i%3000), Output: 40 + int64(i%500), CacheRead: int64(i%4) * 1024,
				CostUSD: 0.0021 + float64(i%100)*1.3e-7, Priced: i%50 != 0, Failed: i%97 == 0,
			})
		}
		if _, err := st.Commit(ctx, &batch, periodOf); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("built %d events in %s", n, time.Since(began).Round(time.Second))
	return st, path
}

// BenchmarkUsageDaily5M answers, over 5 M stored events (20 customers, 3
// models, three months): one month of daily rows for all customers (what
// `usage --daily` and `usage --by model` read), the same for one customer,
// all three months, the month's totals (UsageByPeriod), and, for
// comparison, the month grouped by day straight from the events table (what
// a report without the daily rollup would have to do).
func BenchmarkUsageDaily5M(b *testing.B) {
	st, path := daily5M(b)
	ctx := context.Background()
	b.Run("UsageDaily/month/all", func(b *testing.B) {
		for range b.N {
			rows, err := st.UsageDaily(ctx, "2026-11-01", "2026-11-30", "")
			if err != nil || len(rows) != 20*30*3 {
				b.Fatalf("%d rows, err %v", len(rows), err)
			}
		}
	})
	b.Run("UsageDaily/month/one", func(b *testing.B) {
		for range b.N {
			rows, err := st.UsageDaily(ctx, "2026-11-01", "2026-11-30", "cust-3")
			if err != nil || len(rows) != 30*3 {
				b.Fatalf("%d rows, err %v", len(rows), err)
			}
		}
	})
	b.Run("UsageDaily/3months/all", func(b *testing.B) {
		for range b.N {
			rows, err := st.UsageDaily(ctx, "2026-09-01", "2026-11-30", "")
			if err != nil || len(rows) != 20*91*3 {
				b.Fatalf("%d rows, err %v", len(rows), err)
			}
		}
	})
	b.Run("UsageByPeriod/month/all", func(b *testing.B) {
		for range b.N {
			rows, err := st.UsageByPeriod(ctx, "2026-11", "")
			if err != nil || len(rows) != 20 {
				b.Fatalf("%d rows, err %v", len(rows), err)
			}
		}
	})
	// What `usage --daily` costs per invocation: a read-only open, the
	// query, close.
	b.Run("UsageDaily/month/all/cold-open", func(b *testing.B) {
		for range b.N {
			s, err := store.OpenReadOnly(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			rows, err := s.UsageDaily(ctx, "2026-11-01", "2026-11-30", "")
			if err != nil || len(rows) != 20*30*3 {
				b.Fatalf("%d rows, err %v", len(rows), err)
			}
			s.Close()
		}
	})
	b.Run("events-scan/month/all", func(b *testing.B) {
		for range b.N {
			rows, err := st.DB().QueryContext(ctx, `SELECT customer, mday, provider, model, SUM(failed = 0), SUM(failed),
				SUM(input), SUM(output), SUM(cache_read), SUM(cache_write), SUM(cost_nanos), SUM(cost_nanos IS NULL)
				FROM events WHERE period = '2026-11' GROUP BY customer, mday, provider, model`)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if n != 20*30*3 {
				b.Fatalf("%d rows", n)
			}
		}
	})
}

// floorInsert is the store's event INSERT (store.insertEvent), written out
// here so the floor measures exactly our row shape and indexes.
const floorInsert = `INSERT INTO events (key, agent, session_id, ts, period, mday, customer, provider, model,
 input, output, cache_read, cache_write, cost_nanos, failed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
 ON CONFLICT(key) DO NOTHING`

// BenchmarkInsertFloor is SQLite's own limit for our row shape on this
// machine: a bare loop of the event INSERT, 2,000 rows per transaction,
// nothing else (no rollups, checkpoints, sessions, duplicate checks),
// against which BenchmarkCommit's events/s is read. sql/1row goes through
// database/sql; driver/1row and driver/64rows bind straight to the driver
// (as Commit does), one row or 64 rows per statement.
func BenchmarkInsertFloor(b *testing.B) {
	for _, c := range []struct {
		name   string
		rows   int
		driver bool
	}{{"sql/1row", 1, false}, {"driver/1row", 1, true}, {"driver/64rows", 64, true}} {
		b.Run(c.name, func(b *testing.B) { insertFloor(b, c.rows, c.driver) })
	}
}

func insertFloor(b *testing.B, rows int, direct bool) {
	const size = 2000 // a multiple of 64 would leave no tail; 2000 = 31×64 + 16 single rows
	st := openBench(b)
	ctx := context.Background()
	db := st.DB()
	var batch store.Batch
	var mm mallocMeter
	q := floorInsert
	if rows > 1 {
		vals := strings.Repeat(",(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows-1)
		q = strings.Replace(floorInsert, "?,?,?,?,?,?)\n", "?,?,?,?,?,?)"+vals+"\n", 1)
	}
	args := make([]driver.NamedValue, 15*rows)
	for i := range args {
		args[i].Ordinal = i + 1
	}
	bind := func(v []driver.NamedValue, e *store.Event) {
		v[0].Value, v[1].Value, v[2].Value, v[3].Value, v[4].Value = e.Key, e.Agent, e.SessionID, e.TimeMs, e.Period
		v[5].Value, v[6].Value, v[7].Value, v[8].Value = int64(15), e.Customer, e.Provider, e.Model
		v[9].Value, v[10].Value, v[11].Value, v[12].Value = e.Input, e.Output, e.CacheRead, e.CacheWrite
		v[13].Value, v[14].Value = int64(e.CostUSD*1e9), int64(0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		benchEvents(&batch, i*size, size)
		mm.start()
		b.StartTimer()
		conn, err := db.Conn(ctx)
		if err != nil {
			b.Fatal(err)
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if !direct {
			ps, err := tx.PrepareContext(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			for j := range batch.Events {
				e := &batch.Events[j]
				if _, err := ps.ExecContext(ctx, e.Key, e.Agent, e.SessionID, e.TimeMs, e.Period, 15, e.Customer, e.Provider, e.Model,
					e.Input, e.Output, e.CacheRead, e.CacheWrite, int64(e.CostUSD*1e9), e.Failed); err != nil {
					b.Fatal(err)
				}
			}
			ps.Close()
		} else {
			err = conn.Raw(func(dc any) error {
				pc := dc.(driver.ConnPrepareContext)
				multi, err := pc.PrepareContext(ctx, q)
				if err != nil {
					return err
				}
				defer multi.Close()
				one, err := pc.PrepareContext(ctx, floorInsert)
				if err != nil {
					return err
				}
				defer one.Close()
				ev := batch.Events
				for len(ev) > 0 {
					n, st := rows, multi.(driver.StmtExecContext)
					if len(ev) < rows {
						n, st = 1, one.(driver.StmtExecContext)
					}
					for k := 0; k < n; k++ {
						bind(args[15*k:15*k+15], &ev[k])
					}
					if _, err := st.ExecContext(ctx, args[:15*n]); err != nil {
						return err
					}
					ev = ev[n:]
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		conn.Close()
		b.StopTimer()
		mm.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	mm.report(b, size*b.N)
}

// mallocMeter counts the heap allocations and the CPU time (user+sys, of
// every thread: SQLite's and the GC's too) of the timed parts of a
// benchmark only (building the batches is left out), for allocs/event and
// cpu-ns/event. The machine is shared: CPU time is the measure that other
// processes' load disturbs least, wall time (ns/op, events/s) the most.
type mallocMeter struct {
	n, at     uint64
	cpu, cpu0 time.Duration
	ms        runtime.MemStats
}

func (m *mallocMeter) start() {
	runtime.ReadMemStats(&m.ms)
	m.at = m.ms.Mallocs
	m.cpu0 = cpuTime()
}

func (m *mallocMeter) stop() {
	m.cpu += cpuTime() - m.cpu0
	runtime.ReadMemStats(&m.ms)
	m.n += m.ms.Mallocs - m.at
}

func (m *mallocMeter) report(b *testing.B, events int) {
	b.ReportMetric(float64(m.n)/float64(events), "allocs/event")
	b.ReportMetric(float64(m.cpu.Nanoseconds())/float64(events), "cpu-ns/event")
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
