package alerts

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// Issue 7 item 10: a lower threshold whose send was interrupted must not
// reach the customer after a higher one.

// The 80 % row is claimed by a process that is then killed mid-send; the
// next process sends the 100 % warning; when the dead sender's lease ends,
// the 80 % row is recorded skipped (superseded) and never sent. When the
// jump also crossed the operator's 120 %, that notice waits for the
// customer's rows and goes out after the 100 %.
func TestInterruptedLowerWarningIsNotSentAfterAHigherOne(t *testing.T) {
	for _, tt := range []struct {
		name string
		more int      // requests added after the 80 % decision (3000 limit)
		to   []string // recipients in order, once the lease has ended
	}{
		{"100% to the customer", 600, []string{omarPhone}},
		{"100% to the customer and 120% to the operator", 1300, []string{omarPhone, operatorTel}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeCloudAPI(t)
			r := at80(t, api)
			if _, err := r.checker.Check(context.Background()); err != nil {
				t.Fatal(err)
			}
			// The killed process: it claimed the 80 % row and never finished.
			lease := 2 * time.Minute
			if a, err := r.st.ClaimDueAlert(context.Background(), r.clock.Now().UnixMilli(), lease.Milliseconds(), "whatsapp"); err != nil || a == nil {
				t.Fatalf("claim: %+v %v", a, err)
			}
			r.restart()
			r.clock.Add(10 * time.Second)
			r.use("omar", tt.more, 0, r.clock.Now())
			r.checkAndDeliver()
			if calls := api.Calls(); len(calls) != 1 || calls[0].Body.To != omarPhone {
				t.Fatalf("the higher warning: %+v", calls)
			}
			r.clock.Add(lease) // the dead sender's lease ends
			_, ds := r.checkAndDeliver()
			if len(ds) != len(tt.to) || ds[0].Status != store.AlertSkipped || ds[0].Alert.Threshold != 80 {
				t.Fatalf("after the lease: %s", briefs(ds))
			}
			r.clock.Add(time.Hour)
			r.checkAndDeliver()
			calls := api.Calls()
			var to []string
			for _, c := range calls {
				to = append(to, c.Body.To)
			}
			if fmt.Sprint(to) != fmt.Sprint(tt.to) {
				t.Fatalf("requests to %v, want %v: the 80%% warning went out after the 100%% one, or out of order", to, tt.to)
			}
			a := r.alerts("2026-11")[0]
			if a.Threshold != 80 || a.Status != store.AlertSkipped || a.LastError != "superseded: the 100% warning was sent first" {
				t.Fatalf("80%% row: %s", brief(a))
			}
			if ms, ok, _ := r.st.NextAlertDue(context.Background()); ok {
				t.Fatalf("still pending, due %d", ms)
			}
		})
	}
}

// A customer moved to a bigger tier after their 100 % warning is warned at
// 80 % of the new limit: a higher threshold sent against an earlier limit
// does not supersede a warning decided after it.
func TestWarningAgainstANewLimitIsNotSuperseded(t *testing.T) {
	api := newFakeCloudAPI(t)
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh)
	r := newRig(t, api, now)
	r.customers[0].Tier, r.customers[0].Limits = "basic", &report.Tier{Requests: 500}
	r.build()
	r.use("omar", 500, 0, now)
	r.checkAndDeliver() // 100 % of basic (80 % skipped as crossed together)
	r.customers[0].Tier, r.customers[0].Limits = "standard", &standard
	r.build()
	r.clock.Add(time.Hour)
	r.use("omar", 1900, 0, now) // 2400 = 80 % of standard
	r.checkAndDeliver()
	calls := api.Calls()
	if len(calls) != 2 || !strings.Contains(calls[1].Body.Text.Body, "2400 من 3000") {
		var rows []string
		for _, a := range r.alerts("2026-11") {
			rows = append(rows, brief(a))
		}
		t.Fatalf("%d requests, want 2 (the 80%% of the new limit); rows %v", len(calls), rows)
	}
}
