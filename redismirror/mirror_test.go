package redismirror

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// redisServer starts a real redis-server on a free loopback port (skipping
// where the Debian package is absent) and returns its address.
func redisServer(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (Debian package redis-server; .ci/run installs it): these tests need the real one")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not listen: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestEachCustomersRunningMonthIsMirroredInItsOwnTimezone: at 21:30 UTC
// on a month's last day Riyadh is already in the next month while New York
// is still in this one. The mirror writes each customer's own running month, with its
// usage from SQLite, expiring at that month's end in that timezone, and
// writes no key for a month that has ended in the customer's timezone
// (it would expire at once, or live on with stale counts).
func TestEachCustomersRunningMonthIsMirroredInItsOwnTimezone(t *testing.T) {
	addr := redisServer(t)
	riyadh, newYork := mustZone(t, "Asia/Riyadh"), mustZone(t, "America/New_York")
	// Redis expires keys by its own clock, so the month is the next one
	// after today's: every expiry below is still in the future for it.
	real := time.Now().UTC()
	now := time.Date(real.Year(), real.Month()+2, 1, 0, 0, 0, 0, time.UTC).Add(-150 * time.Minute)
	thisMonth, nextMonth := now.Format("2006-01"), now.AddDate(0, 0, 1).Format("2006-01")
	endNY := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, newYork)
	endRiyadh := time.Date(now.Year(), now.Month()+2, 1, 0, 0, 0, 0, riyadh)
	book := report.NewBook([]report.Customer{
		{ID: "riy", Limits: &report.Tier{Requests: 100}},
		{ID: "ny", Limits: &report.Tier{Requests: 100}, Location: newYork},
	}, riyadh)

	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dayOf := func(customer string, ms int64) string {
		return report.DayOf(time.UnixMilli(ms), book.LocationOf(customer))
	}
	var b store.Batch
	event := func(key, customer string, at time.Time, input int64) {
		loc := book.LocationOf(customer)
		b.Events = append(b.Events, store.Event{Key: key, Agent: "main", SessionID: customer, TimeMs: at.UnixMilli(),
			Day: report.DayOf(at, loc), Period: report.PeriodOf(at, loc), Customer: customer,
			Provider: "p", Model: "m", Input: input, Output: 1, Priced: true, CostUSD: 0.25})
	}
	event("cb/main/riy/1", "riy", now.Add(-48*time.Hour), 10)   // November in Riyadh
	event("cb/main/riy/2", "riy", now.Add(-10*time.Minute), 20) // December 1st, 00:20 in Riyadh
	event("cb/main/riy/3", "riy", now.Add(-5*time.Minute), 30)
	event("cb/main/ny/1", "ny", now.Add(-time.Hour), 40) // November 30th in New York
	if _, err := st.Commit(ctx, &b, dayOf); err != nil {
		t.Fatal(err)
	}

	m := New(Config{Addr: addr, Resync: time.Hour}, st, book, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return now })
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	want := []struct {
		key, value string
		expires    time.Time
	}{
		{"usage:riy:" + nextMonth, "2", endRiyadh},
		{"usage:riy:" + nextMonth + ":tokens", strconv.Itoa(20 + 1 + 30 + 1), endRiyadh},
		{"usage:riy:" + nextMonth + ":cost", "0.50", endRiyadh},
		{"usage:ny:" + thisMonth, "1", endNY},
		{"usage:ny:" + thisMonth + ":tokens", "41", endNY},
		{"usage:ny:" + thisMonth + ":cost", "0.25", endNY},
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, w := range want {
		got, err := rdb.Get(ctx, w.key).Result()
		for err == redis.Nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			got, err = rdb.Get(ctx, w.key).Result()
		}
		if err != nil || got != w.value {
			t.Fatalf("%s = %q (%v), want %q", w.key, got, err, w.value)
		}
		at, err := rdb.ExpireTime(ctx, w.key).Result()
		if err != nil || at != time.Duration(w.expires.Unix())*time.Second {
			t.Errorf("%s expires at %v (%v), want %v (%d)", w.key, at/time.Second, err, w.expires, w.expires.Unix())
		}
	}
	for _, ended := range []string{"usage:riy:" + thisMonth, "usage:ny:" + nextMonth} {
		if n, err := rdb.Exists(ctx, ended).Result(); err != nil || n != 0 {
			t.Errorf("%s exists (%d, %v): a month that is not running in the customer's timezone must have no key", ended, n, err)
		}
	}

	// A batch committed while following is written without waiting for
	// the resync.
	b.Reset()
	event("cb/main/ny/2", "ny", now.Add(-time.Minute), 50)
	res, err := st.Commit(ctx, &b, dayOf)
	if err != nil {
		t.Fatal(err)
	}
	m.Committed(res)
	for {
		got, err := rdb.Get(ctx, "usage:ny:"+thisMonth).Result()
		if err == nil && got == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage:ny:%s = %q (%v) after a committed batch, want 2", thisMonth, got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCommittedNeverBlocksWhileRedisIsDown: the ingest writer calls
// Committed after every batch; with Redis unreachable it must return at
// once, however many batches pile up.
func TestCommittedNeverBlocksWhileRedisIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	book := report.NewBook([]report.Customer{{ID: "c"}}, time.UTC)
	m := New(Config{Addr: addr}, st, book, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	start := time.Now()
	for i := range 10_000 {
		m.Committed(store.CommitResult{Touched: []store.CustomerPeriod{{Customer: "c" + strconv.Itoa(i%50), Period: "2026-11"}}})
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("10,000 Committed calls took %v with Redis down: the writer would be held up", d)
	}
	m.mu.Lock()
	pending := len(m.pending)
	m.mu.Unlock()
	if pending > 50 {
		t.Errorf("%d pairs pending for 50 customers: pending must be a set, not a queue that grows per batch", pending)
	}
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended while Redis was down")
	}
}
