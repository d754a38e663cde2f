package main

import "github.com/quotawatch/quotawatch/internal/gctarget"

// backfillGCPercent is the garbage collector's target during a backfill:
// the heap may grow 50 % over what is live instead of 100 %. A backfill's
// live heap is a few MiB of batches and file state, but at GOGC 100 its
// headroom is the largest part of the peak RSS after the binary. At 50 the
// batches of 2,000 events (monitor.DefaultBatchEvents) peak where 1,000
// did at 75, and the collections cost less than the larger transactions
// save (docs/BENCHMARKS.md, Round 8).
const backfillGCPercent = 50

// lowerGCTarget sets backfillGCPercent unless the user chose a GOGC, and
// returns what restores the previous setting.
func lowerGCTarget(getenv func(string) string) (restore func()) {
	restore, _ = gctarget.Set(backfillGCPercent, getenv)
	return restore
}
