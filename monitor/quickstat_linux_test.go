package monitor

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// statFast decides from quickStat that a file is unchanged and need not be
// opened: it must see what os.Stat sees (identity, size, both times,
// symlinks followed), and refuse what is not a regular file.
func TestQuickStatSeesWhatOsStatSees(t *testing.T) {
	dir := t.TempDir()
	reg := filepath.Join(dir, "a.jsonl")
	if err := os.WriteFile(reg, []byte("{}\n{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An mtime of its own (a copy that keeps times): both times must be
	// the right ones, not one for both.
	past := time.Date(2026, 11, 2, 3, 4, 5, 6000, time.UTC)
	if err := os.Chtimes(reg, past, past); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(reg, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{reg, link} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := quickStat(p)
		want := fileStat{id: fileIDOf(fi), size: fi.Size(), mtime: fi.ModTime().UnixNano(), ctime: ctimeOf(fi)}
		if !ok || got != want || want.ctime == 0 || want.id.Ino == 0 || want.mtime != past.UnixNano() {
			t.Errorf("%s: quickStat = %+v, %v; os.Stat says %+v", filepath.Base(p), got, ok, want)
		}
	}
	fifo, dangling := filepath.Join(dir, "fifo.jsonl"), filepath.Join(dir, "dangling.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, fifo, dangling, filepath.Join(dir, "missing.jsonl")} {
		if got, ok := quickStat(p); ok {
			t.Errorf("%s: quickStat = %+v, ok; want not ok (not a regular file)", filepath.Base(p), got)
		}
	}
}
