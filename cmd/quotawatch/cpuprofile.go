package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// cpuProfile starts a CPU profile into the file QW_CPUPROFILE names, for
// measuring the real binary (docs/BENCHMARKS.md); unset, it does nothing.
// It is deliberately undocumented for users: a developer's tool. The
// returned function stops the profile and writes it out.
func cpuProfile() func() {
	path := os.Getenv("QW_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "quotawatch: QW_CPUPROFILE: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "quotawatch: QW_CPUPROFILE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "quotawatch: QW_CPUPROFILE: %v\n", err)
		}
	}
}
