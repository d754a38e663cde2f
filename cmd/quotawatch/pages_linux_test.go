//go:build linux

package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// residentExeKiB sums the resident KiB of the executable's read-only
// mappings, from /proc/self/smaps.
func residentExeKiB(t *testing.T) int64 {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kib int64
	mine := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 5 && strings.Contains(fs[0], "-") && len(fs[1]) == 4 {
			mine = len(fs) == 6 && fs[5] == exe && (fs[1] == "r-xp" || fs[1] == "r--p")
			continue
		}
		if mine && len(fs) == 3 && fs[0] == "Rss:" {
			n, err := strconv.ParseInt(fs[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			kib += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kib
}

// What starting up made resident of the binary is handed back before a
// backfill, and the program runs on (its pages fault back from the file).
func TestStartupPagesOfTheBinaryAreGivenBack(t *testing.T) {
	before := residentExeKiB(t)
	if before == 0 {
		t.Fatalf("no resident read-only mapping of the executable found in /proc/self/smaps")
	}
	n, err := dropStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	after := residentExeKiB(t)
	if n == 0 || after >= before/2 {
		t.Errorf("advised %d bytes; the executable's resident read-only pages went from %d to %d KiB, want less than half", n, before, after)
	}
	// Code and constants dropped are read back from the file.
	if got := strconv.Itoa(12345) + strings.Repeat("x", 2); got != "12345xx" {
		t.Errorf("after dropping pages: %q", got)
	}
}
