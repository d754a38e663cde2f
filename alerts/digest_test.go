package alerts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// digestDaemon is a new daemon (a new process, as far as the digest
// knows) over the rig's store and clock.
func (r *rig) digestDaemon(maxChars int) *Daemon {
	g := &Digester{Store: r.st, Book: report.NewBook(r.customers, riyadh), Language: "ar", OperatorPhone: operatorTel,
		Channel: "whatsapp", MaxChars: maxChars, Now: r.clock.Now}
	return &Daemon{Checker: r.checker, Deliverer: r.deliverer, Location: riyadh, Digest: g, DigestSchedule: DefaultDigestSchedule,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func (r *rig) digestIfDue(d *Daemon) []store.Alert {
	r.t.Helper()
	rows, err := d.DigestIfDue(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return rows
}

// operatorTexts are the texts the fake Cloud API received for the operator.
func operatorTexts(api *fakeCloudAPI) []string {
	var out []string
	for _, c := range api.Calls() {
		if c.Body.To == operatorTel && c.Body.Text != nil {
			out = append(out, c.Body.Text.Body)
		}
	}
	return out
}

// TestDigestOncePerDayOverASimulatedMonth runs December with 10 customers on
// an injected clock: every day a new process starts at 06:00 (nothing yet),
// the digest goes out at 09:00, asking again and restarting at noon sends
// nothing more; the sidecar is down from the 10th to the 12th and started on
// the 13th at 15:00, which sends the 13th's digest once (the 10th–12th are
// over and never caught up); a warning sent one day is in the next day's
// digest.
func TestDigestOncePerDayOverASimulatedMonth(t *testing.T) {
	api := newFakeCloudAPI(t)
	dec := func(day, hour, min int) time.Time { return time.Date(2026, 12, day, hour, min, 0, 0, riyadh) }
	r := newRig(t, api, dec(1, 0, 0))
	r.customers = nil
	for i := 0; i < 10; i++ {
		r.customers = append(r.customers, report.Customer{ID: fmt.Sprintf("c%d", i), Name: fmt.Sprintf("عميل %d", i),
			Phone: fmt.Sprintf("+96650000010%d", i), Tier: "standard", Limits: &standard})
	}
	r.build()
	for day := 1; day <= 31; day++ {
		if day >= 10 && day <= 12 {
			continue // the sidecar is down
		}
		r.clock.Set(dec(day, 6, 0))
		for i, cu := range r.customers {
			r.use(cu.ID, 10*(i+1), 0, dec(day, 5, 30))
		}
		if day == 13 {
			// Started at 15:00: the day's digest is sent once the first
			// catch-up is done.
			r.clock.Set(dec(13, 15, 0))
			d := r.digestDaemon(0)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			d.Ready()
			deadline := time.Now().Add(10 * time.Second)
			for {
				parts, err := r.st.DigestParts(context.Background(), "2026-12-13")
				if err != nil {
					t.Fatal(err)
				}
				if len(parts) > 0 && parts[len(parts)-1].Status == store.AlertSent {
					break
				}
				if time.Now().After(deadline) {
					cancel()
					t.Fatalf("day 13: the digest missed at 09:00 was not sent after a start at 15:00 (parts %+v)", parts)
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if rows := r.digestIfDue(r.digestDaemon(0)); len(rows) != 0 {
				t.Fatalf("day 13: a second digest after the catch-up: %+v", rows)
			}
			r.checkAndDeliver()
			continue
		}
		d := r.digestDaemon(0)
		if rows := r.digestIfDue(d); len(rows) != 0 {
			t.Fatalf("day %d 06:00: digest before its time: %+v", day, rows)
		}
		r.clock.Set(dec(day, 9, 0))
		rows := r.digestIfDue(d)
		if len(rows) != 1 {
			t.Fatalf("day %d 09:00: %d digest rows, want 1", day, len(rows))
		}
		r.checkAndDeliver()
		r.clock.Set(dec(day, 9, 1))
		if rows := r.digestIfDue(d); len(rows) != 0 {
			t.Fatalf("day %d: a second digest the same day: %+v", day, rows)
		}
		r.clock.Set(dec(day, 12, 5))
		r.restart()
		if rows := r.digestIfDue(r.digestDaemon(0)); len(rows) != 0 {
			t.Fatalf("day %d: a digest again after a restart: %+v", day, rows)
		}
		r.checkAndDeliver()
	}

	texts := operatorTexts(api)
	perDay := map[string]int{}
	for _, txt := range texts {
		if !strings.HasPrefix(txt, "📊") {
			continue // a 120 % review notice
		}
		day := strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(txt, "\n", 2)[0], "📊 ملخص quotawatch اليومي \u2066"), "\u2069")
		perDay[day]++
	}
	for day := 1; day <= 31; day++ {
		key := fmt.Sprintf("2026-12-%02d", day)
		want := 1
		if day >= 10 && day <= 12 {
			want = 0
		}
		if perDay[key] != want {
			t.Errorf("%s: %d digests sent, want %d", key, perDay[key], want)
		}
	}
	// c9 (100 a day of 3000, 28 days of use) reaches 80 % on the 27th: its
	// warning, sent at 12:05 that day, is in the digest of the 28th only.
	for day, want := range map[string]string{"2026-12-27": "أُرسلت \u20660\u2069", "2026-12-28": "أُرسلت \u20661\u2069", "2026-12-29": "أُرسلت \u20660\u2069"} {
		parts, err := r.st.DigestParts(context.Background(), day)
		if err != nil || len(parts) != 1 {
			t.Fatalf("digest of %s: %v %v", day, parts, err)
		}
		if !strings.Contains(parts[0].Message, want) {
			t.Errorf("the digest of %s does not say %q:\n%s", day, want, parts[0].Message)
		}
	}
}

// A digest in several messages reads in order even when its first message
// has to be retried: the later parts wait for it.
func TestDigestPartsGoOutInOrderThroughARetry(t *testing.T) {
	api := newFakeCloudAPI(t, fakeAnswer{status: 500, code: 131000})
	at := time.Date(2026, 12, 5, 9, 0, 0, 0, riyadh)
	r := newRig(t, api, at)
	r.customers = nil
	for i := 0; i < 30; i++ {
		r.customers = append(r.customers, report.Customer{ID: fmt.Sprintf("customer-%02d", i), Tier: "standard", Limits: &standard})
	}
	r.build()
	r.use("customer-00", 100, 0, at.Add(-time.Hour))
	rows := r.digestIfDue(r.digestDaemon(700))
	if len(rows) < 3 {
		t.Fatalf("%d parts, want several at 700 characters", len(rows))
	}
	if _, err := r.deliverer.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(api.Calls()); n != 1 {
		t.Fatalf("%d requests while part 1 waits for its retry, want 1 (the later parts must wait)", n)
	}
	r.clock.Add(2 * time.Minute)
	if _, err := r.deliverer.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	texts := operatorTexts(api)
	if len(texts) != len(rows)+1 {
		t.Fatalf("%d requests, want %d (part 1 twice)", len(texts), len(rows)+1)
	}
	for k, txt := range texts[1:] {
		if want := fmt.Sprintf("(%d/%d)", k+1, len(rows)); !strings.Contains(strings.SplitN(txt, "\n", 2)[0], want) {
			t.Errorf("message %d is not part %s: %q", k+1, want, strings.SplitN(txt, "\n", 2)[0])
		}
	}
}

func TestDigestIsDueOnlyOnceTodaysScheduledTimeHasPassed(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 12, 5, h, m, 0, 0, riyadh) }
	for _, tt := range []struct {
		spec string
		now  time.Time
		due  bool
	}{
		{"0 9 * * *", at(8, 59), false},
		{"0 9 * * *", at(9, 0), true},
		{"0 9 * * *", at(23, 59), true},
		{"0 0 * * *", at(0, 0), true},
		{"30 18 * * 1-5", at(19, 0), false}, // the 5th is a Saturday: no digest that day
		{"0 9,18 * * *", at(10, 0), true},
	} {
		s, err := cron.ParseStandard(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := digestDue(s, tt.now, riyadh); got != tt.due {
			t.Errorf("%q at %s: due %v, want %v", tt.spec, tt.now.Format("15:04"), got, tt.due)
		}
	}
	if _, err := ParseDigestSchedule("61 9 * * *"); err == nil {
		t.Error("a bad digest_schedule was accepted")
	}
}
