package corpus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// fixture is a state written by a real OpenClaw 2026.9.6: a copy in
// testdata if the repository has one, else ../shared/fixtures (beside the
// repository, also in CI).
func fixture(t testing.TB, name string) string {
	t.Helper()
	for _, d := range []string{filepath.Join("..", "..", "testdata", name), filepath.Join("..", "..", "..", "shared", "fixtures", name)} {
		if _, err := os.Stat(filepath.Join(d, "state")); err == nil {
			return d
		}
	}
	t.Fatalf("fixture %s not found in testdata/ or ../shared/fixtures/", name)
	return ""
}

func generateOpenClaw(t testing.TB, opts OpenClawOptions) (string, *OpenClawExpected) {
	t.Helper()
	dir := t.TempDir()
	opts.Dir = dir
	exp, err := GenerateOpenClaw(opts)
	if err != nil {
		t.Fatal(err)
	}
	return dir, exp
}

// everything turns on every optional part of a state.
var everything = OpenClawOptions{Options: Options{Bytes: 3 << 20, Agents: 3, Peers: 16, Seed: 21},
	ColdStorage: true, StateDB: true}

// TestOpenClawGeneratedState checks the claims of the generator on one state
// with every optional part turned on (the subtests share it: generating is
// what costs, above all under the race detector).
func TestOpenClawGeneratedState(t *testing.T) {
	dir, exp := generateOpenClaw(t, everything)
	t.Run("RecountIsExactlyExpected", func(t *testing.T) { recountIsExactlyExpected(t, dir, exp, everything) })
	t.Run("RowsAreCompressedExactlyByOpenClawsRule", func(t *testing.T) { rowsAreCompressedByTheRule(t, exp) })
	t.Run("CompressesAboutThirtyPercentOfCallsByDefault", func(t *testing.T) {
		st := exp.OpenClaw
		if share := float64(st.CompressedCallRows) / float64(st.CallRows); share < 0.25 || share > 0.35 {
			t.Errorf("%d of %d call rows compressed (%.3f), want about 0.30", st.CompressedCallRows, st.CallRows, share)
		}
	})
	t.Run("HasEveryForm", func(t *testing.T) { hasEveryForm(t, dir, exp) })
	t.Run("AgentDatabasesHaveTheFixturesSchema", func(t *testing.T) { haveTheFixturesSchema(t, dir, exp) })
}

// TestRecountOfTheSamplesIsTheirExpectedUsage checks the tests' own
// independent reader on the two states written by a real OpenClaw 2026.9.6:
// it gets their expected-usage.json exactly, so its recount of a generated
// state is evidence.
func TestRecountOfTheSamplesIsTheirExpectedUsage(t *testing.T) {
	for _, s := range []string{"openclaw-sample", "openclaw-sample2"} {
		t.Run(s, func(t *testing.T) {
			dir := fixture(t, s)
			want, cust := fixtureExpected(t, dir)
			r := newRecount(t, cust, "immutable=1")
			r.scan(filepath.Join(dir, "state"))
			if err := compareTotals(want, r.result(), 1e-9); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func sqliteMaster(t testing.TB, path, query string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", ocFileURI(path, query))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master
		WHERE name <> 'sqlite_stat1' ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, name, tbl, q string
		if err := rows.Scan(&typ, &name, &tbl, &q); err != nil {
			t.Fatal(err)
		}
		out = append(out, typ+" "+name+" "+tbl+"\n"+q)
	}
	return out
}

// haveTheFixturesSchema: every table, index, trigger and virtual table of
// a generated agent database is the one OpenClaw 2026.9.6 created (same
// sqlite_master text), with schema_meta and user_version 23, in WAL mode,
// consistent and with no dangling foreign key.
func haveTheFixturesSchema(t *testing.T, dir string, exp *OpenClawExpected) {
	want := sqliteMaster(t, filepath.Join(fixture(t, "openclaw-sample2"), "state", "agents", "main", "agent", "openclaw-agent.sqlite"), "mode=ro&immutable=1")
	for _, d := range exp.OpenClaw.Databases {
		if !strings.HasPrefix(d.Path, dir) {
			t.Errorf("database %s outside the state dir", d.Path)
		}
		got := sqliteMaster(t, d.Path, "mode=ro")
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: schema differs from the fixture's (%d objects, want %d)", d.Path, len(got), len(want))
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Fatalf("first difference:\n%s\nwant\n%s", got[i], want[i])
				}
			}
		}
		db, err := sql.Open("sqlite", ocFileURI(d.Path, "mode=ro"))
		if err != nil {
			t.Fatal(err)
		}
		var version, metaVersion int
		var mode, role, agent, app, check string
		if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT role, schema_version, agent_id, app_version FROM schema_meta WHERE meta_key = 'primary'`).
			Scan(&role, &metaVersion, &agent, &app); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil {
			t.Fatal(err)
		}
		var dangling int
		rows, err := db.Query(`PRAGMA foreign_key_check`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			dangling++
		}
		rows.Close()
		db.Close()
		if version != 23 || mode != "wal" || role != "agent" || metaVersion != 23 || agent != d.Agent || app != "2026.9.6" ||
			check != "ok" || dangling != 0 {
			t.Errorf("%s: user_version %d, journal %s, schema_meta %s/%d/%s/%s, integrity %q, %d dangling keys",
				d.Path, version, mode, role, metaVersion, agent, app, check, dangling)
		}
	}
}

type navRow struct {
	q *sql.DB
}

func (n navRow) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return n.q.QueryRowContext(ctx, ocNavigationSQL, args...)
}

// TestOpenClawNavigationIsOpenClawsByteForByte: for every compressed row
// OpenClaw wrote in the samples, the generator's navigation_json (report
// facts plus the SQLite projections) is the stored one, byte for byte, and
// its compression decision is OpenClaw's for every row of 1 KiB or more.
func TestOpenClawNavigationIsOpenClawsByteForByte(t *testing.T) {
	codec, err := newOCCodec()
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	var compressed, plain int
	for _, s := range []string{"openclaw-sample", "openclaw-sample2"} {
		m, _ := filepath.Glob(filepath.Join(fixture(t, s), "state", "agents", "*", "agent", "openclaw-agent.sqlite"))
		for _, p := range m {
			db, err := sql.Open("sqlite", ocFileURI(p, "mode=ro&immutable=1"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rows, err := db.Query(`SELECT event_json, event_zstd, coalesce(navigation_json, '') FROM transcript_events
				WHERE event_utf8_bytes >= 1024`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var ej sql.NullString
				var z []byte
				var nav string
				if err := rows.Scan(&ej, &z, &nav); err != nil {
					t.Fatal(err)
				}
				ev := []byte(ej.String)
				if !ej.Valid {
					if ev, err = dec.DecodeAll(z, nil); err != nil {
						t.Fatal(err)
					}
					compressed++
				} else {
					plain++
				}
				got, err := codec.payload(context.Background(), navRow{db}, ev)
				if err != nil {
					t.Fatal(err)
				}
				if (got.zstd != nil) != !ej.Valid {
					t.Errorf("%s: a %d-byte event: compressed=%v, OpenClaw: %v", p, len(ev), got.zstd != nil, !ej.Valid)
				}
				if !ej.Valid && got.nav.String != nav {
					t.Errorf("%s: navigation_json\n got %s\nwant %s", p, got.nav.String, nav)
				}
			}
			rows.Close()
		}
	}
	if compressed < 4 || plain < 1 {
		t.Fatalf("checked %d compressed and %d plain rows of the samples; want 4 and 1 at least", compressed, plain)
	}
}

// rowsAreCompressedByTheRule decodes every row of a generated state: a
// compressed row is the zstd (with checksum) of its
// event, event_utf8_bytes long, at least 1 KiB and at most 4 MiB, without
// `\u` or NUL, not the header, and saving max(64 B, 10 %) with its
// navigation_json counted; a plain row is one OpenClaw would not have
// compressed.
func rowsAreCompressedByTheRule(t *testing.T, exp *OpenClawExpected) {
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	level1, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(1)), zstd.WithEncoderCRC(true),
		zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	var compressed, escaped, unsaving, results int
	for _, d := range exp.OpenClaw.Databases {
		db, err := sql.Open("sqlite", ocFileURI(d.Path, "mode=ro"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		nav, err := db.Prepare(ocNavigationSQL)
		if err != nil {
			t.Fatal(err)
		}
		defer nav.Close()
		navOf := func(ev []byte) string {
			rep, ok := ocReport(ev)
			if !ok {
				return ""
			}
			var n sql.NullString
			if err := nav.QueryRow(string(ev), rep).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n.String
		}
		rows, err := db.Query(`SELECT session_id, seq, event_json, event_zstd, event_utf8_bytes, navigation_json
			FROM transcript_events ORDER BY session_id, seq`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var seq, n int
			var ej, navJSON sql.NullString
			var z []byte
			if err := rows.Scan(&id, &seq, &ej, &z, &n, &navJSON); err != nil {
				t.Fatal(err)
			}
			where := fmt.Sprintf("%s/%d", id, seq)
			limit := n - max(64, (n+9)/10)
			if !ej.Valid {
				compressed++
				if len(z) < 5 || !bytes.Equal(z[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}) || z[4]&0x04 == 0 {
					t.Fatalf("%s: not a zstd frame with a checksum", where)
				}
				ev, err := dec.DecodeAll(z, nil)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				var head struct{ Type, ID string }
				if err := json.Unmarshal(ev, &head); err != nil || len(ev) != n {
					t.Fatalf("%s: decoded %d bytes (utf8_bytes %d): %v", where, len(ev), n, err)
				}
				if n < 1024 || n > 4<<20 || bytes.Contains(ev, []byte(`\u`)) || bytes.IndexByte(ev, 0) >= 0 ||
					head.Type == "session" || !navJSON.Valid || len(z)+len(navJSON.String) > limit {
					t.Errorf("%s: compressed against the rule: %d bytes, zstd %d + navigation %d > %d, type %s",
						where, n, len(z), len(navJSON.String), limit, head.Type)
				}
				if got := navOf(ev); got != navJSON.String {
					t.Errorf("%s: navigation_json is not the event's:\n got %s\nwant %s", where, navJSON.String, got)
				}
				if bytes.Contains(ev, []byte(`"role":"toolResult"`)) {
					results++
				}
				continue
			}
			ev := []byte(ej.String)
			if len(ev) != n || navJSON.Valid || z != nil {
				t.Fatalf("%s: plain row with utf8_bytes %d for %d bytes, navigation %v", where, n, len(ev), navJSON.Valid)
			}
			if n < 1024 || n > 4<<20 || bytes.IndexByte(ev, 0) >= 0 || bytes.HasPrefix(ev, []byte(`{"type":"session",`)) {
				continue
			}
			if bytes.Contains(ev, []byte(`\u`)) {
				escaped++
				continue
			}
			zl := len(level1.EncodeAll(ev, nil))
			if zl <= limit && zl+len(navOf(ev)) <= limit {
				t.Errorf("%s: %d bytes left plain though zstd %d + navigation saves enough (limit %d)", where, n, zl, limit)
			}
			unsaving++
		}
		rows.Close()
	}
	t.Logf("%d compressed rows (%d tool results), %d plain for a \\u escape, %d plain for too little saving",
		compressed, results, escaped, unsaving)
	if compressed == 0 || results == 0 || escaped == 0 || unsaving == 0 {
		t.Fatal("the rule's branches are not all exercised")
	}
}

// recountIsExactlyExpected reads every row, window, archive (row and file)
// and cold archive of a generated state with the tests' own reader: the
// calls, per customer, are exactly expected.json, and so are the counts of
// lines, rows and archives.
func recountIsExactlyExpected(t *testing.T, dir string, exp *OpenClawExpected, opts OpenClawOptions) {
	r := newRecount(t, expectedCustomers(&exp.Expected), "")
	r.scan(dir)
	if err := exp.Compare(r.result(), 1e-9); err != nil {
		t.Fatal(err)
	}
	st := exp.OpenClaw
	if r.calls() != exp.Calls || r.usageLines != exp.UsageLines || r.synthetic != exp.Synthetic || r.lines != exp.Lines ||
		r.rows != st.Rows || r.compressedRows != st.CompressedRows || r.archiveRows != st.ArchiveRows ||
		r.archiveFiles != st.ArchiveFiles || r.coldFiles != st.ColdFiles || r.coldBlobs != st.ColdBlobs {
		t.Errorf("recount: %d calls, %d usage lines, %d synthetic, %d lines, %d rows (%d compressed), "+
			"archives %d rows %d files, cold %d files %d blobs; expected.json: %d, %d, %d, %d, %d (%d), %d %d, %d %d",
			r.calls(), r.usageLines, r.synthetic, r.lines, r.rows, r.compressedRows, r.archiveRows, r.archiveFiles,
			r.coldFiles, r.coldBlobs, exp.Calls, exp.UsageLines, exp.Synthetic, exp.Lines, st.Rows, st.CompressedRows,
			st.ArchiveRows, st.ArchiveFiles, st.ColdFiles, st.ColdBlobs)
	}
	if exp.Calls == 0 || exp.UsageLines == exp.Calls {
		t.Errorf("no calls, or no call is in two places: %d calls, %d usage lines", exp.Calls, exp.UsageLines)
	}
	if len(r.dbs) != opts.Agents {
		t.Errorf("found %d agent databases, want %d", len(r.dbs), opts.Agents)
	}
	if opts.CustomLocation {
		if m, _ := filepath.Glob(filepath.Join(dir, "agents", "*", "agent", "*.sqlite")); len(m) != 0 {
			t.Errorf("custom location, yet %v", m)
		}
	}
}

// TestOpenClawVariantsRecountExactly: without a state database (agent
// databases found by path) and with a custom session.store (found only
// through agent_databases, archives of all agents in one directory), the
// recount is exactly expected.json.
func TestOpenClawVariantsRecountExactly(t *testing.T) {
	for name, opts := range map[string]OpenClawOptions{
		"agents found by path": {Options: Options{Bytes: 1 << 20, Agents: 2, Peers: 8, Seed: 3}},
		"custom location":      {Options: Options{Bytes: 1 << 20, Agents: 3, Peers: 8, Seed: 4}, CustomLocation: true, ColdStorage: true},
	} {
		t.Run(name, func(t *testing.T) {
			dir, exp := generateOpenClaw(t, opts)
			recountIsExactlyExpected(t, dir, exp, opts)
		})
	}
}

// contentDigest hashes what a state holds: every row of every table a
// reader looks at, and every archive and cold file.
func contentDigest(t testing.TB, dir string) []byte {
	t.Helper()
	h := sha256.New()
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	sort.Strings(files)
	tables := []string{"schema_meta", "session_key_contract", "session_nodes", "session_windows", "conversations",
		"session_conversations", "transcript_events", "transcript_event_identities", "transcript_rewrite_watermarks",
		"session_transcript_archives", "session_transcript_cold_archives", "agent_databases"}
	for _, p := range files {
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "file %s\n", rel)
		if !strings.HasSuffix(p, ".sqlite") {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(h, f)
			f.Close()
			continue
		}
		db, err := sql.Open("sqlite", ocFileURI(p, "mode=ro"))
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			rows, err := db.Query(`SELECT * FROM ` + tb + ` ORDER BY rowid`)
			if err != nil {
				continue // not in this kind of database
			}
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			for rows.Next() {
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(h, "%s", tb)
				for _, v := range vals {
					if b, ok := v.([]byte); ok {
						fmt.Fprintf(h, " %x", b)
					} else {
						fmt.Fprintf(h, " %T:%v", v, v)
					}
				}
				fmt.Fprintln(h)
			}
			rows.Close()
		}
		db.Close()
	}
	return h.Sum(nil)
}

// TestOpenClawSameSeedSameContent: the same options write the same rows
// and files (the JSON, the compressed bytes, the archives); another seed
// writes others.
func TestOpenClawSameSeedSameContent(t *testing.T) {
	opts := OpenClawOptions{Options: Options{Bytes: 512 << 10, Agents: 2, Seed: 8}, ColdStorage: true, StateDB: true}
	a, ea := generateOpenClaw(t, opts)
	b, eb := generateOpenClaw(t, opts)
	if !bytes.Equal(contentDigest(t, a), contentDigest(t, b)) {
		t.Error("same seed, different content")
	}
	if ea.Calls != eb.Calls || fmt.Sprint(ea.Totals) != fmt.Sprint(eb.Totals) {
		t.Error("same seed, different totals")
	}
	opts.Seed = 9
	c, _ := generateOpenClaw(t, opts)
	if bytes.Equal(contentDigest(t, a), contentDigest(t, c)) {
		t.Error("different seeds, same content")
	}
}

// TestOpenClawCompressedShareKnobMovesTheShare: more long replies, more
// compressed calls; none asked for, (almost) none.
func TestOpenClawCompressedShareKnobMovesTheShare(t *testing.T) {
	share := func(s float64) float64 {
		_, exp := generateOpenClaw(t, OpenClawOptions{Options: Options{Bytes: 1 << 20, Agents: 2, Seed: 6}, CompressedShare: s})
		st := exp.OpenClaw
		return float64(st.CompressedCallRows) / float64(st.CallRows)
	}
	if more, none := share(0.5), share(-1); more < 0.42 || none > 0.05 {
		t.Errorf("share 0.5: %.3f of call rows compressed; share -1 (none): %.3f", more, none)
	}
}

var uuidID = regexp.MustCompile(`"id":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"`)

// hasEveryForm: a generated state holds every form a
// reader must handle (openclaw-formats.md): the six session-key shapes,
// several generations per key, both envelopes, the 2026.9 line forms and
// the imported Clawdbot ones, archives of both encodings as rows and files
// (and one without the other), cold files and blobs, conversations whose
// peer_id is a number or a key.
func hasEveryForm(t *testing.T, dir string, exp *OpenClawExpected) {
	forms := map[string]*regexp.Regexp{
		"header version 4":             regexp.MustCompile(`^\{"type":"session","version":4,`),
		"imported header version 3":    regexp.MustCompile(`^\{"type":"session","version":3,`),
		"full-UUID entry id":           uuidID,
		"reset line":                   regexp.MustCompile(`^\{"type":"reset","id":"[0-9a-f]{8}",.*"reason":"reset"\}$`),
		"bootstrap-context custom":     regexp.MustCompile(`"customType":"openclaw:bootstrap-context:full","data":\{`),
		"responseId":                   regexp.MustCompile(`"responseId":"(chatcmpl-|msg_)`),
		"reasoningTokens":              regexp.MustCompile(`"reasoningTokens":[1-9]`),
		"gateway-injected":             regexp.MustCompile(`"provider":"openclaw","model":"gateway-injected"`),
		"delivery-mirror":              regexp.MustCompile(`"provider":"openclaw","model":"delivery-mirror"`),
		"old injected":                 regexp.MustCompile(`"stopReason":"injected"`),
		"old delivery-mirror":          regexp.MustCompile(`"provider":"clawdbot","model":"delivery-mirror"`),
		"error line":                   regexp.MustCompile(`"stopReason":"error".*"idempotencyKey":"[^"]+:terminal-error"`),
		"tool result":                  regexp.MustCompile(`"role":"toolResult"`),
		"envelope [WhatsApp +966…]":    regexp.MustCompile(`\[WhatsApp \+966[0-9]{9} `),
		"envelope [WhatsApp name id:]": regexp.MustCompile(`\[WhatsApp [^\]]+ id:\+966[0-9]{9} `),
		"group envelope":               regexp.MustCompile(`\[WhatsApp [^\]]*[0-9]+@g\.us `),
	}
	seen := map[string]int{}
	r := newRecount(t, expectedCustomers(&exp.Expected), "")
	r.onLine = func(_, _, _ string, line []byte) {
		for name, re := range forms {
			if re.Match(line) {
				seen[name]++
			}
		}
	}
	r.scan(dir)
	for name := range forms {
		if seen[name] == 0 {
			t.Errorf("no %s", name)
		}
	}
	shapes := map[string]*regexp.Regexp{
		ShapeMain: regexp.MustCompile(`^agent:[a-z]+:main$`), ShapeDM: regexp.MustCompile(`^agent:[a-z]+:whatsapp:dm:\+966`),
		ShapeDirect:        regexp.MustCompile(`^agent:[a-z]+:whatsapp:direct:\+966`),
		ShapeAccountDirect: regexp.MustCompile(`^agent:[a-z]+:whatsapp:[a-z0-9]+:direct:\+966`),
		ShapePeerDirect:    regexp.MustCompile(`^agent:[a-z]+:direct:\+966`),
		ShapeGroup:         regexp.MustCompile(`^agent:[a-z]+:whatsapp:group:[0-9]+@g\.us$`),
	}
	count := func(db *sql.DB, q string) int {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	keySeen := map[string]bool{}
	var multi, encodings, unpublished, resets, coldFile, coldDB, peerNumber, peerKey int
	for _, d := range exp.OpenClaw.Databases {
		db, err := sql.Open("sqlite", ocFileURI(d.Path, "mode=ro"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT session_key FROM session_windows UNION SELECT session_key FROM session_transcript_archives`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k string
			rows.Scan(&k)
			for s, re := range shapes {
				if re.MatchString(k) {
					keySeen[s] = true
				}
			}
		}
		rows.Close()
		multi += count(db, `SELECT count(*) FROM (SELECT session_key FROM session_windows GROUP BY session_key HAVING count(*) >= 3)`)
		if n := count(db, `SELECT count(*) FROM session_windows w WHERE previous_session_id IS NOT NULL AND NOT EXISTS
			(SELECT 1 FROM session_windows p WHERE p.session_id = w.previous_session_id AND p.session_key = w.session_key)`); n > 0 {
			t.Errorf("%s: %d windows point at no earlier window of their key", d.Path, n)
		}
		if n := count(db, `SELECT count(*) FROM session_nodes n WHERE NOT EXISTS (SELECT 1 FROM session_windows w
			WHERE w.session_id = n.current_session_id AND w.session_key = n.session_key)`); n > 0 {
			t.Errorf("%s: %d nodes whose current session is no window of theirs", d.Path, n)
		}
		encodings += count(db, `SELECT count(DISTINCT encoding) FROM session_transcript_archives`)
		unpublished += count(db, `SELECT count(*) FROM session_transcript_archives WHERE published_at IS NULL`)
		resets += count(db, `SELECT count(*) FROM session_transcript_archives WHERE reason = 'reset'`)
		coldFile += count(db, `SELECT count(*) FROM session_transcript_cold_archives WHERE storage = 'file'`)
		coldDB += count(db, `SELECT count(*) FROM session_transcript_cold_archives WHERE storage = 'sqlite'`)
		if n := count(db, `SELECT count(*) FROM session_transcript_cold_archives c JOIN transcript_events e USING (session_id)`); n > 0 {
			t.Errorf("%s: %d rows left in transcript_events for cold sessions", d.Path, n)
		}
		peerNumber += count(db, `SELECT count(*) FROM conversations WHERE peer_id LIKE '+%'`)
		peerKey += count(db, `SELECT count(*) FROM conversations WHERE peer_id LIKE 'agent:%'`)
	}
	for s := range shapes {
		if !keySeen[s] {
			t.Errorf("no session key of shape %s", s)
		}
	}
	fileOnly := r.archiveFiles - (r.archiveRows - unpublished)
	if multi == 0 || encodings < 2 || unpublished == 0 || fileOnly <= 0 || resets == 0 || coldFile == 0 || coldDB == 0 ||
		peerNumber == 0 || peerKey == 0 || exp.OpenClaw.LegacyWindows == 0 || exp.OpenClaw.CompactedSessions == 0 {
		t.Errorf("keys with 3+ windows %d, archive encodings %d, unpublished archive rows %d, archive files without row %d, "+
			"reset archives %d, cold files %d, cold blobs %d, peer_id numbers %d, keys %d, legacy windows %d, compacted %d",
			multi, encodings, unpublished, fileOnly, resets, coldFile, coldDB, peerNumber, peerKey,
			exp.OpenClaw.LegacyWindows, exp.OpenClaw.CompactedSessions)
	}
}

// TestOpenClawConfigReadsAnOpenClawSource: quotawatch.yaml names an
// openclaw source, and expected.json reads back as written.
func TestOpenClawConfigReadsAnOpenClawSource(t *testing.T) {
	dir, exp := generateOpenClaw(t, OpenClawOptions{Options: Options{Bytes: 256 << 10, Agents: 1, Seed: 2}})
	if cfg := exp.Config(dir); !strings.Contains(cfg, "{type: openclaw, dir: \""+dir+"\"}") {
		t.Errorf("config:\n%s", cfg)
	}
	p := filepath.Join(t.TempDir(), "expected.json")
	if err := exp.WriteExpected(p); err != nil {
		t.Fatal(err)
	}
	back, err := ReadOpenClawExpected(p)
	if err != nil {
		t.Fatal(err)
	}
	if back.Source != "openclaw" || back.Calls != exp.Calls || len(back.OpenClaw.Databases) != 1 ||
		back.Expected.Compare(exp.Totals, 0) != nil {
		t.Errorf("read back %+v", back.Expected)
	}
	plain, err := ReadExpected(p)
	if err != nil || plain.Source != "openclaw" || plain.Calls != exp.Calls {
		t.Errorf("ReadExpected: %v %+v", err, plain)
	}
}
