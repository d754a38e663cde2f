package gctarget

import (
	"runtime/debug"
	"testing"
)

// TestSetLowersTheTargetForAPhaseUnlessGOGCIsSet: the phase's percent holds
// until restore puts the previous one back, and a GOGC the user set is left
// alone.
func TestSetLowersTheTargetForAPhaseUnlessGOGCIsSet(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	restore, set := Set(40, func(string) string { return "" })
	if got := debug.SetGCPercent(40); !set || got != 40 {
		t.Errorf("during the phase: GC percent %d (set %v), want 40", got, set)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after the phase: GC percent %d, want 100 (restored)", got)
	}
	restore, set = Set(40, func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	defer restore()
	if got := debug.SetGCPercent(100); set || got != 100 {
		t.Errorf("with GOGC=100 set: GC percent %d (set %v), want 100 (the user's)", got, set)
	}
}
