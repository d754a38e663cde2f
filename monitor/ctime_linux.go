package monitor

import (
	"os"
	"syscall"
)

// ctimeOf is a file's change time (UnixNano), 0 when unknown.
func ctimeOf(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ctim.Nano()
	}
	return 0
}
