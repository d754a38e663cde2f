package corpus

// An independent reader of OpenClaw state directories, for the tests: it
// uses none of the generator's code (its own key parser, envelope parser,
// zstd decoder and JSON decoding), reads every place a transcript can be
// (rows, plain or compressed; archive rows and files; cold files and blobs)
// and counts every provider call once per session and entry id.

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

type recount struct {
	t    testing.TB
	cust func(agent, key, envPeer string) string
	// query is added to the read-only DSN: "immutable=1" for closed or
	// read-only databases; "" while a writer is live.
	query string
	// onLine, if set, sees every line of every copy.
	onLine func(agent, sessionID, key string, line []byte)

	totals map[string]Totals
	comp   map[string]float64
	seen   map[string]bool

	lines, usageLines, synthetic int64
	rows, compressedRows         int64
	archiveFiles, archiveRows    int
	coldFiles, coldBlobs         int
	dbs                          []string
	dec                          *zstd.Decoder
}

func newRecount(t testing.TB, cust func(agent, key, envPeer string) string, query string) *recount {
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dec.Close)
	return &recount{t: t, cust: cust, query: query, totals: map[string]Totals{}, comp: map[string]float64{},
		seen: map[string]bool{}, dec: dec}
}

// byPeerCustomers bills by peer, then by agent, then the default, the way a
// quotawatch configuration of peers and agents does.
func byPeerCustomers(byPeer, byAgent map[string]string, def string) func(agent, key, envPeer string) string {
	return func(agent, key, envPeer string) string {
		peer := testKeyPeer(key)
		if peer == "" {
			peer = envPeer
		}
		if c, ok := byPeer[strings.ToLower(peer)]; ok && peer != "" {
			return c
		}
		if c, ok := byAgent[agent]; ok {
			return c
		}
		return def
	}
}

func expectedCustomers(e *Expected) func(agent, key, envPeer string) string {
	byPeer := map[string]string{}
	for _, c := range e.Customers {
		if c.Peer != "" {
			byPeer[strings.ToLower(c.Peer)] = c.ID
		}
	}
	return byPeerCustomers(byPeer, nil, e.DefaultCustomer)
}

// testKeyPeer finds the peer in every session-key shape of Clawdbot and
// OpenClaw 2026.9.
func testKeyPeer(key string) string {
	parts := strings.Split(key, ":")
	if len(parts) < 3 || parts[0] != "agent" {
		return ""
	}
	for i := 2; i < len(parts)-1; i++ {
		switch parts[i] {
		case "dm", "direct", "group":
			return strings.Join(parts[i+1:], ":")
		}
	}
	return ""
}

var envelopePeer = regexp.MustCompile(`\[WhatsApp (?:[^\]\n]*? id:)?(\+[0-9]+|[0-9]+@g\.us)[ \]]`)

func (r *recount) open(path string) *sql.DB {
	q := "mode=ro"
	if r.query != "" {
		q += "&" + r.query
	}
	db, err := sql.Open("sqlite", ocFileURI(path, q))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { db.Close() })
	return db
}

type dbRef struct{ agent, path string }

func (r *recount) databases(dir string) []dbRef {
	var out []dbRef
	state := filepath.Join(dir, "state", "openclaw.sqlite")
	if _, err := os.Stat(state); err == nil {
		rows, err := r.open(state).Query(`SELECT agent_id, path FROM agent_databases ORDER BY agent_id`)
		if err != nil {
			r.t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var d dbRef
			if err := rows.Scan(&d.agent, &d.path); err != nil {
				r.t.Fatal(err)
			}
			if !filepath.IsAbs(d.path) {
				d.path = filepath.Join(dir, d.path)
			}
			out = append(out, d)
		}
		return out
	}
	m, _ := filepath.Glob(filepath.Join(dir, "agents", "*", "agent", "openclaw-agent.sqlite"))
	sort.Strings(m)
	for _, p := range m {
		out = append(out, dbRef{agent: filepath.Base(filepath.Dir(filepath.Dir(p))), path: p})
	}
	return out
}

func (r *recount) unzstd(b []byte) []byte {
	out, err := r.dec.DecodeAll(b, nil)
	if err != nil {
		r.t.Fatalf("zstd: %v", err)
	}
	return out
}

// scan reads the whole state once more; calls already seen are not counted
// again, so a follower can scan repeatedly.
func (r *recount) scan(dir string) {
	dirs := map[string]*artifacts{}
	var order []string
	for _, d := range r.databases(dir) {
		r.dbs = append(r.dbs, d.path)
		sessionsDir := filepath.Join(filepath.Dir(filepath.Dir(d.path)), "sessions")
		if filepath.Base(filepath.Dir(d.path)) != "agent" {
			sessionsDir = filepath.Dir(d.path)
		}
		a := dirs[sessionsDir]
		if a == nil {
			a = &artifacts{agent: d.agent, names: map[string]archived{}, keys: map[string]archived{}}
			dirs[sessionsDir] = a
			order = append(order, sessionsDir)
		}
		r.scanDB(d, sessionsDir, a)
	}
	// Archive files, once per directory (agents may share one).
	for _, sessionsDir := range order {
		a := dirs[sessionsDir]
		ents, _ := os.ReadDir(sessionsDir)
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() || !(strings.Contains(name, ".jsonl.deleted.") || strings.Contains(name, ".jsonl.reset.")) {
				continue
			}
			data, err := os.ReadFile(filepath.Join(sessionsDir, name))
			if err != nil {
				r.t.Fatal(err)
			}
			if strings.HasSuffix(name, ".zst") {
				data = r.unzstd(data)
			}
			r.archiveFiles++
			id := name[:strings.Index(name, ".jsonl.")]
			who, ok := a.names[name]
			if !ok {
				who, ok = a.keys[id]
			}
			if !ok {
				who = archived{agent: a.agent}
			}
			r.transcript(who.agent, id, who.key, splitLines(data))
		}
	}
}

// archived is who an archive file belongs to.
type archived struct{ agent, key string }

// artifacts is what the databases sharing a sessions directory know about
// its files.
type artifacts struct {
	agent string
	names map[string]archived // by archive name
	keys  map[string]archived // by session id (windows)
}

func (r *recount) scanDB(d dbRef, sessionsDir string, a *artifacts) {
	db := r.open(d.path)
	keys := map[string]string{}
	rows, err := db.Query(`SELECT session_id, session_key FROM session_windows`)
	if err != nil {
		r.t.Fatal(err)
	}
	for rows.Next() {
		var id, key string
		rows.Scan(&id, &key)
		keys[id] = key
		a.keys[id] = archived{d.agent, key}
	}
	rows.Close()
	// Rows, plain or compressed, grouped by session for the envelope.
	perSession := map[string][][]byte{}
	var order []string
	rows, err = db.Query(`SELECT session_id, event_json, event_zstd FROM transcript_events ORDER BY session_id, seq`)
	if err != nil {
		r.t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var ej sql.NullString
		var z []byte
		if err := rows.Scan(&id, &ej, &z); err != nil {
			r.t.Fatal(err)
		}
		line := []byte(ej.String)
		if !ej.Valid {
			line = r.unzstd(z)
			r.compressedRows++
		}
		r.rows++
		if _, ok := perSession[id]; !ok {
			order = append(order, id)
		}
		perSession[id] = append(perSession[id], line)
	}
	rows.Close()
	for _, id := range order {
		r.transcript(d.agent, id, keys[id], perSession[id])
	}
	// Archive rows (their files are read by scan).
	rows, err = db.Query(`SELECT session_id, session_key, encoding, archive_blob, archive_name FROM session_transcript_archives`)
	if err != nil {
		r.t.Fatal(err)
	}
	for rows.Next() {
		var id, key, enc, name string
		var blob []byte
		rows.Scan(&id, &key, &enc, &blob, &name)
		if enc == "zstd" {
			blob = r.unzstd(blob)
		}
		a.names[name] = archived{d.agent, key}
		r.archiveRows++
		r.transcript(d.agent, id, key, splitLines(blob))
	}
	rows.Close()
	// Cold archives: files or blobs of wrapped records.
	rows, err = db.Query(`SELECT session_id, archive_name, storage, archive_blob FROM session_transcript_cold_archives`)
	if err != nil {
		r.t.Fatal(err)
	}
	for rows.Next() {
		var id, name, storage string
		var blob []byte
		rows.Scan(&id, &name, &storage, &blob)
		if storage == "file" {
			if blob, err = os.ReadFile(filepath.Join(sessionsDir, "cold", name)); err != nil {
				r.t.Fatal(err)
			}
			r.coldFiles++
		} else {
			r.coldBlobs++
		}
		var lines [][]byte
		for _, rec := range splitLines(r.unzstd(blob)) {
			var v struct {
				Kind string `json:"kind"`
				Row  struct {
					EventJSON string `json:"event_json"`
				} `json:"row"`
			}
			if err := json.Unmarshal(rec, &v); err != nil {
				r.t.Fatalf("cold %s: %v", name, err)
			}
			if v.Kind == "event" {
				lines = append(lines, []byte(v.Row.EventJSON))
			}
		}
		r.transcript(d.agent, id, keys[id], lines)
	}
	rows.Close()
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

type testLine struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Message *struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		Provider   string          `json:"provider"`
		Model      string          `json:"model"`
		StopReason string          `json:"stopReason"`
		Usage      *struct {
			Input      int64 `json:"input"`
			Output     int64 `json:"output"`
			CacheRead  int64 `json:"cacheRead"`
			CacheWrite int64 `json:"cacheWrite"`
			Cost       struct {
				Total float64 `json:"total"`
			} `json:"cost"`
		} `json:"usage"`
	} `json:"message"`
}

// transcript counts one copy of a session's lines.
func (r *recount) transcript(agent, sessionID, key string, lines [][]byte) {
	parsed := make([]testLine, len(lines))
	envPeer := ""
	for i, l := range lines {
		if err := json.Unmarshal(l, &parsed[i]); err != nil {
			r.t.Fatalf("session %s line %d: %v", sessionID, i, err)
		}
		if m := parsed[i].Message; envPeer == "" && m != nil && m.Role == "user" {
			var txt string
			if json.Unmarshal(m.Content, &txt) != nil {
				var parts []struct {
					Text string `json:"text"`
				}
				json.Unmarshal(m.Content, &parts)
				if len(parts) > 0 {
					txt = parts[0].Text
				}
			}
			if s := envelopePeer.FindStringSubmatch(txt); s != nil {
				envPeer = s[1]
			}
		}
	}
	customer := r.cust(agent, key, envPeer)
	for i, l := range parsed {
		r.lines++
		if r.onLine != nil {
			r.onLine(agent, sessionID, key, lines[i])
		}
		m := l.Message
		if l.Type != "message" || m == nil || m.Role != "assistant" || m.Usage == nil {
			continue
		}
		if m.StopReason == "injected" || ((m.Provider == "openclaw" || m.Provider == "clawdbot") &&
			(m.Model == "gateway-injected" || m.Model == "delivery-mirror")) {
			r.synthetic++
			continue
		}
		r.usageLines++
		id := sessionID + "\x00" + l.ID
		if r.seen[id] {
			continue
		}
		r.seen[id] = true
		t := r.totals[customer]
		if m.StopReason == "error" {
			t.Failed++
		} else {
			t.Requests++
		}
		t.Input += m.Usage.Input
		t.Output += m.Usage.Output
		t.CacheRead += m.Usage.CacheRead
		t.CacheWrite += m.Usage.CacheWrite
		c := m.Usage.Cost.Total
		s := t.CostUSD + c
		if math.Abs(t.CostUSD) >= math.Abs(c) {
			r.comp[customer] += (t.CostUSD - s) + c
		} else {
			r.comp[customer] += (c - s) + t.CostUSD
		}
		t.CostUSD = s
		r.totals[customer] = t
	}
}

func (r *recount) result() map[string]Totals {
	out := map[string]Totals{}
	for c, t := range r.totals {
		t.CostUSD += r.comp[c]
		out[c] = t
	}
	return out
}

func (r *recount) calls() int64 { return int64(len(r.seen)) }

// fixtureExpected reads a sample's expected-usage.json and mapping.json.
func fixtureExpected(t testing.TB, dir string) (map[string]Totals, func(agent, key, envPeer string) string) {
	var want map[string]Totals
	data, err := os.ReadFile(filepath.Join(dir, "expected-usage.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	var m struct {
		Customers []struct{ ID, Peer, Agent string } `json:"customers"`
		Default   string                             `json:"default_customer"`
	}
	data, err = os.ReadFile(filepath.Join(dir, "mapping.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	byPeer, byAgent := map[string]string{}, map[string]string{}
	for _, c := range m.Customers {
		if c.Peer != "" {
			byPeer[strings.ToLower(c.Peer)] = c.ID
		}
		if c.Agent != "" {
			byAgent[c.Agent] = c.ID
		}
	}
	return want, byPeerCustomers(byPeer, byAgent, m.Default)
}

func compareTotals(want, got map[string]Totals, tol float64) error {
	e := &Expected{Totals: want}
	return e.Compare(got, tol)
}
