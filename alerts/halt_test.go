package alerts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

// Issue 7 item 9: an account-level WhatsApp error (expired token, missing
// permission, restricted account) must never consume a warning.

// accepted counts the requests the fake Cloud API accepted (not refused
// for an expired token).
func (f *fakeCloudAPI) accepted() int {
	n := 0
	for _, c := range f.Calls() {
		if !c.Expired {
			n++
		}
	}
	return n
}

// brief prints what matters of an outbox row in a failure message.
func brief(a store.Alert) string {
	return fmt.Sprintf("#%d %s %g%% status=%s attempts=%d next=%d last_error=%q", a.ID, a.Customer, a.Threshold, a.Status,
		a.Attempts, a.NextAttemptMs, a.LastError)
}

// briefs prints deliveries in a failure message.
func briefs(ds []Delivery) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "[%s halted=%v status=%s err=%v] ", brief(d.Alert), d.Halted, d.Status, d.Err)
	}
	return "deliveries " + b.String()
}

// writeToken replaces a token file the way an operator (or a secret
// manager) does: a new file renamed over the old one.
func writeToken(t *testing.T, path, token string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Every halting code leaves the row pending, with the attempt not counted,
// the reason recorded, and the row due at once; no halting code marks it
// failed.
func TestHaltingErrorKeepsTheWarningPending(t *testing.T) {
	for _, ans := range []fakeAnswer{
		{status: 401, code: 190}, {status: 401, code: 0}, {status: 403, code: 10}, {status: 403, code: 3},
		{status: 403, code: 200}, {status: 403, code: 299}, {status: 403, code: 368}, {status: 400, code: 131031},
		{status: 400, code: 131042}, {status: 400, code: 131045}, {status: 400, code: 131048}, {status: 400, code: 131005},
		{status: 400, code: 130497},
	} {
		t.Run(itoa(ans.code), func(t *testing.T) {
			api := newFakeCloudAPI(t, ans)
			r := newRig(t, api, time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh))
			r.customers[0].Limits = &report.Tier{Requests: 10}
			r.build()
			r.use("omar", 8, 0, r.clock.Now())
			_, ds := r.checkAndDeliver()
			if len(ds) != 1 || !ds[0].Halted || ds[0].Status != store.AlertPending || ds[0].Alert.Attempts != 0 {
				t.Fatalf("delivery: %s", briefs(ds))
			}
			a := r.alerts("2026-11")[0]
			if a.Status != store.AlertPending || a.Attempts != 0 || !strings.Contains(a.LastError, "WhatsApp error "+itoa(ans.code)) ||
				!strings.Contains(a.LastError, "not counted") || a.NextAttemptMs > r.clock.Now().UnixMilli() {
				t.Fatalf("after error %d: %s", ans.code, brief(a))
			}
		})
	}
}

// An expired token, then a restart with the new one: the warning goes out
// at once (no pause, no backoff carried over), counted as one attempt.
func TestExpiredTokenWarningGoesOutAtOnceAfterRestartWithNewToken(t *testing.T) {
	api := newFakeCloudAPI(t)
	r := newRig(t, api, time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh))
	r.token = expiredToken
	r.build()
	r.use("omar", 2400, 0, r.clock.Now())
	r.checkAndDeliver()
	if calls := api.Calls(); len(calls) != 1 || !calls[0].Expired {
		t.Fatalf("calls: %+v", calls)
	}
	r.token = "" // the operator put the new token in the environment and restarted
	r.restart()
	_, ds := r.checkAndDeliver()
	if len(ds) != 1 || ds[0].Status != store.AlertSent {
		t.Fatalf("after the restart: %s", briefs(ds))
	}
	a := r.alerts("2026-11")[0]
	if a.Status != store.AlertSent || a.Attempts != 1 || api.accepted() != 1 {
		t.Fatalf("row %s, %d accepted", brief(a), api.accepted())
	}
}

// While the token stays expired, deliveries pause; each probe after the
// pause tries one row and counts nothing, so a long outage (more probes
// than the retry policy's attempts) never turns a warning into failed.
func TestHaltProbesCountNothing(t *testing.T) {
	api := newFakeCloudAPI(t)
	r := newRig(t, api, time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh))
	r.token = expiredToken
	r.customers = append(r.customers, report.Customer{ID: "layla", Phone: "+966500000002", Tier: "basic", Limits: &report.Tier{Requests: 500}})
	r.build()
	r.use("omar", 2400, 0, r.clock.Now())
	r.use("layla", 400, 0, r.clock.Now())
	r.checkAndDeliver()
	if n := len(api.Calls()); n != 1 {
		t.Fatalf("%d requests after the first 190, want 1", n)
	}
	r.clock.Add(10 * time.Minute)
	if ds, _ := r.deliverer.DeliverDue(context.Background()); len(ds) != 0 || len(api.Calls()) != 1 {
		t.Fatalf("delivered during the pause: %s", briefs(ds))
	}
	probes := 2 * r.deliverer.Backoff.Attempts
	for i := range probes {
		r.clock.Add(16 * time.Minute)
		ds, err := r.deliverer.DeliverDue(context.Background())
		if err != nil || len(ds) != 1 || !ds[0].Halted {
			t.Fatalf("probe %d: %s %v", i+1, briefs(ds), err)
		}
	}
	if n := len(api.Calls()); n != 1+probes {
		t.Fatalf("%d requests, want %d (one per probe)", n, 1+probes)
	}
	// The halted row keeps its place at the head of the queue, so it is the
	// probe every time; the other waits untouched.
	for i, a := range r.alerts("2026-11") {
		if a.Status != store.AlertPending || a.Attempts != 0 || (i == 0) != strings.Contains(a.LastError, "190") {
			t.Fatalf("after %d probes: %s", probes, brief(a))
		}
	}
}

// The token file is replaced while deliveries are halted: the next
// delivery round (inside the pause) re-reads it and sends every pending
// warning, without a restart and without logging either token.
func TestTokenFileReplacedWhileHaltedResumesDelivery(t *testing.T) {
	api := newFakeCloudAPI(t)
	r := newRig(t, api, time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh))
	r.tokenFile = filepath.Join(t.TempDir(), "token")
	writeToken(t, r.tokenFile, expiredToken)
	r.token = expiredToken // what ReadToken found at start
	r.customers = append(r.customers, report.Customer{ID: "layla", Phone: "+966500000002", Tier: "basic", Limits: &report.Tier{Requests: 500}})
	r.build()
	logs := &lockedBuf{}
	r.deliverer.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.use("omar", 2400, 0, r.clock.Now())
	r.use("layla", 400, 0, r.clock.Now())
	r.checkAndDeliver()
	r.clock.Add(time.Minute)
	if ds, _ := r.deliverer.DeliverDue(context.Background()); len(ds) != 0 || len(api.Calls()) != 1 {
		t.Fatalf("sent while the file still holds the expired token: %s", briefs(ds))
	}
	writeToken(t, r.tokenFile, testToken)
	ds, err := r.deliverer.DeliverDue(context.Background())
	if err != nil || len(ds) != 2 || ds[0].Status != store.AlertSent || ds[1].Status != store.AlertSent {
		t.Fatalf("after the new token: %s %v", briefs(ds), err)
	}
	for _, a := range r.alerts("2026-11") {
		if a.Status != store.AlertSent || a.Attempts != 1 {
			t.Fatalf("row: %s", brief(a))
		}
	}
	l := logs.String()
	if strings.Contains(l, testToken) || strings.Contains(l, expiredToken) {
		t.Fatalf("a token is in the log:\n%s", l)
	}
	if !strings.Contains(l, "deliveries resumed") {
		t.Fatalf("the resume is not logged:\n%s", l)
	}
}

// Inside `run` the delivery worker notices a replaced token file within
// seconds, not after the 15-minute pause or its 30-second poll.
func TestDaemonResumesSoonAfterTokenFileChange(t *testing.T) {
	api := newFakeCloudAPI(t)
	r := newRig(t, api, time.Now())
	r.tokenFile = filepath.Join(t.TempDir(), "token")
	writeToken(t, r.tokenFile, expiredToken)
	r.token = expiredToken
	r.build()
	r.checker.Now, r.deliverer.Now = time.Now, time.Now
	r.deliverer.HaltPause, r.deliverer.ReloadEvery = time.Hour, 50*time.Millisecond
	d := &Daemon{Checker: r.checker, Deliverer: r.deliverer, Location: riyadh, Debounce: 20 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	r.use("omar", 2400, 0, time.Now())
	d.Ready()
	deadline := time.Now().Add(10 * time.Second)
	for len(api.Calls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if calls := api.Calls(); len(calls) != 1 || !calls[0].Expired {
		t.Fatalf("first attempt: %+v", calls)
	}
	time.Sleep(200 * time.Millisecond) // several reload rounds with the old file: nothing sent
	writeToken(t, r.tokenFile, testToken)
	start := time.Now()
	for api.accepted() == 0 && time.Since(start) < 10*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	if api.accepted() != 1 {
		t.Fatalf("no delivery within 10 s of the new token (%d requests)", len(api.Calls()))
	}
	t.Logf("delivered %s after the token file was replaced", time.Since(start).Round(time.Millisecond))
	if a := r.alerts(report.PeriodOf(time.Now(), riyadh))[0]; a.Attempts != 1 {
		t.Fatalf("row: %s", brief(a))
	}
}

// A token file that is a FIFO (or any non-regular file) is refused with a
// clear error instead of hanging the sidecar in open(2).
func TestTokenFileThatIsNotARegularFileDoesNotHang(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := ReadToken(WhatsApp{TokenFile: fifo})
		errc <- err
	}()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO token file hung")
	}
}
