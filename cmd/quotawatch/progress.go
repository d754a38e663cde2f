package main

import (
	"fmt"
	"io"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
)

// backfillBar is backfill's progress bar on a terminal: bytes read of the
// bytes there were to read when it started.
type backfillBar struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	total int64
	// read is every byte read; the bar is given at most total of them.
	// Only the backfill's own goroutine reads files, so no lock is needed.
	read int64
}

// newBackfillBar draws progressbar.DefaultBytes' bar on w (the command's
// stderr, not the process's). Its maximum is one byte more than there is to
// read, so reading alone never fills it: only end with a complete backfill
// shows 100 % (files grow while they are read, so the bytes read can reach
// the starting total while more remains).
func newBackfillBar(w io.Writer, total int64) *backfillBar {
	bar := progressbar.NewOptions64(total+1,
		progressbar.OptionSetDescription("backfill"),
		progressbar.OptionSetWriter(w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(10),
		progressbar.OptionThrottle(65*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionFullWidth(),
		progressbar.OptionSetRenderBlankState(true),
	)
	return &backfillBar{w: w, bar: bar, total: total}
}

// add counts n bytes read.
func (b *backfillBar) add(n int64) {
	shown := min(n, b.total-b.read)
	b.read += n
	if shown > 0 {
		_ = b.bar.Add64(shown)
	}
}

// end leaves the bar's last word on the terminal. A backfill that read
// everything fills it to 100 %. One that was interrupted or failed is
// replaced by how much it read, rounded down and never 100 %: the last line
// on the terminal must not claim a complete import (the bar, filled on the
// way out whatever happened, used to).
func (b *backfillBar) end(complete bool) {
	// No OnCompletion option: Exit calls it too, and its newline would
	// leave the last (throttled, stale) bar above the line that replaces it.
	if complete {
		_ = b.bar.Finish()
		fmt.Fprintln(b.w)
		return
	}
	_ = b.bar.Exit() // no render after this
	_ = b.bar.Clear()
	pct := int64(0)
	if b.total > 0 {
		pct = min(b.read*100/b.total, 99)
	}
	fmt.Fprintf(b.w, "backfill stopped at %d%%: %s of %s read\n", pct, humanize.Bytes(uint64(b.read)), humanize.Bytes(uint64(b.total)))
}
