package monitor

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// Every read of an agent database goes through one connection: each one
// parses OpenClaw's schema into its own C heap, so a second connection
// per database is memory a backfill of many agents pays for nothing.
func TestOpenClawReaderUsesOneConnectionPerDatabase(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	d := ocOpenTest(t, path)
	ctx := context.Background()
	steps := []struct {
		name string
		do   func() error
	}{
		{"Changed", func() error { _, err := d.Changed(ctx); return err }},
		{"Sessions", func() error { _, err := d.Sessions(ctx); return err }},
		{"ReadSince", func() error {
			_, err := d.ReadSince(ctx, ocCursor{}, 0, func(ocRow) error { return nil })
			return err
		}},
		{"Archives", func() error { return d.Archives(ctx, nil, func(ocArchive, ocLine) error { return nil }) }},
		{"a commit, then Changed", func() error {
			ocAppend(t, w, ocOwnerSession, ocAssistant("one-conn", time.Now(), 1, 1, 0, 1))
			changed, err := d.Changed(ctx)
			if err == nil && !changed {
				t.Errorf("the commit was not seen through the shared connection")
			}
			return err
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if n := d.db.Stats().OpenConnections; n != 1 {
			t.Fatalf("after %s: %d connections open to the agent database, want 1", s.name, n)
		}
	}
}

// ocOpenFiles lists the files under dir this process holds open.
func ocOpenFiles(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var out []string
	for _, fd := range fds {
		p, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(p, dir+string(filepath.Separator)) {
			out = append(out, p)
		}
	}
	return out
}

// A backfill reads each agent database once, so it lets go of each one
// (its connection, the schema and page cache in C memory, its files) as
// soon as it is read, not at exit; a database named twice is opened again
// and its calls are still counted once.
func TestOpenClawBackfillLetsGoOfEachDatabaseOnceRead(t *testing.T) {
	root := ocFixture(t, "openclaw-sample")
	state, err := filepath.EvalSymlinks(filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(state, "agents", "main", "agent", "openclaw-agent.sqlite")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	backfill := func(paths ...string) Stats {
		t.Helper()
		st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "qw.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		m := New(Config{Sources: []SourceConfig{{Type: SourceOpenClaw, Dir: state}}}, st, ocMapping(t, root), quiet)
		s, err := m.Backfill(context.Background(), paths, nil)
		if err != nil {
			t.Fatal(err)
		}
		// m is still referenced here: nothing was closed by the collector.
		if open := ocOpenFiles(t, state); len(open) > 0 {
			t.Fatalf("backfill of %v left %d OpenClaw files open: %v", paths, len(open), open)
		}
		return s
	}
	whole := backfill(state)
	if whole.Inserted == 0 {
		t.Fatalf("the sample state gave no events: %+v", whole)
	}
	once := backfill(db)
	twice := backfill(db, db)
	if once.Inserted == 0 || twice.Inserted != once.Inserted {
		t.Fatalf("one database named twice: %d events, named once: %d", twice.Inserted, once.Inserted)
	}
}
