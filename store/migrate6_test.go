package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/quotawatch/quotawatch/store"
)

// createV5WithACheckpoint is a schema-5 database (createV5) holding one
// file checkpoint.
func createV5WithACheckpoint(t *testing.T, path string) {
	t.Helper()
	db := createV5(t, path)
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO files (dev, ino, path, agent, session_id, fp_len, fp_head, off, tail_hash, lines, events, synthetic, bad, updated_ms)
		VALUES (7, 42, '/s/agents/main/sessions/a.jsonl', 'main', 'a', 100, -5, 100, 9, 3, 2, 1, 0, 1)`); err != nil {
		t.Fatal(err)
	}
}

// TestMigration0006KeepsCheckpointsWithTheirStampUnknown: a checkpoint a
// schema-5 database holds keeps every field and gets stamp 0 (unknown:
// verified by reading at the next start); a stamp lands only on the
// checkpoint it was verified against, and a new checkpoint replaces it.
func TestMigration0006KeepsCheckpointsWithTheirStampUnknown(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v5.db")
	createV5WithACheckpoint(t, path)
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id := store.FileID{Dev: 7, Ino: 42}
	mark := func() store.FileMark {
		t.Helper()
		var got []store.FileMark
		if err := st.EachFileMark(ctx, func(i store.FileID, fm store.FileMark) {
			if i == id {
				got = append(got, fm)
			}
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%d marks of file 7:42, want 1", len(got))
		}
		return got[0]
	}
	want := store.FileMark{FPLen: 100, FPHead: uint64(1<<64 - 5), Offset: 100, TailHash: 9}
	if got := mark(); got != want {
		t.Errorf("upgraded mark %+v, want %+v (stamp 0)", got, want)
	}
	cp, ok, err := st.Checkpoint(ctx, id)
	if err != nil || !ok {
		t.Fatalf("checkpoint: %v %v", ok, err)
	}
	if cp.Path != "/s/agents/main/sessions/a.jsonl" || cp.Lines != 3 || cp.Events != 2 || cp.Synthetic != 1 || cp.MtimeNs != 0 || cp.CtimeNs != 0 {
		t.Errorf("upgraded checkpoint %+v", cp)
	}
	commit := func(b *store.Batch) {
		t.Helper()
		if _, err := st.Commit(ctx, b, func(string, int64) string { return "2026-11-15" }); err != nil {
			t.Fatal(err)
		}
	}
	// A stamp of another offset (a checkpoint since replaced) is not applied.
	commit(&store.Batch{Stamps: []store.Stamp{{FileID: id, Offset: 99, FPHead: want.FPHead, TailHash: 9, MtimeNs: 1, CtimeNs: 2}}})
	if got := mark(); got != want {
		t.Errorf("after a stamp of another offset: %+v, want %+v", got, want)
	}
	commit(&store.Batch{Stamps: []store.Stamp{{FileID: id, Offset: 100, FPHead: want.FPHead, TailHash: 9, MtimeNs: 11, CtimeNs: 12}}})
	stamped := want
	stamped.MtimeNs, stamped.CtimeNs = 11, 12
	if got := mark(); got != stamped {
		t.Errorf("after its stamp: %+v, want %+v", got, stamped)
	}
	cp.Offset, cp.Lines, cp.MtimeNs, cp.CtimeNs = 150, 4, 0, 0
	commit(&store.Batch{Checkpoints: []store.Checkpoint{cp}})
	if got := mark(); got.Offset != 150 || got.MtimeNs != 0 || got.CtimeNs != 0 {
		t.Errorf("after a new unstamped checkpoint: %+v, want offset 150 and no stamp", got)
	}
}
