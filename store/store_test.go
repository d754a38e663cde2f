package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sub", "qw.db")
	s, err := Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, p
}

func TestOpenCreatesPrivateWALDatabase(t *testing.T) {
	s, p := openTemp(t)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, want 0600", fi.Mode().Perm())
	}
	var mode string
	var timeout int
	if err := s.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q %v", mode, err)
	}
	if err := s.r.QueryRow("PRAGMA busy_timeout").Scan(&timeout); err != nil || timeout < 1000 {
		t.Errorf("busy_timeout %d %v", timeout, err)
	}
	// Re-opening applies no migration twice.
	s2, err := Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

func period(string, int64) string { return "2026-11-15" }

func TestCommitIsIdempotentAndKeepsTotals(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	b := &Batch{
		Events: []Event{
			{Key: "k1", Agent: "main", SessionID: "s", TimeMs: 1, Period: "2026-11", Customer: "a", Input: 10, Output: 2, CostUSD: 0.5, Priced: true},
			{Key: "k2", Agent: "main", SessionID: "s", TimeMs: 2, Period: "2026-11", Customer: "a", Failed: true, Priced: true},
			{Key: "k3", Agent: "main", SessionID: "s", TimeMs: 3, Period: "2026-11", Customer: "a", Input: 1},
		},
		Checkpoints: []Checkpoint{{FileID: FileID{1, 2}, Path: "/x", Agent: "main", SessionID: "s", Offset: 99, Lines: 3}},
		Sessions:    []Session{{Agent: "main", SessionID: "s", Origin: "name", Customer: "a"}},
	}
	res, err := s.Commit(ctx, b, period)
	if err != nil || res.Inserted != 3 {
		t.Fatalf("first commit %+v %v", res, err)
	}
	res, err = s.Commit(ctx, b, period)
	if err != nil || res.Inserted != 0 || res.Duplicates != 3 {
		t.Fatalf("second commit %+v %v", res, err)
	}
	us, err := s.UsageByPeriod(ctx, "2026-11", "")
	if err != nil || len(us) != 1 {
		t.Fatalf("usage %+v %v", us, err)
	}
	u := us[0]
	if u.Requests != 2 || u.FailedRequests != 1 || u.Input != 11 || u.Output != 2 || u.CostUSD != 0.5 || u.Unpriced != 1 {
		t.Errorf("totals %+v", u)
	}
	cps, err := s.Checkpoints(ctx)
	if err != nil || cps[FileID{1, 2}].Offset != 99 {
		t.Errorf("checkpoints %+v %v", cps, err)
	}
	// Move the session to another customer: totals follow.
	if _, err := s.Commit(ctx, &Batch{Moves: []Move{{Agent: "main", SessionID: "s", Customer: "b"}}}, period); err != nil {
		t.Fatal(err)
	}
	us, _ = s.UsageByPeriod(ctx, "2026-11", "")
	if len(us) != 1 || us[0].Customer != "b" || us[0].Requests != 2 || us[0].Input != 11 {
		t.Errorf("after move %+v", us)
	}
}

func TestFailedCommitLeavesNothing(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	if _, err := s.w.Exec("CREATE TRIGGER boom BEFORE INSERT ON files BEGIN SELECT RAISE(ABORT, 'disk says no'); END"); err != nil {
		t.Fatal(err)
	}
	b := &Batch{
		Events:      []Event{{Key: "k1", Agent: "main", SessionID: "s", Period: "2026-11", Customer: "a", Input: 10}},
		Checkpoints: []Checkpoint{{FileID: FileID{1, 2}, Path: "/x", Offset: 99}},
	}
	if _, err := s.Commit(ctx, b, period); err == nil {
		t.Fatal("commit succeeded despite the failing checkpoint")
	}
	if n, _ := s.EventCount(ctx); n != 0 {
		t.Errorf("%d events stored without their checkpoint", n)
	}
	if us, _ := s.UsageByPeriod(ctx, "2026-11", ""); len(us) != 0 {
		t.Errorf("totals changed: %+v", us)
	}
}

func TestOpenRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := Open(context.Background(), "./rel.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat("rel.db"); err != nil {
		t.Errorf("relative database not created where asked: %v", err)
	}
}
