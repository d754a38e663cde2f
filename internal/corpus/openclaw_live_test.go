package corpus

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func maxSeq(t testing.TB, dbPath, session string) int {
	t.Helper()
	db, err := sql.Open("sqlite", ocFileURI(dbPath, "mode=ro"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT coalesce(max(seq), -1) FROM transcript_events WHERE session_id = ?`, session).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOpenClawLiveWriterKeepsExactTotals writes to a generated state while a
// follower (the tests' reader, rescanning) watches: turns with plain and
// compressed replies, a new window, a reset line, an in-place compaction
// and a delete into an archive. Every call the follower saw, once each, is
// exactly the writer's expected totals, the compaction's calls included,
// and a reader of the final state misses exactly those.
func TestOpenClawLiveWriterKeepsExactTotals(t *testing.T) {
	ctx := context.Background()
	dir, exp := generateOpenClaw(t, OpenClawOptions{Options: Options{Bytes: 512 << 10, Agents: 2, Peers: 8, Seed: 12},
		ColdStorage: true, StateDB: true})
	w, err := OpenOpenClawWriter(ctx, OpenClawWriterOptions{Dir: dir, Expected: exp, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	follower := newRecount(t, expectedCustomers(&exp.Expected), "")
	follower.scan(dir)
	idx := w.PickSessions(4)
	if len(idx) < 4 {
		t.Fatalf("only %d sessions to write to", len(idx))
	}
	sessions := w.Sessions()
	compacted := sessions[idx[0]]
	var before, gone int
	var archives []string
	for step := 0; step < 48; step++ {
		if _, err := w.Turn(ctx, idx[step%4], step%3 == 0); err != nil {
			t.Fatal(err)
		}
		if step%4 == 3 {
			follower.scan(dir)
		}
		switch step {
		case 12:
			if err := w.NewWindow(ctx, idx[1]); err != nil {
				t.Fatal(err)
			}
		case 16:
			if err := w.ResetLine(ctx, idx[2]); err != nil {
				t.Fatal(err)
			}
		case 23: // the follower has just seen everything
			before = maxSeq(t, compacted.Database, compacted.SessionID)
			if gone, err = w.Compact(ctx, idx[0], 3, 0); err != nil {
				t.Fatal(err)
			}
		case 31:
			if archives, err = w.Delete(ctx, idx[3]); err != nil {
				t.Fatal(err)
			}
		}
	}
	follower.scan(dir)
	want := w.Expected()
	if err := want.Compare(follower.result(), 1e-9); err != nil {
		t.Fatalf("follower against the writer's totals: %v", err)
	}
	if follower.calls() != want.Calls {
		t.Errorf("follower saw %d calls, writer expects %d", follower.calls(), want.Calls)
	}
	if after := maxSeq(t, compacted.Database, compacted.SessionID); gone == 0 || after >= before {
		t.Errorf("compaction deleted %d calls; max seq %d before, %d after", gone, before, after)
	}
	final := newRecount(t, expectedCustomers(&exp.Expected), "")
	final.scan(dir)
	if final.calls() != want.Calls-int64(gone) || want.OpenClaw.CompactedCalls != exp.OpenClaw.CompactedCalls+int64(gone) {
		t.Errorf("final state holds %d calls; want %d - %d compacted away", final.calls(), want.Calls, gone)
	}
	if len(archives) == 0 {
		t.Fatal("the delete wrote no archive")
	}
	for _, a := range archives {
		if _, err := os.Stat(a); err != nil || !strings.Contains(filepath.Base(a), ".jsonl.deleted.") || !strings.HasSuffix(a, ".zst") {
			t.Errorf("archive %s: %v", a, err)
		}
	}
	var compressed int
	rows := w.Rows()
	for _, r := range rows {
		if r.Compressed {
			compressed++
		}
		if r.At.IsZero() || r.EntryID == "" || r.Customer == "" {
			t.Fatalf("row %+v", r)
		}
	}
	if len(rows) != 48 || compressed == 0 || compressed == len(rows) {
		t.Errorf("%d rows, %d compressed", len(rows), compressed)
	}
	if busy, errs := w.Busy(); busy != 0 {
		t.Errorf("SQLITE_BUSY %d times with no other writer: %v", busy, errs)
	}
}

// TestOpenClawLiveWriterReportsSQLiteBusy: a writer that finds the database
// locked by another writer counts SQLITE_BUSY and gets through once the
// lock is gone; a reader's open transaction (WAL) never makes it busy.
func TestOpenClawLiveWriterReportsSQLiteBusy(t *testing.T) {
	ctx := context.Background()
	dir, exp := generateOpenClaw(t, OpenClawOptions{Options: Options{Bytes: 256 << 10, Agents: 1, Peers: 4, Seed: 13}})
	w, err := OpenOpenClawWriter(ctx, OpenClawWriterOptions{Dir: dir, Expected: exp, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	i := w.PickSessions(1)[0]
	path := w.Sessions()[i].Database

	reader, err := sql.Open("sqlite", ocFileURI(path, "mode=ro"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	rtx, err := reader.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow(`SELECT count(*) FROM transcript_events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Turn(ctx, i, true); err != nil {
		t.Fatal(err)
	}
	rtx.Rollback()
	if busy, errs := w.Busy(); busy != 0 {
		t.Fatalf("a reader made the writer busy %d times: %v", busy, errs)
	}

	other, err := sql.Open("sqlite", ocFileURI(path, "_txlock=immediate&_pragma=busy_timeout(5000)"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE schema_meta SET updated_at = updated_at + 1`); err != nil {
		t.Fatal(err)
	}
	released := make(chan error, 1)
	go func() {
		time.Sleep(150 * time.Millisecond)
		released <- tx.Commit()
	}()
	if _, err := w.Turn(ctx, i, false); err != nil {
		t.Fatal(err)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	busy, errs := w.Busy()
	if busy == 0 || len(errs) == 0 || !strings.Contains(strings.ToLower(errs[0]), "busy") && !strings.Contains(errs[0], "locked") {
		t.Errorf("writer met a locked database: busy %d, %v", busy, errs)
	}
}

// TestOpenClawLiveWriterWritesToASampleCopy: the writer works on a copy of
// a state written by OpenClaw itself (its sessions, its customers), and the
// follower's totals are the sample's expected usage plus what it wrote.
func TestOpenClawLiveWriterWritesToASampleCopy(t *testing.T) {
	ctx := context.Background()
	src := fixture(t, "openclaw-sample2")
	want, cust := fixtureExpected(t, src)
	dir := filepath.Join(t.TempDir(), "state")
	if out, err := exec.Command("cp", "-r", filepath.Join(src, "state"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if out, err := exec.Command("chmod", "-R", "u+w", dir).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v %s", err, out)
	}
	start := &OpenClawExpected{Expected: Expected{Month: "2026-11", Timezone: "Asia/Riyadh", DefaultCustomer: "owner", Totals: want}}
	w, err := OpenOpenClawWriter(ctx, OpenClawWriterOptions{Dir: dir, Expected: start, Seed: 3,
		Customer: func(agent, key string) string { return cust(agent, key, "") }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	follower := newRecount(t, cust, "")
	follower.scan(dir)
	if err := compareTotals(want, follower.result(), 1e-9); err != nil {
		t.Fatal(err)
	}
	idx := w.PickSessions(5)
	if len(idx) < 2 {
		t.Fatalf("%d sessions to write to in the sample", len(idx))
	}
	for step := 0; step < 12; step++ {
		if _, err := w.Turn(ctx, idx[step%len(idx)], step%2 == 0); err != nil {
			t.Fatal(err)
		}
		follower.scan(dir)
		switch step {
		case 4:
			if err := w.NewWindow(ctx, idx[0]); err != nil {
				t.Fatal(err)
			}
		case 10:
			if n, err := w.Compact(ctx, idx[0], 2, 0); err != nil || n == 0 {
				t.Fatalf("compaction deleted %d calls: %v", n, err)
			}
		case 8: // noura's key has a cold window: the group is deleted
			if paths, err := w.Delete(ctx, idx[1]); err != nil || len(paths) != 2 { // both windows of the key
				t.Fatalf("delete wrote %v: %v", paths, err)
			}
		}
	}
	follower.scan(dir)
	got := w.Expected()
	if err := got.Compare(follower.result(), 1e-9); err != nil {
		t.Fatal(err)
	}
	if n := len(w.Rows()); n != 12 {
		t.Errorf("%d rows written", n)
	}
}
