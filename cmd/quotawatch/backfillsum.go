package main

import (
	"slices"
	"sync"

	"github.com/quotawatch/quotawatch/monitor"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// billedTally adds up, batch by batch, what a backfill billed to each
// customer. It is fed by the monitor's writer (OnCommit), once per batch,
// never per line.
type billedTally struct {
	mu sync.Mutex
	by map[string]store.RequestDelta
}

// add counts one committed batch.
func (t *billedTally) add(r store.CommitResult) {
	if len(r.Billed) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.by == nil {
		t.by = make(map[string]store.RequestDelta, len(r.Billed))
	}
	for c, d := range r.Billed {
		s := t.by[c]
		s.Requests += d.Requests
		s.Failed += d.Failed
		t.by[c] = s
	}
}

// customerCount is one customer's line of the backfill summary.
type customerCount struct {
	Customer string `json:"customer"`
	Requests int64  `json:"requests"`
	Failed   int64  `json:"failed_requests"`
}

// unassignedCount is what went to no customer, with the reason an operator
// looks for next.
type unassignedCount struct {
	Requests int64 `json:"requests"`
	Failed   int64 `json:"failed_requests"`
	// DefaultCustomer, when set, takes every call no rule matches, so
	// nothing can go to unassigned.
	DefaultCustomer string `json:"default_customer,omitempty"`
}

// backfillSummary is what backfill prints: the monitor's counts, then what
// this backfill billed to each customer and to unassigned.
type backfillSummary struct {
	monitor.Stats
	// Customers lists the customers whose requests this backfill changed,
	// in the order of the configuration (then any no longer configured, by
	// id); unassigned is apart.
	Customers  []customerCount `json:"customers"`
	Unassigned unassignedCount `json:"unassigned"`
}

// summary orders the tally for printing.
func (t *billedTally) summary(s monitor.Stats, c *Config) backfillSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := backfillSummary{Stats: s, Customers: []customerCount{}}
	out.Unassigned.DefaultCustomer = c.DefaultCustomer
	seen := map[string]bool{report.Unassigned: true}
	add := func(id string) {
		seen[id] = true
		if d := t.by[id]; d.Requests != 0 || d.Failed != 0 {
			out.Customers = append(out.Customers, customerCount{Customer: id, Requests: d.Requests, Failed: d.Failed})
		}
	}
	for _, cu := range c.Customers {
		add(cu.ID)
	}
	var rest []string
	for id := range t.by {
		if !seen[id] {
			rest = append(rest, id)
		}
	}
	slices.Sort(rest)
	for _, id := range rest {
		add(id)
	}
	u := t.by[report.Unassigned]
	out.Unassigned.Requests, out.Unassigned.Failed = u.Requests, u.Failed
	return out
}
