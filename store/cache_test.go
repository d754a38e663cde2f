package store

import (
	"context"
	"path/filepath"
	"testing"
)

// The reader pool's connections keep a small page cache: WAL empties it
// after each write anyway, and at the default every reader connection a
// backfill opens held up to 4 MiB of SQLite's heap.
func TestReaderConnectionsKeepASmallPageCache(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.r.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&n); err != nil {
		t.Fatalf("read the reader's cache_size: %v", err)
	}
	if n != -256 {
		t.Errorf("reader cache_size = %d, want -256 (KiB)", n)
	}
}
