package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// The connections keep small page caches: a reader's is emptied by WAL
// after each write anyway, and at SQLite's default every connection a
// backfill opens held up to 4 MiB of modernc's heap (the writer's 1 MiB is
// what its CPU needs).
func TestConnectionsKeepSmallPageCaches(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		name string
		db   *sql.DB
		want int
	}{{"writer", s.w, -1024}, {"reader", s.r, -256}} {
		var n int
		if err := c.db.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&n); err != nil {
			t.Fatalf("read the %s's cache_size: %v", c.name, err)
		}
		if n != c.want {
			t.Errorf("%s cache_size = %d, want %d (KiB)", c.name, n, c.want)
		}
	}
}
