//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// dropStartupPages unmaps the pages of the executable's read-only segments
// (code, constants, pclntab) that are resident now, before a long job. The
// kernel maps file pages 64 KiB around every fault, so starting up (167
// package inits, configuration, migrations) leaves ~4 MiB of the binary
// resident that the job never touches again; what it does touch is faulted
// back from the page cache. Only the binary's own r-xp and r--p mappings
// are advised: their pages are the file's and were never written, so
// MADV_DONTNEED cannot lose anything. It reports the bytes advised.
func dropStartupPages() (int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("drop startup pages: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("drop startup pages: %w", err)
	}
	var advised int64
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// 00400000-01189000 r-xp 00000000 fd:01 1234 /path/to/binary
		f := bytes.Fields(sc.Bytes())
		if len(f) != 6 || string(f[5]) != exe || (string(f[1]) != "r-xp" && string(f[1]) != "r--p") {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); e != 0 {
			return advised, fmt.Errorf("drop startup pages: madvise %s: %w", f[0], e)
		}
		advised += int64(end - start)
	}
	return advised, nil
}
