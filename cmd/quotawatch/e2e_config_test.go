package main

// End-to-end tests of issue 11 items 1-4 and 9 on the real binary: where
// the config is found, the exact message of each mistake, the exit code of
// each kind of failure, the example config, the version.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// e2eCfgBin is quotawatch built with its system config file moved into a
// temporary directory, so discovery's last step is testable without
// touching /etc on the host (other tests, other checkouts use it).
var e2eCfgBin struct {
	once      sync.Once
	path, etc string
	err       error
}

func e2eConfigBinary(t *testing.T) (bin, systemConfig string) {
	t.Helper()
	e2eCfgBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "quotawatch-e2e-bin-")
		if err != nil {
			e2eCfgBin.err = err
			return
		}
		// e2eBuild removes build directories of ended test processes.
		if err := os.WriteFile(filepath.Join(dir, "pid"), fmt.Appendf(nil, "%d", os.Getpid()), 0o600); err != nil {
			e2eCfgBin.err = err
			return
		}
		e2eCfgBin.etc = filepath.Join(dir, "etc", "quotawatch", "config.yaml")
		e2eCfgBin.path = filepath.Join(dir, "quotawatch-etc")
		args := []string{"build", "-o", e2eCfgBin.path, "-ldflags", "-X main.systemConfigFile=" + e2eCfgBin.etc}
		if e2eRaceEnabled() {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
			e2eCfgBin.err = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	})
	if e2eCfgBin.err != nil {
		t.Fatalf("build quotawatch: %v", e2eCfgBin.err)
	}
	return e2eCfgBin.path, e2eCfgBin.etc
}

// e2eCfgRun runs bin in dir with the child environment, minus every
// variable discovery or state-dir defaults read, plus env.
func e2eCfgRun(t *testing.T, bin, dir string, env []string, args ...string) e2eResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	for _, kv := range e2eChildEnv() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "HOME", "XDG_CONFIG_HOME", "OPENCLAW_STATE_DIR", "CLAWDBOT_STATE_DIR":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errOut e2eSyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", strings.Join(args, " "), err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(e2eCmdTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("quotawatch %s: still running after %s", strings.Join(args, " "), e2eCmdTimeout)
	}
	if strings.Contains(errOut.String(), "WARNING: DATA RACE") {
		t.Errorf("quotawatch %s: data race:\n%s", strings.Join(args, " "), errOut.String())
	}
	return e2eResult{Code: cmd.ProcessState.ExitCode(), Stdout: out.String(), Stderr: errOut.String()}
}

// e2eLastLine is the last non-empty line of s.
func e2eLastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func e2eWriteFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// e2eCheckedConfig is what `config check` prints on stdout.
type e2eCheckedConfig struct {
	File   string `json:"file"`
	Config struct {
		Store struct {
			Path string `json:"path"`
		} `json:"store"`
		Sources []struct {
			Dir string `json:"dir"`
		} `json:"sources"`
		DefaultCustomer string `json:"default_customer"`
		Alerts          struct {
			UpgradeURL    string `json:"upgrade_url"`
			OperatorPhone string `json:"operator_phone"`
		} `json:"alerts"`
		Notify struct {
			Channel string `json:"channel"`
		} `json:"notify"`
	} `json:"config"`
}

func e2eParseChecked(t *testing.T, r e2eResult) e2eCheckedConfig {
	t.Helper()
	var c e2eCheckedConfig
	if err := json.Unmarshal([]byte(r.Stdout), &c); err != nil {
		t.Fatalf("config check printed no JSON (%v): exit %d\nstdout %s\nstderr %s", err, r.Code, r.Stdout, r.Stderr)
	}
	return c
}

// TestE2EConfigDiscoveryOrder: --config, then $QUOTAWATCH_CONFIG, then
// ./quotawatch.yaml, then $XDG_CONFIG_HOME/quotawatch/config.yaml (or
// ~/.config/quotawatch/config.yaml without it), then the system file; each
// step taken away hands over to the next, `config check` names the file it
// read, and with none `config check`, `run` and `backfill` exit 2 saying so.
func TestE2EConfigDiscoveryOrder(t *testing.T) {
	bin, etc := e2eConfigBinary(t)
	root := t.TempDir()
	cwd, home, xdg := filepath.Join(root, "cwd"), filepath.Join(root, "home"), filepath.Join(root, "xdg")
	files := map[string]string{
		"flag": filepath.Join(root, "flag.yaml"),
		"env":  filepath.Join(root, "env.yaml"),
		"cwd":  filepath.Join(cwd, "quotawatch.yaml"),
		"xdg":  filepath.Join(xdg, "quotawatch", "config.yaml"),
		"home": filepath.Join(home, ".config", "quotawatch", "config.yaml"),
		"etc":  etc,
	}
	for name, p := range files {
		// Each file stores in a database named after it: the printed
		// config shows which one was read.
		e2eWriteFile(t, p, fmt.Sprintf("store: {path: %s}\n", filepath.Join(root, name+".db")))
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(etc)) })

	homeOnly := []string{"HOME=" + home}
	withXDG := append(homeOnly[:1:1], "XDG_CONFIG_HOME="+xdg)
	env := append(withXDG[:2:2], envConfigFile+"="+files["env"])
	check := func(name, from string, env []string, args ...string) {
		t.Helper()
		r := e2eCfgRun(t, bin, cwd, env, append(args, "config", "check")...)
		if r.Code != 0 {
			t.Fatalf("%s: config check exit %d: %s", name, r.Code, r.Stderr)
		}
		c := e2eParseChecked(t, r)
		if want := filepath.Join(root, name+".db"); c.Config.Store.Path != want {
			t.Errorf("%s: read the config storing in %s, want %s (file %s)", name, c.Config.Store.Path, want, c.File)
		}
		if want := fmt.Sprintf("config ok: %s (found as %s)", files[name], from); !strings.Contains(r.Stderr, want) {
			t.Errorf("%s: stderr %q, want it to name the file: %q", name, r.Stderr, want)
		}
	}
	check("flag", "--config", env, "--config", files["flag"])
	check("env", "$QUOTAWATCH_CONFIG", env)
	check("cwd", "./quotawatch.yaml", withXDG)
	if err := os.Remove(files["cwd"]); err != nil {
		t.Fatal(err)
	}
	check("xdg", files["xdg"]+" ($XDG_CONFIG_HOME)", withXDG)
	check("home", files["home"], homeOnly) // the XDG file is still there: $XDG_CONFIG_HOME chose it
	if err := os.Remove(files["home"]); err != nil {
		t.Fatal(err)
	}
	check("etc", etc, homeOnly)

	// A file named by --config or $QUOTAWATCH_CONFIG must exist: another
	// file found further down would be a surprise.
	for _, r := range []e2eResult{
		e2eCfgRun(t, bin, cwd, homeOnly, "--config", filepath.Join(root, "missing.yaml"), "config", "check"),
		e2eCfgRun(t, bin, cwd, append(homeOnly[:1:1], envConfigFile+"="+filepath.Join(root, "missing.yaml")), "config", "check"),
	} {
		if r.Code != 2 || !strings.Contains(r.Stderr, "missing.yaml: no such file or directory") {
			t.Errorf("a named config file that does not exist: exit %d, stderr %q; want 2 naming it", r.Code, r.Stderr)
		}
	}

	if err := os.Remove(etc); err != nil {
		t.Fatal(err)
	}
	tried := strings.Join([]string{"./quotawatch.yaml", files["home"], etc}, ", ")
	r := e2eCfgRun(t, bin, cwd, homeOnly, "config", "check")
	if want := "quotawatch: config: no config file found (looked for " + tried + "); name one with --config or $QUOTAWATCH_CONFIG"; r.Code != 2 || e2eLastLine(r.Stderr) != want {
		t.Errorf("no config file: config check exit %d, stderr %q; want 2 and %q", r.Code, r.Stderr, want)
	}
	for _, cmd := range [][]string{{"run"}, {"backfill"}} {
		r := e2eCfgRun(t, bin, cwd, homeOnly, append([]string{"--db", filepath.Join(root, "x.db")}, cmd...)...)
		what := "quotawatch " + cmd[0]
		if cmd[0] == "backfill" {
			what += " without PATH"
		}
		want := "quotawatch: config: sources: no config file found (looked for " + tried + "), so no source is configured; " + what + " needs at least one"
		if r.Code != 2 || e2eLastLine(r.Stderr) != want {
			t.Errorf("no config file: %s exit %d, stderr %q; want 2 and %q", cmd[0], r.Code, r.Stderr, want)
		}
	}
}

// e2eMistakeBase is a valid config the mistakes are made in.
const e2eMistakeBase = `sources: [{type: clawdbot, dir: STATE}]
tiers: {basic: {requests: 500}}
customers:
  - {id: a, tier: basic, match: {peer: "+966500000001"}}
  - {id: b, tier: basic}
`

// TestE2EConfigMistakesAreExplainedWithTheKeyAndTheFix: each mistake of
// issue 11 exits 2 with one exact line: the key as the user wrote it (list
// indexes from 0), what is wrong, and the nearest known key or the expected
// form; path keys expand $VAR and ~; an unknown QUOTAWATCH_* variable is a
// warning naming it, not a failure.
func TestE2EConfigMistakesAreExplainedWithTheKeyAndTheFix(t *testing.T) {
	bin := e2eBinary(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	base := strings.ReplaceAll(e2eMistakeBase, "STATE", state)
	for _, tt := range []struct {
		name, body, want string
	}{
		{"misspelt key in a list item", strings.Replace(base, "{id: b, tier: basic}", "{id: b, teir: basic}", 1),
			`customers[1].teir: unknown key (did you mean "tier"?)`},
		{"misspelt key in a tier", strings.Replace(base, "{requests: 500}", "{requets: 500}", 1),
			`tiers.basic.requets: unknown key (did you mean "requests"?)`},
		{"unknown top-level key", base + "colour: blue\n",
			`colour: unknown key`},
		{"two unknown keys", base + "colour: blue\nmonitor: {rescan: 5s}\n",
			`colour: unknown key; also unknown: monitor.rescan`},
		{"word for a number", base + "monitor: {batch_events: lots}\n",
			`monitor.batch_events: want an integer, got "lots"`},
		{"fraction for a count", strings.Replace(base, "{requests: 500}", "{requests: 1.5}", 1),
			`tiers.basic.requests: want an integer, got 1.5`},
		{"mapping for a string", base + "log: {level: {a: 1}}\n",
			`log.level: want a string, got a mapping`},
		{"bare number for a duration", base + "monitor: {rescan_interval: 5}\n",
			`monitor.rescan_interval: want a duration like "30s", got 5`},
		{"duration without a unit", base + "monitor: {rescan_interval: \"5\"}\n",
			`monitor.rescan_interval: want a duration like "30s", got "5"`},
		{"local number as a peer", strings.Replace(base, `"+966500000001"}`, `"0555"}`, 1),
			`customers[0].match.peer: want a WhatsApp number in E.164 (+ and 8 to 15 digits, e.g. +966500000001) or a group id ending in @g.us, got "0555"`},
		{"misspelt channel", strings.Replace(base, `{peer: "+966500000001"}`, `{channel: whatsap}`, 1),
			`customers[0].match.channel: unknown channel "whatsap" (did you mean "whatsapp"?); known: ` + strings.Join(knownChannels(), ", ")},
		{"unset variable in a path", base + "store: {path: $QW_E2E_UNSET/qw.db}\n",
			`store.path: $QW_E2E_UNSET is not set in the environment`},
		{"token in the file", base + "notify: {whatsapp: {token: abc}}\n",
			`notify.whatsapp.token: a token must not be written in the config; put it in the environment variable named by notify.whatsapp.token_env or in notify.whatsapp.token_file`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "qw.yaml")
			e2eWriteFile(t, cfg, tt.body)
			r := e2eCfgRun(t, bin, dir, []string{"HOME=" + dir}, "--config", cfg, "config", "check")
			if want := "quotawatch: config: " + tt.want; r.Code != 2 || strings.TrimRight(r.Stderr, "\n") != want {
				t.Errorf("exit %d, stderr:\n%s\nwant 2 and exactly:\n%s", r.Code, r.Stderr, want)
			}
		})
	}

	// Accepted: a group id, another channel's own id format, $VAR and ~.
	good := strings.Replace(base, "sources: [{type: clawdbot, dir: "+state+"}]", "sources:\n  - type: clawdbot\n    dir: ${QW_E2E_STATE}/state", 1) +
		"  - {id: g, tier: basic, match: {peer: \"120363025550001111@g.us\"}}\n" +
		"  - {id: tg, tier: basic, match: {channel: telegram, peer: \"123456789\"}}\n" +
		"store:\n  path: ~/qw.db\n"
	cfg := filepath.Join(dir, "good.yaml")
	e2eWriteFile(t, cfg, good)
	r := e2eCfgRun(t, bin, dir, []string{"HOME=" + dir, "QW_E2E_STATE=" + dir, "QUOTAWATCH_STORE_PAHT=/tmp/x.db"}, "--config", cfg, "config", "check")
	if r.Code != 0 {
		t.Fatalf("a valid config: exit %d\n%s\n%s", r.Code, good, r.Stderr)
	}
	c := e2eParseChecked(t, r)
	if c.Config.Sources[0].Dir != state || c.Config.Store.Path != filepath.Join(dir, "qw.db") {
		t.Errorf("paths not expanded: sources[0].dir %q (want %q), store.path %q (want %q)", c.Config.Sources[0].Dir, state, c.Config.Store.Path, filepath.Join(dir, "qw.db"))
	}
	if want := "environment variable QUOTAWATCH_STORE_PAHT is not a quotawatch setting and is ignored (did you mean QUOTAWATCH_STORE_PATH?)"; !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "level=WARN") {
		t.Errorf("unknown QUOTAWATCH_ variable: stderr %q, want a warning %q", r.Stderr, want)
	}
}

// e2eBigJSONL writes a request log of files×lines lines into dir and a
// config that reads it. A backfill stops between files, so many files let a
// signal stop it half-way; it takes seconds, long enough to be stopped.
func e2eBigJSONL(t *testing.T, dir string, files, lines int) string {
	t.Helper()
	logs := filepath.Join(dir, "logs")
	for f := range files {
		var b strings.Builder
		for i := range lines {
			fmt.Fprintf(&b, `{"id":"r%d-%d","time":"2026-11-02T10:00:00Z","customer":"a","model":"m","usage":{"prompt_tokens":1,"completion_tokens":1}}`+"\n", f, i)
		}
		e2eWriteFile(t, filepath.Join(logs, fmt.Sprintf("%04d.jsonl", f)), b.String())
	}
	cfg := filepath.Join(dir, "qw.yaml")
	e2eWriteFile(t, cfg, fmt.Sprintf("sources: [{type: jsonl, name: proxy, path: %s/*.jsonl}]\ncustomers: [{id: a}]\n", logs))
	return cfg
}

// TestE2EExitCodesByKindOfFailure: 0 ok, 1 runtime failure, 2 bad usage
// (unknown command or subcommand, bad flag, extra argument, bad flag
// value) and bad configuration, and a backfill stopped by SIGINT or
// SIGTERM before its end exits 130 or 143 as a shell does.
func TestE2EExitCodesByKindOfFailure(t *testing.T) {
	bin := e2eBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ok.yaml")
	e2eWriteFile(t, cfg, "customers: [{id: a}]\n")
	bad := filepath.Join(dir, "bad.yaml")
	e2eWriteFile(t, bad, "colour: blue\n")
	db := filepath.Join(dir, "none.db")
	for _, tt := range []struct {
		code int
		args []string
	}{
		{0, []string{"version"}},
		{0, []string{"--version"}},
		{0, []string{"version", "--format", "json"}},
		{0, []string{"config"}}, // a group without its subcommand: its help
		{2, []string{"frobnicate"}},
		{2, []string{"config", "bogus"}},
		{2, []string{"db", "bogus"}},
		{2, []string{"usage", "extra"}},
		{2, []string{"version", "extra"}},
		{2, []string{"usage", "--bogus"}},
		{2, []string{"usage", "-Z"}},
		{2, []string{"usage", "--month"}},
		{2, []string{"usage", "--format", "xml"}},
		{2, []string{"version", "--format", "xml"}},
		{2, []string{"--config", filepath.Join(dir, "missing.yaml"), "usage"}},
		{2, []string{"--config", bad, "usage"}},
		{1, []string{"--config", cfg, "--db", db, "usage"}}, // no database: a runtime failure
	} {
		r := e2eCfgRun(t, bin, dir, []string{"HOME=" + dir}, tt.args...)
		if r.Code != tt.code {
			t.Errorf("quotawatch %s: exit %d, want %d\nstderr: %s", strings.Join(tt.args, " "), r.Code, tt.code, r.Stderr)
		}
	}

	const files, perFile = 400, 500
	const lines = files * perFile
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		d := t.TempDir()
		big := e2eBigJSONL(t, d, files, perFile)
		bdb := filepath.Join(d, "qw.db")
		p := e2eStart(t, "--config", big, "--db", bdb, "backfill", "--no-progress")
		// The database exists once the store is open: the handlers are
		// installed and reading is about to begin.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(bdb); err == nil {
				break
			}
			if p.exited() || time.Now().After(deadline) {
				t.Fatalf("backfill did not open its database (exit %v):\n%s", p.exited(), p.stderr.String())
			}
		}
		time.Sleep(100 * time.Millisecond)
		code := p.signal(t, sig, time.Minute)
		if code == 0 {
			t.Fatalf("backfill of %d lines ended before %v arrived; the test needs a bigger input", lines, sig)
		}
		if want := 128 + int(sig); code != want || !strings.Contains(p.stderr.String(), "backfill interrupted before the end") {
			t.Errorf("backfill stopped by %v: exit %d, want %d with the reason\nstderr: %s", sig, code, want, e2eTail(p.stderr.String(), 10))
		}
		if strings.Contains(p.stdout.String(), fmt.Sprintf("new events:        %d\n", lines)) {
			t.Errorf("backfill stopped by %v claims every line:\n%s", sig, p.stdout.String())
		}
	}
}

// TestE2EExampleConfigIsSafeToCopy: the shipped example passes `config
// check` on a host without OpenClaw (the missing state dir is a warning),
// bills no unmatched call to a customer, carries no real-looking upgrade
// link or operator number, and says what each key does.
func TestE2EExampleConfigIsSafeToCopy(t *testing.T) {
	bin := e2eBinary(t)
	home := t.TempDir()
	const example = "../../quotawatch.example.yaml"
	r := e2eCfgRun(t, bin, home, []string{"HOME=" + home}, "--config", e2eAbs(t, example), "config", "check")
	if r.Code != 0 {
		t.Fatalf("config check of the example on a host without ~/.openclaw: exit %d\n%s", r.Code, r.Stderr)
	}
	if want := "sources[0].dir: " + filepath.Join(home, ".openclaw") + " is not a directory"; !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "level=WARN") {
		t.Errorf("the missing state dir must be a warning naming it (%q):\n%s", want, r.Stderr)
	}
	c := e2eParseChecked(t, r)
	if c.Config.DefaultCustomer != "" {
		t.Errorf("default_customer %q bills every unmatched call to that customer", c.Config.DefaultCustomer)
	}
	if c.Config.Alerts.UpgradeURL != "" || c.Config.Alerts.OperatorPhone != "" {
		t.Errorf("upgrade_url %q, operator_phone %q: a copy would send customers to, and notices to, a stranger", c.Config.Alerts.UpgradeURL, c.Config.Alerts.OperatorPhone)
	}
	if c.Config.Notify.Channel != "log" {
		t.Errorf("notify.channel %q: a copy must send nothing until the operator chooses", c.Config.Notify.Channel)
	}
	// run refuses the missing dir, naming it, with exit 2.
	rr := e2eCfgRun(t, bin, home, []string{"HOME=" + home}, "--config", e2eAbs(t, example), "--db", filepath.Join(home, "qw.db"), "run")
	if want := "quotawatch: config: sources[0].dir: " + filepath.Join(home, ".openclaw") + " is not a directory"; rr.Code != 2 || e2eLastLine(rr.Stderr) != want {
		t.Errorf("run without the state dir: exit %d, stderr %q; want 2 and %q", rr.Code, rr.Stderr, want)
	}

	// Each key line (not commented out) has a comment on it or right above.
	body, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(body), "\n")
	for i, l := range lines {
		trim := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- "))
		if trim == "" || strings.HasPrefix(trim, "#") || !strings.Contains(trim, ":") || strings.HasPrefix(trim, "{") {
			continue
		}
		if strings.Contains(l, "#") || (i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#")) {
			continue
		}
		// A key whose siblings above carry the comment (tiers, thresholds)
		// is covered by the block's comment.
		if i > 0 && strings.Contains(lines[i-1], "#") && indent(lines[i-1]) == indent(l) {
			continue
		}
		t.Errorf("%s:%d: %q says nothing about what it does", example, i+1, l)
	}
}

func indent(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

// TestE2EVersionFallsBackToBuildInfo: a binary built with plain `go build`
// (no -ldflags version) in a git checkout reports the module version Go
// stamped, the commit and whether the tree was modified, in `version`,
// `version --format json` and `--version` alike.
func TestE2EVersionFallsBackToBuildInfo(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git: Go stamps VCS information only with it")
	}
	// Go stamps nothing in a git worktree (.git is a file there) or with
	// GOFLAGS=-buildvcs=false, so the module is copied into a repository
	// of its own.
	src := e2eAbs(t, "../..")
	repo := t.TempDir()
	ls, err := exec.Command("git", "-C", src, "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("%s is not a git checkout (git ls-files: %v)", src, err)
	}
	for _, f := range strings.Split(strings.TrimSpace(string(ls)), "\n") {
		if strings.HasSuffix(f, "_test.go") || strings.Contains("/"+f, "/testdata/") || strings.HasPrefix(f, "docs/") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			continue // listed but deleted in the work tree
		}
		e2eWriteFile(t, filepath.Join(repo, f), string(b))
	}
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "snapshot")
	rev := git("rev-parse", "HEAD")

	version := func() versionInfo {
		t.Helper()
		bin := filepath.Join(repo, "qw")
		cmd := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/quotawatch")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		r := e2eCfgRun(t, bin, repo, nil, "version", "--format", "json")
		var v versionInfo
		if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil || r.Code != 0 {
			t.Fatalf("version --format json: exit %d, %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
		}
		text := e2eCfgRun(t, bin, repo, nil, "version")
		flag := e2eCfgRun(t, bin, repo, nil, "--version")
		if want := "quotawatch " + v.String() + "\n"; text.Stdout != want || flag.Stdout != want {
			t.Errorf("version %q, --version %q, want both %q", text.Stdout, flag.Stdout, want)
		}
		return v
	}
	v := version()
	if v.Source != "buildinfo" || v.Revision != rev || v.Dirty || v.Time == "" || !strings.HasPrefix(v.Version, "v0.0.0-") || !strings.HasSuffix(v.Version, rev[:12]) {
		t.Errorf("clean checkout at %s: %+v; want the stamped pseudo-version, revision and time, not dirty", rev, v)
	}
	e2eWriteFile(t, filepath.Join(repo, "cmd", "quotawatch", "local.go"), "package main\n")
	v = version()
	if v.Revision != rev || !v.Dirty || !strings.HasSuffix(v.Version, "+dirty") {
		t.Errorf("modified checkout: %+v; want revision %s and dirty", v, rev)
	}
}
