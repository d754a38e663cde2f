package report

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// commitRequests stores n one-request events of customer at time at, the
// day taken in the book's timezone of the customer as `run` does.
func commitRequests(t *testing.T, st *store.Store, b *Book, customer string, n int, at time.Time, seq *int) {
	t.Helper()
	batch := &store.Batch{}
	for range n {
		*seq++
		batch.Events = append(batch.Events, store.Event{Key: fmt.Sprintf("k%d", *seq), Agent: "main", SessionID: "s", TimeMs: at.UnixMilli(),
			Customer: customer, Provider: "p", Model: fmt.Sprintf("m%d", *seq%2), Input: 10, Output: 1, Priced: true, CostUSD: 0.001})
	}
	if _, err := st.Commit(context.Background(), batch, func(c string, ms int64) string { return DayOf(time.UnixMilli(ms), b.LocationOf(c)) }); err != nil {
		t.Fatal(err)
	}
}

// The usage rows carry the forecast read from the daily rollup: steady 90
// a day is projected with its basis and pace, a customer who used 2500 on
// the 1st has no projection (it showed FORECAST 2637 %), and a spike in
// the last week gives the day the limit is reached.
func TestUsageRowsCarryTheForecastNotALinearGuess(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	std := Tier{Requests: 3000}
	b := NewBook([]Customer{
		{ID: "steady", Tier: "standard", Limits: &std},
		{ID: "spike", Tier: "standard", Limits: &std},
		{ID: "new", Tier: "standard", Limits: &std, Location: time.UTC},
		{ID: "free", Tier: "pro"},
	}, riyadh)
	seq := 0
	for d := 1; d <= 14; d++ {
		at := time.Date(2026, 11, d, 10, 0, 0, 0, riyadh)
		commitRequests(t, st, b, "steady", 90, at, &seq)
		commitRequests(t, st, b, "spike", map[bool]int{true: 50, false: 150}[d <= 7], at, &seq)
		commitRequests(t, st, b, "free", 500, at, &seq)
	}
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, riyadh)
	commitRequests(t, st, b, "steady", 45, now.Add(-time.Hour), &seq)
	commitRequests(t, st, b, "spike", 75, now.Add(-time.Hour), &seq)

	rows, err := Rows(ctx, st, b, "2026-11", "", now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		j, err := json.Marshal(struct {
			P  *float64 `json:"projected_percent"`
			D  *string  `json:"projected_limit_date"`
			Pa *float64 `json:"pace"`
			B  *string  `json:"pace_basis"`
		}{r.ProjectedPercent, r.ProjectedLimitDate, r.Pace, r.PaceBasis})
		if err != nil {
			t.Fatal(err)
		}
		got[r.Customer] = string(j)
	}
	want := map[string]string{
		"steady": `{"projected_percent":90,"projected_limit_date":null,"pace":90,"pace_basis":"last_7_days"}`,
		"spike":  `{"projected_percent":126.67,"projected_limit_date":"2026-11-25","pace":150,"pace_basis":"last_7_days"}`,
		"new":    `{"projected_percent":null,"projected_limit_date":null,"pace":null,"pace_basis":null}`,
		"free":   `{"projected_percent":null,"projected_limit_date":null,"pace":null,"pace_basis":null}`,
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %s\nwant     %s", id, got[id], w)
		}
	}

	// Day one of December in UTC (the "new" customer): 2500 requests by
	// 20:00 is no projection, not 2637 %.
	dec := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	commitRequests(t, st, b, "new", 2500, dec.Add(-time.Hour), &seq)
	rows, err = Rows(ctx, st, b, "2026-12", "new", dec)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Percent == nil || *rows[0].Percent != 83.33 || rows[0].ProjectedPercent != nil || rows[0].Pace != nil {
		t.Fatalf("day one: %+v, want 83.33 %% and no projection", rows)
	}
}
