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

// paceCustomer is one customer of the simulated month: perHour requests
// every hour from the hour `from` (hours since 1 November 00:00 Riyadh),
// and a jump of `jump` requests at hour `jumpAt`.
type paceCustomer struct {
	id       string
	perHour  int
	from     int
	jump     int
	jumpAt   int
	preOn    string // the day the pre-warning is sent, "" = never
	preDate  string // the day it names
	eightyOn string // the day the 80 % warning is sent, "" = never
	eighty   string // what the 80 % text says about the month
}

// TestScenarioPreWarningFiresOnceOnTheExpectedDay simulates November 2026
// hour by hour (injected clock, real store and ingest, checks and
// deliveries through the fake Cloud API after every hour, two restarts):
// ten customers of 3000 requests at different paces, with the pre-warning
// {projected_percent: 100, min_percent: 50}. Each pre-warning fires once,
// on the day its customer reaches 50 % while the pace reaches the limit
// before the month ends, and names the day; a pace that stays within the
// limit never gets one; an 80 % text whose forecast disagrees names the
// day instead of "it should last".
func TestScenarioPreWarningFiresOnceOnTheExpectedDay(t *testing.T) {
	const seed = "متوقع تكفيك لنهاية الشهر"
	says := func(day string) string {
		return "بهالمعدل راح توصل لحدك الشهري يوم " + day + "،"
	}
	// perHour × 720 hours is the month: up to 4 an hour (2880 = 96 %) the
	// pace stays within the limit. 50 % is 1500 requests, 80 % 2400.
	cs := []paceCustomer{
		{id: "c1", perHour: 1},
		{id: "c2", perHour: 2},
		{id: "c3", perHour: 3},
		{id: "c4", perHour: 4, eightyOn: "2026-11-26", eighty: seed}, // hour 600; projected 96 %
		// From hour 7: 50 % at hour 306 (13th 18:00), 120 a day: the limit
		// at hour 606 (26th 06:00).
		{id: "c5", perHour: 5, from: 7, preOn: "2026-11-13", preDate: "26 نوفمبر", eightyOn: "2026-11-21", eighty: says("26 نوفمبر")},
		// 50 % at hour 250 (11th 10:00), 144 a day: 1500 left = 10.4 days.
		{id: "c6", perHour: 6, preOn: "2026-11-11", preDate: "21 نوفمبر", eightyOn: "2026-11-17", eighty: says("21 نوفمبر")},
		{id: "c8", perHour: 8, preOn: "2026-11-08", preDate: "16 نوفمبر", eightyOn: "2026-11-13", eighty: says("16 نوفمبر")},
		{id: "c12", perHour: 12, preOn: "2026-11-06", preDate: "11 نوفمبر", eightyOn: "2026-11-09", eighty: says("11 نوفمبر")},
		// Quiet until the 20th, then 30 an hour: 50 % on the 22nd at 02:00,
		// when the last week's pace (1500 over 7 days and 2 hours) reaches
		// 3000 on the 29th; at 80 % (23rd 08:00, 2400 over 7 days and 8
		// hours) on the 25th.
		{id: "late", perHour: 30, from: 457, preOn: "2026-11-22", preDate: "29 نوفمبر", eightyOn: "2026-11-23", eighty: says("25 نوفمبر")},
		// 2450 at once on the 15th at noon: 80 % and the pre-warning are due
		// together; the 80 % text names the day and the pre-warning is
		// recorded skipped, never sent.
		{id: "jump", jump: 2450, jumpAt: 348, eightyOn: "2026-11-15", eighty: says("17 نوفمبر")},
	}
	api := newFakeCloudAPI(t)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, riyadh)
	r := newRig(t, api, start)
	r.cfg.Thresholds = append(DefaultThresholds(), preWarning)
	r.customers = nil
	phone := map[string]string{}
	for i, c := range cs {
		p := fmt.Sprintf("+9665000001%02d", i)
		phone[p] = c.id
		r.customers = append(r.customers, report.Customer{ID: c.id, Name: c.id, Phone: p, Tier: "standard", Limits: &standard})
	}
	r.build()

	// Hour h's requests are made in the half hour before it, then checked.
	for h := 1; h <= 720; h++ {
		at := start.Add(time.Duration(h) * time.Hour)
		r.clock.Set(at)
		b := &store.Batch{}
		for _, c := range cs {
			n := 0
			if c.perHour > 0 && h >= c.from {
				n = c.perHour
			}
			if c.jump > 0 && h == c.jumpAt {
				n += c.jump
			}
			for range n {
				r.seq++
				b.Events = append(b.Events, store.Event{Key: fmt.Sprintf("sim:%d", r.seq), Agent: "main", SessionID: c.id, TimeMs: at.Add(-30 * time.Minute).UnixMilli(),
					Customer: c.id, Provider: "p", Model: "m", Input: 100, Output: 10, Priced: true, CostUSD: 0.001})
			}
		}
		if _, err := r.st.Commit(context.Background(), b, func(_ string, ms int64) string { return report.DayOf(time.UnixMilli(ms), riyadh) }); err != nil {
			t.Fatal(err)
		}
		r.checkAndDeliver()
		// A new process on the same database right after c6's pre-warning
		// and in the middle of the month: nothing is decided twice.
		if h == 251 || h == 360 {
			r.restart()
			r.checkAndDeliver()
		}
	}
	// The month ends: December's first checks send nothing more for November.
	r.clock.Set(time.Date(2026, 12, 1, 0, 30, 0, 0, riyadh))
	r.checkAndDeliver()

	byCustomer := map[string][]store.Alert{}
	for _, a := range r.alerts("2026-11") {
		byCustomer[a.Customer] = append(byCustomer[a.Customer], a)
	}
	sentTo := map[string][]string{}
	for _, call := range api.Calls() {
		sentTo[phone[call.Body.To]] = append(sentTo[phone[call.Body.To]], call.Body.Text.Body)
	}
	for _, c := range cs {
		var pre, eighty []store.Alert
		for _, a := range byCustomer[c.id] {
			switch a.Threshold {
			case preWarning.Key():
				pre = append(pre, a)
			case 80:
				eighty = append(eighty, a)
			}
		}
		day := func(a store.Alert) string { return report.DayOf(time.UnixMilli(a.CreatedMs), riyadh) }
		switch {
		case c.preOn != "":
			if len(pre) != 1 || pre[0].Status != store.AlertSent || day(pre[0]) != c.preOn {
				t.Errorf("%s: pre-warning rows %+v, want one sent on %s", c.id, pre, c.preOn)
			} else if want := "وبهالمعدل راح توصل للحد يوم " + c.preDate + "."; !strings.Contains(pre[0].Message, want) {
				t.Errorf("%s: pre-warning %q does not say %q", c.id, pre[0].Message, want)
			}
		case c.id == "jump":
			if len(pre) != 1 || pre[0].Status != store.AlertSkipped || !strings.Contains(pre[0].LastError, "80% warning") {
				t.Errorf("%s: pre-warning rows %+v, want one skipped for the 80 %% warning", c.id, pre)
			}
		default:
			if len(pre) != 0 {
				t.Errorf("%s: pace within the limit got a pre-warning: %+v", c.id, pre)
			}
		}
		if c.eightyOn == "" {
			if len(eighty) != 0 {
				t.Errorf("%s: 80 %% rows %+v, want none", c.id, eighty)
			}
		} else if len(eighty) != 1 || eighty[0].Status != store.AlertSent || day(eighty[0]) != c.eightyOn || !strings.Contains(eighty[0].Message, c.eighty) {
			t.Errorf("%s: 80 %% rows %+v, want one sent on %s saying %q", c.id, eighty, c.eightyOn, c.eighty)
		}
		// Every message reached the customer once: one request per sent
		// customer row, none repeated.
		sent := 0
		for _, a := range byCustomer[c.id] {
			if a.Status == store.AlertSent && a.To == ToCustomer {
				sent++
			}
		}
		seen := map[string]bool{}
		for _, body := range sentTo[c.id] {
			if seen[body] {
				t.Errorf("%s: the same message was sent twice: %q", c.id, body)
			}
			seen[body] = true
		}
		if len(sentTo[c.id]) != sent {
			t.Errorf("%s: %d WhatsApp requests, %d sent customer rows", c.id, len(sentTo[c.id]), sent)
		}
	}
}
