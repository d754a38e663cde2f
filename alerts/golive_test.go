package alerts

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// TestFirstRunHoldsTheBacklogThenWarns is issue 11 item 8: `run` (without
// --arm) on a database never armed records what the history already
// crossed as held, sends none of it, and arms the database; a threshold
// crossed after that is sent, also after a restart; the held rows never go
// out later.
func TestFirstRunHoldsTheBacklogThenWarns(t *testing.T) {
	api := newFakeCloudAPI(t)
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, riyadh)
	r := newRig(t, api, now)
	r.customers = append(r.customers, report.Customer{ID: "layla", Name: "ليلى", Phone: "+966500000002", Tier: "basic", Limits: new(seedTiers["basic"])})
	r.build()
	r.checker.HoldBacklog = true
	r.use("omar", 2500, 0, now.AddDate(0, 0, -10)) // 83 % from the backlog
	r.use("layla", 650, 0, now.AddDate(0, 0, -3))  // 130 %
	rows, ds := r.checkAndDeliver()
	if len(api.Calls()) != 0 || len(ds) != 0 {
		t.Fatalf("first run: %d requests, %d deliveries; want nothing sent", len(api.Calls()), len(ds))
	}
	if len(rows) != 4 { // omar 80; layla 80 skipped, 100 and 120 held
		t.Fatalf("first run recorded %d rows, want 4", len(rows))
	}
	for _, a := range rows {
		if a.Status != store.AlertSkipped || (a.Threshold != 80 || a.Customer == "omar") && a.LastError != heldReason {
			t.Errorf("row %s", brief(a))
		}
	}
	if v, err := r.st.Meta(context.Background(), MetaArmed); err != nil || !strings.Contains(v, "backlog held: 3 rows") {
		t.Fatalf("meta %s = %q, %v", MetaArmed, v, err)
	}
	// Armed now: omar reaching 100 % is told, after a restart too.
	r.restart()
	r.checker.HoldBacklog = true
	r.clock.Add(time.Hour)
	r.use("omar", 500, 0, r.clock.Now())
	r.checkAndDeliver()
	calls := api.Calls()
	if len(calls) != 1 || calls[0].Body.To != omarPhone || !strings.Contains(calls[0].Body.Text.Body, "وصلت للحد الشهري (3000 طلب)") {
		t.Fatalf("after arming: %d requests %v, want omar's 100 %%", len(calls), calls)
	}
	r.clock.Add(24 * time.Hour)
	r.checkAndDeliver()
	if n := len(api.Calls()); n != 1 {
		t.Fatalf("the held rows went out later: %d requests", n)
	}
}

// TestArmedFirstRunSendsTheBacklog: `run --arm` (and `check`, which is not
// holding) on a fresh database sends what the history crossed, and arms it.
func TestArmedFirstRunSendsTheBacklog(t *testing.T) {
	api := newFakeCloudAPI(t)
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, riyadh)
	r := newRig(t, api, now)
	r.checker.ArmedBy = "run --arm"
	r.use("omar", 2500, 0, now.AddDate(0, 0, -10))
	r.checkAndDeliver()
	if calls := api.Calls(); len(calls) != 1 || !strings.Contains(calls[0].Body.Text.Body, "80%") {
		t.Fatalf("armed first run: %d requests", len(calls))
	}
	if v, _ := r.st.Meta(context.Background(), MetaArmed); !strings.HasSuffix(v, " by run --arm") {
		t.Fatalf("meta %q", v)
	}
}

// TestDatabaseWithWarningsCountsAsArmed: a database that already has
// outbox rows (a version before arming, which sent at once) is armed: an
// upgrade holds nothing.
func TestDatabaseWithWarningsCountsAsArmed(t *testing.T) {
	api := newFakeCloudAPI(t)
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, riyadh)
	r := newRig(t, api, now)
	r.use("omar", 2500, 0, now)
	if _, err := r.checker.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.DB().Exec("DELETE FROM meta WHERE key = ?", MetaArmed); err != nil {
		t.Fatal(err)
	}
	r.restart()
	r.checker.HoldBacklog = true
	r.use("omar", 500, 0, now)
	r.checkAndDeliver()
	if n := len(api.Calls()); n != 2 {
		t.Fatalf("%d requests, want the 80 %% and the 100 %%", n)
	}
}

// TestLimitChangeWarnsAgainAndSaysWhy is issue 11 item 7: a customer whose
// limit changes mid-month is warned again at 80 % of the new limit; the
// message says what the limit is now, and the row keeps why it was sent
// again ("limit changed from requests=3000 to requests=3100"), which
// `alerts` shows. A first warning carries no reason.
func TestLimitChangeWarnsAgainAndSaysWhy(t *testing.T) {
	api := newFakeCloudAPI(t)
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh)
	r := newRig(t, api, now)
	r.use("omar", 2500, 0, now) // 83 % of 3000
	r.checkAndDeliver()
	r.customers[0].Tier, r.customers[0].Limits = "big", &report.Tier{Requests: 3100, UpgradeTo: "pro"}
	r.build()
	r.clock.Add(time.Hour)
	r.checkAndDeliver() // 80.6 % of 3100
	calls := api.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d requests, want 2", len(calls))
	}
	if b := calls[0].Body.Text.Body; strings.Contains(b, "صار") {
		t.Errorf("the first warning speaks of a changed limit:\n%s", b)
	}
	if b := calls[1].Body.Text.Body; !strings.Contains(b, "حدك الشهري صار 3100 طلب. لقد استهلكت 80% من حدك الشهري للذكاء الاصطناعي (2500 من 3100 طلب).") {
		t.Errorf("the second warning does not say the limit changed:\n%s", b)
	}
	as := r.alerts("2026-11")
	if got := report.ToAlertRow(as[0], riyadh).Reason; got != "" {
		t.Errorf("first warning's reason %q, want none", got)
	}
	if got := report.ToAlertRow(as[1], riyadh).Reason; got != "limit changed from requests=3000 to requests=3100" {
		t.Errorf("second warning's reason %q", got)
	}
	// Then 100 % of the new limit: the operator-bound rows say so as well.
	r.use("omar", 1300, 0, now) // 3800 = 122 % of 3100
	r.checkAndDeliver()
	calls = api.Calls()
	if len(calls) != 4 || !strings.Contains(calls[2].Body.Text.Body, "حدك الشهري صار 3100 طلب، ووصلت له") ||
		!strings.Contains(calls[3].Body.Text.Body, "حده تغيّر هالشهر، وصار 3100 طلب") {
		t.Fatalf("%d requests; 100 %% %q; operator %q", len(calls), calls[2].Body.Text.Body, calls[len(calls)-1].Body.Text.Body)
	}
	var vars map[string]string
	if err := json.Unmarshal([]byte(r.alerts("2026-11")[3].Params), &vars); err != nil || vars[ReasonVar] != "limit changed from requests=3000 to requests=3100" {
		t.Fatalf("params %v %v", vars, err)
	}
}
