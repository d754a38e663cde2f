package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestBatchStatementsArePreparedOncePerConnectionAndTotalsStayExact commits
// batches whose rollup rows need every chunk size of the multi-row upserts
// (new rows, then the same rows again, then rows a move empties), with the
// writer's connection replaced between two of them. The statements of one
// connection must be reused batch after batch, a new connection must get
// its own, and every total must equal the sums of the distinct events.
func TestBatchStatementsArePreparedOncePerConnectionAndTotalsStayExact(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dayOf := func(string, int64) string { return "2026-11-01" }
	type key struct{ customer, day string }
	want := map[string]*Usage{}
	wantDay := map[key]int64{}
	seen := map[string]bool{}
	sessionOf := map[string]string{} // session -> customer
	var events []Event
	// 150 customers, three days and two models each: 900 day rows and 150
	// month rows a batch, more than 64+8+1 of each.
	batch := func(round int) *Batch {
		b := &Batch{}
		for c := range 150 {
			for d := range 3 {
				for m := range 2 {
					sid := fmt.Sprintf("s%03d", c)
					cust := fmt.Sprintf("c%03d", c)
					e := Event{Key: fmt.Sprintf("k%d-%d-%d-%d", c, d, m, round%2), Agent: "main", SessionID: sid,
						TimeMs: int64(1000 * c), Day: fmt.Sprintf("2026-11-%02d", d+1), Customer: cust,
						Provider: "p", Model: fmt.Sprintf("m%d", m), Input: int64(c + d + m + 1), Output: 2,
						CostUSD: float64(c) / 1000, Priced: c%7 != 0, Failed: c%11 == 0}
					b.Events = append(b.Events, e)
				}
			}
		}
		return b
	}
	record := func(b *Batch) {
		for _, e := range b.Events {
			if !seen[e.Key] {
				seen[e.Key] = true
				events = append(events, e)
			}
			if sessionOf[e.SessionID] == "" {
				sessionOf[e.SessionID] = e.Customer
			}
		}
	}
	commit := func(b *Batch) {
		t.Helper()
		if _, err := s.Commit(ctx, b, dayOf); err != nil {
			t.Fatal(err)
		}
	}
	insert64 := func() driver.StmtExecContext {
		s.stmts.mu.Lock()
		defer s.stmts.mu.Unlock()
		return s.stmts.raw[insertEventRows[insertRows]]
	}

	b1 := batch(0)
	commit(b1)
	record(b1)
	first := insert64()
	if first == nil {
		t.Fatal("no event insert of 64 rows is kept prepared after a batch")
	}
	b2 := batch(1) // new keys, the same rollup rows: the upserts' update path
	b2.Events = append(b2.Events, b1.Events[:100]...)
	commit(b2)
	record(b2)
	if insert64() != first {
		t.Fatal("the second batch prepared its event insert again on the same connection")
	}

	// The pool drops the writer's connection (as after a driver error,
	// without the store closing its statements first); the next batch must
	// run on a new one with statements of its own.
	conn, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()

	// Moves: every tenth customer's session goes to customer "z", which
	// empties that customer's rows (the prune path).
	b3 := &Batch{}
	for c := 0; c < 150; c += 10 {
		sid := fmt.Sprintf("s%03d", c)
		b3.Moves = append(b3.Moves, Move{Agent: "main", SessionID: sid, Customer: "z"})
		sessionOf[sid] = "z"
	}
	commit(b3)
	if p := insert64(); p == first {
		t.Fatal("statements of a dropped connection were kept")
	}
	b4 := batch(0) // all duplicates, on the new connection
	if res, err := s.Commit(ctx, b4, dayOf); err != nil || res.Inserted != 0 {
		t.Fatalf("re-sent batch: inserted %d, err %v; want 0, nil", res.Inserted, err)
	}

	for _, e := range events {
		c := sessionOf[e.SessionID]
		u := want[c]
		if u == nil {
			u = &Usage{Customer: c, Period: "2026-11"}
			want[c] = u
		}
		day := e.Day
		if c != e.Customer {
			day = dayOf(c, e.TimeMs) // a move gives its events their new customer's day
		}
		wantDay[key{c, day}] += boolInt(!e.Failed)
		if e.Failed {
			u.FailedRequests++
		} else {
			u.Requests++
		}
		u.Input += e.Input
		u.Output += e.Output
		if e.Priced {
			u.CostNanos += Nanos(e.CostUSD)
		} else {
			u.Unpriced++
		}
	}
	got, err := s.UsageByPeriod(ctx, "2026-11", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d customers with totals, want %d", len(got), len(want))
	}
	for _, u := range got {
		w := want[u.Customer]
		if w == nil {
			t.Fatalf("totals for %s, who has no events", u.Customer)
		}
		if u.Requests != w.Requests || u.FailedRequests != w.FailedRequests || u.Input != w.Input || u.Output != w.Output ||
			u.CostNanos != w.CostNanos || u.Unpriced != w.Unpriced {
			t.Fatalf("%s: got %+v, want %+v", u.Customer, u, *w)
		}
	}
	days, err := s.UsageDailyTotals(ctx, "2026-11-01", "2026-11-30", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != len(wantDay) {
		t.Fatalf("%d customer days, want %d", len(days), len(wantDay))
	}
	for _, d := range days {
		if d.Requests != wantDay[key{d.Customer, d.Day}] {
			t.Fatalf("%s %s: %d requests, want %d", d.Customer, d.Day, d.Requests, wantDay[key{d.Customer, d.Day}])
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// TestABigBatchsNamesAreNotHeldAfterTheNextBatch: the scratch database
// that numbers a batch's names lives in memory for as long as the writer
// connection, so the pages a catch-up batch of thousands of sessions
// needed must be given back when the next, small, batch empties it, not
// held at their high-water mark while run sits idle.
func TestABigBatchsNamesAreNotHeldAfterTheNextBatch(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	dayOf := func(string, int64) string { return "2026-11-01" }
	pages := func() int {
		t.Helper()
		var n int
		if err := s.w.QueryRowContext(ctx, "PRAGMA "+scratchDB+".page_count").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	big := &Batch{}
	for i := range 2000 {
		sid := fmt.Sprintf("session-%04d-with-a-long-identifier-like-a-uuid", i)
		big.Events = append(big.Events, Event{Key: "k" + sid, Agent: "main", SessionID: sid, TimeMs: 1,
			Day: "2026-11-01", Customer: fmt.Sprintf("customer-%04d", i), Provider: "anthropic", Model: "claude-sonnet-4", Input: 1})
	}
	if _, err := s.Commit(ctx, big, dayOf); err != nil {
		t.Fatal(err)
	}
	held := pages()
	if held < 20 {
		t.Fatalf("the big batch's names took %d pages: the test needs one that takes many", held)
	}
	small := &Batch{Events: []Event{{Key: "small", Agent: "main", SessionID: "s", TimeMs: 2, Day: "2026-11-01", Customer: "c", Input: 1}}}
	if _, err := s.Commit(ctx, small, dayOf); err != nil {
		t.Fatal(err)
	}
	if n := pages(); n > 3 {
		t.Fatalf("after a one-event batch the scratch database still has %d pages (the big batch had %d)", n, held)
	}
}

// TestAnEventWithoutItsNamesIsRefusedNotSkipped: an event row names its
// batch's set of names by number. Should a number ever have no names
// (a bug in the numbering), the insert must fail loudly, not insert
// nothing, which Commit would count as a duplicate and lose the event.
func TestAnEventWithoutItsNamesIsRefusedNotSkipped(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	// A first batch attaches the scratch database and creates its table.
	b := &Batch{Events: []Event{{Key: "k1", Agent: "main", SessionID: "s", TimeMs: 1, Day: "2026-11-01", Customer: "c", Input: 1}}}
	if _, err := s.Commit(ctx, b, func(string, int64) string { return "2026-11-01" }); err != nil {
		t.Fatal(err)
	}
	args := []any{"k2", int64(2), int64(1), int64(1), int64(0), int64(0), int64(0), nil, int64(0), int64(999)}
	if len(args) != eventCols {
		t.Fatalf("the test binds %d values, the insert takes %d", len(args), eventCols)
	}
	_, err := s.w.ExecContext(ctx, insertEvent, args...)
	if err == nil || !strings.Contains(err.Error(), "NOT NULL") {
		t.Fatalf("inserting an event whose names number has no names: err %v, want a NOT NULL constraint failure", err)
	}
	var n int
	if err := s.w.QueryRowContext(ctx, "SELECT COUNT(*) FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d events stored, want the first batch's 1", n)
	}
}
