package alerts

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

func at80(t *testing.T, api *fakeCloudAPI) *rig {
	t.Helper()
	r := newRig(t, api, time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh))
	r.use("omar", 2400, 0, r.clock.Now())
	return r
}

// The fake answers 500 three times, then 200: one message, four attempts,
// spaced by the backoff.
func TestRetryServerErrorsThenSent(t *testing.T) {
	api := newFakeCloudAPI(t,
		fakeAnswer{status: 500, plain: "Internal Server Error"},
		fakeAnswer{status: 500, plain: "Internal Server Error"},
		fakeAnswer{status: 500, plain: "Internal Server Error"})
	r := at80(t, api)
	_, ds := r.checkAndDeliver()
	if len(ds) != 1 || ds[0].Status != store.AlertPending {
		t.Fatalf("first attempt: %+v", ds)
	}
	// Not due before the backoff: nothing is sent.
	if ds, _ := r.deliverer.DeliverDue(context.Background()); len(ds) != 0 {
		t.Fatalf("retried before the backoff: %+v", ds)
	}
	wantDelays := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}
	for i, d := range wantDelays {
		a := r.alerts("2026-11")[0]
		if got := time.Duration(a.NextAttemptMs-r.clock.Now().UnixMilli()) * time.Millisecond; got != d {
			t.Fatalf("after attempt %d: next attempt in %s, want %s", i+1, got, d)
		}
		r.clock.Add(d - time.Second)
		if ds, _ := r.deliverer.DeliverDue(context.Background()); len(ds) != 0 {
			t.Fatalf("attempt %d ran early", i+2)
		}
		r.clock.Add(time.Second)
		if i == 1 {
			r.restart() // the retry schedule survives a restart
		}
		if ds, err := r.deliverer.DeliverDue(context.Background()); err != nil || len(ds) != 1 {
			t.Fatalf("attempt %d: %+v %v", i+2, ds, err)
		}
	}
	if n := len(api.Calls()); n != 4 {
		t.Fatalf("%d requests, want 4", n)
	}
	a := r.alerts("2026-11")[0]
	if a.Status != store.AlertSent || a.Attempts != 4 || a.ProviderID != "wamid.TEST-4" {
		t.Fatalf("row: %+v", a)
	}
	r.clock.Add(24 * time.Hour)
	r.checkAndDeliver()
	if n := len(api.Calls()); n != 4 {
		t.Fatalf("%d requests after a day, want 4", n)
	}
}

// 130429 (throughput) twice, then 200: sent with the last wamid.
func TestRetryThroughputThenSent(t *testing.T) {
	api := newFakeCloudAPI(t, fakeAnswer{status: 400, code: 130429}, fakeAnswer{status: 400, code: 130429})
	r := at80(t, api)
	for range 3 {
		r.checkAndDeliver()
		r.clock.Add(time.Hour)
	}
	a := r.alerts("2026-11")[0]
	if a.Status != store.AlertSent || a.Attempts != 3 || a.ProviderID != "wamid.TEST-3" {
		t.Fatalf("row: %+v", a)
	}
}

// 131047 (window closed) without a template: failed with that reason, one
// request, no retry storm however long we wait.
func TestWindowClosedFailsWithoutRetry(t *testing.T) {
	api := newFakeCloudAPI(t)
	api.sticky = &fakeAnswer{status: 400, code: 131047}
	r := at80(t, api)
	for range 5 {
		r.checkAndDeliver()
		r.clock.Add(6 * time.Hour)
	}
	if n := len(api.Calls()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	a := r.alerts("2026-11")[0]
	if a.Status != store.AlertFailed || a.Attempts != 1 || !strings.Contains(a.LastError, "131047") {
		t.Fatalf("row: %+v", a)
	}
}

// 131047 with a template configured: the template goes out in the same
// attempt, with the message's variables as body parameters.
func TestWindowClosedFallsBackToTemplate(t *testing.T) {
	api := newFakeCloudAPI(t, fakeAnswer{status: 400, code: 131047})
	r := newRig(t, api, time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh))
	r.wa.Template = "usage_warning"
	r.build()
	r.use("omar", 2400, 0, r.clock.Now())
	r.checkAndDeliver()
	calls := api.Calls()
	if len(calls) != 2 || calls[0].Body.Type != "text" || calls[1].Body.Type != "template" {
		t.Fatalf("calls: %+v", calls)
	}
	tp := calls[1].Body.Template
	var got []string
	for _, p := range tp.Components[0].Parameters {
		got = append(got, p.Text)
	}
	if tp.Name != "usage_warning" || tp.Language.Code != "ar" || strings.Join(got, "|") != "عمر|80|2400|3000|طلب" {
		t.Fatalf("template: %s", calls[1].Raw)
	}
	a := r.alerts("2026-11")[0]
	if a.Status != store.AlertSent || a.Attempts != 1 || a.ProviderID != "wamid.TEST-2" {
		t.Fatalf("row: %+v", a)
	}
}

// Template mode "always" sends the template only.
func TestTemplateAlways(t *testing.T) {
	api := newFakeCloudAPI(t)
	r := newRig(t, api, time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh))
	r.wa.Template, r.wa.TemplateMode, r.wa.TemplateLang, r.wa.TemplateParams = "usage_warning", "always", "ar_SA", []string{"name", "percent"}
	r.build()
	r.use("omar", 2400, 0, r.clock.Now())
	r.checkAndDeliver()
	calls := api.Calls()
	if len(calls) != 1 || calls[0].Body.Type != "template" || calls[0].Body.Template.Language.Code != "ar_SA" ||
		len(calls[0].Body.Template.Components[0].Parameters) != 2 {
		t.Fatalf("calls: %+v", calls)
	}
}

// 131026, 132001: failed for good at once; 190 also pauses the whole queue
// so an expired token does not burn through every pending row.
func TestPermanentErrors(t *testing.T) {
	for _, code := range []int{131026, 132001, 132000} {
		api := newFakeCloudAPI(t, fakeAnswer{status: 400, code: code})
		r := at80(t, api)
		r.checkAndDeliver()
		r.clock.Add(time.Hour)
		r.checkAndDeliver()
		a := r.alerts("2026-11")[0]
		if len(api.Calls()) != 1 || a.Status != store.AlertFailed || !strings.Contains(a.LastError, itoa(code)) {
			t.Errorf("code %d: %d calls, row %+v", code, len(api.Calls()), a)
		}
	}
}

func TestAuthErrorHaltsQueue(t *testing.T) {
	api := newFakeCloudAPI(t, fakeAnswer{status: 401, code: 190})
	r := newRig(t, api, time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh))
	r.customers = append(r.customers, report.Customer{ID: "layla", Phone: "+966500000002", Tier: "basic", Limits: &report.Tier{Requests: 500}})
	r.build()
	r.use("omar", 2400, 0, r.clock.Now())
	r.use("layla", 400, 0, r.clock.Now())
	r.checkAndDeliver()
	if n := len(api.Calls()); n != 1 {
		t.Fatalf("%d requests after a 190, want 1 (queue halted)", n)
	}
	as := r.alerts("2026-11")
	if as[0].Status != store.AlertPending || !strings.Contains(as[0].LastError, "190") || as[1].Status != store.AlertPending || as[1].Attempts != 0 {
		t.Fatalf("rows: %+v", as)
	}
	r.clock.Add(16 * time.Minute) // the token was replaced meanwhile
	r.checkAndDeliver()
	if as = r.alerts("2026-11"); as[0].Status != store.AlertSent || as[1].Status != store.AlertSent {
		t.Fatalf("after the pause: %+v", as)
	}
}

// Retries are bounded: a permanently broken endpoint ends in failed after
// the configured attempts, with the reason.
func TestGiveUpAfterAttempts(t *testing.T) {
	api := newFakeCloudAPI(t)
	api.sticky = &fakeAnswer{status: 503, code: 133004}
	r := at80(t, api)
	for range 20 {
		r.checkAndDeliver()
		r.clock.Add(2 * time.Hour)
	}
	a := r.alerts("2026-11")[0]
	if len(api.Calls()) != 6 || a.Status != store.AlertFailed || a.Attempts != 6 || !strings.Contains(a.LastError, "gave up after 6 attempts") {
		t.Fatalf("%d calls, row %+v", len(api.Calls()), a)
	}
}

// A row claimed by a sender is not sent by another process during its
// lease.
func TestClaimLeaseBlocksSecondSender(t *testing.T) {
	api := newFakeCloudAPI(t)
	r := at80(t, api)
	if _, err := r.checker.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, err := r.st.ClaimDueAlert(context.Background(), r.clock.Now().UnixMilli(), time.Minute.Milliseconds(), "whatsapp")
	if err != nil || a == nil {
		t.Fatalf("claim: %v %v", a, err)
	}
	if ds, _ := r.deliverer.DeliverDue(context.Background()); len(ds) != 0 {
		t.Fatalf("second sender sent a leased row: %+v", ds)
	}
	r.clock.Add(time.Minute) // the first sender died: the lease ends
	if ds, _ := r.deliverer.DeliverDue(context.Background()); len(ds) != 1 || ds[0].Alert.Attempts != 2 {
		t.Fatalf("after the lease: %+v", ds)
	}
}

// TestKillBetweenDecisionAndDelivery runs the decision in a child process,
// kills it with SIGKILL before it delivers, and checks that a new process
// delivers the message exactly once.
func TestKillBetweenDecisionAndDelivery(t *testing.T) {
	if os.Getenv("QW_ALERTS_HELPER_DB") != "" {
		t.Skip("helper process")
	}
	api := newFakeCloudAPI(t)
	r := at80(t, api)
	r.st.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDecideThenHang$")
	cmd.Env = append(os.Environ(), "QW_ALERTS_HELPER_DB="+r.path, "QW_ALERTS_HELPER_API="+api.base(),
		"QW_ALERTS_HELPER_NOW="+r.clock.Now().Format(time.RFC3339Nano))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	decided := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "DECIDED") {
			decided = true
			break
		}
	}
	if !decided {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("helper did not decide")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if n := len(api.Calls()); n != 0 {
		t.Fatalf("helper sent %d requests before being killed", n)
	}
	r.open() // the restart
	as := r.alerts("2026-11")
	if len(as) != 1 || as[0].Status != store.AlertPending || as[0].Attempts != 0 {
		t.Fatalf("after kill -9: %+v", as)
	}
	r.checkAndDeliver()
	r.clock.Add(time.Hour)
	r.checkAndDeliver()
	if n := len(api.Calls()); n != 1 {
		t.Fatalf("%d requests after restart, want exactly 1", n)
	}
	if a := r.alerts("2026-11")[0]; a.Status != store.AlertSent || a.Attempts != 1 {
		t.Fatalf("row: %+v", a)
	}
}

// TestHelperDecideThenHang is the child of TestKillBetweenDecisionAndDelivery.
func TestHelperDecideThenHang(t *testing.T) {
	path := os.Getenv("QW_ALERTS_HELPER_DB")
	if path == "" {
		t.Skip("only run as a helper process")
	}
	now, err := time.Parse(time.RFC3339Nano, os.Getenv("QW_ALERTS_HELPER_NOW"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := NewTemplates(nil)
	c := &Checker{Store: st, Config: testConfig(), Tiers: seedTiers, Customers: []report.Customer{{ID: "omar", Name: "عمر", Phone: omarPhone, Tier: "standard", Limits: &standard}},
		Location: riyadh, Channel: "whatsapp", Templates: ts, Now: func() time.Time { return now }}
	rows, err := c.Check(context.Background())
	if err != nil || len(rows) != 1 {
		t.Fatalf("decide: %v %v", rows, err)
	}
	os.Stdout.WriteString("DECIDED\n")
	select {} // "delivering": the parent kills us here
}

// The webhook receives the documented JSON fields; 5xx retries, 4xx fails.
func TestWebhookNotifier(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	status := 503
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		got = append(got, m)
		s := status
		status = 200
		mu.Unlock()
		w.WriteHeader(s)
	}))
	defer srv.Close()
	r := at80(t, newFakeCloudAPI(t))
	r.deliverer.Notifier = &WebhookNotifier{URL: srv.URL + "/hook/SECRET"}
	r.checkAndDeliver()
	r.clock.Add(time.Hour)
	r.checkAndDeliver()
	if len(got) != 2 {
		t.Fatalf("%d webhook calls, want 2", len(got))
	}
	m := got[1]
	for _, k := range []string{"customer", "threshold", "percent", "used", "limit", "period", "message", "language"} {
		if _, ok := m[k]; !ok {
			t.Errorf("webhook body lacks %q: %v", k, m)
		}
	}
	if m["customer"] != "omar" || m["threshold"] != 80.0 || m["used"] != 2400.0 || m["limit"] != 3000.0 || m["period"] != "2026-11" || m["language"] != "ar" {
		t.Errorf("webhook body: %v", m)
	}
	a := r.alerts("2026-11")[0]
	if a.Status != store.AlertSent || a.Attempts != 2 || strings.Contains(a.LastError, "SECRET") {
		t.Errorf("row: %+v", a)
	}
}

// The clawdbot notifier runs the configured command with the documented
// arguments; a non-zero exit is a failure.
func TestClawdbotNotifier(t *testing.T) {
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	script := filepath.Join(dir, "clawdbot")
	os.WriteFile(script, []byte(`#!/bin/sh
for a in "$@"; do printf '%s\n' "$a" >> "`+argsFile+`"; done
echo --- >> "`+argsFile+`"
if [ -f "`+dir+`/fail" ]; then echo "not linked" >&2; exit 3; fi
echo '{"ok":true,"messageId":"3EB0ABC"}'
`), 0o755)
	os.WriteFile(filepath.Join(dir, "fail"), nil, 0o644)
	n := &ClawdbotNotifier{Command: script, Args: []string{"--account", "default"}, Timeout: 5 * time.Second}
	msg := Notification{AlertID: 1, Kind: ToCustomer, To: omarPhone, Text: "line one\nline 'two' $HOME"}
	_, err := n.Send(context.Background(), msg)
	if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "exited 3") || !strings.Contains(err.Error(), "not linked") {
		t.Fatalf("failing send: %v", err)
	}
	os.Remove(filepath.Join(dir, "fail"))
	id, err := n.Send(context.Background(), msg)
	if err != nil || id != "3EB0ABC" {
		t.Fatalf("send: %q %v", id, err)
	}
	b, _ := os.ReadFile(argsFile)
	calls := strings.Split(string(b), "---\n")
	want := "message\nsend\n--channel\nwhatsapp\n--target\n+966500000001\n--message\nline one\nline 'two' $HOME\n--json\n--account\ndefault\n"
	if calls[1] != want {
		t.Fatalf("args:\n%s\nwant:\n%s", calls[1], want)
	}
	slowScript := filepath.Join(dir, "slow")
	os.WriteFile(slowScript, []byte("#!/bin/sh\nexec sleep 10\n"), 0o755)
	slow := &ClawdbotNotifier{Command: slowScript, Timeout: 200 * time.Millisecond}
	if _, err := slow.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("timeout: %v", err)
	}
	missing := &ClawdbotNotifier{Command: filepath.Join(dir, "nope")}
	if _, err := missing.Send(context.Background(), msg); !IsPermanent(err) {
		t.Fatalf("missing command: %v", err)
	}
}

// The daemon warns within seconds of a batch being committed, without
// waiting for the cron schedule, and stops cleanly.
func TestDaemonDebouncedCheckDelivers(t *testing.T) {
	api := newFakeCloudAPI(t)
	r := newRig(t, api, time.Now())
	r.checker.Now, r.deliverer.Now = time.Now, time.Now
	d := &Daemon{Checker: r.checker, Deliverer: r.deliverer, Schedule: "0 0 1 1 *", Location: riyadh, Debounce: 50 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	d.Kick() // before Ready: deferred
	d.Ready()
	now := time.Now()
	r.use("omar", 2400, 0, now)
	d.Kick()
	deadline := time.Now().Add(10 * time.Second)
	for len(api.Calls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(api.Calls()); n != 1 {
		t.Fatalf("%d requests within 10 s, want 1", n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop")
	}
}

// The cron schedule checks without any kick; a panicking check is
// recovered (cron.Recover for scheduled runs, the daemon's guard for the
// debounced ones) and the sidecar goes on.
func TestDaemonCronAndPanicRecovery(t *testing.T) {
	api := newFakeCloudAPI(t)
	r := newRig(t, api, time.Now())
	r.checker.Now, r.deliverer.Now = time.Now, time.Now
	logs := &lockedBuf{}
	d := &Daemon{Checker: r.checker, Deliverer: r.deliverer, Schedule: "@every 1s", Location: riyadh, Debounce: 20 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	d.Ready()
	time.Sleep(100 * time.Millisecond) // the Ready kick's check: nothing due
	// A broken checker: every check panics.
	d.checkMu.Lock()
	r.checker.Templates = nil
	d.checkMu.Unlock()
	r.use("omar", 2400, 0, time.Now())
	d.Kick()
	deadline := time.Now().Add(20 * time.Second)
	recovered := func() bool {
		l := logs.String()
		return strings.Contains(l, `msg="panic recovered" in="debounced alerts check"`) && strings.Contains(l, `msg="cron: panic"`)
	}
	for !recovered() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !recovered() {
		t.Fatalf("want a recovered panic from the debounced check and from cron, log:\n%s", logs.String())
	}
	// Fixed: the next scheduled run (no kick) decides and delivers.
	ts, _ := NewTemplates(nil)
	d.checkMu.Lock()
	r.checker.Templates = ts
	d.checkMu.Unlock()
	for len(api.Calls()) == 0 && time.Now().Before(deadline.Add(20*time.Second)) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(api.Calls()); n != 1 {
		t.Fatalf("%d requests from the scheduled check, want 1", n)
	}
	cancel()
	<-done
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// 131047, then the template fails: a rejected template (132001) fails the
// row for good; an outage during the fallback is retried.
func TestTemplateFallbackFailures(t *testing.T) {
	for _, tt := range []struct {
		name     string
		second   fakeAnswer
		status   string
		contains string
	}{
		{"template rejected", fakeAnswer{status: 400, code: 132001}, store.AlertFailed, "132001"},
		{"outage", fakeAnswer{status: 503, code: 133004}, store.AlertPending, "133004"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeCloudAPI(t, fakeAnswer{status: 400, code: 131047}, tt.second)
			r := newRig(t, api, time.Date(2026, 11, 10, 12, 0, 0, 0, riyadh))
			r.wa.Template = "usage_warning"
			r.build()
			r.use("omar", 2400, 0, r.clock.Now())
			r.checkAndDeliver()
			a := r.alerts("2026-11")[0]
			if a.Status != tt.status || !strings.Contains(a.LastError, "131047") || !strings.Contains(a.LastError, tt.contains) {
				t.Fatalf("row: %+v", a)
			}
		})
	}
}
