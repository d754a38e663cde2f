package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"time"
)

// cpuProfile starts a CPU profile into the file QW_CPUPROFILE names, for
// measuring the real binary (docs/BENCHMARKS.md); unset, it does nothing.
// It is deliberately undocumented for users: a developer's tool. The
// returned function stops the profile and writes it out. It also arms
// heapProfile.
func cpuProfile() func() {
	heapProfile()
	stopTrace := execTrace()
	path := os.Getenv("QW_CPUPROFILE")
	if path == "" {
		return stopTrace
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "quotawatch: QW_CPUPROFILE: %v\n", err)
		return stopTrace
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "quotawatch: QW_CPUPROFILE: %v\n", err)
		f.Close()
		return stopTrace
	}
	return func() {
		stopTrace()
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "quotawatch: QW_CPUPROFILE: %v\n", err)
		}
	}
}

// heapProfile writes a heap profile into the file QW_HEAPPROFILE names
// once QW_HEAPPROFILE_AFTER (a duration, default 10s) has passed: the
// live heap of an idle `run` is what issue 13 measures, and a profile at
// exit would show the shutdown instead. Undocumented, like QW_CPUPROFILE.
func heapProfile() {
	path := os.Getenv("QW_HEAPPROFILE")
	if path == "" {
		return
	}
	// Finer than the default 512 KiB sampling: the idle heap is ~12 MiB,
	// whose parts are each a few hundred KiB.
	runtime.MemProfileRate = 4096
	after := 10 * time.Second
	if s := os.Getenv("QW_HEAPPROFILE_AFTER"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "quotawatch: QW_HEAPPROFILE_AFTER: %v\n", err)
			return
		}
		after = d
	}
	time.AfterFunc(after, func() {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "quotawatch: QW_HEAPPROFILE: %v\n", err)
			return
		}
		// The profile shows the heap as of the last collection: collect
		// now so it is the idle heap, not the catch-up's.
		runtime.GC()
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "quotawatch: QW_HEAPPROFILE: %v\n", err)
		}
	})
}

// execTrace writes an execution trace into the file QW_TRACE names: where
// the reader and the writer wait on each other in a backfill, which a CPU
// profile cannot show. Unset, it does nothing; like QW_CPUPROFILE, a
// developer's tool.
func execTrace() func() {
	path := os.Getenv("QW_TRACE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "quotawatch: QW_TRACE: %v\n", err)
		return func() {}
	}
	if err := trace.Start(f); err != nil {
		fmt.Fprintf(os.Stderr, "quotawatch: QW_TRACE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		trace.Stop()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "quotawatch: QW_TRACE: %v\n", err)
		}
	}
}
