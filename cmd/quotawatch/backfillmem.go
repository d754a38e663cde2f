package main

import "github.com/quotawatch/quotawatch/internal/gctarget"

// backfillGCPercent is the garbage collector's target during a backfill:
// the heap may grow 75 % over what is live instead of 100 %. A backfill's
// live heap is a few MiB of batches and file state, but at GOGC 100 its
// headroom is the largest part of the peak RSS after the binary; 75
// measured 1–2 MiB lower at the same CPU within the noise. 50 saved about
// 1 MiB more for twice the collections 100 makes; not taken.
const backfillGCPercent = 75

// lowerGCTarget sets backfillGCPercent unless the user chose a GOGC, and
// returns what restores the previous setting.
func lowerGCTarget(getenv func(string) string) (restore func()) {
	restore, _ = gctarget.Set(backfillGCPercent, getenv)
	return restore
}
