package store

import (
	"context"
	"maps"
	"testing"
)

// TestCommitBilledIsTheNetChangePerCustomerMovesIncluded: a batch reports
// what it billed to each customer, answered and failed calls apart, across
// periods; duplicates bill nothing; a move of a session takes its calls from
// one customer and gives them to the other, so a summary built from these
// results always equals the stored totals' change.
func TestCommitBilledIsTheNetChangePerCustomerMovesIncluded(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	b := &Batch{Events: []Event{
		{Key: "k1", Agent: "main", SessionID: "s", TimeMs: 1, Day: "2026-10-31", Customer: "unassigned", Input: 1},
		{Key: "k2", Agent: "main", SessionID: "s", TimeMs: 2, Day: "2026-11-01", Customer: "unassigned", Input: 1},
		{Key: "k3", Agent: "main", SessionID: "s", TimeMs: 3, Day: "2026-11-01", Customer: "unassigned", Failed: true},
		{Key: "k4", Agent: "ops", SessionID: "o", TimeMs: 4, Day: "2026-11-02", Customer: "salon", Input: 1},
	}}
	res, err := s.Commit(ctx, b, period)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]RequestDelta{"unassigned": {Requests: 2, Failed: 1}, "salon": {Requests: 1}}
	if !maps.Equal(res.Billed, want) {
		t.Errorf("first batch billed %v, want %v", res.Billed, want)
	}
	if res, err = s.Commit(ctx, b, period); err != nil || len(res.Billed) != 0 {
		t.Errorf("the same events again billed %v (%v), want nothing", res.Billed, err)
	}
	res, err = s.Commit(ctx, &Batch{Moves: []Move{{Agent: "main", SessionID: "s", Customer: "omar"}}}, period)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]RequestDelta{"unassigned": {Requests: -2, Failed: -1}, "omar": {Requests: 2, Failed: 1}}
	if !maps.Equal(res.Billed, want) {
		t.Errorf("the move billed %v, want %v", res.Billed, want)
	}
}
