// Package gctarget sets the garbage collector's target for one phase of
// the program (a backfill, the config parse, a quiet follow). Each phase's
// percent is a measured trade of peak RSS against CPU (docs/BENCHMARKS.md);
// a GOGC the user set wins over all of them.
package gctarget

import "runtime/debug"

// Set sets the GC percent unless getenv("GOGC") is set, and returns what
// puts the previous percent back; set says whether it changed anything.
func Set(percent int, getenv func(string) string) (restore func(), set bool) {
	if getenv("GOGC") != "" {
		return func() {}, false
	}
	old := debug.SetGCPercent(percent)
	return func() { debug.SetGCPercent(old) }, true
}
