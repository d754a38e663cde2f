package alerts

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// TestScenarioStandardCustomerMonth is the acceptance scenario of issue 4:
// a standard customer (3000 requests) grows to 2400, 3000 and 3600 requests;
// checking again and restarting sends nothing more; the next month starts
// from zero and warns again at 80 %; a backfill of the ended month is silent.
func TestScenarioStandardCustomerMonth(t *testing.T) {
	api := newFakeCloudAPI(t)
	nov := time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh)
	r := newRig(t, api, nov)

	// 2399 on the 1st: nothing yet (failed requests do not count either).
	// Used on the 1st and quiet since, so at the 10th the forecast says it
	// lasts and the seed's 80 % text is the truth.
	r.use("omar", 2399, 50, nov.AddDate(0, 0, -9))
	if rows, ds := r.checkAndDeliver(); len(rows) != 0 || len(ds) != 0 || len(api.Calls()) != 0 {
		t.Fatalf("at 2399 requests: rows %v deliveries %v calls %d, want nothing", rows, ds, len(api.Calls()))
	}

	// 2400 = 80 %: exactly one Arabic message with 2400 and 3000.
	r.use("omar", 1, 0, nov)
	r.checkAndDeliver()
	calls := api.Calls()
	if len(calls) != 1 {
		t.Fatalf("at 2400: %d WhatsApp requests, want 1", len(calls))
	}
	c := calls[0].Body
	if c.Type != "text" || c.To != omarPhone || c.RecipientType != "individual" || c.Text.PreviewURL {
		t.Fatalf("80%% request: %s", calls[0].Raw)
	}
	// The exact request body.
	wantBody := `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+966500000001","type":"text",` +
		`"text":{"preview_url":false,"body":"مرحبا عمر! 👋\n\nلقد استهلكت 80% من حدك الشهري للذكاء الاصطناعي (2400 من 3000 طلب).\n\n` +
		`متوقع تكفيك لنهاية الشهر، بس لو تحتاج أكثر، ترقى للباقة Pro.\n\nللترقية: https://wa.me/966507407827"},` +
		`"biz_opaque_callback_data":"quotawatch-alert-1"}`
	if calls[0].Raw != wantBody || calls[0].Path != "/v25.0/"+testPNID+"/messages" {
		t.Fatalf("80%% request %s\n%s\nwant\n%s", calls[0].Path, calls[0].Raw, wantBody)
	}
	for _, want := range []string{"مرحبا عمر", "80%", "2400", "3000", "طلب", "https://wa.me/966507407827"} {
		if !strings.Contains(c.Text.Body, want) {
			t.Errorf("80%% message lacks %q:\n%s", want, c.Text.Body)
		}
	}

	// 3000 = 100 %: one more message, the limit one, without the degraded
	// sentence (degraded_after_limit is false).
	r.clock.Add(time.Hour)
	r.use("omar", 600, 0, nov)
	r.checkAndDeliver()
	if calls = api.Calls(); len(calls) != 2 {
		t.Fatalf("at 3000: %d requests in all, want 2", len(calls))
	}
	body := calls[1].Body.Text.Body
	if !strings.Contains(body, "وصلت للحد الشهري (3000 طلب)") || strings.Contains(body, "بدون AI") {
		t.Errorf("100%% message:\n%s", body)
	}

	// 3600 = 120 %: one operator message, and the customer is flagged.
	r.clock.Add(time.Hour)
	r.use("omar", 600, 0, nov)
	r.checkAndDeliver()
	if calls = api.Calls(); len(calls) != 3 {
		t.Fatalf("at 3600: %d requests in all, want 3", len(calls))
	}
	if op := calls[2].Body; op.To != operatorTel || !strings.Contains(op.Text.Body, "omar") || !strings.Contains(op.Text.Body, "3600") {
		t.Errorf("operator message: %s", calls[2].Raw)
	}
	flagged, err := r.st.FlaggedCustomers(context.Background(), "2026-11")
	if err != nil || !flagged["omar"] {
		t.Fatalf("flagged = %v, %v; want omar", flagged, err)
	}

	// Check again, restart, check again: nothing more.
	r.checkAndDeliver()
	r.restart()
	r.clock.Add(24 * time.Hour)
	r.use("omar", 100, 0, nov)
	r.checkAndDeliver()
	if n := len(api.Calls()); n != 3 {
		t.Fatalf("after re-check and restart: %d requests, want still 3", n)
	}
	as := r.alerts("2026-11")
	if len(as) != 3 {
		t.Fatalf("outbox has %d rows for 2026-11, want 3", len(as))
	}
	for i, want := range []float64{80, 100, 120} {
		a := as[i]
		if a.Threshold != want || a.Status != store.AlertSent || a.Attempts != 1 || a.ProviderID != "wamid.TEST-"+itoa(i+1) || a.SentMs == 0 {
			t.Errorf("row %d: %+v", i, a)
		}
	}

	// December: totals start from zero and 80 % can fire again.
	dec := time.Date(2026, 12, 1, 0, 0, 30, 0, riyadh)
	r.clock.Set(dec)
	if us, _ := r.st.UsageByPeriod(context.Background(), "2026-12", "omar"); len(us) != 0 {
		t.Fatalf("December usage before any event: %+v", us)
	}
	r.checkAndDeliver()
	if n := len(api.Calls()); n != 3 {
		t.Fatalf("December with no usage: %d requests, want 3", n)
	}
	r.use("omar", 2400, 0, dec.Add(time.Hour))
	r.clock.Add(2 * time.Hour)
	r.checkAndDeliver()
	calls = api.Calls()
	if len(calls) != 4 || !strings.Contains(calls[3].Body.Text.Body, "2400 من 3000") {
		t.Fatalf("December 80%%: %d requests; last %s", len(calls), calls[len(calls)-1].Raw)
	}

	// A backfill of November's logs, now that November has ended: silent,
	// even though it pushes November far past every threshold again.
	r.use("omar", 5000, 0, nov.Add(48*time.Hour))
	r.checkAndDeliver()
	if n := len(api.Calls()); n != 4 {
		t.Fatalf("backfill of the ended month: %d requests, want still 4", n)
	}
	if n := len(r.alerts("2026-11")); n != 3 {
		t.Fatalf("backfill of the ended month recorded %d rows for 2026-11, want 3", n)
	}
}

func itoa(i int) string { return FormatPercent(float64(i)) }

// A first install that backfills only last month's logs is silent too.
func TestBackfillOfEndedMonthIsSilent(t *testing.T) {
	api := newFakeCloudAPI(t)
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, riyadh)
	r := newRig(t, api, now)
	r.use("omar", 4000, 0, time.Date(2026, 11, 20, 9, 0, 0, 0, riyadh))
	rows, ds := r.checkAndDeliver()
	if len(rows) != 0 || len(ds) != 0 || len(api.Calls()) != 0 {
		t.Fatalf("rows %v deliveries %v calls %d", rows, ds, len(api.Calls()))
	}
}

// TestJumpTellsTheCustomerAndTheOperatorInOrder is issue 11 item 6: a jump
// from 50 % to 130 % in one batch sends the customer's 100 % warning (with
// the upgrade offer) and then the operator's 120 % notice, once each, in
// that order, also across a restart between the decision and the delivery,
// a kill during the customer's send, and a failed attempt at it; 80 % is
// recorded skipped and never sent later.
func TestJumpTellsTheCustomerAndTheOperatorInOrder(t *testing.T) {
	lease := 2 * time.Minute
	for _, tt := range []struct {
		name    string
		script  []fakeAnswer
		deliver func(t *testing.T, r *rig, api *fakeCloudAPI)
	}{
		{"delivered at once", nil, func(t *testing.T, r *rig, api *fakeCloudAPI) { r.checkAndDeliver() }},
		{"restart between the decision and the delivery", nil, func(t *testing.T, r *rig, api *fakeCloudAPI) {
			if _, err := r.checker.Check(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.restart()
			r.checkAndDeliver()
		}},
		{"the customer's send killed mid-request", nil, func(t *testing.T, r *rig, api *fakeCloudAPI) {
			if _, err := r.checker.Check(context.Background()); err != nil {
				t.Fatal(err)
			}
			// The killed process claimed the customer's 100 % and never finished.
			if a, err := r.st.ClaimDueAlert(context.Background(), r.clock.Now().UnixMilli(), lease.Milliseconds(), "whatsapp"); err != nil || a == nil || a.Threshold != 100 {
				t.Fatalf("claim: %+v %v", a, err)
			}
			r.restart()
			r.checkAndDeliver()
			if calls := api.Calls(); len(calls) != 0 {
				t.Fatalf("while the customer's 100%% is leased: %d requests, want none (the operator's 120%% waits): %s", len(calls), calls[0].Raw)
			}
			r.clock.Add(lease)
			r.checkAndDeliver()
		}},
		{"the customer's first attempt fails", []fakeAnswer{{status: 500, plain: "Internal Server Error"}}, func(t *testing.T, r *rig, api *fakeCloudAPI) {
			r.checkAndDeliver()
			if calls := api.Calls(); len(calls) != 1 || calls[0].Body.To != omarPhone {
				t.Fatalf("first round: %d requests, want the customer's failed attempt alone", len(calls))
			}
			r.clock.Add(time.Minute) // the retry is due
			r.checkAndDeliver()
			calls := api.Calls()
			if len(calls) != 3 {
				t.Fatalf("after the retry: %d requests, want 3", len(calls))
			}
			// The failed attempt is not a delivery: drop it for the checks below.
			api.mu.Lock()
			api.calls = api.calls[1:]
			api.mu.Unlock()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeCloudAPI(t, tt.script...)
			now := time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh)
			r := newRig(t, api, now)
			r.use("omar", 1500, 0, now)
			r.checkAndDeliver()
			if n := len(api.Calls()); n != 0 {
				t.Fatalf("at 50%%: %d requests", n)
			}
			r.use("omar", 2400, 0, now) // 3900 = 130 %
			tt.deliver(t, r, api)
			calls := api.Calls()
			if len(calls) != 2 || calls[0].Body.To != omarPhone || calls[1].Body.To != operatorTel {
				var to []string
				for _, c := range calls {
					to = append(to, c.Body.To)
				}
				t.Fatalf("after the jump: requests to %v, want the customer's 100%% then the operator's 120%%", to)
			}
			if b := calls[0].Body.Text.Body; !strings.Contains(b, "وصلت للحد الشهري (3000 طلب)") || !strings.Contains(b, "ترقى للباقة Pro بـ 199 ريال/شهر") {
				t.Errorf("customer's message is not the 100%% one with the offer:\n%s", b)
			}
			if b := calls[1].Body.Text.Body; !strings.Contains(b, "130%") || !strings.Contains(b, "120%") {
				t.Errorf("operator message: %s", b)
			}
			as := r.alerts("2026-11")
			want := map[float64]string{80: store.AlertSkipped, 100: store.AlertSent, 120: store.AlertSent}
			if len(as) != 3 {
				t.Fatalf("%d rows, want 3", len(as))
			}
			for _, a := range as {
				if want[a.Threshold] != a.Status {
					t.Errorf("%g%%: status %s, want %s", a.Threshold, a.Status, want[a.Threshold])
				}
				if a.Status == store.AlertSkipped && (a.Attempts != 0 || a.LastError != "skipped: crossed together with 100%, which was sent instead") {
					t.Errorf("skipped row: %s", brief(a))
				}
			}
			// Again, after a restart and an hour: nothing more.
			r.restart()
			r.clock.Add(time.Hour)
			r.use("omar", 10, 0, r.clock.Now())
			r.checkAndDeliver()
			if n := len(api.Calls()); n != 2 {
				t.Fatalf("later check after a restart: %d requests, want 2", n)
			}
		})
	}
}

// Unlimited tiers are tracked and never warned; a customer without a tier
// neither.
func TestUnlimitedNeverWarns(t *testing.T) {
	api := newFakeCloudAPI(t)
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh)
	r := newRig(t, api, now)
	r.customers = []report.Customer{{ID: "salon", Phone: omarPhone, Tier: "pro"}}
	r.build()
	r.use("salon", 5000, 0, now)
	if rows, ds := r.checkAndDeliver(); len(rows)+len(ds)+len(api.Calls()) != 0 {
		t.Fatalf("unlimited customer warned: %v %v", rows, ds)
	}
}

// A customer moved to a smaller tier mid-month is warned against the new
// limit; moving back does not repeat the warnings already sent against the
// old one.
func TestTierChangeWarnsAgainstNewLimit(t *testing.T) {
	api := newFakeCloudAPI(t)
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh)
	r := newRig(t, api, now)
	r.use("omar", 2500, 0, now) // 83 % of 3000
	r.checkAndDeliver()
	if n := len(api.Calls()); n != 1 {
		t.Fatalf("standard 80%%: %d requests", n)
	}
	r.customers[0].Tier, r.customers[0].Limits = "big", &report.Tier{Requests: 3100}
	r.build()
	r.checkAndDeliver() // 80.6 % of 3100: a new limit, warned again
	if n := len(api.Calls()); n != 2 || !strings.Contains(api.Calls()[1].Body.Text.Body, "3100") {
		t.Fatalf("after the tier change: %d requests", n)
	}
	r.customers[0].Tier, r.customers[0].Limits = "standard", &standard
	r.build()
	r.checkAndDeliver()
	if n := len(api.Calls()); n != 2 {
		t.Fatalf("back on standard: %d requests, want 2 (no repeat)", n)
	}
}

// Two checkers deciding at the same time (the daemon and a manual check)
// record each threshold once.
func TestConcurrentChecksDecideOnce(t *testing.T) {
	api := newFakeCloudAPI(t)
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh)
	r := newRig(t, api, now)
	r.use("omar", 2450, 0, now)
	second, err := store.Open(context.Background(), r.path)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	other := *r.checker
	other.Store = second
	errs := make(chan error, 2)
	for _, c := range []*Checker{r.checker, &other} {
		go func() {
			_, err := c.Check(context.Background())
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if as := r.alerts("2026-11"); len(as) != 1 {
		t.Fatalf("%d rows, want 1", len(as))
	}
}

// Percent is the highest over the tier's limits: tokens can trigger before
// requests do, and the message then speaks of tokens.
func TestTokenLimitDecides(t *testing.T) {
	api := newFakeCloudAPI(t)
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh)
	r := newRig(t, api, now)
	r.customers[0].Limits = &report.Tier{Requests: 3000, Tokens: 11000}
	r.build()
	r.use("omar", 80, 0, now) // 80 requests × 110 tokens = 8800 = 80 % of tokens
	r.checkAndDeliver()
	calls := api.Calls()
	if len(calls) != 1 || !strings.Contains(calls[0].Body.Text.Body, "8800 من 11000 توكن") {
		t.Fatalf("token warning: %v", calls)
	}
}
