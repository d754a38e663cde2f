package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/monitor"
	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

const sampleDir = "../testdata/clawdbot-sample"

var riyadh = func() *time.Location {
	l, err := time.LoadLocation("Asia/Riyadh")
	if err != nil {
		panic(err)
	}
	return l
}()

// inNovember is a clock inside the sample's month, so /metrics (which
// reports the running period) shows the sample's usage.
func inNovember() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, riyadh) }

// sampleCustomers is testdata/demo.yaml's mapping, resolved as the config
// would resolve it. owner's name holds markup, to prove it is escaped.
func sampleCustomers() []report.Customer {
	return []report.Customer{
		{ID: "omar", Name: "عمر", Tier: "standard", Limits: &report.Tier{Requests: 3000}, Match: report.Match{Peer: "+966500000001"}},
		{ID: "layla", Name: "ليلى", Tier: "basic", Limits: &report.Tier{Requests: 500}, Match: report.Match{Peer: "+966500000002"}},
		{ID: "khalid", Name: "خالد", Tier: "basic", Limits: &report.Tier{Requests: 4}, Match: report.Match{Peer: "+966500000003"}},
		{ID: "salon", Name: "Salon", Tier: "pro", Match: report.Match{Agent: "ops"}},
		{ID: "owner", Name: `Owner <script>alert("x")</script>`, Tier: "pro"},
	}
}

type fixture struct {
	st   *store.Store
	book *report.Book
	dir  string
	opts Options
}

// newFixture backfills a copy of the bundled Clawdbot sample into a real
// database in a temporary directory.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	copyTree(t, sampleDir, state)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cs := sampleCustomers()
	attr := monitor.NewAttributor(cs, "owner", riyadh)
	m := monitor.New(monitor.Config{Sources: []monitor.SourceConfig{{Type: monitor.SourceClawdbot, Dir: state}}}, st, attr, nil)
	if _, err := m.Backfill(ctx, nil, nil); err != nil {
		t.Fatalf("backfill the sample: %v", err)
	}
	f := &fixture{st: st, book: report.NewBook(cs, riyadh), dir: dir}
	f.opts = Options{Store: st, Book: f.book, Clock: inNovember, Version: "test",
		Sources: []report.DigestSource{{Label: "clawdbot:" + state, Kind: monitor.SourceClawdbot, Dir: state}},
		Live: func() Live {
			return Live{CaughtUp: true, Started: inNovember(), Stats: m.Stats(), Health: monitor.Health{LastCommit: inNovember()}}
		}}
	return f
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

func (f *fixture) server(t *testing.T, mod func(*Options)) *httptest.Server {
	t.Helper()
	o := f.opts
	if mod != nil {
		mod(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	code int
	ct   string
	body string
	hdr  http.Header
}

func get(t *testing.T, url string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{code: resp.StatusCode, ct: resp.Header.Get("Content-Type"), body: string(b), hdr: resp.Header}
}

func TestEveryEndpointAnswersWithItsStatusAndContentType(t *testing.T) {
	f := newFixture(t)
	srv := f.server(t, nil)
	for _, tt := range []struct {
		path string
		code int
		ct   string
	}{
		{"/healthz", 200, "text/plain"},
		{"/readyz", 200, "text/plain"},
		{"/api/usage?month=2026-11", 200, "application/json"},
		{"/api/alerts?month=2026-11", 200, "application/json"},
		{"/api/alerts?all=1", 200, "application/json"},
		{"/api/status", 200, "application/json"},
		{"/metrics", 200, "text/plain"},
		{"/", 200, "text/html"},
		{"/?month=2026-11&lang=en", 200, "text/html"},
		{"/customer/omar?month=2026-11", 200, "text/html"},
		{"/customer/owner?month=2026-11&lang=en", 200, "text/html"},
		{"/alerts?month=2026-11", 200, "text/html"},
		{"/sources", 200, "text/html"},
		{"/assets/style.css", 200, "text/css"},
		{"/customer/nobody?month=2026-11", 404, "text/plain"},
		{"/api/usage?customer=nobody", 404, "text/plain"},
		{"/?month=2026-13", 400, "text/plain"},
		{"/api/usage?month=26-11", 400, "text/plain"},
		{"/no/such/page", 404, "text/plain"},
	} {
		a := get(t, srv.URL+tt.path)
		if a.code != tt.code || !strings.HasPrefix(a.ct, tt.ct) {
			t.Errorf("GET %s: %d %q, want %d %s\n%s", tt.path, a.code, a.ct, tt.code, tt.ct, firstLines(a.body, 5))
		}
		if csp := a.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q lets the page load from elsewhere", tt.path, csp)
		}
	}
}

func firstLines(s string, n int) string {
	ls := strings.SplitN(s, "\n", n+1)
	if len(ls) > n {
		ls = ls[:n]
	}
	return strings.Join(ls, "\n")
}

// usageRow is the part of /api/usage expected-usage.json states.
type usageRow struct {
	Customer         string   `json:"customer"`
	Name             string   `json:"name"`
	Requests         int64    `json:"requests"`
	FailedRequests   int64    `json:"failed_requests"`
	InputTokens      int64    `json:"input_tokens"`
	OutputTokens     int64    `json:"output_tokens"`
	CacheReadTokens  int64    `json:"cache_read_tokens"`
	CacheWriteTokens int64    `json:"cache_write_tokens"`
	TotalTokens      int64    `json:"total_tokens"`
	CostUSD          float64  `json:"cost_usd"`
	UnpricedRequests int64    `json:"unpriced_requests"`
	Percent          *float64 `json:"percent"`
	ProjectedPercent *float64 `json:"projected_percent"`
	Flagged          bool     `json:"flagged"`
}

func TestAPIUsageIsTheSamplesTruthInTheUsageJSONShape(t *testing.T) {
	f := newFixture(t)
	srv := f.server(t, nil)
	a := get(t, srv.URL+"/api/usage?month=2026-11")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(a.body), &rows); err != nil {
		t.Fatalf("/api/usage is not a JSON array: %v\n%s", err, a.body)
	}
	// The keys DESIGN.md promises for `usage --format json`.
	for _, k := range []string{"customer", "name", "tier", "period", "requests", "failed_requests", "input_tokens", "output_tokens",
		"cache_read_tokens", "cache_write_tokens", "total_tokens", "cost_usd", "limit_requests", "limit_tokens",
		"limit_cost_usd", "percent", "projected_percent", "flagged", "unpriced_requests"} {
		for _, r := range rows {
			if _, ok := r[k]; !ok {
				t.Errorf("row %v has no %q", r["customer"], k)
			}
		}
	}
	var got []usageRow
	json.Unmarshal([]byte(a.body), &got)
	want := map[string]usageRow{}
	b, err := os.ReadFile(filepath.Join(sampleDir, "expected-usage.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d: %s", len(got), len(want), a.body)
	}
	for _, g := range got {
		w := want[g.Customer]
		if g.Requests != w.Requests || g.FailedRequests != w.FailedRequests || g.InputTokens != w.InputTokens ||
			g.OutputTokens != w.OutputTokens || g.CacheReadTokens != w.CacheReadTokens || g.CacheWriteTokens != w.CacheWriteTokens ||
			g.CostUSD != w.CostUSD {
			t.Errorf("%s: got %+v, want %+v", g.Customer, g, w)
		}
	}
	// Same writer as the CLI: names are not HTML-escaped in JSON.
	if !strings.Contains(a.body, `"name": "Owner <script>alert(\"x\")</script>"`) {
		t.Errorf("/api/usage does not print the name as `usage --format json` does:\n%s", a.body)
	}
}

// metric is one sample of the text exposition format.
var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$`)

func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	a := get(t, url)
	if a.code != 200 {
		t.Fatalf("/metrics: %d %s", a.code, a.body)
	}
	out := map[string]float64{}
	for _, l := range strings.Split(a.body, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		m := metricLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a metric line: %q", l)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out[m[1]+m[2]] = v
	}
	return out
}

func TestMetricsEqualTheUsageJSONAfterIngestingTheSample(t *testing.T) {
	f := newFixture(t)
	srv := f.server(t, nil)
	var rows []usageRow
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/api/usage").body), &rows); err != nil {
		t.Fatal(err)
	}
	got := scrape(t, srv.URL+"/metrics")
	if len(rows) != 5 {
		t.Fatalf("want the sample's 5 customers in the running period, got %d", len(rows))
	}
	for _, r := range rows {
		l := `{customer="` + r.Customer + `",period="2026-11"}`
		tl := func(class string) string {
			return `{class="` + class + `",customer="` + r.Customer + `",period="2026-11"}`
		}
		for name, want := range map[string]float64{
			"quotawatch_requests_total" + l:               float64(r.Requests),
			"quotawatch_failed_requests_total" + l:        float64(r.FailedRequests),
			"quotawatch_tokens_total" + tl("input"):       float64(r.InputTokens),
			"quotawatch_tokens_total" + tl("output"):      float64(r.OutputTokens),
			"quotawatch_tokens_total" + tl("cache_read"):  float64(r.CacheReadTokens),
			"quotawatch_tokens_total" + tl("cache_write"): float64(r.CacheWriteTokens),
			"quotawatch_cost_usd_total" + l:               r.CostUSD,
			"quotawatch_unpriced_requests_total" + l:      float64(r.UnpricedRequests),
			"quotawatch_flagged" + l:                      0,
		} {
			if v, ok := got[name]; !ok || v != want {
				t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
			}
		}
		_, hasPct := got["quotawatch_limit_used_percent"+l]
		if (r.Percent != nil) != hasPct || (hasPct && got["quotawatch_limit_used_percent"+l] != *r.Percent) {
			t.Errorf("%s: percent metric %v, usage JSON %v", r.Customer, got["quotawatch_limit_used_percent"+l], r.Percent)
		}
		if r.ProjectedPercent != nil && got["quotawatch_limit_projected_percent"+l] != *r.ProjectedPercent {
			t.Errorf("%s: projected metric %v, usage JSON %v", r.Customer, got["quotawatch_limit_projected_percent"+l], *r.ProjectedPercent)
		}
	}
	for name, want := range map[string]float64{
		"quotawatch_ready":                                          1,
		"quotawatch_ingest_lines_total":                             57,
		"quotawatch_ingest_events_total":                            16,
		"quotawatch_ingest_bad_lines_total":                         0,
		`quotawatch_tracked_items{kind="file"}`:                     7,
		`quotawatch_alerts{status="pending"}`:                       0,
		"quotawatch_notifier_errors_total":                          0,
		`quotawatch_build_info{version="test"}`:                     1,
		`quotawatch_customer_info{customer="omar",tier="standard"}`: 1,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	// The newest event of the sample is 2026-11-27T00:11:33Z.
	if lag := got["quotawatch_ingest_lag_seconds"]; math.Abs(lag-inNovember().Sub(time.Date(2026, 11, 27, 0, 11, 33, 0, time.UTC)).Seconds()) > 1 {
		t.Errorf("lag %v s", lag)
	}
	for _, std := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := got[std]; !ok {
			t.Errorf("no %s: the standard collectors are not registered", std)
		}
	}
}

func TestCustomerNamesAndTranscriptValuesAreEscapedInEveryPage(t *testing.T) {
	f := newFixture(t)
	srv := f.server(t, nil)
	for _, p := range []string{"/?month=2026-11", "/?month=2026-11&lang=en", "/customer/owner?month=2026-11", "/alerts?month=2026-11"} {
		a := get(t, srv.URL+p)
		if strings.Contains(a.body, "<script") {
			t.Errorf("%s: an unescaped <script> reached the page", p)
		}
		if p != "/alerts?month=2026-11" && !strings.Contains(a.body, "Owner &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Errorf("%s: the name is not shown escaped", p)
		}
	}
	// An id that is itself markup, in the URL path.
	a := get(t, srv.URL+"/customer/%3Cscript%3E")
	if a.code != 404 || strings.Contains(a.body, "<script>") && strings.HasPrefix(a.ct, "text/html") {
		t.Errorf("markup in the path: %d %s %q", a.code, a.ct, a.body)
	}
}

func TestPagesAreArabicRTLByDefaultAndEnglishOnRequest(t *testing.T) {
	f := newFixture(t)
	srv := f.server(t, nil)
	ar := get(t, srv.URL+"/?month=2026-11").body
	en := get(t, srv.URL+"/?month=2026-11&lang=en").body
	if !strings.Contains(ar, `<html lang="ar" dir="rtl">`) || !strings.Contains(ar, "العملاء") {
		t.Errorf("default page is not Arabic RTL:\n%s", firstLines(ar, 3))
	}
	if !strings.Contains(en, `<html lang="en" dir="ltr">`) || !strings.Contains(en, "Customers") {
		t.Errorf("?lang=en is not English LTR:\n%s", firstLines(en, 3))
	}
	// Links keep the month and language.
	if !strings.Contains(en, `href="/customer/omar?lang=en&amp;month=2026-11"`) {
		t.Errorf("customer link does not carry month and lang")
	}
	// Western digits in both.
	if strings.ContainsAny(ar, "٠١٢٣٤٥٦٧٨٩") {
		t.Errorf("Arabic page uses Eastern Arabic digits")
	}
}

var rowRe = regexp.MustCompile(`<tr class="row" data-customer="([^"]+)" data-percent="([^"]*)">\s*(?s:.*?)<div class="bar lvl-(\w+)" data-fill="([0-9.]+)"`)

func TestBarsAreAsWideAsThePercentAndRowsSortedByIt(t *testing.T) {
	f := newFixture(t)
	srv := f.server(t, nil)
	body := get(t, srv.URL+"/?month=2026-11&lang=en").body
	ms := rowRe.FindAllStringSubmatch(body, -1)
	// khalid is at 3 of 4 requests (75 %), omar 4 of 3000, layla 0 of 500;
	// salon and owner are unlimited (no bar).
	wantOrder := []string{"khalid", "omar", "layla"}
	if len(ms) != len(wantOrder) {
		t.Fatalf("%d limited rows with bars, want %d", len(ms), len(wantOrder))
	}
	for i, m := range ms {
		pct, _ := strconv.ParseFloat(m[2], 64)
		fill, _ := strconv.ParseFloat(m[4], 64)
		if m[1] != wantOrder[i] {
			t.Errorf("row %d is %s, want %s (sorted by percent)", i, m[1], wantOrder[i])
		}
		if want := math.Round(pct/barMax*10000) / 100; fill != want {
			t.Errorf("%s at %v %%: bar fill %v, want %v", m[1], pct, fill, want)
		}
	}
	if ms[0][3] != "ok" || ms[0][2] != "75" {
		t.Errorf("khalid: %v", ms[0][1:])
	}
}

func TestTokenIsRequiredOnEveryEndpointWhenSet(t *testing.T) {
	f := newFixture(t)
	const tok = "s3cret-token"
	srv := f.server(t, func(o *Options) { o.Token = tok })
	for _, p := range []string{"/", "/metrics", "/api/usage", "/api/status", "/healthz", "/readyz", "/customer/omar", "/assets/style.css"} {
		if a := get(t, srv.URL+p); a.code != 401 || a.hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s without a token: %d (WWW-Authenticate %q), want 401", p, a.code, a.hdr.Get("WWW-Authenticate"))
		}
		if a := get(t, srv.URL+p, "Authorization", "Bearer wrong"); a.code != 401 {
			t.Errorf("%s with a wrong token: %d, want 401", p, a.code)
		}
		if a := get(t, srv.URL+p, "Authorization", "Bearer "+tok); a.code != 200 {
			t.Errorf("%s with the token: %d, want 200", p, a.code)
		}
		basic := base64.StdEncoding.EncodeToString([]byte("operator:" + tok))
		if a := get(t, srv.URL+p, "Authorization", "Basic "+basic); a.code != 200 {
			t.Errorf("%s with the token as Basic password: %d, want 200", p, a.code)
		}
	}
	if a := get(t, srv.URL+"/", "Authorization", "Bearer "+tok+"x"); a.code != 401 {
		t.Errorf("a longer token passed: %d", a.code)
	}
}

func TestNoEndpointChangesState(t *testing.T) {
	f := newFixture(t)
	srv := f.server(t, nil)
	for _, p := range []string{"/", "/api/usage", "/api/alerts", "/metrics", "/customer/omar"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			req, _ := http.NewRequest(method, srv.URL+p, strings.NewReader("x"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", method, p, resp.StatusCode)
			}
		}
	}
}

func TestReadyzIsReadyOnlyWhenCaughtUpAndTheWriterIsHealthy(t *testing.T) {
	f := newFixture(t)
	now := inNovember()
	for _, tt := range []struct {
		name  string
		live  *Live
		ready bool
		why   string
	}{
		{"no ingest in this process", nil, false, "no ingest"},
		{"catching up", &Live{}, false, "first catch-up"},
		{"caught up", &Live{CaughtUp: true}, true, ""},
		{"last batch failed", &Live{CaughtUp: true, Health: monitor.Health{Failing: "database is locked"}}, false, "last batch failed"},
		{"ingest stopped", &Live{CaughtUp: true, Health: monitor.Health{Stopped: "write batch after 8 attempts: disk I/O error"}}, false, "ingest stopped"},
		{"commit running for 2 min", &Live{CaughtUp: true, Health: monitor.Health{Busy: now.Add(-2 * time.Minute)}}, false, "wedged"},
		{"commit running for 1 s", &Live{CaughtUp: true, Health: monitor.Health{Busy: now.Add(-time.Second)}}, true, ""},
	} {
		srv := f.server(t, func(o *Options) {
			o.Live = nil
			if tt.live != nil {
				l := *tt.live
				o.Live = func() Live { return l }
			}
		})
		a := get(t, srv.URL+"/readyz")
		if (a.code == 200) != tt.ready || !strings.Contains(a.body, tt.why) {
			t.Errorf("%s: %d %q, want ready=%v (%q)", tt.name, a.code, a.body, tt.ready, tt.why)
		}
		if h := get(t, srv.URL+"/healthz"); h.code != 200 {
			t.Errorf("%s: /healthz %d: liveness must not follow readiness", tt.name, h.code)
		}
	}
	// A closed database is not ready either.
	srv := f.server(t, nil)
	f.st.Close()
	if a := get(t, srv.URL+"/readyz"); a.code != 503 || !strings.Contains(a.body, "database") {
		t.Errorf("closed database: %d %q", a.code, a.body)
	}
}

func TestAPIStatusGroupsTheSamplesFilesUnderItsSource(t *testing.T) {
	f := newFixture(t)
	srv := f.server(t, nil)
	var st Status
	a := get(t, srv.URL+"/api/status")
	if err := json.Unmarshal([]byte(a.body), &st); err != nil {
		t.Fatalf("%v\n%s", err, a.body)
	}
	if st.Files != 7 || len(st.Sources) != 1 || st.Sources[0].Files != 7 || st.Sources[0].Events != 16 || st.Sources[0].Lines != 57 {
		t.Errorf("status: %+v", st.Status)
	}
	if st.NewestEvent == nil || *st.NewestEvent != "2026-11-27T03:11:33+03:00" || st.LagSeconds == nil {
		t.Errorf("newest event %v, lag %v", st.NewestEvent, st.LagSeconds)
	}
	if !st.Ready || st.Run == nil || st.Run.Events != 16 {
		t.Errorf("ready %v run %+v", st.Ready, st.Run)
	}
	if st.DatabaseBytes <= 0 {
		t.Errorf("database size %d", st.DatabaseBytes)
	}
}

func TestAStoreErrorIsAnErrorPageNotAPartialOne(t *testing.T) {
	f := newFixture(t)
	srv := f.server(t, nil)
	f.st.Close()
	for _, p := range []string{"/", "/api/usage", "/customer/omar"} {
		if a := get(t, srv.URL+p); a.code != 500 || strings.HasPrefix(a.ct, "text/html") {
			t.Errorf("%s on a closed store: %d %s", p, a.code, a.ct)
		}
	}
}
