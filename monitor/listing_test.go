package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// listingState writes a state directory whose agents have the given
// numbers of transcripts (and a sessions.json and a non-transcript each),
// and returns it with every transcript's path, sorted.
func listingState(t testing.TB, counts map[string]int) (dir string, want []string) {
	t.Helper()
	dir = t.TempDir()
	for agent, n := range counts {
		sd := filepath.Join(dir, "agents", agent, "sessions")
		if err := os.MkdirAll(filepath.Join(sd, "sub.jsonl"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"sessions.json", "notes.txt"} {
			if err := os.WriteFile(filepath.Join(sd, name), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			// Names of different lengths, so a name left over from a longer
			// listing would show as a wrong path.
			p := filepath.Join(sd, fmt.Sprintf("%s-%0*d.jsonl", agent, 3+i%5, i))
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			want = append(want, p)
		}
	}
	slices.Sort(want)
	return dir, want
}

// listingMonitor follows dir with no store: listing needs none.
func listingMonitor(dir string) *Monitor {
	return New(Config{Sources: []SourceConfig{{Type: SourceClawdbot, Dir: dir}}, Rescan: time.Hour}, nil, sampleAttributor(),
		slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func listAll(m *Monitor) []string {
	u := discoverSorted(newFinder(), m.sources[0])
	var got []string
	m.eachItem(context.Background(), &u, func(it string) { got = append(got, it) })
	return got
}

// The sessions directories of one source are listed into one buffer, sized
// from the last scan: each directory's transcripts must still be exactly
// its own, in path order, whether it is longer or shorter than the one
// listed before it, and whether the buffer came from a hint or was grown.
func TestListingsShareOneBufferWithoutMixingDirectories(t *testing.T) {
	for _, counts := range []map[string]int{
		{"a": 200, "b": 3, "c": 0, "d": 57}, // shorter after longer
		{"a": 1, "b": 90, "c": 400},         // longer after shorter: grows
	} {
		dir, want := listingState(t, counts)
		m := listingMonitor(dir)
		for scan := range 3 {
			if got := listAll(m); !slices.Equal(got, want) {
				t.Fatalf("%v, scan %d: listed %d items, want %d:\n got %q\nwant %q", counts, scan, len(got), len(want), got, want)
			}
		}
		biggest := 0
		for _, n := range counts {
			biggest = max(biggest, n)
		}
		if got := m.listSize[m.sources[0]].names; got != biggest {
			t.Errorf("%v: the next scan's buffer is sized for %d names, want the largest directory's %d", counts, got, biggest)
		}
	}
}

// BenchmarkRescanListing is the listing part of a rescan over 4 sessions
// directories of 2,500 transcripts each: B/op is what a rescan allocates
// to list them (each directory's names are then visited as paths).
func BenchmarkRescanListing(b *testing.B) {
	dir, want := listingState(b, map[string]int{"a": 2500, "b": 2500, "c": 2500, "d": 2500})
	m := listingMonitor(dir)
	u := discoverSorted(newFinder(), m.sources[0])
	n := 0
	m.eachItem(context.Background(), &u, func(string) { n++ })
	if n != len(want) {
		b.Fatalf("listed %d, want %d", n, len(want))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m.eachItem(context.Background(), &u, func(string) {})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(len(want)*b.N), "ns/file")
}
