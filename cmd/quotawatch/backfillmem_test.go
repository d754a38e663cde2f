package main

import (
	"runtime/debug"
	"testing"
)

// A backfill runs with a lower garbage collector target, gives the old one
// back when it ends, and leaves a GOGC the user set alone.
func TestBackfillLowersTheGCTargetUnlessGOGCIsSet(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	restore := lowerGCTarget(func(string) string { return "" })
	if got := debug.SetGCPercent(backfillGCPercent); got != backfillGCPercent {
		t.Errorf("during the backfill GC percent = %d, want %d", got, backfillGCPercent)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after the backfill GC percent = %d, want 100 back", got)
	}

	restore = lowerGCTarget(func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=100 set, GC percent = %d, want 100 (the user's)", got)
	}
	restore()
}
