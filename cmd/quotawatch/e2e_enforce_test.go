package main

// End-to-end tests of issue 12 (Phase 2: hard limits at nginx auth_request)
// on real parts: the shipped packaging/nginx/quotawatch-gateway.conf in a
// real nginx, a fake provider over TLS on 127.0.0.1, the real binary
// following the transcripts a Clawdbot-like writer appends for the calls
// that went through, and a real redis-server for the seed's keys.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/quotawatch/quotawatch/enforce"
	"github.com/quotawatch/quotawatch/internal/corpus"
)

const (
	gwProviderKey = "sk-provider-real"
	gwOmarKey     = "sk-omar-001-shared-key"
	gwSeedMessage = "لقد استهلكت حدك الشهري. ترقى للباقة Pro للاستخدام غير المحدود."
	gwUpgradeURL  = "https://wa.me/966507407827"
)

// gwLookPath finds a Debian server binary, which lives in /usr/sbin (not
// on every user's PATH); the test is skipped, saying so, without it.
func gwLookPath(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin"} {
		if p := filepath.Join(d, name); gwExecutable(p) {
			return p
		}
	}
	t.Skipf("%s is not installed (Debian package %s; .ci/run installs it): this end-to-end test needs the real one", name, pkg)
	return ""
}

func gwExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// gwFreeAddr is a free 127.0.0.1 port.
func gwFreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// gwWaitPort waits until addr accepts connections.
func gwWaitPort(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %s", addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gwProvider is the fake AI provider: it serves chat completions to the
// provider key only and counts what it served per customer.
type gwProvider struct {
	srv     *httptest.Server
	delay   time.Duration
	mu      sync.Mutex
	served  map[string]int64
	badAuth atomic.Int64
}

func newGWProvider(t testing.TB, delay time.Duration) *gwProvider {
	p := &gwProvider{delay: delay, served: map[string]int64{}}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("Authorization") != "Bearer "+gwProviderKey {
			// The gateway key must never reach the provider.
			p.badAuth.Add(1)
			http.Error(w, `{"error":{"message":"bad key"}}`, http.StatusUnauthorized)
			return
		}
		if p.delay > 0 {
			time.Sleep(p.delay)
		}
		p.mu.Lock()
		p.served[r.Header.Get("X-Test-Who")]++
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`)
	}))
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *gwProvider) count(who string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served[who]
}

// gwNginx is a running nginx with the shipped gateway config.
type gwNginx struct {
	url  string
	cmd  *exec.Cmd
	done chan struct{}
	dir  string
}

// startGWNginx runs nginx with packaging/nginx/quotawatch-gateway.conf,
// changed only where a test must: its own ports, the fake provider, the
// provider key file, and (failOpen false) the fail-closed switch.
func startGWNginx(t testing.TB, qwAddr, providerAddr string, failOpen bool) *gwNginx {
	t.Helper()
	return startGWNginxConf(t, qwAddr, providerAddr, failOpen, true)
}

// startGWNginxConf is startGWNginx; check false removes the auth_request
// line (the benchmark's baseline: the same proxy without the check).
func startGWNginxConf(t testing.TB, qwAddr, providerAddr string, failOpen, check bool) *gwNginx {
	t.Helper()
	bin := gwLookPath(t, "nginx", "nginx")
	shipped, err := os.ReadFile("../../packaging/nginx/quotawatch-gateway.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listen := gwFreeAddr(t)
	keyFile := filepath.Join(dir, "provider-key.conf")
	if err := os.WriteFile(keyFile, []byte(`map "" $provider_authorization { default "Bearer `+gwProviderKey+`"; }`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := string(shipped)
	swap := func(old, new string) {
		if n := strings.Count(conf, old); n != 1 {
			t.Fatalf("the shipped gateway config has %q %d times, want once: the test would not test it", old, n)
		}
		conf = strings.Replace(conf, old, new, 1)
	}
	swap("server 127.0.0.1:9478;", "server "+qwAddr+";")
	swap("server api.moonshot.ai:443;", "server "+providerAddr+";")
	swap("listen 80;", "listen "+listen+";")
	swap("include /etc/nginx/quotawatch-provider-key.conf;", "include "+keyFile+";")
	if !failOpen {
		swap("set $quotawatch_fail_open 1;", "set $quotawatch_fail_open 0;")
	}
	if !check {
		swap("auth_request /_quotawatch/check;", "")
	}
	gateway := filepath.Join(dir, "gateway.conf")
	if err := os.WriteFile(gateway, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // the workers must write the test's temp dirs
	}
	main := fmt.Sprintf(`%sdaemon off;
worker_processes 2;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[3]s;
}
`, user, dir, gateway)
	mainConf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(mainConf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", mainConf).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t refuses the shipped gateway config: %v\n%s", err, out)
	}
	n := &gwNginx{url: "http://" + listen, done: make(chan struct{}), dir: dir}
	n.cmd = exec.Command(bin, "-p", dir, "-c", mainConf)
	n.cmd.Stderr = os.Stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		// SIGTERM to the master (the process this test started) stops its
		// workers too.
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil && len(b) > 0 {
				t.Logf("nginx error.log:\n%s", e2eTail(string(b), 30))
			}
		}
	})
	gwWaitPort(t, listen, 10*time.Second)
	return n
}

// gwClient sends provider calls through the gateway.
var gwClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
	MaxIdleConnsPerHost: 512, MaxConnsPerHost: 0, TLSClientConfig: &tls.Config{},
}}

// gwCall makes one chat completion through the gateway as Clawdbot would.
func gwCall(t testing.TB, gw, who string, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", gw+"/v1/chat/completions", strings.NewReader(`{"model":"kimi-k2","messages":[{"role":"user","content":"مرحبا"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-Who", who)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := gwClient.Do(req)
	if err != nil {
		t.Errorf("call through the gateway for %s: %v", who, err)
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// gwWriter is a Clawdbot-like writer: one session transcript per writer,
// one assistant line with usage appended for each call that went through.
type gwWriter struct {
	path string
	mu   sync.Mutex
	n    int
}

func newGWWriter(t *testing.T, state, agent, sid string) *gwWriter {
	t.Helper()
	dir := filepath.Join(state, "agents", agent, "sessions")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := &gwWriter{path: filepath.Join(dir, sid+".jsonl")}
	hdr := fmt.Sprintf(`{"type":"session","version":3,"id":%q,"timestamp":%q,"cwd":"/home/clawd"}`+"\n", sid, time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	if err := os.WriteFile(w.path, []byte(hdr), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// calls appends n calls made now, each one line written whole.
func (w *gwWriter) calls(t *testing.T, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.OpenFile(w.path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	for i := 0; i < n; i++ {
		w.n++
		line, _ := corpus.UsageLine(fmt.Sprintf("m%06d", w.n), "", time.Now(), 12, 3)
		if _, err := f.Write(line); err != nil {
			t.Error(err)
		}
	}
}

// gwRequests is `usage --format json` of the running month: requests by
// customer.
func gwRequests(t *testing.T, cfg, db string) map[string]int64 {
	t.Helper()
	r := e2eExec(t, "--config", cfg, "--db", db, "usage", "--format", "json")
	if r.Code != 0 {
		t.Fatalf("usage: exit %d\n%s", r.Code, r.Stderr)
	}
	var rows []struct {
		Customer string `json:"customer"`
		Requests int64  `json:"requests"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil {
		t.Fatalf("usage json: %v\n%s", err, r.Stdout)
	}
	out := map[string]int64{}
	for _, row := range rows {
		out[row.Customer] = row.Requests
	}
	return out
}

// gwWaitRequests waits until the metered requests of who reach want.
func gwWaitRequests(t *testing.T, cfg, db, who string, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := gwRequests(t, cfg, db)[who]
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("metered requests of %s: %d, want %d", who, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gwLogged reports whether one line of log holds every part.
func gwLogged(log string, parts ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// gwSetup writes a state dir and a config with enforcement on the given
// listen address; extra is more YAML.
func gwSetup(t testing.TB, qwAddr, customers, extra string) (dir, state, cfg, db string) {
	t.Helper()
	dir = t.TempDir()
	state = filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(state, "agents"), 0o755); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`timezone: Asia/Riyadh
sources:
  - {type: clawdbot, dir: %q}
tiers:
  t20: {requests: 20}
  t1000: {requests: 1000}
  pro: {}
customers:
%s
alerts: {upgrade_url: %q}
notify: {channel: log}
enforce:
  listen: %q
  mode: hard
  grace_percent: 110
  api_keys:
    - {sha256: %q, customer: omar-001}
%s`, state, customers, gwUpgradeURL, qwAddr, enforce.HashKey(gwOmarKey), extra)
	cfg = filepath.Join(dir, "quotawatch.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, state, cfg, filepath.Join(dir, "q.db")
}

const gwCustomers = `  - {id: hard, tier: t20, match: {agent: hard}}
  - {id: soft, tier: t20, match: {agent: soft}, enforce: {mode: "off"}}
  - {id: omar-001, tier: t20, match: {agent: omar}}`

func TestE2EGatewayDeniesAtLimitTimesGraceWithTheSeedsBodyAndFailsOpen(t *testing.T) {
	gwLookPath(t, "nginx", "nginx")
	qwAddr := gwFreeAddr(t)
	_, state, cfg, db := gwSetup(t, qwAddr, gwCustomers, "")
	hard := newGWWriter(t, state, "hard", "00000000-0000-4000-8000-0000000000a1")
	soft := newGWWriter(t, state, "soft", "00000000-0000-4000-8000-0000000000a2")
	omar := newGWWriter(t, state, "omar", "00000000-0000-4000-8000-0000000000a3")
	hard.calls(t, 21) // 105 % of 20
	soft.calls(t, 30) // 150 %, enforcement off
	omar.calls(t, 22) // 110 %

	// --arm: the history written before this first run is a backlog whose
	// warnings are sent, not held (the soft warnings are checked below).
	p := e2eStart(t, "--config", cfg, "--db", db, "run", "--arm")
	p.waitLog(t, "caught up; following", time.Minute)
	prov := newGWProvider(t, 0)
	gw := startGWNginx(t, qwAddr, prov.srv.Listener.Addr().String(), true)
	closed := startGWNginx(t, qwAddr, prov.srv.Listener.Addr().String(), false)
	hdr := map[string]string{"X-Customer-ID": "hard"}

	// 105 %: passes.
	if code, body := gwCall(t, gw.url, "hard", hdr); code != 200 {
		t.Fatalf("hard at 105 %%: %d %s, want 200 from the provider", code, body)
	}
	hard.calls(t, 1)
	gwWaitRequests(t, cfg, db, "hard", 22)

	// 110 %: 429 with the seed's body, and the provider never sees it.
	// Whether or not the endpoint has read the 22nd call's usage yet, it is
	// counted: metered, or still held as in flight.
	code, body := gwCall(t, gw.url, "hard", hdr)
	if code != 429 {
		t.Fatalf("hard at 110 %%: %d %s, want 429", code, body)
	}
	var got struct {
		Error struct {
			Message      string `json:"message"`
			Code         string `json:"code"`
			CurrentUsage int64  `json:"current_usage"`
			TierLimit    int64  `json:"tier_limit"`
			UpgradeURL   string `json:"upgrade_url"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("the 429 body is not JSON: %v\n%s", err, body)
	}
	e := got.Error
	if e.Message != gwSeedMessage || e.Code != "rate_limit_exceeded" || e.CurrentUsage != 22 || e.TierLimit != 20 || e.UpgradeURL != gwUpgradeURL {
		t.Fatalf("the 429 body: %s\nwant the seed's message, code rate_limit_exceeded, current_usage 22, tier_limit 20, upgrade_url %s", body, gwUpgradeURL)
	}
	if n := prov.count("hard"); n != 1 {
		t.Fatalf("the provider served hard %d calls, want 1 (the denied one must not reach it)", n)
	}

	// Enforcement off: passes at 150 %.
	for i := 0; i < 3; i++ {
		if code, body := gwCall(t, gw.url, "soft", map[string]string{"X-Customer-ID": "soft"}); code != 200 {
			t.Fatalf("soft (enforcement off) at 150 %%: %d %s", code, body)
		}
	}
	soft.calls(t, 3)

	// Known by its gateway key alone: at 110 %, denied.
	if code, body := gwCall(t, gw.url, "omar", map[string]string{"Authorization": "Bearer " + gwOmarKey}); code != 429 || !bytes.Contains(body, []byte(`"current_usage":22`)) {
		t.Fatalf("omar-001 by its gateway key at 110 %%: %d %s, want 429", code, body)
	}

	// quotawatch killed: the fail-open gateway lets traffic through, the
	// fail-closed one answers 503.
	firstRun := p
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if code, body := gwCall(t, gw.url, "hard", hdr); code != 200 {
		t.Fatalf("quotawatch down, fail-open gateway: %d %s, want 200", code, body)
	}
	hard.calls(t, 1)
	if code, body := gwCall(t, closed.url, "hard", hdr); code != 503 || !bytes.Contains(body, []byte("quota_check_unavailable")) {
		t.Fatalf("quotawatch down, fail-closed gateway: %d %s, want 503", code, body)
	}

	// Back: enforcement resumes, and the call that failed open is metered.
	// (--arm again: the first run may have been killed before its first
	// check armed the database.)
	p = e2eStart(t, "--config", cfg, "--db", db, "run", "--arm")
	p.waitLog(t, "caught up; following", time.Minute)
	gwWaitRequests(t, cfg, db, "hard", 23)
	if code, body := gwCall(t, gw.url, "hard", hdr); code != 429 {
		t.Fatalf("quotawatch back: hard at 115 %%: %d %s, want 429", code, body)
	}

	// The soft warnings go out as before: enforcement changes no alert.
	deadline := time.Now().Add(20 * time.Second)
	for !gwLogged(firstRun.stderr.String()+p.stderr.String(), "alert (notify.channel log: not sent)", "customer=hard") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning for hard (past 100 %%) was sent:\n%s", e2eTail(p.stderr.String(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Metered equals what went through (plus the transcripts before).
	gwWaitRequests(t, cfg, db, "soft", 30+prov.count("soft"))
	if got := gwRequests(t, cfg, db)["hard"]; got != 21+prov.count("hard") {
		t.Fatalf("hard: metered %d, provider served %d after 21 earlier calls", got, prov.count("hard"))
	}
	if n := prov.badAuth.Load(); n != 0 {
		t.Fatalf("the provider got %d calls without its own key (the gateway key leaked through)", n)
	}
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("run: exit %d", code)
	}
}

func TestE2EGatewayUnderLoadLetsThroughAtMostLimitTimesGrace(t *testing.T) {
	gwLookPath(t, "nginx", "nginx")
	qwAddr := gwFreeAddr(t)
	_, state, cfg, db := gwSetup(t, qwAddr, "  - {id: load, tier: t1000, match: {agent: load}}\n  - {id: omar-001, tier: t20, match: {agent: omar}}", "")
	const clients = 200
	writers := make([]*gwWriter, clients)
	for i := range writers {
		writers[i] = newGWWriter(t, state, "load", fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}

	p := e2eStart(t, "--config", cfg, "--db", db, "run")
	p.waitLog(t, "caught up; following", time.Minute)
	// The provider takes its time, as a model does: many calls are in
	// flight at once, and each is metered only after it ends.
	prov := newGWProvider(t, 30*time.Millisecond)
	gw := startGWNginx(t, qwAddr, prov.srv.Listener.Addr().String(), true)

	var passed, denied, other atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(w *gwWriter) {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				code, _ := gwCall(t, gw.url, "load", map[string]string{"X-Customer-ID": "load"})
				switch code {
				case 200:
					passed.Add(1)
					w.calls(t, 1) // Clawdbot writes the call once it ended
				case 429:
					denied.Add(1)
				default:
					other.Add(1)
				}
			}
		}(writers[i])
	}
	wg.Wait()
	served := prov.count("load")
	t.Logf("%d calls: %d let through (provider served %d), %d denied, %d other", clients*10, passed.Load(), served, denied.Load(), other.Load())
	if other.Load() != 0 {
		t.Fatalf("%d answers were neither 200 nor 429", other.Load())
	}
	if served > 1100 {
		t.Fatalf("%d calls let through, over the cap of 1,000 × 110 %% = 1,100", served)
	}
	if served < 1000 {
		t.Fatalf("only %d calls let through: enforcement denied below the limit", served)
	}
	// Afterwards metered usage equals what the provider served.
	gwWaitRequests(t, cfg, db, "load", served)
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("run: exit %d", code)
	}
}

// gwRedis is a redis-server this test started, on its own port, keeping
// nothing on disk (a restart empties it, the worst case for the mirror).
type gwRedis struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func startGWRedis(t *testing.T, bin, addr string) *gwRedis {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	r := &gwRedis{addr: addr, done: make(chan struct{})}
	r.cmd = exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	t.Cleanup(r.stop)
	gwWaitPort(t, addr, 10*time.Second)
	return r
}

func (r *gwRedis) stop() {
	select {
	case <-r.done:
		return
	default:
	}
	r.cmd.Process.Kill()
	<-r.done
}

func TestE2ERedisMirrorHasTheSeedsKeysAndHealsAfterARestart(t *testing.T) {
	bin := gwLookPath(t, "redis-server", "redis-server")
	raddr := gwFreeAddr(t)
	rs := startGWRedis(t, bin, raddr)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	omar := newGWWriter(t, state, "omar", "00000000-0000-4000-8000-0000000000b1")
	layla := newGWWriter(t, state, "layla", "00000000-0000-4000-8000-0000000000b2")
	omar.calls(t, 7)
	layla.calls(t, 3)
	cfg := filepath.Join(dir, "quotawatch.yaml")
	yaml := fmt.Sprintf(`timezone: Asia/Riyadh
sources:
  - {type: clawdbot, dir: %q}
tiers: {standard: {requests: 3000}}
customers:
  - {id: omar-001, tier: standard, match: {agent: omar}}
  - {id: layla, tier: standard, match: {agent: layla}, timezone: America/New_York}
  - {id: idle, tier: standard}
redis: {addr: %q, resync_interval: 1s}
`, state, raddr)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "q.db")
	p := e2eStart(t, "--config", cfg, "--db", db, "run")
	p.waitLog(t, "caught up; following", time.Minute)

	rdb := redis.NewClient(&redis.Options{Addr: raddr})
	defer rdb.Close()
	ctx := context.Background()
	riyadh, _ := time.LoadLocation("Asia/Riyadh")
	newYork, _ := time.LoadLocation("America/New_York")
	// The seed's keys: usage:<customer>:<YYYY-MM> = requests, …:tokens,
	// …:cost, expiring at the month's end in the customer's timezone.
	check := func(id string, loc *time.Location, requests int64) error {
		now := time.Now()
		month := now.In(loc).Format("2006-01")
		start, _ := time.ParseInLocation("2006-01", month, loc)
		end := start.AddDate(0, 1, 0)
		k := "usage:" + id + ":" + month
		_, cost := corpus.UsageLine("x", "", now, 12, 3)
		want := map[string]string{k: strconv.FormatInt(requests, 10), k + ":tokens": strconv.FormatInt(15*requests, 10)}
		for key, v := range want {
			got, err := rdb.Get(ctx, key).Result()
			if err != nil || got != v {
				return fmt.Errorf("%s = %q (%v), want %s", key, got, err, v)
			}
		}
		c, err := rdb.Get(ctx, k+":cost").Float64()
		if err != nil || (requests > 0 && c <= 0) || c-cost*float64(requests) > 1e-6 || cost*float64(requests)-c > 1e-6 {
			return fmt.Errorf("%s:cost = %v (%v), want %v", k, c, err, cost*float64(requests))
		}
		for _, key := range []string{k, k + ":tokens", k + ":cost"} {
			at, err := rdb.ExpireTime(ctx, key).Result()
			if err != nil || at != time.Duration(end.Unix())*time.Second {
				return fmt.Errorf("%s expires at %v (%v), want %d (%s)", key, at/time.Second, err, end.Unix(), end)
			}
		}
		return nil
	}
	waitKeys := func(what string, want map[string]int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var err error
			for id, n := range want {
				loc := riyadh
				if id == "layla" {
					loc = newYork
				}
				if err = check(id, loc, n); err != nil {
					break
				}
			}
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v\nstderr:\n%s", what, err, e2eTail(p.stderr.String(), 20))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitKeys("rebuilt on start", map[string]int64{"omar-001": 7, "layla": 3, "idle": 0})
	omar.calls(t, 5)
	waitKeys("after a batch", map[string]int64{"omar-001": 12, "layla": 3})

	// Redis restarted empty mid-run; calls arrive while it is down.
	rs.stop()
	omar.calls(t, 2)
	gwWaitRequests(t, cfg, db, "omar-001", 14) // metering went on
	// Down for longer than a resync and a retry, so the mirror meets it.
	time.Sleep(2500 * time.Millisecond)
	rs = startGWRedis(t, bin, raddr)
	layla.calls(t, 1)
	waitKeys("after Redis came back empty", map[string]int64{"omar-001": 14, "layla": 4, "idle": 0})
	if !strings.Contains(p.stderr.String(), "redis mirror: write failed") {
		t.Errorf("the outage was not logged:\n%s", p.stderr.String())
	}
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, e2eTail(p.stderr.String(), 20))
	}
}

// BenchmarkGatewayLatency is one chat completion through nginx with the
// shipped config, from 1 and from 50 parallel clients, without and with the quota
// check (the real binary answering auth_request from memory). It reports
// p50 and p99 in ms; the fake provider answers at once, so the difference
// is the check's cost.
func BenchmarkGatewayLatency(b *testing.B) {
	gwLookPath(b, "nginx", "nginx")
	bin, err := e2eBuild()
	if err != nil {
		b.Fatal(err)
	}
	qwAddr := gwFreeAddr(b)
	_, _, cfg, db := gwSetup(b, qwAddr, "  - {id: bench, tier: big, match: {agent: bench}}\n  - {id: omar-001, tier: t20, match: {agent: omar}}", "")
	// A limit no benchmark reaches: every call is decided and let through.
	body := strings.Replace(string(must(os.ReadFile(cfg))), "  pro: {}", "  pro: {}\n  big: {requests: 1000000000000}", 1)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		b.Fatal(err)
	}
	qw := exec.Command(bin, "--config", cfg, "--db", db, "--log-level", "warn", "run")
	qw.Env = e2eChildEnv()
	if err := qw.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { qw.Process.Signal(syscall.SIGTERM); qw.Wait() })
	gwWaitPort(b, qwAddr, time.Minute)
	prov := newGWProvider(b, 0)
	for _, check := range []bool{false, true} {
		name := "without_check"
		if check {
			name = "with_check"
		}
		gw := startGWNginxConf(b, qwAddr, prov.srv.Listener.Addr().String(), true, check)
		for _, clients := range []int{1, 50} {
			b.Run(fmt.Sprintf("%s/clients=%d", name, clients), func(b *testing.B) {
				benchLatency(b, clients, func() bool {
					code, _ := gwCall(b, gw.url, "bench", map[string]string{"X-Customer-ID": "bench"})
					return code == 200
				})
			})
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// benchLatency runs call from n parallel clients b.N times in all and
// reports p50 and p99 latency in ms.
func benchLatency(b *testing.B, n int, call func() bool) {
	b.Helper()
	var mu sync.Mutex
	var all []time.Duration
	var failed atomic.Int64
	b.ResetTimer()
	if n == 1 {
		// One client, one call after another: the check's own latency.
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if !call() {
				failed.Add(1)
			}
			all = append(all, time.Since(t0))
		}
	} else {
		b.SetParallelism((n + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				t0 := time.Now()
				if !call() {
					failed.Add(1)
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d calls failed", f)
	}
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e6 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

func TestE2ERedisDownFromTheStartNeverStopsMetering(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	omar := newGWWriter(t, state, "omar", "00000000-0000-4000-8000-0000000000c1")
	omar.calls(t, 4)
	cfg := filepath.Join(dir, "quotawatch.yaml")
	// Nothing listens there: the port was free a moment ago.
	yaml := fmt.Sprintf("timezone: Asia/Riyadh\nsources:\n  - {type: clawdbot, dir: %q}\ntiers: {standard: {requests: 3000}}\ncustomers:\n  - {id: omar-001, tier: standard, match: {agent: omar}}\nredis: {addr: %q, resync_interval: 1s}\n", state, gwFreeAddr(t))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "q.db")
	p := e2eStart(t, "--config", cfg, "--db", db, "run")
	p.waitLog(t, "caught up; following", time.Minute)
	omar.calls(t, 3)
	gwWaitRequests(t, cfg, db, "omar-001", 7)
	p.waitLog(t, "redis mirror: write failed", 10*time.Second)
	if n := strings.Count(p.stderr.String(), "redis mirror: write failed"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, e2eTail(p.stderr.String(), 20))
	}
}
