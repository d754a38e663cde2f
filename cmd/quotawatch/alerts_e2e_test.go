package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The WhatsApp token of the end-to-end tests: no output or log may contain it.
const e2eToken = "EAAG-e2e-SECRET-token-7f3a9c"

// e2eExpiredToken is answered with error 190 (token expired), and must not
// be printed either.
const e2eExpiredToken = "EAAG-e2e-EXPIRED-token-4b1d"

// buildQuotawatch builds the real binary into the test's temporary
// directory (each top-level test builds once; the build cache makes it
// quick), so nothing is left behind.
func buildQuotawatch(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "quotawatch")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// e2eWA is a fake WhatsApp Cloud API on 127.0.0.1 that checks each request
// and answers 200 with wamid.E2E-<n>, or the status set with fail.
type e2eWA struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	bodies []map[string]any // every request
	texts  []string         // the accepted messages
	ok     int
	fail   int // HTTP status to answer (0 = success)
}

func newE2EWA(t *testing.T) *e2eWA {
	f := &e2eWA{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m map[string]any
		if r.Header.Get("Authorization") == "Bearer "+e2eExpiredToken {
			f.mu.Lock()
			f.bodies = append(f.bodies, m)
			f.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"message":"Error validating access token: Session has expired.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbC"}}`)
			return
		}
		if r.Method != http.MethodPost || r.URL.Path != "/v25.0/PNID-1/messages" || r.Header.Get("Authorization") != "Bearer "+e2eToken ||
			r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(raw, &m) != nil || m["messaging_product"] != "whatsapp" ||
			!strings.HasPrefix(fmt.Sprint(m["to"]), "+") || m["type"] != "text" {
			t.Errorf("fake Cloud API: unexpected request %s %s %s", r.Method, r.URL.Path, raw)
			w.WriteHeader(400)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.bodies = append(f.bodies, m)
		if f.fail != 0 {
			w.WriteHeader(f.fail)
			fmt.Fprint(w, `{"error":{"message":"(#133004) Server unavailable","type":"OAuthException","code":133004}}`)
			return
		}
		f.ok++
		f.texts = append(f.texts, m["text"].(map[string]any)["body"].(string))
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":%q,"wa_id":"x"}],"messages":[{"id":"wamid.E2E-%d"}]}`, m["to"], f.ok)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// sent returns the texts accepted so far (failed attempts excluded).
func (f *e2eWA) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.texts...)
}

func (f *e2eWA) counts() (requests, accepted int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies), f.ok
}

func (f *e2eWA) setFail(status int) {
	f.mu.Lock()
	f.fail = status
	f.mu.Unlock()
}

// e2eEnv is a state dir, a config and a database for the real binary.
type e2eEnv struct {
	t     *testing.T
	bin   string
	dir   string
	state string
	cfg   string
	db    string
	api   *e2eWA
	// every byte the binary printed, to grep for the token
	allOut bytes.Buffer
	mu     sync.Mutex
	seq    int
}

// newE2EEnv writes a config with the daily digest off: with the default
// schedule (09:00 UTC) every `run` started after nine sends the day's digest
// first, and the tests that count messages then fail by the time of day.
// The digest tests turn it on themselves.
func newE2EEnv(t *testing.T, bin, extra string) *e2eEnv {
	t.Helper()
	e := &e2eEnv{t: t, bin: bin, dir: t.TempDir(), api: newE2EWA(t)}
	e.state = filepath.Join(e.dir, "state")
	if err := os.MkdirAll(filepath.Join(e.state, "agents", "main", "sessions"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.db = filepath.Join(e.dir, "qw.db")
	e.cfg = filepath.Join(e.dir, "quotawatch.yaml")
	body := fmt.Sprintf(`timezone: UTC
sources: [{type: clawdbot, dir: %s}]
tiers:
  standard: {requests: 3000}
  pro: {}
customers:
  - {id: omar, name: عمر, phone: "+966500000001", tier: standard, match: {agent: main}}
  - {id: salon, name: Salon, phone: "+966500000009", tier: pro, match: {agent: ops}}
alerts:
  schedule: "*/5 * * * *"
  digest_schedule: ""
  language: ar
  upgrade_url: https://wa.me/966507407827
  operator_phone: "+966500000000"
notify:
  channel: whatsapp
  whatsapp: {api_base: %s/v25.0, phone_number_id: PNID-1, token_env: QW_E2E_TOKEN}
%s`, e.state, e.api.srv.URL, extra)
	if err := os.WriteFile(e.cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if bytes.Contains(e.allOut.Bytes(), []byte(e2eToken)) {
			t.Errorf("the WhatsApp token appears in the binary's output")
		}
	})
	return e
}

func (e *e2eEnv) record(b []byte) {
	e.mu.Lock()
	e.allOut.Write(b)
	e.mu.Unlock()
}

func (e *e2eEnv) command(args ...string) *exec.Cmd {
	cmd := exec.Command(e.bin, append([]string{"--config", e.cfg, "--db", e.db}, args...)...)
	cmd.Env = append(os.Environ(), "QW_E2E_TOKEN="+e2eToken)
	return cmd
}

// run runs the binary to completion and returns stdout, stderr, exit code.
func (e *e2eEnv) run(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := e.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	e.record(stdout.Bytes())
	e.record(stderr.Bytes())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func (e *e2eEnv) mustRun(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("quotawatch %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// appendCalls appends n assistant lines (provider calls) at time at to a
// session transcript of agent, writing the header line first if the file is
// new.
func (e *e2eEnv) appendCalls(agent, session string, n int, at time.Time) {
	e.t.Helper()
	dir := filepath.Join(e.state, "agents", agent, "sessions")
	os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, session+".jsonl")
	var buf bytes.Buffer
	if _, err := os.Stat(p); err != nil {
		fmt.Fprintf(&buf, `{"type":"session","version":3,"id":%q,"timestamp":%q,"cwd":"/tmp/ws"}`+"\n", session, at.UTC().Format(time.RFC3339Nano))
	}
	for i := 0; i < n; i++ {
		e.seq++
		ts := at.UTC().Format("2006-01-02T15:04:05.000Z")
		fmt.Fprintf(&buf, `{"type":"message","id":"%08x","parentId":null,"timestamp":%q,"message":{"role":"assistant","content":[{"type":"text","text":"ok"}],"api":"openai-completions","provider":"fakeoai","model":"fake-gpt","usage":{"input":100,"output":10,"cacheRead":0,"cacheWrite":0,"totalTokens":110,"cost":{"input":0.0001,"output":0.00001,"cacheRead":0,"cacheWrite":0,"total":0.00011}},"stopReason":"stop","timestamp":%d}}`+"\n",
			e.seq, ts, at.UnixMilli())
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		e.t.Fatal(err)
	}
	f.Close()
}

type e2eAlert struct {
	Customer   string  `json:"customer"`
	Period     string  `json:"period"`
	Threshold  float64 `json:"threshold"`
	To         string  `json:"to"`
	Status     string  `json:"status"`
	Attempts   int     `json:"attempts"`
	LastError  string  `json:"last_error"`
	ProviderID string  `json:"provider_message_id"`
}

func (e *e2eEnv) alerts(args ...string) []e2eAlert {
	e.t.Helper()
	out := e.mustRun(append([]string{"alerts", "--format", "json"}, args...)...)
	var as []e2eAlert
	if err := json.Unmarshal([]byte(out), &as); err != nil {
		e.t.Fatalf("alerts json: %v\n%s", err, out)
	}
	return as
}

func (e *e2eEnv) flagged(customer string) bool {
	e.t.Helper()
	out := e.mustRun("usage", "--format", "json", "--customer", customer)
	var rows []struct {
		Flagged bool `json:"flagged"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 {
		e.t.Fatalf("usage json: %v\n%s", err, out)
	}
	return rows[0].Flagged
}

// TestE2ECheckThresholds drives the binary through a month: backfill and
// check at 2400, 3000 and 3600 requests of a 3000-request tier, then again,
// then a backfill of last month's logs.
func TestE2ECheckThresholds(t *testing.T) {
	e := newE2EEnv(t, buildQuotawatch(t), "")
	now := time.Now()
	e.appendCalls("main", "11111111-1111-4111-8111-111111111111", 2400, now)
	e.mustRun("backfill", "--no-progress")

	// The dry run says what would be sent and to whom, and sends nothing.
	out := e.mustRun("check", "--dry-run")
	if !strings.Contains(out, "would send 80% omar") || !strings.Contains(out, "+966500000001") || !strings.Contains(out, "2400 من 3000") {
		t.Fatalf("dry run:\n%s", out)
	}
	if n, _ := e.api.counts(); n != 0 || len(e.alerts()) != 0 {
		t.Fatalf("the dry run sent or recorded something")
	}

	e.mustRun("check")
	sent := e.api.sent()
	if len(sent) != 1 || !strings.Contains(sent[0], "2400") || !strings.Contains(sent[0], "3000") || !strings.Contains(sent[0], "مرحبا عمر") {
		t.Fatalf("at 2400: sent %q", sent)
	}

	e.appendCalls("main", "11111111-1111-4111-8111-111111111111", 600, now)
	e.mustRun("backfill", "--no-progress")
	e.mustRun("check")
	if sent = e.api.sent(); len(sent) != 2 || !strings.Contains(sent[1], "وصلت للحد الشهري (3000 طلب)") {
		t.Fatalf("at 3000: sent %q", sent)
	}
	if e.flagged("omar") {
		t.Fatal("flagged at 100 %")
	}

	e.appendCalls("main", "11111111-1111-4111-8111-111111111111", 600, now)
	e.mustRun("backfill", "--no-progress")
	e.mustRun("check")
	e.api.mu.Lock()
	last := e.api.bodies[len(e.api.bodies)-1]
	e.api.mu.Unlock()
	if sent = e.api.sent(); len(sent) != 3 || last["to"] != "+966500000000" || !strings.Contains(sent[2], "3600") {
		t.Fatalf("at 3600: sent %q to %v", sent, last["to"])
	}
	if !e.flagged("omar") {
		t.Fatal("not flagged at 120 %")
	}

	// Again, and a new process: nothing more.
	if out := e.mustRun("check"); !strings.Contains(out, "nothing due") {
		t.Fatalf("second check: %s", out)
	}

	// Last month's logs, backfilled now: silent.
	y, m, _ := now.UTC().Date()
	lastMonth := time.Date(y, m, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, -10)
	e.appendCalls("main", "22222222-2222-4222-8222-222222222222", 4000, lastMonth)
	e.mustRun("backfill", "--no-progress")
	e.mustRun("check")
	if n, _ := e.api.counts(); n != 3 {
		t.Fatalf("after last month's backfill: %d requests, want 3", n)
	}
	if as := e.alerts("--month", lastMonth.Format("2006-01")); len(as) != 0 {
		t.Fatalf("last month has alerts: %+v", as)
	}

	as := e.alerts()
	if len(as) != 3 {
		t.Fatalf("alerts: %+v", as)
	}
	for i, a := range as {
		if a.Status != "sent" || a.Attempts != 1 || a.ProviderID != fmt.Sprintf("wamid.E2E-%d", i+1) {
			t.Errorf("alert %d: %+v", i, a)
		}
	}
	if table := e.mustRun("alerts"); !strings.Contains(table, "wamid.E2E-3") || !strings.Contains(table, "operator") {
		t.Errorf("alerts table:\n%s", table)
	}
}

// startRun starts `quotawatch run` (with args) and waits until it has
// caught up.
func (e *e2eEnv) startRun(args ...string) (*exec.Cmd, *safeBuf) {
	e.t.Helper()
	cmd := e.command(append([]string{"run"}, args...)...)
	stderr := &safeBuf{}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = stderr
	caught := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text() + "\n"
			stderr.Write([]byte(line))
			e.record([]byte(line))
			if strings.Contains(line, "caught up") {
				once.Do(func() { close(caught) })
			}
		}
	}()
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		pw.Close()
	})
	select {
	case <-caught:
	case <-time.After(20 * time.Second):
		e.t.Fatalf("run did not catch up:\n%s", stderr.String())
	}
	return cmd, stderr
}

type safeBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestE2ERunWarnsWithinSeconds: the daemon warns within seconds of the line
// that crosses a threshold being appended (not at the next cron tick), and
// stops cleanly on SIGTERM.
func TestE2ERunWarnsWithinSeconds(t *testing.T) {
	e := newE2EEnv(t, buildQuotawatch(t), "")
	now := time.Now()
	sess := "33333333-3333-4333-8333-333333333333"
	e.appendCalls("main", sess, 2399, now)
	cmd, logs := e.startRun()
	time.Sleep(1500 * time.Millisecond) // past the debounce: 2399 sends nothing
	if n, _ := e.api.counts(); n != 0 {
		t.Fatalf("at 2399: %d requests", n)
	}
	e.appendCalls("main", sess, 1, time.Now())
	took := waitFor(t, "80% warning", 10*time.Second, func() bool { _, ok := e.api.counts(); return ok == 1 })
	t.Logf("80%% warning delivered %s after the crossing line was appended", took.Round(time.Millisecond))
	if s := e.api.sent(); !strings.Contains(s[0], "2400 من 3000") {
		t.Fatalf("message: %q", s[0])
	}
	e.appendCalls("main", sess, 1300, time.Now()) // 3700: 100 and 120 at once
	waitFor(t, "operator message", 10*time.Second, func() bool { _, ok := e.api.counts(); return ok == 3 })
	time.Sleep(1500 * time.Millisecond)
	if _, ok := e.api.counts(); ok != 3 {
		t.Fatalf("%d messages, want 3 (80 %%, then the customer's 100 %% and the operator's 120 %%)", ok)
	}
	if s := e.api.sent(); !strings.Contains(s[1], "وصلت للحد الشهري (3000 طلب)") || !strings.Contains(s[2], "3700") {
		t.Fatalf("after the jump: %q, want the customer's 100 %% then the operator's notice", s[1:])
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run exited with %v after SIGTERM\n%s", err, logs.String())
	}
	t.Logf("stopped %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	as := e.alerts()
	if len(as) != 3 || as[0].Status != "sent" || as[1].Status != "sent" || as[1].Threshold != 100 || as[2].Status != "sent" || as[2].To != "operator" {
		t.Fatalf("alerts: %+v", as)
	}
	if !e.flagged("omar") {
		t.Fatal("not flagged")
	}
}

// TestE2EKillDuringRetriesDeliversOnceAfterRestart: the decision is
// committed, delivery keeps failing (503), the daemon is killed with
// SIGKILL; after a restart the message is delivered exactly once.
func TestE2EKillDuringRetriesDeliversOnceAfterRestart(t *testing.T) {
	e := newE2EEnv(t, buildQuotawatch(t), "  retry: {base: 1s, max: 2s, attempts: 50}\n")
	e.api.setFail(503)
	sess := "44444444-4444-4444-8444-444444444444"
	e.appendCalls("main", sess, 2400, time.Now())
	cmd, _ := e.startRun("--arm") // the backlog's warning is sent, not held
	waitFor(t, "a failed attempt recorded", 15*time.Second, func() bool {
		as := e.alerts()
		return len(as) == 1 && as[0].LastError != "" && as[0].Status == "pending"
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	failedAttempts, _ := e.api.counts()
	e.api.setFail(0)
	cmd2, _ := e.startRun()
	waitFor(t, "delivery after restart", 15*time.Second, func() bool { _, ok := e.api.counts(); return ok == 1 })
	time.Sleep(2500 * time.Millisecond)
	requests, ok := e.api.counts()
	if ok != 1 || requests != failedAttempts+1 {
		t.Fatalf("%d accepted of %d requests (%d failed before the kill), want exactly one more", ok, requests, failedAttempts)
	}
	cmd2.Process.Signal(syscall.SIGTERM)
	cmd2.Wait()
	as := e.alerts()
	if len(as) != 1 || as[0].Status != "sent" || as[0].Attempts != failedAttempts+1 || as[0].ProviderID != "wamid.E2E-1" {
		t.Fatalf("alerts: %+v (failed attempts before kill: %d)", as, failedAttempts)
	}
}

// TestE2ETokenFileSwappedWhileRunningDeliversThePendingWarning: a warning
// that meets an expired token (error 190) stays pending with the reason and
// no attempt counted, `check` exits 1 saying deliveries are halted, and
// once the token file is replaced while `run` runs, the warning goes out
// within seconds, counted as one attempt, no restart needed.
func TestE2ETokenFileSwappedWhileRunningDeliversThePendingWarning(t *testing.T) {
	e := newE2EEnv(t, buildQuotawatch(t), "")
	tokFile := filepath.Join(e.dir, "token")
	if err := os.WriteFile(tokFile, []byte(e2eExpiredToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(e.cfg)
	os.WriteFile(e.cfg, bytes.Replace(body, []byte("token_env: QW_E2E_TOKEN"), []byte("token_env: \"\", token_file: "+tokFile), 1), 0o600)
	e.appendCalls("main", "66666666-6666-4666-8666-666666666666", 2400, time.Now())
	e.mustRun("backfill", "--no-progress")

	out, errOut, code := e.run("check")
	if code != 1 || !strings.Contains(out, "halted (stays pending, attempt not counted)") || !strings.Contains(errOut, "deliveries halted") {
		t.Fatalf("check with an expired token: exit %d\n%s%s", code, out, errOut)
	}
	as := e.alerts()
	if len(as) != 1 || as[0].Status != "pending" || as[0].Attempts != 0 || !strings.Contains(as[0].LastError, "WhatsApp error 190") {
		t.Fatalf("after check: %+v", as)
	}
	if table := e.mustRun("alerts"); !strings.Contains(table, "pending") || !strings.Contains(table, "WhatsApp error 190") {
		t.Fatalf("alerts table does not show the pending row and its reason:\n%s", table)
	}

	// run starts with the same expired token: the halted row is due at once,
	// so run probes it straight away, and halts.
	cmd, logs := e.startRun()
	waitFor(t, "run's first probe", 15*time.Second, func() bool { n, _ := e.api.counts(); return n == 2 })
	time.Sleep(500 * time.Millisecond)
	if as := e.alerts(); as[0].Status != "pending" || as[0].Attempts != 0 {
		t.Fatalf("after run's probe: %+v", as)
	}

	tmp := tokFile + ".new"
	os.WriteFile(tmp, []byte(e2eToken+"\n"), 0o600)
	if err := os.Rename(tmp, tokFile); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "delivery after the token file was replaced", 20*time.Second, func() bool { _, ok := e.api.counts(); return ok == 1 })
	t.Logf("delivered %s after the token file was replaced", took.Round(time.Millisecond))
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run exited with %v after SIGTERM\n%s", err, logs.String())
	}
	as = e.alerts()
	if len(as) != 1 || as[0].Status != "sent" || as[0].Attempts != 1 || as[0].ProviderID != "wamid.E2E-1" {
		t.Fatalf("alerts: %+v", as)
	}
	if n, ok := e.api.counts(); n != 3 || ok != 1 {
		t.Fatalf("%d requests, %d accepted: want 2 refused probes and 1 delivery", n, ok)
	}
	e.mu.Lock()
	leaked := bytes.Contains(e.allOut.Bytes(), []byte(e2eExpiredToken))
	e.mu.Unlock()
	if leaked {
		t.Error("the expired token appears in the binary's output")
	}
}

// TestE2ETokenNeverPrinted: config check shows the token redacted, a token
// written into the file is refused by key without echoing it, and a missing
// token is a config error.
func TestE2ETokenNeverPrinted(t *testing.T) {
	e := newE2EEnv(t, buildQuotawatch(t), "  retry: {base: 1s}\n")
	out, errOut, code := e.run("config", "check")
	if code != 0 || !strings.Contains(out, "[redacted]") || strings.Contains(out+errOut, e2eToken) {
		t.Fatalf("config check: exit %d\n%s%s", code, out, errOut)
	}
	// From a file.
	tokFile := filepath.Join(e.dir, "token")
	os.WriteFile(tokFile, []byte(e2eToken+"\n"), 0o600)
	body, _ := os.ReadFile(e.cfg)
	os.WriteFile(e.cfg, bytes.Replace(body, []byte("token_env: QW_E2E_TOKEN"), []byte("token_env: \"\", token_file: "+tokFile), 1), 0o600)
	out, errOut, code = e.run("config", "check")
	if code != 0 || !strings.Contains(out, "[redacted] (from "+tokFile) || strings.Contains(out+errOut, e2eToken) {
		t.Fatalf("config check with token_file: exit %d\n%s%s", code, out, errOut)
	}
	// Written into the config: refused, named, not echoed.
	os.WriteFile(e.cfg, bytes.Replace(body, []byte("token_env: QW_E2E_TOKEN"), []byte("token: "+e2eToken), 1), 0o600)
	out, errOut, code = e.run("config", "check")
	if code != 2 || !strings.Contains(errOut, "notify.whatsapp.token") || strings.Contains(out+errOut, e2eToken) {
		t.Fatalf("token in config: exit %d\n%s%s", code, out, errOut)
	}
	// Missing.
	os.WriteFile(e.cfg, bytes.Replace(body, []byte("token_env: QW_E2E_TOKEN"), []byte("token_env: QW_E2E_NOT_SET"), 1), 0o600)
	if _, errOut, code = e.run("check"); code != 2 || !strings.Contains(errOut, "notify.whatsapp.token_env") {
		t.Fatalf("missing token: exit %d\n%s", code, errOut)
	}
	if _, errOut, code = e.run("config", "check"); code != 2 || !strings.Contains(errOut, "notify.whatsapp.token_env") {
		t.Fatalf("config check, missing token: exit %d\n%s", code, errOut)
	}
	// Commands that send nothing work without the secret.
	e.mustRun("usage")
	// A debug-level run that sends, fails (the fake is told to answer 503
	// with the request echoed nowhere) and logs everything: still no token.
	os.WriteFile(e.cfg, body, 0o600)
	e.appendCalls("main", "55555555-5555-4555-8555-555555555555", 2400, time.Now())
	e.mustRun("backfill", "--no-progress")
	e.api.setFail(503)
	e.run("--log-level", "debug", "check")
	e.api.setFail(0)
	cmd, _ := e.startRun()
	waitFor(t, "delivery", 60*time.Second, func() bool { _, ok := e.api.counts(); return ok == 1 })
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	// The cleanup of newE2EEnv greps everything the binary printed; the
	// database must not hold the token either.
	for _, f := range []string{e.db, e.db + "-wal"} {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(e2eToken)) {
			t.Errorf("%s contains the token", f)
		}
	}
}

// TestE2EAlertsConfigErrors: bad alerts/notify keys exit 2 naming the key.
func TestE2EAlertsConfigErrors(t *testing.T) {
	bin := buildQuotawatch(t)
	for _, tt := range []struct{ name, old, new, key string }{
		{"unsorted thresholds", "alerts:\n", "alerts:\n  thresholds: [{percent: 100, to: customer}, {percent: 80, to: customer}]\n", "alerts.thresholds[1].percent"},
		{"negative threshold", "alerts:\n", "alerts:\n  thresholds: [{percent: -5, to: customer}]\n", "alerts.thresholds[0].percent"},
		{"bad recipient", "alerts:\n", "alerts:\n  thresholds: [{percent: 80, to: boss}]\n", "alerts.thresholds[0].to"},
		{"bad cron", `schedule: "*/5 * * * *"`, `schedule: "every five minutes"`, "alerts.schedule"},
		{"bad digest cron", `digest_schedule: ""`, `digest_schedule: "at nine"`, "alerts.digest_schedule"},
		{"bad language", "language: ar", "language: fr", "alerts.language"},
		{"bad template", "alerts:\n", "alerts:\n  templates: {\"80\": \"{{.Nope}}\"}\n", "alerts.templates"},
		{"template for no threshold", "alerts:\n", "alerts:\n  templates: {\"90\": \"x\"}\n", "alerts.templates.90"},
		{"customer phone without +", `phone: "+966500000001"`, `phone: "966500000001"`, "customers[0].phone"},
		{"no phone for a limited customer", `phone: "+966500000001", `, "", "customers[0].phone"},
		{"no phone number id", "phone_number_id: PNID-1", "phone_number_id: \"\"", "notify.whatsapp.phone_number_id"},
		{"bad channel", "channel: whatsapp", "channel: sms", "notify.channel"},
		{"webhook without url", "channel: whatsapp", "channel: webhook", "notify.webhook.url"},
		{"bad retry", "notify:\n", "notify:\n  retry: {base: soon}\n", "notify.retry.base"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newE2EEnv(t, bin, "")
			body, _ := os.ReadFile(e.cfg)
			if !bytes.Contains(body, []byte(tt.old)) {
				t.Fatalf("config lacks %q", tt.old)
			}
			body = bytes.Replace(body, []byte(tt.old), []byte(tt.new), 1)
			os.WriteFile(e.cfg, body, 0o600)
			_, errOut, code := e.run("config", "check")
			if code != 2 || !strings.Contains(errOut, tt.key) {
				t.Fatalf("exit %d, want 2 naming %s:\n%s", code, tt.key, errOut)
			}
		})
	}
	e := newE2EEnv(t, bin, "")
	body, _ := os.ReadFile(e.cfg)
	os.WriteFile(e.cfg, bytes.Replace(body, []byte(`operator_phone: "+966500000000"`), []byte(`operator_phone: "0500000000"`), 1), 0o600)
	if _, errOut, code := e.run("config", "check"); code != 2 || !strings.Contains(errOut, "alerts.operator_phone") {
		t.Fatalf("bad operator phone: exit %d\n%s", code, errOut)
	}
}
