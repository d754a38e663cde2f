package main

// End-to-end tests of issue 11 items 10, 12 and 13 on the real binary: a
// CLI like its peers (completion, help), its logs, backfill's summary and
// its progress bar.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// cliStart starts the binary with the child environment plus env (later
// entries win); the test's cleanup kills it if still running.
func cliStart(t *testing.T, env []string, args ...string) *e2eProc {
	t.Helper()
	p := &e2eProc{args: args, done: make(chan struct{})}
	p.cmd = exec.Command(e2eBinary(t), args...)
	p.cmd.Env = append(e2eChildEnv(), env...)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start quotawatch %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// cliExec runs the binary to its end with env added.
func cliExec(t *testing.T, env []string, args ...string) e2eResult {
	t.Helper()
	p := cliStart(t, env, args...)
	code := p.wait(t, e2eCmdTimeout)
	return e2eResult{Code: code, Stdout: p.stdout.String(), Stderr: p.stderr.String()}
}

// cliCompletions asks the binary what the shell would be offered after
// args (cobra's hidden __complete command, which every generated script
// calls) and returns the values, without descriptions.
func cliCompletions(t *testing.T, args ...string) []string {
	t.Helper()
	r := e2eExec(t, append([]string{"__complete"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("quotawatch __complete %s: exit %d\n%s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n") {
		if strings.HasPrefix(l, ":") { // the directive line ends the list
			break
		}
		v, _, _ := strings.Cut(l, "\t")
		out = append(out, v)
	}
	return out
}

// TestE2ECompletionIsAUsageErrorLikeAnyOtherCommand: cobra adds its
// completion command inside Execute, after the walk that makes unknown
// subcommands exit 2, so `completion bogus` printed help and exited 0. It
// is now part of the walk: an unknown shell or an extra argument exits 2
// with the reason, and the real shells still print their scripts.
func TestE2ECompletionIsAUsageErrorLikeAnyOtherCommand(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string // in stderr (exit 2) or stdout (exit 0)
	}{
		{[]string{"completion", "bogus"}, 2, `quotawatch: unknown command "bogus" for "quotawatch completion"`},
		{[]string{"completion", "bash", "extra"}, 2, `quotawatch: unknown command "extra" for "quotawatch completion bash"`},
		{[]string{"completion"}, 0, "Generate the autocompletion script for quotawatch"},
		{[]string{"completion", "bash"}, 0, "# bash completion V2 for quotawatch"},
		{[]string{"completion", "zsh"}, 0, "#compdef quotawatch"},
		{[]string{"completion", "fish"}, 0, "# fish completion for quotawatch"},
	} {
		r := e2eExec(t, tt.args...)
		got := r.Stdout
		if tt.code != 0 {
			got = r.Stderr
		}
		if r.Code != tt.code || !strings.Contains(got, tt.want) {
			t.Errorf("quotawatch %s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", strings.Join(tt.args, " "), r.Code, tt.code, tt.want,
				e2eTail(r.Stdout, 5), r.Stderr)
		}
	}
}

// TestE2ECompletionOffersFormatCustomerAndMonthValues: the shell is offered
// each command's own --format values, the configured customer ids (from the
// config --config names) plus unassigned, and this month and the twelve
// before it in the configured timezone, newest first.
func TestE2ECompletionOffersFormatCustomerAndMonthValues(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "qw.yaml")
	e2eWriteFile(t, cfg, `timezone: Pacific/Kiritimati
tiers: {standard: {requests: 3000}, pro: {}}
customers:
  - {id: omar-001, name: عمر, tier: standard}
  - {id: salon, tier: pro}
  - {id: owner}
`)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"usage", "--format", ""}, []string{"table", "json", "csv"}},
		{[]string{"alerts", "--format", ""}, []string{"table", "json", "csv"}},
		{[]string{"backfill", "--format", ""}, []string{"text", "json"}},
		{[]string{"version", "--format", ""}, []string{"text", "json"}},
		{[]string{"--config", cfg, "usage", "--customer", ""}, []string{"omar-001", "salon", "owner", "unassigned"}},
		{[]string{"--config", cfg, "alerts", "--customer", "s"}, []string{"salon"}},
	} {
		if got := cliCompletions(t, tt.args...); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("quotawatch %s<TAB>: %q, want %q", strings.Join(tt.args, " "), got, tt.want)
		}
	}

	// Kiritimati is UTC+14: its month differs from the host's for part of
	// every month's last day, so this also shows the config's zone is used.
	loc, err := time.LoadLocation("Pacific/Kiritimati")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"usage", "alerts"} {
		for attempt := 0; ; attempt++ {
			now := time.Now().In(loc)
			got := cliCompletions(t, "--config", cfg, cmd, "--month", "")
			first := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, loc)
			var want []string
			for i := 0; i <= 12; i++ {
				want = append(want, first.AddDate(0, -i, 0).Format("2006-01"))
			}
			if strings.Join(got, " ") == strings.Join(want, " ") {
				break
			}
			if attempt == 0 && time.Now().In(loc).Month() != now.Month() {
				continue // the month turned while the binary ran
			}
			t.Fatalf("quotawatch %s --month <TAB>: %q, want %q", cmd, got, want)
		}
	}
}

// TestE2EEveryCommandsHelpHasExamplesAndExitCodes: every command's --help
// (the groups and the completion scripts included) shows at least one
// example and an "Exit codes:" section that starts with 0 and names 2.
func TestE2EEveryCommandsHelpHasExamplesAndExitCodes(t *testing.T) {
	root := (&app{stdout: io.Discard, stderr: io.Discard, now: time.Now}).rootCmd()
	paths := [][]string{nil} // the root
	todo := root.Commands()
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if c.Hidden || c.Name() == "help" {
			continue
		}
		paths = append(paths, strings.Fields(c.CommandPath())[1:])
		todo = append(todo, c.Commands()...)
	}
	if len(paths) < 12 {
		t.Errorf("found only %d commands: %q", len(paths), paths)
	}
	example := regexp.MustCompile(`(?m)^Examples:\n  .*quotawatch `)
	for _, p := range paths {
		r := e2eExec(t, append(p, "--help")...)
		name := strings.TrimSpace("quotawatch " + strings.Join(p, " "))
		if r.Code != 0 {
			t.Errorf("%s --help: exit %d\n%s", name, r.Code, r.Stderr)
			continue
		}
		if !example.MatchString(r.Stdout) {
			t.Errorf("%s --help has no example:\n%s", name, r.Stdout)
		}
		_, codes, ok := strings.Cut(r.Stdout, "\nExit codes:\n")
		if !ok || !strings.HasPrefix(codes, "  0 ") || !strings.Contains(codes, "\n  2 ") {
			t.Errorf("%s --help names no exit codes (want a section with 0 and 2):\n%s", name, r.Stdout)
		}
	}
	// The root's list is the contract's whole table.
	r := e2eExec(t, "--help")
	for _, want := range []string{"  0    success", "  1    runtime failure", "  2    bad usage", "  130  backfill stopped by SIGINT"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("quotawatch --help: no %q in its exit codes:\n%s", want, r.Stdout)
		}
	}
}

// cliRunUntilCaughtUp starts `run`, waits for its catch-up line, stops it
// with SIGTERM and returns its stderr.
func cliRunUntilCaughtUp(t *testing.T, env []string, args ...string) string {
	t.Helper()
	p := cliStart(t, env, append(args, "run")...)
	p.waitLog(t, "caught up; following", time.Minute)
	if code := p.signal(t, syscall.SIGTERM, time.Minute); code != 0 {
		t.Fatalf("run stopped by SIGTERM: exit %d\n%s", code, e2eTail(p.stderr.String(), 20))
	}
	return p.stderr.String()
}

// TestE2ELogsAreTextOrJSONWithEveryTimeInUTC: log.format json makes every
// stderr line of run a JSON object (the final error of a failing command
// included), text keeps slog's key=value, and in both every time is UTC
// (ending in Z), even on a host whose zone is Asia/Riyadh: the time zone of
// a log line never depends on the host. A format that is neither is
// refused with the key.
func TestE2ELogsAreTextOrJSONWithEveryTimeInUTC(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	db := filepath.Join(dir, "qw.db")
	hostTZ := []string{"TZ=Asia/Riyadh"}
	cfgOf := func(format string) string {
		path := filepath.Join(dir, format+".yaml")
		e2eWriteFile(t, path, fmt.Sprintf("timezone: Asia/Riyadh\nlog: {format: %s}\nsources: [{type: clawdbot, dir: %q}]\n"+
			"customers: [{id: omar, match: {agent: main}}]\n", format, state))
		return path
	}
	start := time.Now().Add(-time.Second)
	checkTime := func(line, ts string) {
		t.Helper()
		if !strings.HasSuffix(ts, "Z") {
			t.Errorf("log time %q is not in UTC (want a trailing Z): %s", ts, line)
			return
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || at.Before(start) || at.After(time.Now().Add(time.Second)) {
			t.Errorf("log time %q does not parse as now (%v): %s", ts, err, line)
		}
	}

	jsonOut := cliRunUntilCaughtUp(t, hostTZ, "--config", cfgOf("json"), "--db", db)
	lines := strings.Split(strings.TrimRight(jsonOut, "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("run logged %d lines:\n%s", len(lines), jsonOut)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("log.format json: a stderr line is not JSON (%v): %s", err, l)
			continue
		}
		ts, _ := rec["time"].(string)
		checkTime(l, ts)
		if rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("log.format json: no level or msg: %s", l)
		}
	}
	r := cliExec(t, hostTZ, "--config", cfgOf("json"), "--db", db, "usage", "--month", "2026-13")
	var last map[string]any
	if err := json.Unmarshal([]byte(e2eLastLine(r.Stderr)), &last); r.Code != 2 || err != nil || last["level"] != "ERROR" ||
		last["exit_code"] != 2.0 || !strings.Contains(fmt.Sprint(last["msg"]), "--month") {
		t.Errorf("log.format json, usage --month 2026-13: exit %d, want 2 and a JSON error line; stderr:\n%s", r.Code, r.Stderr)
	}

	r = cliExec(t, hostTZ, "--config", cfgOf("json"), "config", "check")
	var ok map[string]any
	if err := json.Unmarshal([]byte(e2eLastLine(r.Stderr)), &ok); r.Code != 0 || err != nil || ok["msg"] != "config ok" {
		t.Errorf("log.format json, config check: exit %d, want 0 and a JSON \"config ok\" line; stderr:\n%s", r.Code, r.Stderr)
	}

	textOut := cliRunUntilCaughtUp(t, hostTZ, "--config", cfgOf("text"), "--db", db)
	timeAttr := regexp.MustCompile(`^time=(\S+) level=`)
	for _, l := range strings.Split(strings.TrimRight(textOut, "\n"), "\n") {
		m := timeAttr.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("log.format text: not a key=value line with its time first: %s", l)
			continue
		}
		checkTime(l, m[1])
	}

	r = e2eExec(t, "--config", cfgOf("xml"), "--db", db, "usage")
	if want := `quotawatch: config: log.format: unknown format "xml" (text or json)`; r.Code != 2 || e2eLastLine(r.Stderr) != want {
		t.Errorf("log.format xml: exit %d, stderr %q; want 2 and %q", r.Code, r.Stderr, want)
	}
}

// TestE2ERunSaysHowManyFilesAndDatabasesItFollows: after its first
// catch-up run logs how many transcript files and agent databases it
// follows, and warns when that is none, so a sidecar pointed at the wrong
// directory does not look like one that meters.
func TestE2ERunSaysHowManyFilesAndDatabasesItFollows(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	// Live transcripts and the renamed ones (.bak, .deleted) Clawdbot
	// leaves: each is read and followed.
	files, _ := filepath.Glob(filepath.Join(state, "agents", "*", "sessions", "*.jsonl*"))
	sessions := len(files)
	if sessions == 0 {
		t.Fatal("the sample has no transcript")
	}
	cfg := e2eConfig(t, dir, e2eSourceYAML(state))
	out := cliRunUntilCaughtUp(t, nil, "--config", cfg, "--db", filepath.Join(dir, "full.db"))
	want := fmt.Sprintf(`level=INFO msg="caught up; following" files=%d databases=0 sources=1`, sessions)
	if !strings.Contains(out, want) {
		t.Errorf("run over the sample: no %q in\n%s", want, out)
	}
	if strings.Contains(out, "following nothing") {
		t.Errorf("run over the sample warns it follows nothing:\n%s", out)
	}

	empty := filepath.Join(dir, "empty")
	if err := os.MkdirAll(filepath.Join(empty, "agents", "main", "sessions"), 0o755); err != nil {
		t.Fatal(err)
	}
	ecfg := filepath.Join(dir, "empty.yaml")
	e2eWriteFile(t, ecfg, fmt.Sprintf("sources: [{type: clawdbot, dir: %q}]\ncustomers: [{id: a}]\n", empty))
	out = cliRunUntilCaughtUp(t, nil, "--config", ecfg, "--db", filepath.Join(dir, "empty.db"))
	if !regexp.MustCompile(`level=WARN msg="caught up; following nothing: [^"]*" files=0 databases=0 sources=clawdbot:` +
		regexp.QuoteMeta(empty)).MatchString(out) {
		t.Errorf("run over an empty state dir: no warning that it follows nothing:\n%s", out)
	}
}

// TestE2EBackfillSummaryBillsEachCustomerAndNamesUnassigned: backfill ends
// with one line per customer it billed and the requests that went to
// unassigned (in text and in JSON), equal to what usage then shows; a
// second backfill of the same files bills nobody; with default_customer
// set it says that is where unmatched calls went.
func TestE2EBackfillSummaryBillsEachCustomerAndNamesUnassigned(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, e2eSampleDir, state)
	// Only omar and salon have rules: the sample's other calls go to
	// unassigned.
	cfg := filepath.Join(dir, "qw.yaml")
	e2eWriteFile(t, cfg, fmt.Sprintf(`timezone: Asia/Riyadh
sources: [{type: clawdbot, dir: %q}]
tiers: {standard: {requests: 3000}, pro: {}}
customers:
  - {id: omar, tier: standard, match: {peer: "+966500000001"}}
  - {id: salon, tier: pro, match: {agent: ops}}
  - {id: idle, tier: pro, match: {agent: nobody}}
`, state))
	db := filepath.Join(dir, "qw.db")
	r := e2eExec(t, "--config", cfg, "--db", db, "backfill", "--no-progress")
	if r.Code != 0 {
		t.Fatalf("backfill: exit %d\n%s", r.Code, r.Stderr)
	}
	usage := e2eUsage(t, cfg, db)
	u := usage["unassigned"]
	if u.Requests+u.FailedRequests == 0 {
		t.Fatalf("the test needs calls that go to unassigned; usage: %+v", usage)
	}
	want := fmt.Sprintf("customers:         2\n  - omar: %d requests\n  - salon: %d requests\nunassigned:        %d requests, %d failed (matched no customer: see customers[].match and default_customer)\n",
		usage["omar"].Requests, usage["salon"].Requests, u.Requests, u.FailedRequests)
	if !strings.HasSuffix(r.Stdout, want) {
		t.Errorf("backfill summary does not end with the customers and unassigned:\n%s\nwant the end:\n%s", r.Stdout, want)
	}

	db2 := filepath.Join(dir, "json.db")
	_, jr := e2eBackfill(t, cfg, db2)
	var js struct {
		Customers []struct {
			Customer string `json:"customer"`
			Requests int64  `json:"requests"`
			Failed   int64  `json:"failed_requests"`
		} `json:"customers"`
		Unassigned struct {
			Requests int64 `json:"requests"`
			Failed   int64 `json:"failed_requests"`
		} `json:"unassigned"`
	}
	if err := json.Unmarshal([]byte(jr.Stdout), &js); err != nil {
		t.Fatal(err)
	}
	got := map[string]e2eTotals{"unassigned": {Requests: js.Unassigned.Requests, FailedRequests: js.Unassigned.Failed}}
	for _, c := range js.Customers {
		got[c.Customer] = e2eTotals{Requests: c.Requests, FailedRequests: c.Failed}
	}
	for id, w := range usage {
		if g := got[id]; g.Requests != w.Requests || g.FailedRequests != w.FailedRequests {
			t.Errorf("backfill --format json bills %s %d requests (%d failed); usage says %d (%d)", id, g.Requests, g.FailedRequests, w.Requests, w.FailedRequests)
		}
	}
	if len(js.Customers) != 2 {
		t.Errorf("backfill --format json lists %d customers, want omar and salon (idle got nothing):\n%s", len(js.Customers), jr.Stdout)
	}

	again := e2eExec(t, "--config", cfg, "--db", db, "backfill", "--no-progress")
	if wantAgain := "customers:         0\nunassigned:        0 requests (every call matched a customer)\n"; again.Code != 0 || !strings.HasSuffix(again.Stdout, wantAgain) {
		t.Errorf("a second backfill of the same files: exit %d, want it to bill nobody:\n%s", again.Code, again.Stdout)
	}

	dcfg := filepath.Join(dir, "default.yaml")
	body, _ := os.ReadFile(cfg)
	e2eWriteFile(t, dcfg, string(body)+"default_customer: idle\n")
	d := e2eExec(t, "--config", dcfg, "--db", filepath.Join(dir, "default.db"), "backfill", "--no-progress")
	if want := "\nunassigned:        0 requests (default_customer idle takes every call no rule matches)\n"; d.Code != 0 ||
		!strings.HasSuffix(d.Stdout, want) || !strings.Contains(d.Stdout, fmt.Sprintf("\n  - idle: %d requests, %d failed\n", u.Requests, u.FailedRequests)) {
		t.Errorf("backfill with default_customer idle: exit %d, want idle billed unassigned's calls and the reason:\n%s", d.Code, d.Stdout)
	}
}

// ptyBackfill starts backfill with its stderr on a pseudo-terminal (so it
// draws its bar) and returns the process and what the terminal showed;
// screen is complete once copied is closed.
func ptyBackfill(t *testing.T, cfg, db string) (p *e2eProc, screen *e2eSyncBuffer, copied chan struct{}) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal on this host: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	screen = &e2eSyncBuffer{}
	copied = make(chan struct{})
	go func() {
		io.Copy(screen, ptmx) // ends with EIO once the child has closed the tty
		close(copied)
	}()
	p = &e2eProc{args: []string{"backfill"}, done: make(chan struct{})}
	p.cmd = exec.Command(e2eBinary(t), "--config", cfg, "--db", db, "backfill")
	p.cmd.Env = e2eChildEnv()
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = tty
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p, screen, copied
}

// TestE2EInterruptedBackfillProgressNeverShows100Percent: on a terminal,
// a backfill stopped by SIGINT half-way leaves a last line that says how
// far it got, below 100 %, and never draws a full bar (it used to fill the
// bar on the way out, whatever happened); a complete one ends at 100 %.
func TestE2EInterruptedBackfillProgressNeverShows100Percent(t *testing.T) {
	d := t.TempDir()
	cfg := e2eBigJSONL(t, d, 400, 500)
	p, screen, copied := ptyBackfill(t, cfg, filepath.Join(d, "qw.db"))
	// Stop it once the bar shows real progress.
	shown := regexp.MustCompile(`backfill +([1-9][0-9]?)% `)
	for deadline := time.Now().Add(time.Minute); !shown.MatchString(screen.String()); time.Sleep(5 * time.Millisecond) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("no progress drawn (exited %v):\n%q", p.exited(), screen.String())
		}
	}
	code := p.signal(t, syscall.SIGINT, time.Minute)
	<-copied
	out := screen.String()
	if code != 130 {
		t.Fatalf("backfill stopped by SIGINT: exit %d, want 130; the input may be too small\n%q", code, out)
	}
	if strings.Contains(out, "100%") {
		t.Errorf("the interrupted backfill drew 100 %%:\n%q", out)
	}
	// The last thing drawn before the error line is how far it got.
	var last string
	for _, seg := range regexp.MustCompile(`[\r\n]+`).Split(out, -1) {
		if s := strings.TrimSpace(seg); s != "" && !strings.HasPrefix(s, "quotawatch: ") {
			last = s
		}
	}
	m := regexp.MustCompile(`^backfill stopped at ([0-9]+)%: \S+ \S*B of \S+ \S*B read$`).FindStringSubmatch(last)
	if m == nil || m[1] == "100" {
		t.Errorf("last progress line %q: want \"backfill stopped at N%%: X of Y read\" with N < 100\n%q", last, out)
	}

	// Read to its end, the same bar does reach 100 %.
	small := e2eBigJSONL(t, t.TempDir(), 2, 50)
	p, screen, copied = ptyBackfill(t, small, filepath.Join(d, "small.db"))
	if code := p.wait(t, time.Minute); code != 0 {
		t.Fatalf("small backfill: exit %d\n%q", code, screen.String())
	}
	<-copied
	if out := screen.String(); !strings.Contains(out, "100%") || strings.Contains(out, "stopped at") {
		t.Errorf("a complete backfill does not end at 100 %%:\n%q", out)
	}
}
