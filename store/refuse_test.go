package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
)

// refuseEvent is one good call of session s of customer a in 2026-11.
func refuseEvent(i int) Event {
	return Event{Key: fmt.Sprintf("cb/main/s/e%03d", i), Agent: "main", SessionID: "s", TimeMs: int64(i), Period: "2026-11",
		Customer: "a", Provider: "p", Model: "m", Input: int64(i), Output: 1, CostUSD: 0.25, Priced: true}
}

// refuseBatch is n good events with the checkpoint, the session and a move
// that came with them: everything that must land even when events are
// refused.
func refuseBatch(n int) *Batch {
	b := &Batch{
		Checkpoints: []Checkpoint{{FileID: FileID{7, 9}, Path: "/x/s.jsonl", Agent: "main", SessionID: "s", Offset: 12345, Lines: int64(n)}},
		Sessions:    []Session{{Agent: "main", SessionID: "s", Origin: "envelope", Peer: "+966500000001", Customer: "a"}},
		Moves:       []Move{{Agent: "main", SessionID: "old", Customer: "a"}},
	}
	for i := range n {
		b.Events = append(b.Events, refuseEvent(i))
	}
	return b
}

// checkRest checks that the batch's good events, checkpoint, session and
// move all landed, with exact totals: the good events plus the moved
// session's one call (storeOldSession).
func checkRest(t *testing.T, s *Store, good []Event) {
	t.Helper()
	ctx := context.Background()
	want := Usage{Customer: "a", Period: "2026-11", Requests: 1, Input: 5, Output: 1, CostNanos: 250_000_000}
	for _, e := range good {
		want.Requests++
		want.Input += e.Input
		want.Output += e.Output
		if e.Priced {
			want.CostNanos += Nanos(e.CostUSD)
		} else {
			want.Unpriced++
		}
	}
	us, err := s.UsageByPeriod(ctx, "2026-11", "a")
	if err != nil || len(us) != 1 {
		t.Fatalf("usage %+v %v", us, err)
	}
	want.CostUSD = USD(want.CostNanos)
	if us[0] != want {
		t.Errorf("totals %+v, want %+v", us[0], want)
	}
	if n, err := s.EventCount(ctx); err != nil || n != int64(len(good))+1 {
		t.Errorf("%d events stored (%v), want %d", n, err, len(good)+1)
	}
	cps, err := s.Checkpoints(ctx)
	if err != nil || cps[FileID{7, 9}].Offset != 12345 {
		t.Errorf("checkpoint not committed: %+v %v", cps, err)
	}
	ss, err := s.Sessions(ctx)
	if err != nil || len(ss) != 1 || ss[0].Peer != "+966500000001" {
		t.Errorf("session not committed: %+v %v", ss, err)
	}
}

// storeOldSession stores one call of session "old" billed to customer b, so
// the batch's move of it to a has something to move.
func storeOldSession(t *testing.T, s *Store) {
	t.Helper()
	e := Event{Key: "cb/main/old/e", Agent: "main", SessionID: "old", Period: "2026-11", Customer: "b", Input: 5, Output: 1, CostUSD: 0.25, Priced: true}
	if _, err := s.Commit(context.Background(), &Batch{Events: []Event{e}}, period); err != nil {
		t.Fatal(err)
	}
}

func TestNumbersNoBillCanHoldAreRejectedAndTheRestCommitted(t *testing.T) {
	s, _ := openTemp(t)
	storeOldSession(t, s)
	b := refuseBatch(30)
	good := append([]Event(nil), b.Events...)
	bad := map[string]Event{}
	for i, mod := range []func(*Event){
		func(e *Event) { e.CostUSD = math.NaN() },
		func(e *Event) { e.CostUSD = math.Inf(1) },
		func(e *Event) { e.CostUSD = math.Inf(-1) },
		func(e *Event) { e.CostUSD = -0.5 },
		func(e *Event) { e.Input = math.MinInt64 },
		func(e *Event) { e.Output = -1 },
		func(e *Event) { e.CacheRead = -1 },
		func(e *Event) { e.CacheWrite = -1 },
		func(e *Event) { e.CostUSD = 1e308 }, // two of them make +Inf
		// Just above the bound: 1e21 nano-dollars would overflow int64.
		func(e *Event) { e.CostUSD = 1e6 * (1 + 1e-15) },
		func(e *Event) { e.CostUSD = 1e12 },
		func(e *Event) { e.Input = 1e16 },
	} {
		e := refuseEvent(100 + i)
		mod(&e)
		bad[e.Key] = e
		// Spread among the good ones, so chunk boundaries do not matter.
		at := 2 + 3*i
		b.Events = append(b.Events[:at], append([]Event{e}, b.Events[at:]...)...)
	}
	// An unpriced event's cost field is not used: a NaN there is harmless.
	unpriced := refuseEvent(200)
	unpriced.CostUSD, unpriced.Priced = math.NaN(), false
	b.Events = append(b.Events, unpriced)

	res, err := s.Commit(context.Background(), b, period)
	if err != nil {
		t.Fatalf("a batch with bad numbers failed as a whole: %v", err)
	}
	if res.Inserted != len(good)+1 || len(res.Rejected) != len(bad) {
		t.Fatalf("inserted %d, rejected %+v; want %d inserted, %d rejected", res.Inserted, res.Rejected, len(good)+1, len(bad))
	}
	for _, r := range res.Rejected {
		e, ok := bad[r.Key]
		if !ok {
			t.Errorf("rejected a good event %s: %s", r.Key, r.Reason)
			continue
		}
		if r.Reason == "" {
			t.Errorf("%s rejected without a reason", r.Key)
		}
		t.Logf("%s (cost %v, input %d): %s", r.Key, e.CostUSD, e.Input, r.Reason)
	}
	checkRest(t, s, append(good, unpriced))
}

// poison makes SQLite refuse, for a reason in the data, every event whose
// model is "poison": a stand-in for any refusal the screen does not know.
func poison(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.w.Exec(`CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.model = 'poison'
		BEGIN SELECT RAISE(ABORT, 'poisoned model'); END`); err != nil {
		t.Fatal(err)
	}
}

func TestEventsSQLiteRefusesAreRejectedAndTheRestCommitted(t *testing.T) {
	s, _ := openTemp(t)
	storeOldSession(t, s)
	poison(t, s)
	// 150 events: refused ones in a 64-row chunk, in an 8-row chunk and in
	// the single rows at the end.
	b := refuseBatch(150)
	var good []Event
	want := map[string]bool{}
	for i := range b.Events {
		if i == 3 || i == 70 || i == 71 || i == 149 {
			b.Events[i].Model = "poison"
			want[b.Events[i].Key] = true
			continue
		}
		good = append(good, b.Events[i])
	}
	res, err := s.Commit(context.Background(), b, period)
	if err != nil {
		t.Fatalf("a batch with refused events failed as a whole: %v", err)
	}
	if res.Inserted != len(good) || len(res.Rejected) != len(want) {
		t.Fatalf("inserted %d, rejected %+v; want %d, %d", res.Inserted, res.Rejected, len(good), len(want))
	}
	for _, r := range res.Rejected {
		if !want[r.Key] || !strings.Contains(r.Reason, "poisoned model") {
			t.Errorf("rejected %s: %q (want one of the poisoned events, with SQLite's reason)", r.Key, r.Reason)
		}
	}
	if len(res.Touched) != 2 {
		t.Errorf("touched %+v, want a and b (the move)", res.Touched)
	}
	checkRest(t, s, good)
}

// TestTotalsSQLiteRefusesRejectTheEventThatBreaksThem: an event that is
// fine alone but not together with the others (here: more than 100 tokens
// in one month's total, a stand-in for any limit a sum can cross) is
// rejected, not every event after it.
func TestTotalsSQLiteRefusesRejectTheEventThatBreaksThem(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := s.w.Exec(`CREATE TRIGGER cap BEFORE UPDATE ON rollup WHEN NEW.input > 100
		BEGIN SELECT RAISE(ABORT, 'total over the cap'); END`); err != nil {
		t.Fatal(err)
	}
	var b Batch
	for i := range 30 {
		e := refuseEvent(i)
		e.Input = 10
		b.Events = append(b.Events, e)
	}
	if _, err := s.Commit(context.Background(), &Batch{Events: b.Events[:1]}, period); err != nil {
		t.Fatal(err) // the first insert creates the row; the cap applies to updates
	}
	res, err := s.Commit(context.Background(), &Batch{Events: b.Events[1:]}, period)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 9 || len(res.Rejected) != 20 {
		t.Fatalf("inserted %d, rejected %d; want 9 (up to the cap of 100) and 20", res.Inserted, len(res.Rejected))
	}
	if us, _ := s.UsageByPeriod(context.Background(), "2026-11", "a"); len(us) != 1 || us[0].Input != 100 || us[0].Requests != 10 {
		t.Errorf("totals %+v", us)
	}
}

// TestBusyIsRetriedNotRejected: a locked database is no fault of the data;
// the batch must fail whole (the monitor retries it), no event rejected.
func TestBusyIsRetriedNotRejected(t *testing.T) {
	s, p := openTemp(t)
	u := url.URL{Scheme: "file", Path: p}
	other, err := sql.Open("sqlite", u.String()+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	holder, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Exec(`INSERT INTO meta(key, value) VALUES('holder', 'x')`); err != nil {
		t.Fatal(err)
	}
	// The store's own busy_timeout is 10 s; a connection without one shows
	// the same error at once.
	quick, err := sql.Open("sqlite", u.String()+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer quick.Close()
	_, busy := quick.Exec(`INSERT INTO meta(key, value) VALUES('quick', 'y')`)
	if busy == nil {
		t.Fatal("no busy error while another connection holds the write lock")
	}
	if refusedData(busy) {
		t.Errorf("busy (%v) taken for bad data: it would be bisected and its events dropped", busy)
	}
	holder.Rollback()
	_, constraint := s.w.Exec(`INSERT INTO rollup(customer, period, cost_nanos) VALUES('a', '2026-11', NULL)`)
	if !refusedData(constraint) {
		t.Errorf("a NOT NULL constraint (%v) not taken for bad data", constraint)
	}
	if refusedData(context.Canceled) || refusedData(errors.New("x")) {
		t.Error("an error that is not SQLite's taken for bad data")
	}
}
