package monitor

import (
	"context"
	"testing"
	"time"
)

// Changed answers from two stats once the database and its -wal have been
// quiet for ocQuietFiles; a commit after that must still be seen at once.
func TestOpenClawChangedSeesACommitAfterTheFilesWereQuiet(t *testing.T) {
	path := ocMainDB(t)
	w := ocWriter(t, path)
	d := ocOpenTest(t, path)
	ctx := context.Background()
	want := func(step string, v bool) {
		t.Helper()
		got, err := d.Changed(ctx)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if got != v {
			t.Fatalf("%s: Changed = %v, want %v", step, got, v)
		}
	}
	want("first call", true)
	for round := 0; round < 3; round++ {
		// Let both files go quiet, then one look asks SQLite and records
		// them; the next looks may answer from the files alone.
		time.Sleep(ocQuietFiles + 100*time.Millisecond)
		want("quiet, asked", false)
		asks := d.asks
		want("quiet, from the files", false)
		if d.asks != asks {
			t.Fatalf("round %d: quiet files were asked again (the shortcut was not taken)", round)
		}
		ocAppend(t, w, ocOwnerSession, ocAssistant("quiet-"+string(rune('a'+round)), time.Now(), 1, 1, 0, 1))
		want("a commit after the quiet", true)
		want("after seeing it", false)
		// Two commits in quick succession: the second may keep the first's
		// mtime, so recently written files are always asked.
		ocAppend(t, w, ocOwnerSession, ocAssistant("quick-"+string(rune('a'+round)), time.Now(), 1, 1, 0, 1))
		want("a second commit right after", true)
	}
}
