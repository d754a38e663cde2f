package web

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// TestCustomerFamiliesAreWhatTheRegistryGathers proves that building the
// per-customer families directly changes no scrape: for the rows of a
// random store (customers configured out of order, unlimited, limited by
// each measure, unconfigured ids with usage, flagged or not, with and
// without a projection) and for books with no usage or no customers, the
// families equal a registry's Gather of the const metrics, message by
// message and in the text format.
func TestCustomerFamiliesAreWhatTheRegistryGathers(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(3, 5))
	var cs []report.Customer
	for _, i := range rng.Perm(40) {
		c := report.Customer{ID: fmt.Sprintf("c%02d", i), Name: fmt.Sprintf("n%d", i), Tier: []string{"free", "standard", "pro"}[i%3]}
		switch i % 4 {
		case 0:
			c.Limits = &report.Tier{Requests: 20 + rng.Int64N(200)}
		case 1:
			c.Limits = &report.Tier{Tokens: 10_000 + rng.Int64N(300_000)}
		case 2:
			c.Limits = &report.Tier{CostUSD: 0.1 + float64(rng.IntN(100))/100}
		}
		cs = append(cs, c)
	}
	book := report.NewBook(cs, riyadh)
	batch := &store.Batch{}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, riyadh).UnixMilli()
	for i := range 3000 {
		id := cs[rng.IntN(30)].ID // the last ten have no usage
		if rng.IntN(30) == 0 {
			id = []string{"removed", "unassigned", "zz-gone"}[rng.IntN(3)]
		}
		batch.Events = append(batch.Events, store.Event{Key: fmt.Sprintf("k%d", i), Agent: "main", SessionID: "s",
			TimeMs: start + rng.Int64N(27*86_400_000), Customer: id, Provider: "p", Model: "m",
			Input: rng.Int64N(3000), Output: rng.Int64N(500), CacheRead: rng.Int64N(9000), CacheWrite: rng.Int64N(100),
			Priced: rng.IntN(8) != 0, CostUSD: float64(rng.IntN(20_000)) / 1e6, Failed: rng.IntN(25) == 0})
	}
	if _, err := st.Commit(ctx, batch, func(c string, ms int64) string { return report.DayOf(time.UnixMilli(ms), riyadh) }); err != nil {
		t.Fatal(err)
	}
	rows, err := report.Rows(ctx, st, book, "2026-11", "", inNovember())
	if err != nil {
		t.Fatal(err)
	}
	flagged := slices.Clone(rows)
	for i := range flagged {
		flagged[i].Flagged = i%3 == 0
	}
	projected, unlimited := 0, 0
	for _, r := range rows {
		if r.ProjectedPercent != nil {
			projected++
		}
		if r.Percent == nil {
			unlimited++
		}
	}
	if projected == 0 || unlimited == 0 || len(rows) <= len(cs) {
		t.Fatalf("rows: %d projected, %d unlimited, %d of %d configured: the fixture must have each kind", projected, unlimited, len(rows), len(cs))
	}
	for _, tt := range []struct {
		name string
		book *report.Book
		rows []report.Row
	}{
		{"random store", book, rows},
		{"flagged", book, flagged},
		{"no usage", book, nil},
		{"no customers", report.NewBook(nil, riyadh), nil},
		{"only unconfigured usage", report.NewBook(nil, riyadh), rows[len(cs):]},
	} {
		got, err := customerFamiliesOf(tt.book, tt.rows)
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(customerCollector{book: tt.book, rows: tt.rows})
		want, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d families, want %d", tt.name, len(got), len(want))
			continue
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Errorf("%s: family %s (%d series) differs from the registry's %s (%d series)", tt.name,
					got[i].GetName(), len(got[i].Metric), want[i].GetName(), len(want[i].Metric))
			}
		}
		if g, w := text(t, got), text(t, want); g != w {
			t.Errorf("%s: text format differs:\n%.2000s\nwant\n%.2000s", tt.name, g, w)
		}
	}
	bad := slices.Clone(rows)
	bad[len(bad)-1].Customer = "bad\xff"
	if _, err := customerFamiliesOf(book, bad); err == nil {
		t.Error("a customer id that is not UTF-8 was accepted (the registry refuses it)")
	}
}

// text is families in the text exposition format.
func text(t *testing.T, mfs []*dto.MetricFamily) string {
	t.Helper()
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
