package monitor

import (
	"os"
	"syscall"

	"github.com/quotawatch/quotawatch/store"
)

// ctimeOf is a file's change time (UnixNano), 0 when unknown.
func ctimeOf(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ctim.Nano()
	}
	return 0
}

// quickStat is what statFast needs of path's stat, without the FileInfo
// os.Stat allocates (~200 bytes a file; a rescan stats every file of the
// history, and at 150,000 files that garbage made the collector run every
// ~25 ms through it). ok is false when path cannot be stat-ed or is not a
// regular file.
func quickStat(path string) (st fileStat, ok bool) {
	var s syscall.Stat_t
	err := syscall.Stat(path, &s)
	for err == syscall.EINTR { // as os.Stat does
		err = syscall.Stat(path, &s)
	}
	if err != nil || s.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return fileStat{}, false
	}
	return fileStat{id: store.FileID{Dev: uint64(s.Dev), Ino: uint64(s.Ino)}, size: s.Size, mtime: s.Mtim.Nano(), ctime: s.Ctim.Nano()}, true
}
