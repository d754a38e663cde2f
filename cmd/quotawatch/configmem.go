package main

import (
	"os"
	"runtime/debug"

	"github.com/quotawatch/quotawatch/internal/gctarget"
)

// configGCPercent is the garbage collector's target while the config is
// parsed. The parse's garbage (yaml.v3's node tree, viper's generic maps)
// is several times the Config it yields: 23 MiB live for a 580 KB file of
// 8,250 customers, which GOGC 100 lets grow to twice that before the first
// collection — the peak RSS of a `run` restart (issue 13). On that file
// (usage over an empty store) 50 measured a 44-46 MiB peak against 57 at
// 100 for +0.04 s CPU; 25 and 10 saved 2-4 MiB more for +0.1 and +0.25 s.
const configGCPercent = 50

// parseMemory lowers the GC target for the parse, unless the user chose a
// GOGC, and returns what restores it and hands the parse's garbage back to
// the OS: that memory would otherwise stay resident until the scavenger
// gets to it, long after `run` has gone idle.
func parseMemory() (release func()) {
	restore, set := gctarget.Set(configGCPercent, os.Getenv)
	if !set {
		return restore
	}
	return func() {
		restore()
		debug.FreeOSMemory()
	}
}
