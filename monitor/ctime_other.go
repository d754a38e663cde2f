//go:build !linux

package monitor

import "os"

// ctimeOf is a file's change time, unknown here: every file is verified by
// reading, as before stamps existed.
func ctimeOf(os.FileInfo) int64 { return 0 }
