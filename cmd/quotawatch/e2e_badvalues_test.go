package main

// Issue 7's acceptance on the real binary: a state dir holding every bad
// value the soak found, beside good lines, is backfilled (exit 0, bad lines
// counted with their reasons, good lines exact, usage JSON valid), and `run`
// keeps ingesting good lines appended after them.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// e2eCallAt is a Clawdbot assistant line with its entry timestamp (raw
// JSON, or "" for none), message timestamp and cost (raw JSON) as given.
func e2eCallAt(id, entryTS, msgTS string, input, output int64, cost string) string {
	ts := ""
	if entryTS != "" {
		ts = `"timestamp":` + entryTS + `,`
	}
	return fmt.Sprintf(`{"type":"message","id":%q,"parentId":"p",%s"message":{"role":"assistant","content":[{"type":"text","text":"ok"}],"api":"openai-completions","provider":"fakeoai","model":"fake-gpt","usage":{"input":%d,"output":%d,"cacheRead":0,"cacheWrite":0,"totalTokens":%d,"cost":{"total":%s}},"stopReason":"stop","timestamp":%s}}`,
		id, ts, input, output, input+output, cost, msgTS)
}

func e2eHeader(sid string) string {
	return fmt.Sprintf(`{"type":"session","version":3,"id":%q,"timestamp":"2026-11-27T00:40:00.000Z","cwd":"/tmp/e2e"}`, sid)
}

// e2eKhalidSays is an inbound envelope that attributes a session to khalid.
const e2eKhalidSays = `{"type":"message","id":"u0000001","parentId":null,"timestamp":"2026-11-27T00:40:00.000Z","message":{"role":"user","content":[{"type":"text","text":"[WhatsApp +966500000003 2026-11-27 03:40 GMT+3] hi"}],"timestamp":1795740000000}}`

func e2eWriteLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func e2eAppend(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

func TestE2EEveryBadValueIsCountedAndMeteringGoesOn(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	sessions := filepath.Join(state, "agents", "main", "sessions")
	want := e2eExpected(t)
	addTo := func(customer string, x e2eTotals) {
		w := want[customer]
		w.add(x)
		want[customer] = w
	}
	call := func(in, out int64, cost float64) e2eTotals {
		return e2eTotals{Requests: 1, InputTokens: in, OutputTokens: out, CostUSD: cost}
	}
	const iso = `"2026-11-27T00:40:00.000Z"`
	const ms = "1795740000000"
	nuls := strings.Repeat("\x00", 3000) // ext4's zero-filled tail after a crash

	// khalid's transcript: good calls between every bad number and time.
	const sid = "0badva1u-0000-4000-8000-00000000e2e7"
	transcript := filepath.Join(sessions, sid+".jsonl")
	e2eWriteLines(t, transcript,
		e2eHeader(sid), e2eKhalidSays,
		e2eCallAt("good0001", iso, ms, 1000, 10, "0.5"),
		e2eCallAt("inf00001", iso, ms, 1000, 10, "1e309"),                          // +Inf cost
		e2eCallAt("inf00002", iso, ms, 1000, 10, "Infinity"),                       // not JSON
		e2eCallAt("nullcost", iso, ms, 2000, 20, "null"),                           // unpriced, not bad
		e2eCallAt("future01", `"9999-12-31T23:59:59.999Z"`, ms, 1000, 10, "0.5"),   // period 10000-01
		e2eCallAt("far00001", "", "1e20", 1000, 10, "0.5"),                         // overflows int64
		e2eCallAt("far00002", "", "-1e20", 1000, 10, "0.5"),                        // before any month
		e2eCallAt("epoch000", `"1970-01-01T00:00:00.000Z"`, "0", 700, 7, "0.0625"), // a time, billed to 1970-01
		nuls+e2eCallAt("afternul", iso, ms, 3000, 30, "0.25"),                      // the line after the zeros
		e2eCallAt("good0002", iso, ms, 4000, 40, "0.125"),
	)
	addTo("khalid", call(1000, 10, 0.5))
	addTo("khalid", e2eTotals{Requests: 1, InputTokens: 2000, OutputTokens: 20, UnpricedRequests: 1})
	addTo("khalid", call(3000, 30, 0.25))
	addTo("khalid", call(4000, 40, 0.125))
	badInTranscript := 6 // 1e309, Infinity, 9999, 1e20, -1e20, the NUL block

	// Two sessions whose keys collided: sessionId "col/a" + entry "b" and
	// sessionId "col" + entry "a/b". Both are real calls.
	e2eWriteLines(t, filepath.Join(sessions, "col-1.jsonl"), e2eHeader("col/a"), e2eKhalidSays, e2eCallAt("b", iso, ms, 111, 1, "0.001"))
	e2eWriteLines(t, filepath.Join(sessions, "col-2.jsonl"), e2eHeader("col"), e2eKhalidSays, e2eCallAt("a/b", iso, ms, 222, 2, "0.002"))
	addTo("khalid", call(111, 1, 0.001))
	addTo("khalid", call(222, 2, 0.002))

	// An agent directory that is a symlink to another disk, holding a call.
	target := filepath.Join(dir, "disk2", "extra")
	e2eWriteLines(t, filepath.Join(target, "sessions", "sym00001-0000-4000-8000-000000000000.jsonl"),
		e2eHeader("sym00001-0000-4000-8000-000000000000"), e2eKhalidSays, e2eCallAt("symcall1", iso, ms, 5000, 50, "0.03125"))
	if err := os.Symlink(target, filepath.Join(state, "agents", "extra")); err != nil {
		t.Fatal(err)
	}
	addTo("khalid", call(5000, 50, 0.03125))

	// An agent whose sessions.json is a FIFO (no writer ever comes).
	fifoDir := filepath.Join(state, "agents", "fifo", "sessions")
	e2eWriteLines(t, filepath.Join(fifoDir, "fifo0001-0000-4000-8000-000000000000.jsonl"),
		e2eHeader("fifo0001-0000-4000-8000-000000000000"), e2eKhalidSays, e2eCallAt("fifocall", iso, ms, 6000, 60, "0.015625"))
	if err := syscall.Mkfifo(filepath.Join(fifoDir, "sessions.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	addTo("khalid", call(6000, 60, 0.015625))

	// A generic gateway log billed by customer id, with non-finite numbers.
	gw := filepath.Join(dir, "gw", "requests.jsonl")
	gwLine := func(id, tokens, cost string) string {
		return fmt.Sprintf(`{"id":%q,"time":"2026-11-20T10:00:00Z","customer":"salon","model":"m","usage":{"prompt_tokens":%s,"completion_tokens":10},"cost":%s}`, id, tokens, cost)
	}
	e2eWriteLines(t, gw,
		gwLine("g1", "100", "0.01"),
		gwLine("g2", "100", `"NaN"`),  // wedged ingest for good
		gwLine("g3", `"NaN"`, "0.01"), // stored as -9223372036854775808
		gwLine("g4", `"inf"`, "0.01"), // idem
		gwLine("g5", "1e300", "0.01"), // idem
		gwLine("g6", "200", `"0.02"`),
	)
	addTo("salon", call(100, 10, 0.01))
	addTo("salon", call(200, 10, 0.02))
	badInLog := 4

	cfg := e2eConfig(t, dir, e2eSourceYAML(state)+
		fmt.Sprintf("  - {type: jsonl, name: gw, path: %q}\n", gw)+
		"monitor: {rescan_interval: 1s}\n")
	db := filepath.Join(dir, "q.db")

	st, r := e2eBackfill(t, cfg, db)
	t.Logf("backfill --format json:\n%s", r.Stdout)
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.Contains(l, "bad line") || strings.Contains(l, "sessions.json") {
			t.Log(l)
		}
	}
	if st.Bad != int64(badInTranscript+badInLog) {
		t.Errorf("backfill: bad_lines = %d, want %d\nstderr:\n%s", st.Bad, badInTranscript+badInLog, e2eTail(r.Stderr, 40))
	}
	for _, reason := range []string{"1e309", "9999-12-31", "1e20", "NaN", "inf", "1e300"} {
		if !strings.Contains(r.Stderr, reason) {
			t.Errorf("backfill: no bad line logged with %q in its reason:\n%s", reason, e2eTail(r.Stderr, 40))
		}
	}
	if !strings.Contains(r.Stderr, "sessions.json") {
		t.Errorf("backfill: the FIFO sessions.json is not reported:\n%s", e2eTail(r.Stderr, 40))
	}
	if diff := e2eDiff(e2eUsage(t, cfg, db), want); diff != "" {
		t.Fatalf("backfill: usage differs from the good lines' totals:\n%s", diff)
	}
	// usage --format json is valid for the whole month and for 1970-01.
	res := e2eExec(t, "--config", cfg, "--db", db, "usage", "--format", "json", "--month", "1970-01")
	var rows []struct {
		Customer string `json:"customer"`
		Requests int64  `json:"requests"`
	}
	if res.Code != 0 || json.Unmarshal([]byte(res.Stdout), &rows) != nil {
		t.Fatalf("usage --month 1970-01: exit %d, stdout %q, stderr %s", res.Code, res.Stdout, res.Stderr)
	}
	epoch := int64(0)
	for _, row := range rows {
		if row.Customer == "khalid" {
			epoch = row.Requests
		}
	}
	if epoch != 1 {
		t.Fatalf("the 1970-01-01T00:00:00.000Z call: khalid has %d requests in 1970-01, want 1:\n%s", epoch, res.Stdout)
	}

	// run keeps ingesting good lines appended after the bad ones.
	p := e2eStart(t, "--config", cfg, "--db", db, "run")
	p.waitLog(t, "caught up; following", time.Minute)
	e2eAppend(t, transcript, e2eCallAt("inf00003", iso, ms, 1, 1, "1e309")+"\n"+nuls+e2eCallAt("good0003", iso, ms, 7000, 70, "0.5")+"\n")
	e2eAppend(t, gw, gwLine("g7", "100", `"NaN"`)+"\n"+gwLine("g8", "300", "0.03")+"\n")
	addTo("khalid", call(7000, 70, 0.5))
	addTo("salon", call(300, 10, 0.03))
	e2eWaitUsage(t, cfg, db, want, 30*time.Second, p)
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("run: exit %d after SIGTERM\nstderr:\n%s", code, e2eTail(p.stderr.String(), 40))
	}
	if !strings.Contains(p.stderr.String(), "bad_lines=3") {
		t.Errorf("run: want 3 bad lines counted (1e309, the NUL block, NaN):\n%s", e2eTail(p.stderr.String(), 20))
	}
}
