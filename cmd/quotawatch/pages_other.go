//go:build !linux

package main

// dropStartupPages does nothing where the kernel's fault-around and
// madvise semantics have not been measured.
func dropStartupPages() (int64, error) { return 0, nil }
