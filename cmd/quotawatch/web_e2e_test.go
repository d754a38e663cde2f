package main

// End-to-end tests of the dashboard (issue 10) with the real binary: the
// refusal of a non-loopback listen without a token, the JSON API against
// the CLI's own output, and a headless Chromium loading the pages.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// e2eFreePort is a loopback port free a moment ago.
func e2eFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// e2eDashboard starts `run` over a copy of the sample with the dashboard on
// 127.0.0.1 and waits until /readyz answers ready; small sets limits the
// sample nearly uses up; extra is added inside
// the http mapping, env to the process's environment.
func e2eDashboard(t *testing.T, small bool, extra string, env ...string) (base, cfg, db string, p *e2eProc) {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	port := e2eFreePort(t)
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg = e2eConfig(t, dir, e2eSourceYAML(state)+fmt.Sprintf("http: {listen: \"127.0.0.1:%d\"%s}\n", port, extra))
	if small {
		// Limits the sample's dozen calls fill (75 %, 80 %, 150 %), and a
		// name holding markup, which the browser must show as text.
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.NewReplacer("basic:    {requests: 500}", "basic:    {requests: 4}",
			"standard: {requests: 3000}", "standard: {requests: 5}",
			"pro:      {}", "pro:      {}\n  tiny:     {requests: 2}",
			"{id: owner,  name: Owner, tier: pro}", `{id: owner,  name: "Owner <script>alert(1)</script>", tier: tiny}`).Replace(string(b))
		if s == string(b) || !strings.Contains(s, "tiny") {
			t.Fatal("testdata/demo.yaml changed; update the replacements of the browser test")
		}
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db = filepath.Join(dir, "qw.db")
	p = e2eStartEnv(t, env, "--config", cfg, "--db", db, "run")
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/readyz", nil)
		if len(env) > 0 {
			req.Header.Set("Authorization", "Bearer "+strings.SplitN(env[0], "=", 2)[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, cfg, db, p
			}
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("dashboard never ready (exited %v).\nstderr:\n%s", p.exited(), e2eTail(p.stderr.String(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// e2eStartEnv is e2eStart with extra environment variables.
func e2eStartEnv(t *testing.T, env []string, args ...string) *e2eProc {
	t.Helper()
	if len(env) == 0 {
		return e2eStart(t, args...)
	}
	old := e2eExtraEnv
	e2eExtraEnv = env
	defer func() { e2eExtraEnv = old }()
	return e2eStart(t, args...)
}

func e2eGet(t *testing.T, url string, hdr ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestE2ENonLoopbackListenWithoutATokenIsRefusedWithExit2(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0", "example.com:9477"} {
		for _, extra := range []string{"", ", auth_token_env: QW_E2E_UNSET_TOKEN"} {
			cfg := e2eConfig(t, dir, e2eSourceYAML(state)+fmt.Sprintf("http: {listen: %q%s}\n", listen, extra))
			r := e2eExec(t, "--config", cfg, "--db", filepath.Join(dir, "qw.db"), "run")
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			if r.Code != 2 || len(lines) != 1 || !strings.Contains(lines[0], "http.auth_token_env") {
				t.Errorf("listen %s%s: exit %d, stderr %q; want exit 2 and one line naming http.auth_token_env", listen, extra, r.Code, r.Stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "qw.db")); err == nil {
				t.Errorf("listen %s: the refused run created the database", listen)
			}
		}
	}
}

func TestE2EDashboardWithATokenAnswers401WithoutItAndNeverPrintsIt(t *testing.T) {
	const tok = "e2e-dashboard-token-Zq8"
	base, _, _, p := e2eDashboard(t, false, ", auth_token_env: QW_E2E_DASH_TOKEN", "QW_E2E_DASH_TOKEN="+tok)
	for _, path := range []string{"/", "/api/usage", "/metrics", "/readyz"} {
		if code, _, _ := e2eGet(t, base+path); code != 401 {
			t.Errorf("%s without the token: %d, want 401", path, code)
		}
		if code, _, _ := e2eGet(t, base+path, "Authorization", "Bearer "+tok); code != 200 {
			t.Errorf("%s with the token: %d, want 200", path, code)
		}
	}
	p.signal(t, syscall.SIGINT, 30*time.Second)
	if strings.Contains(p.stderr.String()+p.stdout.String(), tok) {
		t.Errorf("the token was printed:\n%s", p.stderr.String())
	}
}

func TestE2EDashboardAPIIsWhatTheCLIPrints(t *testing.T) {
	base, cfg, db, p := e2eDashboard(t, false, "")
	code, ct, body := e2eGet(t, base+"/api/usage?month="+e2eMonth)
	if code != 200 || !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("/api/usage: %d %s", code, ct)
	}
	cli := e2eExec(t, "--config", cfg, "--db", db, "usage", "--format", "json", "--month", e2eMonth)
	if cli.Code != 0 || cli.Stdout != body {
		t.Errorf("/api/usage differs from `usage --format json` (exit %d):\n--- api\n%s\n--- cli\n%s", cli.Code, body, cli.Stdout)
	}
	_, _, alerts := e2eGet(t, base+"/api/alerts?month="+e2eMonth)
	if cli := e2eExec(t, "--config", cfg, "--db", db, "alerts", "--format", "json", "--month", e2eMonth); cli.Stdout != alerts {
		t.Errorf("/api/alerts differs from `alerts --format json`:\n%s\n%s", alerts, cli.Stdout)
	}
	// status: the same facts; lag moves between the two reads.
	st := e2eExec(t, "--config", cfg, "--db", db, "status", "--format", "json")
	if st.Code != 0 {
		t.Fatalf("status: exit %d\n%s", st.Code, st.Stderr)
	}
	var cliSt, apiSt map[string]any
	if err := json.Unmarshal([]byte(st.Stdout), &cliSt); err != nil {
		t.Fatalf("status --format json: %v\n%s", err, st.Stdout)
	}
	_, _, sb := e2eGet(t, base+"/api/status")
	if err := json.Unmarshal([]byte(sb), &apiSt); err != nil {
		t.Fatal(err)
	}
	for k, v := range cliSt {
		if k == "lag_seconds" || k == "database_bytes" {
			continue
		}
		a, _ := json.Marshal(apiSt[k])
		c, _ := json.Marshal(v)
		if string(a) != string(c) {
			t.Errorf("status %q: api %s, cli %s", k, a, c)
		}
	}
	if cliSt["files"] != float64(7) || apiSt["ready"] != true {
		t.Errorf("status: files %v ready %v", cliSt["files"], apiSt["ready"])
	}
	st = e2eExec(t, "--config", cfg, "--db", db, "status")
	if st.Code != 0 || !strings.Contains(st.Stdout, "followed:      7 files") {
		t.Errorf("status table: exit %d\n%s", st.Code, st.Stdout)
	}
	// /metrics agrees with the usage JSON.
	_, _, metrics := e2eGet(t, base+"/metrics")
	for _, name := range []string{"quotawatch_requests_total", "quotawatch_ingest_lag_seconds", "quotawatch_ready 1", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	p.signal(t, syscall.SIGINT, 30*time.Second)
}

// ---------------------------------------------------------------------------
// The browser test.

// e2eChromium is the headless browser, or "" (the test then skips).
func e2eChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func e2eBrowser(t *testing.T, bin string, args ...string) string {
	t.Helper()
	profile := t.TempDir()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--no-first-run", "--user-data-dir=" + profile}, args...)
	cmd := exec.Command(bin, all...)
	var out strings.Builder
	cmd.Stdout = &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
		}
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s: still running after 90 s", bin, strings.Join(args, " "))
	}
	return out.String()
}

var (
	e2eRowRe = regexp.MustCompile(`<tr class="row" data-customer="([^"]+)" data-percent="([^"]*)">`)
	e2eBarRe = regexp.MustCompile(`<div class="bar lvl-(\w+)" data-fill="([0-9.]+)"`)
	e2eHTML  = regexp.MustCompile(`<html lang="(\w+)" dir="(\w+)">`)
)

// TestE2EDashboardInChromium loads the front page and a customer page from
// the real binary in a real browser, in Arabic and English, and checks the
// rows and the bars against `usage --format json`. With
// QUOTAWATCH_SCREENSHOTS=DIR it saves the screenshots there (docs/).
func TestE2EDashboardInChromium(t *testing.T) {
	bin := e2eChromium()
	if bin == "" {
		t.Skip("chromium is not installed (Debian: apt-get install chromium); the browser test needs it")
	}
	base, cfg, db, p := e2eDashboard(t, true, "")
	cli := e2eExec(t, "--config", cfg, "--db", db, "usage", "--format", "json", "--month", e2eMonth)
	var rows []struct {
		Customer string   `json:"customer"`
		Percent  *float64 `json:"percent"`
		Requests int64    `json:"requests"`
	}
	if err := json.Unmarshal([]byte(cli.Stdout), &rows); err != nil {
		t.Fatal(err)
	}
	want := map[string]*float64{}
	for _, r := range rows {
		want[r.Customer] = r.Percent
	}
	shots := os.Getenv("QUOTAWATCH_SCREENSHOTS")
	for _, lang := range []string{"ar", "en"} {
		for _, page := range []string{"/", "/customer/omar"} {
			url := base + page + "?month=" + e2eMonth + "&lang=" + lang
			dom := e2eBrowser(t, bin, "--dump-dom", url)
			m := e2eHTML.FindStringSubmatch(dom)
			wantDir := map[string]string{"ar": "rtl", "en": "ltr"}[lang]
			if m == nil || m[1] != lang || m[2] != wantDir {
				t.Errorf("%s: <html> is %v, want lang=%s dir=%s", url, m, lang, wantDir)
			}
			if page == "/" {
				got := e2eRowRe.FindAllStringSubmatch(dom, -1)
				if len(got) != len(rows) {
					t.Errorf("%s: %d rows rendered, want %d", url, len(got), len(rows))
				}
				bars := e2eBarRe.FindAllStringSubmatch(dom, -1)
				limited := 0
				for _, g := range got {
					w, ok := want[g[1]]
					if !ok {
						t.Errorf("%s: row for %q, which usage does not list", url, g[1])
						continue
					}
					if (w == nil) != (g[2] == "") || (w != nil && g[2] != strconv.FormatFloat(*w, 'f', -1, 64)) {
						t.Errorf("%s: %s shows %q %%, usage says %v", url, g[1], g[2], w)
					}
					if w != nil {
						if limited >= len(bars) {
							t.Errorf("%s: no bar for %s", url, g[1])
							continue
						}
						fill, _ := strconv.ParseFloat(bars[limited][2], 64)
						if exp := float64(int(min(*w, 150)/150*10000+0.5)) / 100; fill != exp {
							t.Errorf("%s: %s bar %v %% wide, want %v", url, g[1], fill, exp)
						}
						limited++
					}
				}
				if strings.Contains(dom, "<script>alert") || !strings.Contains(dom, "Owner &lt;script&gt;alert(1)&lt;/script&gt;") {
					t.Errorf("%s: the customer name holding <script> is not shown as text", url)
				}
			} else if !strings.Contains(dom, `id="daily"`) || !strings.Contains(dom, `id="cumulative"`) || !strings.Contains(dom, `data-customer="omar" data-percent="80"`) {
				t.Errorf("%s: the customer page lacks its charts or its 80 %%", url)
			}
			name := "dashboard-" + lang + ".png"
			if page != "/" {
				name = "customer-" + lang + ".png"
			}
			dir := t.TempDir()
			if shots != "" {
				dir = shots
			}
			out := filepath.Join(dir, name)
			e2eBrowser(t, bin, "--window-size=1280,"+map[string]string{"/": "760", "/customer/omar": "1640"}[page], "--screenshot="+out, url)
			if fi, err := os.Stat(out); err != nil || fi.Size() < 10_000 {
				t.Errorf("%s: screenshot %s missing or blank (%v)", url, out, err)
			}
		}
	}
	p.signal(t, syscall.SIGINT, 30*time.Second)
}

// e2eExtraEnv is added to the children's environment by e2eStart (set only
// around one start, by e2eStartEnv; the e2e tests do not run in parallel).
var e2eExtraEnv []string
