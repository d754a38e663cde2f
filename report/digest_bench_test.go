package report

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// BenchmarkComposeDigestOverAHistoryOfFiles composes the daily digest over
// a store that has followed 20,000 files (two with bad lines): its bytes
// allocated per op, divided by the files, is what a long history costs a
// digest (the files are handed over one at a time, not held as a list).
func BenchmarkComposeDigestOverAHistoryOfFiles(b *testing.B) {
	const files = 20000
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "qw.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, riyadh)
	dayOf := func(_ string, ms int64) string { return DayOf(time.UnixMilli(ms), riyadh) }
	for i := 0; i < files; i += 1000 {
		bt := &store.Batch{}
		for j := i; j < i+1000; j++ {
			cp := store.Checkpoint{FileID: store.FileID{Dev: 1, Ino: uint64(j + 1)},
				Path: fmt.Sprintf("/state/agents/main/sessions/%08d-0000-4000-8000-000000000000.jsonl", j), Offset: 4096}
			if j%10000 == 7 {
				cp.Bad = 2
			}
			bt.Checkpoints = append(bt.Checkpoints, cp)
		}
		if _, err := st.Commit(ctx, bt, dayOf); err != nil {
			b.Fatal(err)
		}
	}
	book := NewBook([]Customer{{ID: "omar", Tier: "standard", Limits: &standard}}, riyadh)
	sources := []DigestSource{{Kind: "clawdbot", Label: "clawdbot:/state", Dir: "/state"}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d, err := ComposeDigest(ctx, st, book, sources, now)
		if err != nil {
			b.Fatal(err)
		}
		if d.Sources[0].Files != files || d.BadTotal != 4 {
			b.Fatalf("digest saw %d files, %d bad lines; want %d, 4", d.Sources[0].Files, d.BadTotal, files)
		}
	}
}
