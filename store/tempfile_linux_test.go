package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"github.com/quotawatch/quotawatch/store"
)

// TestCommitOfInterleavedSessionsCreatesNoTemporaryFile proves that a batch
// whose events interleave many sessions (an OpenClaw database read in rowid
// order) keeps its statement journals in memory: each multi-row insert
// changes a key-index page nearly every row, and spilled to a temporary
// file, 2.5 times the page writes of a JSONL batch. Such a file has no
// name (O_TMPFILE, or unlinked as soon as it is opened), so the test
// watches the temporary directory for opens and creations.
func TestCommitOfInterleavedSessionsCreatesNoTemporaryFile(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	day := func(string, int64) string { return "2026-11-15" }
	const sessions = 72
	ev := func(i int) store.Event {
		s := fmt.Sprintf("%08x-aaaa-4bbb-8ccc-%012x", uint32(i%sessions*2654435761), i%sessions)
		return store.Event{Key: fmt.Sprintf("cb/main/%s/%016x", s, uint64(i)*0x9E3779B97F4A7C15), Agent: "main", SessionID: s,
			TimeMs: int64(i), Period: "2026-11", Customer: "owner", Input: int64(i), Output: 1, CostUSD: 0.001, Priced: true}
	}
	// A store large enough that the key index spans far more pages than
	// one statement's 64 rows can share.
	n := 0
	for range 10 {
		var b store.Batch
		for range 2000 {
			b.Events = append(b.Events, ev(n))
			n++
		}
		if _, err := st.Commit(ctx, &b, day); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "pragma.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// The directory is process-wide (sqlite3_temp_directory): this test
	// must not run in parallel with others.
	if _, err := db.Exec("PRAGMA temp_store_directory = '" + dir + "'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("PRAGMA temp_store_directory = ''"); err != nil {
			t.Error(err)
		}
	})
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_OPEN); err != nil {
		t.Fatal(err)
	}
	created := func() int {
		buf := make([]byte, 64<<10)
		k, err := syscall.Read(fd, buf)
		if err == syscall.EAGAIN {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		c := 0
		for off := 0; off < k; {
			ie := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			c++
			off += syscall.SizeofInotifyEvent + int(ie.Len)
		}
		return c
	}
	// The watch must see a file SQLite does put there: a temporary table
	// larger than its page cache.
	if _, err := db.Exec(`CREATE TEMP TABLE probe AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 50000)
 SELECT x, randomblob(100) AS y FROM c`); err != nil {
		t.Fatal(err)
	}
	if created() == 0 {
		t.Fatal("a temporary table created no file in the temporary directory: the watch proves nothing")
	}

	var b store.Batch
	for range 2000 {
		b.Events = append(b.Events, ev(n))
		n++
	}
	res, err := st.Commit(ctx, &b, day)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 2000 {
		t.Fatalf("inserted %d events, want 2000", res.Inserted)
	}
	if c := created(); c != 0 {
		t.Fatalf("the batch created %d temporary files: its statement journals spilled to disk", c)
	}
	us, err := st.UsageByPeriod(ctx, "2026-11", "owner")
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || us[0].Requests != int64(n) {
		t.Fatalf("owner's usage is %+v, want %d requests", us, n)
	}
}
