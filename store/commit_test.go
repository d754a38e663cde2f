package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/quotawatch/quotawatch/store"
)

// TestCommitManyRowsWithDuplicates covers the multi-row insert: chunks of
// every size, keys repeated inside one chunk, across chunks and from an
// earlier batch, a move of events inserted by the same batch. The totals
// must equal those of the distinct events, whatever was re-sent.
func TestCommitManyRowsWithDuplicates(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ev := func(i int) store.Event {
		c := []string{"a", "b", "c"}[i%3]
		return store.Event{Key: "k" + strconv.Itoa(i), Agent: "main", SessionID: "s" + c, TimeMs: int64(i), Period: "2026-11",
			Customer: c, Input: int64(i), Output: 1, CacheRead: int64(i % 5), CacheWrite: int64(i % 7),
			CostUSD: float64(i) / 1000, Priced: i%11 != 0, Failed: i%13 == 0}
	}
	want := map[string]store.Usage{}
	seen := map[string]bool{}
	expect := func(e store.Event) {
		if seen[e.Key] {
			return
		}
		seen[e.Key] = true
		u := want[e.Customer]
		u.Customer, u.Period = e.Customer, e.Period
		if e.Failed {
			u.FailedRequests++
		} else {
			u.Requests++
		}
		u.Input += e.Input
		u.Output += e.Output
		u.CacheRead += e.CacheRead
		u.CacheWrite += e.CacheWrite
		if e.Priced {
			u.CostNanos += store.Nanos(e.CostUSD)
			u.CostUSD = store.USD(u.CostNanos)
		} else {
			u.Unpriced++
		}
		want[e.Customer] = u
	}
	commit := func(b *store.Batch, inserted, dups int) {
		t.Helper()
		res, err := st.Commit(ctx, b, func(string, int64) string { return "2026-11-15" })
		if err != nil {
			t.Fatal(err)
		}
		if res.Inserted != inserted || res.Duplicates != dups {
			t.Fatalf("inserted %d, duplicates %d; want %d, %d", res.Inserted, res.Duplicates, inserted, dups)
		}
		for _, e := range b.Events {
			expect(e)
		}
	}
	// 150 events, 3 of them repeated: k10 twice in the first chunk, k20
	// again in the second chunk and k130 again in the last single rows.
	var b store.Batch
	for i := range 147 {
		b.Events = append(b.Events, ev(i))
		switch i {
		case 12:
			b.Events = append(b.Events, ev(10))
		case 70:
			b.Events = append(b.Events, ev(20))
		case 140:
			b.Events = append(b.Events, ev(130))
		}
	}
	commit(&b, 147, 3)
	// Half already stored, interleaved with new ones.
	b.Reset()
	for i := 100; i < 300; i++ {
		b.Events = append(b.Events, ev(i))
	}
	commit(&b, 153, 47)
	// Nothing new at all.
	commit(&b, 0, 200)
	// New events of session "sa" plus a move of that session to "b", in
	// one batch: the move must take this batch's events along.
	b.Reset()
	for i := 300; i < 309; i += 3 {
		b.Events = append(b.Events, ev(i))
	}
	b.Moves = []store.Move{{Agent: "main", SessionID: "sa", Customer: "b"}}
	commit(&b, 3, 0)
	a := want["a"]
	bb := want["b"]
	bb.Requests += a.Requests
	bb.FailedRequests += a.FailedRequests
	bb.Input += a.Input
	bb.Output += a.Output
	bb.CacheRead += a.CacheRead
	bb.CacheWrite += a.CacheWrite
	bb.CostNanos += a.CostNanos
	bb.CostUSD = store.USD(bb.CostNanos)
	bb.Unpriced += a.Unpriced
	want["b"] = bb
	delete(want, "a")

	got, err := st.UsageByPeriod(ctx, "2026-11", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d customers %+v, want %d %+v", len(got), got, len(want), want)
	}
	for _, g := range got {
		if w := want[g.Customer]; g != w {
			t.Errorf("customer %s: got %+v, want %+v", g.Customer, g, w)
		}
	}
	if n, err := st.EventCount(ctx); err != nil || n != 303 {
		t.Errorf("%d events stored (%v), want 303", n, err)
	}
}

// TestCommitMovesThereAndBack: moves of one session to D and back to C in
// one batch, a move to the customer it already has, and a move of a
// session without events; the totals follow the last move.
func TestCommitMovesThereAndBack(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	per := func(string, int64) string { return "2026-11-15" }
	ev := func(k, sess, c string) store.Event {
		return store.Event{Key: k, Agent: "main", SessionID: sess, TimeMs: 1, Period: "2026-11", Customer: c, Input: 10, CostUSD: 1, Priced: true}
	}
	if _, err := st.Commit(ctx, &store.Batch{Events: []store.Event{ev("a1", "s1", "C"), ev("a2", "s1", "C"), ev("b1", "s2", "E")}}, per); err != nil {
		t.Fatal(err)
	}
	b := &store.Batch{
		Events: []store.Event{ev("a3", "s1", "C")},
		Moves: []store.Move{
			{Agent: "main", SessionID: "s1", Customer: "D"},
			{Agent: "main", SessionID: "s2", Customer: "E"}, // already E
			{Agent: "main", SessionID: "s3", Customer: "F"}, // no events
			{Agent: "main", SessionID: "s1", Customer: "C"},
		},
	}
	if _, err := st.Commit(ctx, b, per); err != nil {
		t.Fatal(err)
	}
	got, err := st.UsageByPeriod(ctx, "2026-11", "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"C": 3, "E": 1}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want requests %v", got, want)
	}
	for _, u := range got {
		if u.Requests != want[u.Customer] || u.Input != 10*want[u.Customer] {
			t.Errorf("customer %s: %+v, want %d requests", u.Customer, u, want[u.Customer])
		}
	}
	// And a plain move afterwards takes the whole session along.
	if _, err := st.Commit(ctx, &store.Batch{Moves: []store.Move{{Agent: "main", SessionID: "s1", Customer: "D"}}}, per); err != nil {
		t.Fatal(err)
	}
	got, _ = st.UsageByPeriod(ctx, "2026-11", "")
	if len(got) != 2 || got[0].Customer != "D" || got[0].Requests != 3 {
		t.Errorf("after the move: %+v", got)
	}
}

// TestEachEventIsStoredWithItsOwnNames holds the insert's numbering of the
// values events share (a batch binds each set of them once): every event
// keeps its own agent, session, period, customer, provider and model,
// including a change to a string of the same length, to an empty one, back
// to a set seen earlier in the batch, and in a second batch whose sets come
// in another order (each batch numbers its own).
func TestEachEventIsStoredWithItsOwnNames(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	type names struct{ agent, session, period, customer, provider, model string }
	pick := func(i int, vals ...string) string { return vals[(i/len(vals))%len(vals)] }
	want := map[string]names{}
	// 150 events a batch: runs of every length up to the 64-row statement,
	// so shared values cross the multi-row, 8-row and single-row statements.
	for batch := range 2 {
		var b store.Batch
		for j := range 150 {
			i := j + 150*batch
			if batch == 1 {
				i = 149 - j + 150*batch // the sets in another order
			}
			n := names{
				agent:    pick(i, "a1", "a2"),
				session:  pick(i/3, "s1", "s2", "s3"),
				period:   pick(i/5, "2026-11", "2026-12"),
				customer: pick(i/2, "c1", "c2", "c1", "c3"),
				provider: pick(i/7, "p1", "", "p2"),
				model:    pick(i, "m1", "m2", "m1", ""),
			}
			day := n.period + "-05"
			k := "k" + strconv.Itoa(i)
			want[k] = n
			b.Events = append(b.Events, store.Event{Key: k, Agent: n.agent, SessionID: n.session, TimeMs: int64(i), Day: day, Period: n.period,
				Customer: n.customer, Provider: n.provider, Model: n.model, Input: 1, CostUSD: 0.001, Priced: true})
		}
		if _, err := st.Commit(ctx, &b, func(string, int64) string { return "2026-11-05" }); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := st.DB().QueryContext(ctx, "SELECT key, agent, session_id, period, customer, provider, model FROM events")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var k string
		var n names
		if err := rows.Scan(&k, &n.agent, &n.session, &n.period, &n.customer, &n.provider, &n.model); err != nil {
			t.Fatal(err)
		}
		got++
		if n != want[k] {
			t.Errorf("event %s stored as %+v, want %+v", k, n, want[k])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got != len(want) {
		t.Errorf("stored %d events, want %d", got, len(want))
	}
}

// TestCommitPutsTemporaryStorageBackToFiles proves that a batch's in-memory
// statement journals do not outlive it: the writer's later migrations and
// rebuilds, whose sorts and temporary tables grow with the store, must
// still spill to files rather than hold it all in memory.
func TestCommitPutsTemporaryStorageBackToFiles(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := store.Batch{Events: []store.Event{{Key: "k1", Agent: "main", SessionID: "s", TimeMs: 1, Period: "2026-11", Customer: "c", Input: 1}}}
	if _, err := st.Commit(ctx, &b, func(string, int64) string { return "2026-11-15" }); err != nil {
		t.Fatal(err)
	}
	var mode int
	if err := st.DB().QueryRowContext(ctx, "PRAGMA temp_store").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 0 {
		t.Fatalf("after a batch the writer's temp_store is %d, want 0 (the default: files)", mode)
	}
}

// TestTheWriterCheckpointsItsWALEvery4000Pages: a backfill's writer
// copies pages from the WAL into the database every wal_autocheckpoint
// pages, and at SQLite's 1,000 it copied the same index and rollup pages
// again and again (and synced twice each time). At 4,000 the WAL is still
// bounded: after 80 batches of 1,000 events it is under 20 MiB.
func TestTheWriterCheckpointsItsWALEvery4000Pages(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var pages int
	if err := st.DB().QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != 4000 {
		t.Errorf("the writer checkpoints its WAL every %d pages, want 4000", pages)
	}
	day := func(string, int64) string { return "2026-11-15" }
	for b := range 80 {
		batch := store.Batch{}
		for i := range 1000 {
			batch.Events = append(batch.Events, store.Event{Key: fmt.Sprintf("cb/main/s%03d/e%06d-padding-to-a-real-key-length", b, i),
				Agent: "main", SessionID: fmt.Sprintf("s%03d", b), TimeMs: int64(b*1000 + i), Period: "2026-11",
				Customer: fmt.Sprintf("c%02d", i%50), Day: "2026-11-15", Provider: "p", Model: "m", Input: 1})
		}
		if _, err := st.Commit(ctx, &batch, day); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(st.Path() + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 20<<20 {
		t.Errorf("after 80,000 events the WAL is %d bytes: checkpoints do not keep it bounded", fi.Size())
	}
}
