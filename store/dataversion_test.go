package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/quotawatch/quotawatch/store"
)

// TestDataVersionChangesWithEveryCommitAndOnlyThen proves what the
// dashboard's cache relies on: a commit by the writer (or by another
// process) gives a new Version, a read or nothing at all does not, and a
// closed store answers an error rather than a Version.
func TestDataVersionChangesWithEveryCommitAndOnlyThen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "qw.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	version := func(s *store.Store) store.Version {
		t.Helper()
		v, err := s.DataVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	day := func(string, int64) string { return "2026-11-15" }
	commit := func(key string) {
		t.Helper()
		b := &store.Batch{Events: []store.Event{{Key: key, Agent: "main", SessionID: "s", TimeMs: 1, Period: "2026-11", Customer: "a", Input: 1}}}
		if _, err := st.Commit(ctx, b, day); err != nil {
			t.Fatal(err)
		}
	}
	v0 := version(st)
	if _, err := st.UsageByPeriod(ctx, "2026-11", ""); err != nil {
		t.Fatal(err)
	}
	if v := version(st); v != v0 {
		t.Errorf("a read changed the version: %+v -> %+v", v0, v)
	}
	commit("k1")
	v1 := version(st)
	if v1 == v0 {
		t.Fatalf("a commit left the version at %+v", v0)
	}
	commit("k2")
	if v := version(st); v == v1 {
		t.Errorf("a second commit left the version at %+v", v1)
	}
	// A second process's reader sees the first one's commits too.
	ro, err := store.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	r0 := version(ro)
	commit("k3")
	if v := version(ro); v == r0 {
		t.Errorf("a read-only store missed the writer's commit: %+v", r0)
	}
	st.Close()
	if _, err := st.DataVersion(ctx); err == nil {
		t.Error("a closed store answered a data version")
	}
}
