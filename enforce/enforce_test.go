package enforce

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

var riyadh, _ = time.LoadLocation("Asia/Riyadh")

// testClock is a movable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is a real store and an enforcer over it.
type fixture struct {
	t     testing.TB
	st    *store.Store
	e     *Enforcer
	clock *testClock
	book  *report.Book
	n     int
}

func newFixture(t *testing.T, cfg Config, customers []report.Customer, tiers map[string]report.Tier) *fixture {
	t.Helper()
	return newFixtureTB(t, cfg, customers, tiers)
}

func newFixtureTB(t testing.TB, cfg Config, customers []report.Customer, tiers map[string]report.Tier) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i := range customers {
		if tier, ok := tiers[customers[i].Tier]; ok {
			customers[i].Limits = &tier
		}
	}
	clock := &testClock{t: time.Date(2026, 11, 15, 12, 0, 0, 0, riyadh)}
	book := report.NewBook(customers, riyadh)
	if cfg.Mode == "" {
		cfg.Mode = report.EnforceOff
	}
	if cfg.GracePercent == 0 {
		cfg.GracePercent = DefaultGracePercent
	}
	if cfg.UnknownCustomer == "" {
		cfg.UnknownCustomer = UnknownAllow
	}
	if cfg.InflightTimeout == 0 {
		cfg.InflightTimeout = DefaultInflightTimeout
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg, Options{Book: book, Tiers: tiers, UpgradeURL: "https://wa.me/966507407827", Language: "ar", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Load(ctx, st); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, st: st, e: e, clock: clock, book: book}
}

// meter commits n calls of customer into the store and tells the
// enforcer, as the monitor's OnCommit does, then reads them in.
func (f *fixture) meter(customer string, n int, tokens int64, cost float64) {
	f.t.Helper()
	var b store.Batch
	now := f.clock.Now()
	for i := 0; i < n; i++ {
		f.n++
		b.Events = append(b.Events, store.Event{Key: fmt.Sprintf("k/%d", f.n), Agent: "main", SessionID: "s", TimeMs: now.UnixMilli(),
			Day: report.DayOf(now, riyadh), Period: report.PeriodOf(now, riyadh), Customer: customer, Provider: "p", Model: "m",
			Input: tokens, CostUSD: cost, Priced: true})
	}
	res, err := f.st.Commit(context.Background(), &b, func(_ string, ms int64) string { return report.DayOf(time.UnixMilli(ms), riyadh) })
	if err != nil {
		f.t.Fatal(err)
	}
	f.e.Committed(res)
	f.drain()
}

// drain reads what Committed queued, as Run does.
func (f *fixture) drain() {
	f.t.Helper()
	f.e.mu.Lock()
	todo := f.e.pending
	f.e.pending = map[store.CustomerPeriod]struct{}{}
	f.e.mu.Unlock()
	if err := f.e.refresh(context.Background(), f.st, todo); err != nil {
		f.t.Fatal(err)
	}
}

func tiers10() map[string]report.Tier {
	return map[string]report.Tier{"t10": {Requests: 10}, "pro": {}}
}

func TestGraceLetsTheEleventhRequestThroughAndDeniesTheTwelfth(t *testing.T) {
	f := newFixture(t, Config{Mode: report.EnforceHard}, []report.Customer{{ID: "omar", Tier: "t10"}}, tiers10())
	for i := 1; i <= 11; i++ {
		d := f.e.Decide("omar", true)
		if !d.Allowed {
			t.Fatalf("request %d of a 10-request tier with 110 %% grace denied (usage %d)", i, d.Usage)
		}
		f.meter("omar", 1, 10, 0.001)
	}
	d := f.e.Decide("omar", true)
	if d.Allowed {
		t.Fatal("the 12th request (usage 11 = 10 × 110 %) was let through")
	}
	if d.Usage != 11 || d.Limit != 10 || d.Unit != report.UnitRequests {
		t.Fatalf("denial reads %d/%d %s, want 11/10 requests", d.Usage, d.Limit, d.Unit)
	}
}

func TestCapIsLimitTimesGraceRoundedUpExactly(t *testing.T) {
	for _, c := range []struct {
		limit int64
		grace float64
		want  int64
	}{{10, 110, 11}, {1000, 110, 1100}, {3, 110, 4}, {3000, 100, 3000}, {7, 133.3, 10}, {1, 110, 2}, {0, 110, 0}} {
		if got := capOf(c.limit, c.grace); got != c.want {
			t.Errorf("cap of %d × %g %%: %d, want %d", c.limit, c.grace, got, c.want)
		}
	}
}

func TestEnforcementOffNeverDeniesAndReservesNothing(t *testing.T) {
	f := newFixture(t, Config{Mode: report.EnforceOff}, []report.Customer{{ID: "omar", Tier: "t10"}}, tiers10())
	f.meter("omar", 50, 1, 0)
	for i := 0; i < 20; i++ {
		if d := f.e.Decide("omar", true); !d.Allowed {
			t.Fatalf("enforcement off: request at %d requests of 10 denied", d.Usage)
		}
	}
	if n := f.e.InFlight("omar"); n != 0 {
		t.Fatalf("enforcement off reserved %d calls", n)
	}
}

func TestCustomerOverridesTierOverridesGlobal(t *testing.T) {
	tiers := map[string]report.Tier{
		"hardtier": {Requests: 10, Enforce: &report.Enforce{Mode: report.EnforceHard, GracePercent: 100}},
		"plain":    {Requests: 10},
	}
	f := newFixture(t, Config{Mode: report.EnforceOff}, []report.Customer{
		{ID: "by-tier", Tier: "hardtier"},
		{ID: "opted-out", Tier: "hardtier", Enforce: &report.Enforce{Mode: report.EnforceOff}},
		{ID: "opted-in", Tier: "plain", Enforce: &report.Enforce{Mode: report.EnforceHard}},
		{ID: "global", Tier: "plain"},
	}, tiers)
	for _, id := range []string{"by-tier", "opted-out", "opted-in", "global"} {
		f.meter(id, 10, 1, 0)
	}
	want := map[string]bool{"by-tier": false, "opted-out": true, "opted-in": true, "global": true}
	for id, allowed := range want {
		if d := f.e.Decide(id, false); d.Allowed != allowed {
			t.Errorf("%s at 10/10: allowed %v, want %v", id, d.Allowed, allowed)
		}
	}
	// opted-in inherits the global 110 % grace: 11 is its cap.
	f.meter("opted-in", 1, 1, 0)
	if d := f.e.Decide("opted-in", false); d.Allowed {
		t.Error("opted-in at 11/10 with the global 110 % grace: allowed")
	}
}

func TestInflightCallsCountUntilMeteredSoParallelCallsCannotPassTheCap(t *testing.T) {
	f := newFixture(t, Config{Mode: report.EnforceHard}, []report.Customer{{ID: "omar", Tier: "t1000"}}, map[string]report.Tier{"t1000": {Requests: 1000}})
	f.meter("omar", 990, 1, 0) // 99 %
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 500; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f.e.Decide("omar", true).Allowed {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != 110 {
		t.Fatalf("500 parallel requests at 990/1000 (cap 1100): %d let through, want 110", got)
	}
	// Their usage arrives: the reservations are released, the count stays.
	f.meter("omar", 110, 1, 0)
	if n := f.e.InFlight("omar"); n != 0 {
		t.Fatalf("%d reservations left after every call was metered", n)
	}
	if f.e.Decide("omar", true).Allowed {
		t.Fatal("at 1100/1000 a request was let through")
	}
}

func TestInflightReservationExpiresAfterTheTimeout(t *testing.T) {
	f := newFixture(t, Config{Mode: report.EnforceHard, InflightTimeout: time.Minute}, []report.Customer{{ID: "omar", Tier: "t10"}}, tiers10())
	f.meter("omar", 10, 1, 0)
	if !f.e.Decide("omar", true).Allowed {
		t.Fatal("10/10 denied")
	}
	if f.e.Decide("omar", true).Allowed {
		t.Fatal("a second call while the first is in flight was let through past the cap")
	}
	// The first call was refused by the provider: no usage ever comes.
	f.clock.Add(time.Minute + time.Second)
	if !f.e.Decide("omar", true).Allowed {
		t.Fatal("a reservation whose usage never came still blocks after the timeout")
	}
}

func TestTokenLimitCountsInflightCallsAtTheAverageSize(t *testing.T) {
	f := newFixture(t, Config{Mode: report.EnforceHard, GracePercent: 100}, []report.Customer{{ID: "omar", Tier: "tok"}}, map[string]report.Tier{"tok": {Tokens: 1000}})
	f.meter("omar", 8, 100, 0) // 800 tokens, 100 a call
	if !f.e.Decide("omar", true).Allowed || !f.e.Decide("omar", true).Allowed {
		t.Fatal("two calls of the average size fit under 1000 tokens")
	}
	if d := f.e.Decide("omar", true); d.Allowed {
		t.Fatalf("a third call in flight (800 + 2 × 100 = 1000 tokens) was let through (reading %d %s)", d.Usage, d.Unit)
	}
}

func TestNewMonthStartsFromItsOwnUsageInTheCustomersTimezone(t *testing.T) {
	f := newFixture(t, Config{Mode: report.EnforceHard}, []report.Customer{{ID: "omar", Tier: "t10"}}, tiers10())
	f.meter("omar", 20, 1, 0)
	if f.e.Decide("omar", true).Allowed {
		t.Fatal("20/10 let through")
	}
	// 2026-12-01 00:00 in Riyadh is 2026-11-30 21:00 UTC.
	f.clock.t = time.Date(2026, 11, 30, 21, 0, 1, 0, time.UTC)
	if d := f.e.Decide("omar", true); !d.Allowed {
		t.Fatalf("the first request of December (Riyadh) denied on November's usage (%d)", d.Usage)
	}
}

func TestUnknownCustomerPolicy(t *testing.T) {
	for _, c := range []struct {
		policy string
		want   bool
	}{{UnknownAllow, true}, {UnknownDeny, false}} {
		f := newFixture(t, Config{Mode: report.EnforceHard, UnknownCustomer: c.policy}, []report.Customer{{ID: "omar", Tier: "t10"}}, tiers10())
		for _, id := range []string{"", "stranger"} {
			if d := f.e.Decide(id, true); d.Allowed != c.want || d.Known {
				t.Errorf("unknown_customer %s, customer %q: allowed %v known %v", c.policy, id, d.Allowed, d.Known)
			}
		}
	}
}

// get asks the handler over a real listener.
func get(t *testing.T, base, path string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestOverLimitAnswerIsTheSeedsArabicBody(t *testing.T) {
	f := newFixture(t, Config{Mode: report.EnforceHard, GracePercent: 100}, []report.Customer{
		{ID: "omar-001", Tier: "standard"}, {ID: "john", Tier: "standard", Language: "en"},
	}, map[string]report.Tier{"standard": {Requests: 3000}})
	f.meter("omar-001", 3000, 1, 0)
	f.meter("john", 3000, 1, 0)
	srv := httptest.NewServer(f.e.Handler())
	defer srv.Close()

	code, h, body := get(t, srv.URL, PathQuota, map[string]string{"X-Customer-ID": "omar-001"})
	if code != 429 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("over the limit: %d %s, want 429 application/json", code, h.Get("Content-Type"))
	}
	want := `{"error":{"message":"لقد استهلكت حدك الشهري. ترقى للباقة Pro للاستخدام غير المحدود.","code":"rate_limit_exceeded","current_usage":3000,"tier_limit":3000,"upgrade_url":"https://wa.me/966507407827"}}` + "\n"
	if string(body) != want {
		t.Fatalf("body:\n%s\nwant the seed's:\n%s", body, want)
	}
	code, _, body = get(t, srv.URL, PathQuota+"?mode=auth_request", map[string]string{"X-Customer-ID": "omar-001"})
	if code != 403 || !strings.Contains(string(body), "rate_limit_exceeded") {
		t.Fatalf("auth_request flavour over the limit: %d, want 403", code)
	}
	code, _, body = get(t, srv.URL, PathExceeded, map[string]string{"X-Customer-ID": "john"})
	var got denied
	if err := json.Unmarshal(body, &got); err != nil || code != 429 || !strings.HasPrefix(got.Error.Message, "You have used up") {
		t.Fatalf("the body for an English customer: %d %s (%v)", code, body, err)
	}
}

func TestCustomerIsFoundByItsHashedGatewayKey(t *testing.T) {
	const key = "sk-omar-001-shared-key"
	f := newFixture(t, Config{Mode: report.EnforceHard, APIKeys: []APIKey{{SHA256: HashKey(key), Customer: "omar-001"}}},
		[]report.Customer{{ID: "omar-001", Tier: "t10"}}, tiers10())
	f.meter("omar-001", 11, 1, 0)
	srv := httptest.NewServer(f.e.Handler())
	defer srv.Close()
	for _, hdr := range []map[string]string{
		{"Authorization": "Bearer " + key},
		{"X-Api-Key": key},
		// The key wins over a header naming someone else.
		{"Authorization": "Bearer " + key, "X-Customer-ID": "someone-else"},
	} {
		code, h, _ := get(t, srv.URL, PathQuota, hdr)
		if code != 429 || h.Get("X-Quota-Customer") != "omar-001" {
			t.Errorf("%v: %d for %q, want 429 for omar-001", hdr, code, h.Get("X-Quota-Customer"))
		}
	}
	if code, _, _ := get(t, srv.URL, PathQuota, map[string]string{"Authorization": "Bearer sk-other"}); code != 204 {
		t.Errorf("an unknown key (unknown customer, allowed): %d, want 204", code)
	}
	if f.e.CustomerOf(strings.ToUpper(key), "") != "" {
		t.Error("a key that differs is matched")
	}
}

func TestConfigRefusesAPlainKeyWithoutEchoingIt(t *testing.T) {
	c := Config{Mode: "hard", GracePercent: 110, UnknownCustomer: "allow", InflightTimeout: time.Minute,
		APIKeys: []APIKey{{SHA256: "sk-omar-001-shared-key", Customer: "omar"}}}
	err := c.Validate()
	if err == nil || strings.Contains(err.Error(), "sk-omar") {
		t.Fatalf("a plain key in api_keys: %v", err)
	}
	for _, p := range []report.Enforce{{Mode: "soft"}, {GracePercent: 90}, {GracePercent: 5000}} {
		if CheckPolicy(p) == nil {
			t.Errorf("policy %+v accepted", p)
		}
	}
}
