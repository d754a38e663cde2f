package monitor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/valyala/fastjson"

	"github.com/quotawatch/quotawatch/internal/corpus"
)

// wholeParse is the reading quotawatch did before streaming (os.ReadFile,
// one fastjson parse of the whole file): the oracle the streaming reader
// must agree with. Later entries for one sessionId win, as they did when
// the list was applied in order.
func wholeParse(data []byte) (map[string]storeEntry, error) {
	var p fastjson.Parser
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, err
	}
	obj, err := v.Object()
	if err != nil {
		return nil, err
	}
	out := map[string]storeEntry{}
	obj.Visit(func(k []byte, e *fastjson.Value) {
		id := string(e.GetStringBytes("sessionId"))
		if id == "" {
			return
		}
		key := string(k)
		ki := ParseSessionKey(key)
		se := storeEntry{SessionID: id, Key: key, Channel: ki.Channel, Peer: ki.Peer}
		if se.Channel == "" {
			for _, path := range [][]string{{"channel"}, {"origin", "provider"}, {"lastChannel"}, {"deliveryContext", "channel"}} {
				if c := string(e.GetStringBytes(path...)); c != "" && c != "webchat" {
					se.Channel = c
					break
				}
			}
		}
		if se.Peer == "" && !ki.Shared {
			if f := string(e.GetStringBytes("origin", "from")); f != "" {
				se.Peer = f
			}
		}
		out[id] = se
	})
	return out, nil
}

func byID(es []storeEntry) map[string]storeEntry {
	m := map[string]storeEntry{}
	for _, e := range es {
		m[e.SessionID] = e
	}
	return m
}

// trickyStore holds what a naive scanner gets wrong: escaped quotes and
// backslashes before closing quotes, braces and a fake sessionId inside
// strings, an escaped key, scalar and array entries, an entry without a
// sessionId, a duplicate key and a sessionId named by two keys.
const trickyStore = `
{
  "agent:main:whatsapp:dm:+966500000001": {"sessionId": "s1", "label": "ends in a backslash \\", "x": "\"}{\"sessionId\":\"fake\"}", "arr": [[{"a": "]"}], {}], "n": -1.5e3, "t": true, "z": null},
  "agent:main:whatsapp:dm:+96650000000\u0032": {"sessionId": "s2", "origin": {"from": "ignored: the key has a peer"}},
  "cron:nightly": {"sessionId": "s3", "origin": {"provider": "cron", "from": "+966500000003"}, "lastChannel": "webchat"},
  "agent:ops:main": {"sessionId": "s4", "deliveryContext": {"channel": "webchat"}, "lastChannel": "whatsapp", "origin": {"from": "+966500000009"}},
  "scalar": 42,
  "string": "{\"sessionId\": \"nope\"}",
  "array": [{"sessionId": "nope"}],
  "nulled": null,
  "no-id": {"sessionFile": "/x.jsonl"},
  "agent:main:telegram:group:-1001234:topic:9": {"sessionId": "s5", "displayName": "مجموعة \"الدعم\" 🌙 \\\\"},
  "hook:a": {"sessionId": "s6", "origin": {"from": "first"}},
  "hook:b": {"sessionId": "s6", "origin": {"from": "second"}},
  "hook:a": {"sessionId": "s7"}
}
`

func writeStore(t testing.TB, path string, data []byte) {
	t.Helper()
	// As Clawdbot does: a temporary file renamed over the old one.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func generatedStore(t testing.TB, entries int, bytes int64, seed uint64) []byte {
	t.Helper()
	var b strings.Builder
	if _, err := corpus.WriteStore(&b, corpus.StoreOptions{Entries: entries, Bytes: bytes, Seed: seed, StateDir: "/srv/clawdbot"}); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

func sampleStores(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{"tricky": []byte(trickyStore)}
	for _, a := range []string{"main", "ops"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "clawdbot-sample", "agents", a, "sessions", "sessions.json"))
		if err != nil {
			t.Fatal(err)
		}
		out["sample-"+a] = data
	}
	out["generated"] = generatedStore(t, 300, 3<<20, 7)
	return out
}

// TestStreamingSessionStoreReadsWhatAWholeParseReads: the streaming reader
// takes the same attribution from every entry as parsing the whole file
// did, whatever the chunks the bytes arrive in and however small the
// buffer (so every refill, compaction and growth path runs).
func TestStreamingSessionStoreReadsWhatAWholeParseReads(t *testing.T) {
	for name, data := range sampleStores(t) {
		want, err := wholeParse(data)
		if err != nil {
			t.Fatalf("%s: oracle: %v", name, err)
		}
		if len(want) == 0 {
			t.Fatalf("%s: oracle found no session", name)
		}
		for _, bufSize := range []int{0, 1, 7, 4096} {
			for _, wrap := range []string{"plain", "one-byte", "half"} {
				r := newStoreReader()
				if bufSize > 0 {
					r.sc.buf = make([]byte, bufSize)
				}
				var src io.Reader = bytes.NewReader(data)
				switch wrap {
				case "one-byte":
					src = iotest.OneByteReader(src)
				case "half":
					src = iotest.HalfReader(src)
				}
				r.mu.Lock()
				res := r.readStream(context.Background(), "sessions.json", src)
				r.mu.Unlock()
				if res.err != nil {
					t.Fatalf("%s/buf %d/%s: %v", name, bufSize, wrap, res.err)
				}
				if got := byID(res.entries); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s/buf %d/%s:\n got %v\nwant %v", name, bufSize, wrap, got, want)
				}
			}
		}
	}
	// The tricky cases themselves, spelled out.
	want, _ := wholeParse([]byte(trickyStore))
	if e := want["s2"]; e.Key != "agent:main:whatsapp:dm:+966500000002" || e.Peer != "+966500000002" {
		t.Errorf("escaped key: %+v", e)
	}
	if e := want["s6"]; e.Peer != "second" {
		t.Errorf("two keys, one session: the later must win, got %+v", e)
	}
	if e := want["s3"]; e.Channel != "cron" || e.Peer != "+966500000003" {
		t.Errorf("cron entry: %+v", e)
	}
}

// TestMalformedSessionStoreIsAnErrorNotAPartialRead: a file cut short
// anywhere (a non-atomic writer caught mid-write), or broken at the top
// level, is an error and hands out nothing; the next good read compares
// with the last good version.
func TestMalformedSessionStoreIsAnErrorNotAPartialRead(t *testing.T) {
	data := []byte(trickyStore)
	r := newStoreReader()
	read := func(b []byte) storeResult {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.readStream(context.Background(), "s", bytes.NewReader(b))
	}
	if res := read(data); res.err != nil || len(res.entries) != 7 {
		t.Fatalf("good read: %d entries, %v", len(res.entries), res.err)
	}
	trimmed := bytes.TrimSpace(data)
	for cut := 0; cut < len(trimmed); cut++ {
		if res := read(trimmed[:cut]); res.err == nil || len(res.entries) != 0 {
			t.Fatalf("cut at %d of %d: err %v, %d entries; want an error and nothing", cut, len(trimmed), res.err, len(res.entries))
		}
	}
	for _, bad := range []string{`[]`, `null`, `"x"`, `{"a": {"sessionId": "q"}} {}`, `{"a" {}}`, `{"a": }`, `{, "a": 1}`,
		`{"a": 1,}`, `{"a": {"sessionId": "q"]}`, `{"a": tru}`, `{"a": 1 "b": 2}`, `{1: 2}`} {
		if res := read([]byte(bad)); res.err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	// Nothing changed since the last good read.
	if res := read(data); res.err != nil || len(res.entries) != 0 {
		t.Fatalf("good read after bad ones: %d entries, %v; want none", len(res.entries), res.err)
	}
}

// TestSessionStoreRewriteParsesOnlyChangedEntries: Clawdbot rewrites the
// whole file to change one entry; only entries whose bytes changed are
// parsed, and only sessions whose attribution changed are handed out.
func TestSessionStoreRewriteParsesOnlyChangedEntries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.json")
	data := generatedStore(t, 500, 5<<20, 3)
	writeStore(t, path, data)
	r := newStoreReader()
	res := r.read(context.Background(), path)
	if res.err != nil || len(res.entries) != 500 {
		t.Fatalf("first read: %d entries, %v", len(res.entries), res.err)
	}
	parsed := r.parsed.Load()
	// The same bytes at a new inode (a rename): nothing to parse or apply.
	writeStore(t, path, data)
	if res = r.read(context.Background(), path); res.err != nil || len(res.entries) != 0 || r.parsed.Load() != parsed {
		t.Fatalf("same content: %d entries, %d parsed, %v", len(res.entries), r.parsed.Load()-parsed, res.err)
	}
	// One entry's updatedAt changes (every message does this).
	i := bytes.Index(data, []byte(`"updatedAt": `)) + len(`"updatedAt": `)
	data[i+12]++
	writeStore(t, path, data)
	if res = r.read(context.Background(), path); res.err != nil || len(res.entries) != 0 || r.parsed.Load() != parsed+1 {
		t.Fatalf("updatedAt changed: %d entries, %d parsed, %v; want 0 and 1", len(res.entries), r.parsed.Load()-parsed, res.err)
	}
	// A cron entry names another peer: one session handed out.
	j := bytes.Index(data, []byte(`"cron:`))
	if j < 0 {
		t.Fatal("no cron entry generated")
	}
	k := j + bytes.Index(data[j:], []byte(`"from": "+9665`)) + len(`"from": "+9665`)
	data[k] = '9'
	writeStore(t, path, data)
	res = r.read(context.Background(), path)
	if res.err != nil || len(res.entries) != 1 || !strings.HasPrefix(res.entries[0].Peer, "+96659") {
		t.Fatalf("peer changed: %+v, %v", res.entries, res.err)
	}
}

// TestSessionStoreReadHoldsAnEntryNotTheFile: reading a 30 MB store
// allocates a fraction of the file, and the read buffer stays at its
// initial size: the file is never held in memory whole.
func TestSessionStoreReadHoldsAnEntryNotTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.json")
	data := generatedStore(t, 3000, 30<<20, 5)
	writeStore(t, path, data)
	size := int64(len(data))
	data = nil
	r := newStoreReader()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res := r.read(context.Background(), path)
	runtime.ReadMemStats(&after)
	if res.err != nil || len(res.entries) != 3000 {
		t.Fatalf("read: %d entries, %v", len(res.entries), res.err)
	}
	alloc := int64(after.TotalAlloc - before.TotalAlloc)
	t.Logf("%d MB store: %d KB allocated by the first read", size>>20, alloc>>10)
	// What a read keeps is per session (~1 KB each here); holding the file
	// would allocate it whole (77 MB measured for this file).
	if alloc > size/4 {
		t.Errorf("reading a %d-byte store allocated %d bytes; want under a quarter of the file", size, alloc)
	}
	if c := cap(r.sc.buf); c > storeReadBuf {
		t.Errorf("read buffer grew to %d bytes for entries of ~10 KB", c)
	}
}

// TestOversizedSessionStoreEntryIsSkippedNotFatal: one entry bigger than
// the entry limit is skipped and reported; the other entries are read and
// what the big entry said while it was small is kept.
func TestOversizedSessionStoreEntryIsSkippedNotFatal(t *testing.T) {
	r := newStoreReader()
	r.sc.max = 1024
	read := func(s string) storeResult {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.readStream(context.Background(), "s", strings.NewReader(s))
	}
	small := `{"agent:main:whatsapp:dm:+966500000001": {"sessionId": "big"}, "agent:main:whatsapp:dm:+966500000002": {"sessionId": "two"}}`
	if res := read(small); res.err != nil || len(res.entries) != 2 {
		t.Fatalf("small: %+v", res)
	}
	pad := strings.Repeat(`{"x": "\"}{"}, `, 200)
	big := `{"agent:main:whatsapp:dm:+966500000001": {"sessionId": "big", "skills": [` + pad + `{}]}, "agent:main:whatsapp:dm:+966500000002": {"sessionId": "two"}, "agent:main:whatsapp:dm:+966500000003": {"sessionId": "three"}}`
	res := read(big)
	if res.err != nil {
		t.Fatalf("big entry: %v", res.err)
	}
	if len(res.oversized) != 1 || res.oversized[0] != "agent:main:whatsapp:dm:+966500000001" {
		t.Errorf("oversized %q, want the big entry's key", res.oversized)
	}
	if len(res.entries) != 1 || res.entries[0].SessionID != "three" {
		t.Errorf("entries %+v, want only the new session three", res.entries)
	}
	// Shrunk again, the entry is read again (it still says the same).
	if res = read(small); res.err != nil || len(res.oversized) != 0 || len(res.entries) != 0 {
		t.Errorf("small again: %+v", res)
	}
}

// TestSessionStoreOverTheSizeCapIsRefusedUnread: a sessions.json larger
// than MaxSessionStoreBytes (here a sparse file) is refused from its size,
// before a byte is read, with the limit in the error.
func TestSessionStoreOverTheSizeCapIsRefusedUnread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxSessionStoreBytes + 1); err != nil {
		t.Skip("no sparse files here:", err)
	}
	f.Close()
	r := newStoreReader()
	res := r.read(context.Background(), path)
	if res.err == nil || !strings.Contains(res.err.Error(), "limit") {
		t.Fatalf("err %v, want the size limit", res.err)
	}
	if r.reads.Load() != 0 {
		t.Errorf("the oversized file was read")
	}
}

// TestCancelledSessionStoreReadStopsAndAppliesNothing: a stop during a big
// read ends it at the next buffer, leaving nothing half-applied.
func TestCancelledSessionStoreReadStopsAndAppliesNothing(t *testing.T) {
	data := generatedStore(t, 200, 2<<20, 9)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newStoreReader()
	r.mu.Lock()
	res := r.readStream(ctx, "s", bytes.NewReader(data))
	r.mu.Unlock()
	if !errors.Is(res.err, context.Canceled) || len(res.entries) != 0 {
		t.Fatalf("cancelled read: %d entries, %v", len(res.entries), res.err)
	}
}

// FuzzSessionStore: on any input the streaming reader never panics and
// agrees with the whole-file parse: same sessions when that parse
// succeeds, an error when it fails. Two exceptions, both fastjson's: its
// nesting limit counts one level less inside an entry, and it checks
// numbers lazily, so "+" alone parses while "+}" does not; neither can
// name a session.
func FuzzSessionStore(f *testing.F) {
	f.Add([]byte(trickyStore))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"a":{"sessionId":"x","origin":{"from":"y"}}}`))
	f.Add([]byte(` { "k\"" : [ "\\" , { } ] , "q" : { "sessionId" : "\u0041" } } `))
	if data, err := os.ReadFile(filepath.Join("..", "testdata", "clawdbot-sample", "agents", "ops", "sessions", "sessions.json")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := wholeParse(data)
		for _, buf := range []int{0, 3} {
			r := newStoreReader()
			if buf > 0 {
				r.sc.buf = make([]byte, buf)
			}
			r.mu.Lock()
			res := r.readStream(context.Background(), "s", bytes.NewReader(data))
			r.mu.Unlock()
			switch {
			case werr == nil && res.err != nil:
				t.Fatalf("whole parse ok, streaming: %v", res.err)
			case werr == nil && !reflect.DeepEqual(byID(res.entries), want):
				t.Fatalf("got %v, want %v", byID(res.entries), want)
			case werr != nil && res.err == nil && !strings.Contains(werr.Error(), "depth") && !strings.Contains(werr.Error(), "cannot parse number"):
				t.Fatalf("whole parse: %v; streaming accepted it: %v", werr, res.entries)
			}
		}
	})
}

// BenchmarkSessionStoreRead reads a Clawdbot-shaped sessions.json of 10,000
// sessions, 10 KB each (100 MB): "first" is a first read (every entry
// parsed), "rewrite" a read after a rewrite that changed one entry, the
// case of every message while following. Compare with "whole", the
// previous os.ReadFile + full fastjson parse.
func BenchmarkSessionStoreRead(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "sessions.json")
	data := generatedStore(b, 10000, 100<<20, 1)
	writeStore(b, path, data)
	stamp := bytes.Index(data, []byte(`"updatedAt": `)) + len(`"updatedAt": `) + 12
	data = nil
	b.Run("first", func(b *testing.B) {
		b.SetBytes(fileSize(b, path))
		b.ReportAllocs()
		for b.Loop() {
			if res := newStoreReader().read(context.Background(), path); res.err != nil {
				b.Fatal(res.err)
			}
		}
	})
	b.Run("rewrite", func(b *testing.B) {
		b.SetBytes(fileSize(b, path))
		r := newStoreReader()
		// Two reads first: the second grows the spare maps once.
		r.read(context.Background(), path)
		r.read(context.Background(), path)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		digit := []byte{'0'}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			b.StopTimer()
			digit[0] = '0' + byte(i%10)
			i++
			f.WriteAt(digit, int64(stamp)) // one entry changes
			b.StartTimer()
			if res := r.read(context.Background(), path); res.err != nil {
				b.Fatal(res.err)
			}
		}
	})
	b.Run("whole", func(b *testing.B) {
		b.SetBytes(fileSize(b, path))
		b.ReportAllocs()
		for b.Loop() {
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := wholeParse(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func fileSize(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

// waitUntil polls cond for up to 20 s; the bound turns a hang into a failure.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSessionStoreCacheHoldsHashesNotStrings: between reads the reader
// keeps hashes of each entry (48 bytes a session), not its key, id,
// channel and peer: a sessions.json listing 150,000 sessions held 16 MiB.
func TestSessionStoreCacheHoldsHashesNotStrings(t *testing.T) {
	const n = 20000
	path := filepath.Join(t.TempDir(), "sessions.json")
	writeStore(t, path, generatedStore(t, n, 8<<20, 11))
	r := newStoreReader()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if res := r.read(context.Background(), path); res.err != nil || len(res.entries) != n {
		t.Fatalf("read: %d entries, %v", len(res.entries), res.err)
	}
	r.sc.buf = nil // the read buffer is not per session
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(r)
	t.Logf("%d sessions: %d bytes held (%d a session)", n, held, held/n)
	if held > 64*n {
		t.Errorf("the reader holds %d bytes for %d sessions (%d each); want at most 64 each", held, n, held/n)
	}
}

// TestCompactSessionStoreCacheStillReattributes: with only hashes kept,
// an entry that changes what attribution takes (its peer, its sessionId,
// its channel) is handed out again with the new strings, an entry whose
// other bytes change is not, and a session named by two keys follows the
// later one, also when the later key goes and the earlier one's bytes are
// unchanged (re-parsed then).
func TestCompactSessionStoreCacheStillReattributes(t *testing.T) {
	r := newStoreReader()
	read := func(s string) storeResult {
		t.Helper()
		r.mu.Lock()
		defer r.mu.Unlock()
		res := r.readStream(context.Background(), "s", strings.NewReader(s))
		if res.err != nil {
			t.Fatalf("read: %v", res.err)
		}
		return res
	}
	const (
		a    = `"agent:main:whatsapp:dm:+966500000001": {"sessionId": "s1", "updatedAt": 1}`
		b    = `"agent:main:whatsapp:dm:+966500000002": {"sessionId": "s2", "updatedAt": 1}`
		cron = `"cron:nightly": {"sessionId": "s3", "origin": {"from": "+966500000003"}}`
	)
	first := read(`{` + a + `, ` + b + `, ` + cron + `}`)
	if len(first.entries) != 3 {
		t.Fatalf("first read: %+v", first.entries)
	}
	check := func(name string, res storeResult, want ...storeEntry) {
		t.Helper()
		if len(want) == 0 {
			want = nil
		}
		if !reflect.DeepEqual(res.entries, want) {
			t.Errorf("%s: handed out %+v, want %+v", name, res.entries, want)
		}
	}
	check("other bytes", read(`{`+strings.Replace(a, `"updatedAt": 1`, `"updatedAt": 2`, 1)+`, `+b+`, `+cron+`}`))
	cron2 := strings.Replace(cron, "+966500000003", "+966500000009", 1)
	check("peer", read(`{`+a+`, `+b+`, `+cron2+`}`),
		storeEntry{SessionID: "s3", Key: "cron:nightly", Peer: "+966500000009"})
	b2 := strings.Replace(b, `"s2"`, `"s2b"`, 1)
	check("sessionId", read(`{`+a+`, `+b2+`, `+cron2+`}`),
		storeEntry{SessionID: "s2b", Key: "agent:main:whatsapp:dm:+966500000002", Channel: "whatsapp", Peer: "+966500000002"})
	// A later key names s1 too: it wins.
	later := `"agent:main:telegram:dm:777": {"sessionId": "s1"}`
	check("later key", read(`{`+a+`, `+b2+`, `+cron2+`, `+later+`}`),
		storeEntry{SessionID: "s1", Key: "agent:main:telegram:dm:777", Channel: "telegram", Peer: "777"})
	// It goes: s1 is a's again, whose bytes never changed.
	check("later key gone", read(`{`+a+`, `+b2+`, `+cron2+`}`),
		storeEntry{SessionID: "s1", Key: "agent:main:whatsapp:dm:+966500000001", Channel: "whatsapp", Peer: "+966500000001"})
	check("same again", read(`{`+a+`, `+b2+`, `+cron2+`}`))
}
