//go:build !linux

package monitor

import "os"

// ctimeOf is a file's change time, unknown here: every file is verified by
// reading, as before stamps existed.
func ctimeOf(os.FileInfo) int64 { return 0 }

// quickStat is what statFast needs of path's stat; the ctime is unknown
// here (0), as in ctimeOf.
func quickStat(path string) (st fileStat, ok bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return fileStat{}, false
	}
	return fileStat{id: fileIDOf(fi), size: fi.Size(), mtime: fi.ModTime().UnixNano()}, true
}
