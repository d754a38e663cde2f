package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

const (
	testToken = "EAAG-test-token-never-logged-123"
	// expiredToken is answered with error 190, as Meta answers a token
	// that has expired or been revoked.
	expiredToken = "EAAG-expired-token-never-logged-456"

	testPNID    = "106540352242922"
	omarPhone   = "+966500000001"
	operatorTel = "+966500000000"
)

var riyadh = mustLoc("Asia/Riyadh")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// clock is the injected clock the tests move.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// waCall is one request the fake Cloud API received, decoded.
type waCall struct {
	Path string
	Body waRequest
	Raw  string
	// Expired: the request carried expiredToken and was refused with 190.
	Expired bool
}

// fakeAnswer scripts one answer of the fake Cloud API.
type fakeAnswer struct {
	status int
	code   int    // Graph error code (0 with a non-200 status: plain body)
	plain  string // non-JSON body
}

// fakeCloudAPI is a stand-in for graph.facebook.com on 127.0.0.1 that checks
// every request the way whatsapp-cloud-api.md §5 says and answers from a
// script (then 200 with wamid.TEST-<n>).
type fakeCloudAPI struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []waCall
	script []fakeAnswer
	// sticky, when set, answers every request after the script.
	sticky *fakeAnswer
	n      int
}

func newFakeCloudAPI(t *testing.T, script ...fakeAnswer) *fakeCloudAPI {
	f := &fakeCloudAPI{t: t, script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(f.handle))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCloudAPI) base() string { return f.srv.URL + "/v25.0" }

func (f *fakeCloudAPI) handle(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	bad := func(format string, args ...any) {
		f.t.Errorf("fake Cloud API: "+format, args...)
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":{"message":"(#100) bad request","type":"OAuthException","code":100}}`)
	}
	if r.Method != http.MethodPost {
		bad("method %s", r.Method)
		return
	}
	if want := "/v25.0/" + testPNID + "/messages"; r.URL.Path != want {
		bad("path %s, want %s", r.URL.Path, want)
		return
	}
	if got := r.Header.Get("Authorization"); got == "Bearer "+expiredToken {
		f.mu.Lock()
		f.calls = append(f.calls, waCall{Path: r.URL.Path, Raw: string(raw), Expired: true})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":{"message":"Error validating access token: Session has expired on Tuesday, 10-Nov-26 04:00:00 PST.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"Az8or2yhqkZfEZ"}}`)
		return
	} else if got != "Bearer "+testToken {
		bad("Authorization %q", got)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		bad("Content-Type %q", ct)
		return
	}
	var req waRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		bad("body is not JSON: %v", err)
		return
	}
	if req.MessagingProduct != "whatsapp" {
		bad("messaging_product %q", req.MessagingProduct)
		return
	}
	if !strings.HasPrefix(req.To, "+") {
		bad("to %q has no leading +", req.To)
		return
	}
	switch req.Type {
	case "text":
		if req.Text == nil || req.Text.Body == "" || len([]rune(req.Text.Body)) > 4096 {
			bad("text body missing or too long")
			return
		}
	case "template":
		if req.Template == nil || req.Template.Name == "" || req.Template.Language.Code == "" || req.Template.Language.Policy != "deterministic" {
			bad("template incomplete: %s", raw)
			return
		}
		for _, c := range req.Template.Components {
			for _, p := range c.Parameters {
				if strings.ContainsAny(p.Text, "\n\t") || strings.Contains(p.Text, "     ") {
					bad("template parameter %q has a newline, tab or 5 spaces", p.Text)
					return
				}
			}
		}
	default:
		bad("type %q", req.Type)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, waCall{Path: r.URL.Path, Body: req, Raw: string(raw)})
	var ans *fakeAnswer
	if len(f.script) > 0 {
		ans = &f.script[0]
		f.script = f.script[1:]
	} else if f.sticky != nil {
		ans = f.sticky
	}
	f.n++
	n := f.n
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case ans == nil || ans.status == 200:
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":%q,"wa_id":%q}],"messages":[{"id":"wamid.TEST-%d"}]}`,
			req.To, strings.TrimPrefix(req.To, "+"), n)
	case ans.plain != "":
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(ans.status)
		io.WriteString(w, ans.plain)
	default:
		w.WriteHeader(ans.status)
		fmt.Fprintf(w, `{"error":{"message":"(#%d) scripted error","type":"OAuthException","code":%d,"error_data":{"messaging_product":"whatsapp","details":"scripted details"},"fbtrace_id":"Az8or2yhqkZfEZ"}}`,
			ans.code, ans.code)
	}
}

func (f *fakeCloudAPI) Calls() []waCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]waCall(nil), f.calls...)
}

// rig is a store, a checker and a deliverer over a fake Cloud API, with an
// injected clock; restart closes and reopens everything like a new process.
type rig struct {
	t         *testing.T
	path      string
	clock     *clock
	api       *fakeCloudAPI
	cfg       Config
	wa        WhatsApp
	customers []report.Customer
	// token is the notifier's token (default testToken); tokenFile, when
	// set, is the file it is re-read from.
	token     string
	tokenFile string
	st        *store.Store
	checker   *Checker
	deliverer *Deliverer
	seq       int
}

// seedTiers are the seed's tiers with its upgrade offer (Pro, 199 SAR a
// month), configured as the example config does: the offer lives on the
// tiers, not in the templates.
var seedTiers = map[string]report.Tier{
	"basic":    {Requests: 500, UpgradeTo: "pro"},
	"standard": {Requests: 3000, UpgradeTo: "pro"},
	"pro":      {DisplayName: "Pro", Price: 199, Currency: "SAR"},
}

var standard = seedTiers["standard"]

func testConfig() Config {
	return Config{Language: "ar", UpgradeURL: "https://wa.me/966507407827", OperatorPhone: operatorTel, Thresholds: DefaultThresholds()}
}

func newRig(t *testing.T, api *fakeCloudAPI, start time.Time) *rig {
	t.Helper()
	r := &rig{t: t, path: filepath.Join(t.TempDir(), "qw.db"), clock: &clock{t: start}, api: api, cfg: testConfig(),
		wa:        WhatsApp{APIBase: api.base(), PhoneNumberID: testPNID, TokenEnv: "UNUSED"},
		customers: []report.Customer{{ID: "omar", Name: "عمر", Phone: omarPhone, Tier: "standard", Limits: &standard}}}
	r.open()
	t.Cleanup(func() { r.st.Close() })
	return r
}

func (r *rig) open() {
	r.t.Helper()
	st, err := store.Open(context.Background(), r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	r.st = st
	r.build()
}

func (r *rig) build() {
	r.t.Helper()
	ts, err := NewTemplates(r.cfg.Templates)
	if err != nil {
		r.t.Fatal(err)
	}
	r.checker = &Checker{Store: r.st, Config: r.cfg, Customers: r.customers, Location: riyadh, Channel: "whatsapp", Templates: ts, Now: r.clock.Now,
		Tiers: seedTiers}
	tok := r.token
	if tok == "" {
		tok = testToken
	}
	r.deliverer = &Deliverer{Store: r.st, Notifier: &WhatsAppNotifier{Config: r.wa, Token: tok, TokenFile: r.tokenFile, Client: &http.Client{Timeout: 5 * time.Second}},
		Backoff: Backoff{Base: time.Minute, Max: time.Hour, Attempts: 6, Jitter: func(time.Duration) time.Duration { return 0 }},
		Now:     r.clock.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// restart is a new process: everything reopened from the database file.
func (r *rig) restart() {
	r.t.Helper()
	if err := r.st.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.open()
}

// use records n successful requests (and failed ones) of customer at time at.
func (r *rig) use(customer string, n, failed int, at time.Time) {
	r.t.Helper()
	b := &store.Batch{}
	for i := 0; i < n+failed; i++ {
		r.seq++
		b.Events = append(b.Events, store.Event{Key: fmt.Sprintf("test:%d", r.seq), Agent: "main", SessionID: "s1",
			TimeMs: at.UnixMilli(), Period: report.PeriodOf(at, riyadh), Customer: customer, Provider: "p", Model: "m",
			Input: 100, Output: 10, Priced: true, CostUSD: 0.001, Failed: i >= n})
	}
	if _, err := r.st.Commit(context.Background(), b, func(string, int64) string { return report.DayOf(at, riyadh) }); err != nil {
		r.t.Fatal(err)
	}
}

// checkAndDeliver is one `quotawatch check`.
func (r *rig) checkAndDeliver() ([]store.Alert, []Delivery) {
	r.t.Helper()
	rows, err := r.checker.Check(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	ds, err := r.deliverer.DeliverDue(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return rows, ds
}

func (r *rig) alerts(period string) []store.Alert {
	r.t.Helper()
	as, err := r.st.Alerts(context.Background(), period, "")
	if err != nil {
		r.t.Fatal(err)
	}
	return as
}
