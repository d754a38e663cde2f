package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EFirstRunHoldsTheBacklog is issue 11 item 8 through the binary: a
// backfill of the running month never sends; `check --dry-run` shows what
// would go out and says the database is not armed; a first `run` without
// --arm sends none of the backlog (the rows are held, and the log names
// them), and warns at once for what is crossed after it.
func TestE2EFirstRunHoldsTheBacklog(t *testing.T) {
	e := newE2EEnv(t, buildQuotawatch(t), "")
	sess := "77777777-7777-4777-8777-777777777777"
	e.appendCalls("main", sess, 2500, time.Now())
	e.mustRun("backfill", "--no-progress")
	if n, _ := e.api.counts(); n != 0 || len(e.alerts()) != 0 {
		t.Fatal("backfill sent or decided something")
	}
	out := e.mustRun("check", "--dry-run")
	if !strings.Contains(out, "would send 80% omar") || !strings.Contains(out, "alerts are not armed on this database yet") {
		t.Fatalf("dry run:\n%s", out)
	}
	cmd, logs := e.startRun()
	waitFor(t, "the backlog decided", 10*time.Second, func() bool { return len(e.alerts()) == 1 })
	time.Sleep(1500 * time.Millisecond)
	if n, _ := e.api.counts(); n != 0 {
		t.Fatalf("first run sent %d messages from the backlog", n)
	}
	if as := e.alerts(); as[0].Status != "skipped" || !strings.HasPrefix(as[0].LastError, "held: ") {
		t.Fatalf("backlog row: %+v", as[0])
	}
	if l := logs.String(); !strings.Contains(l, "warning held") || !strings.Contains(l, "--arm") {
		t.Fatalf("run's log does not name the held warning:\n%s", l)
	}
	e.appendCalls("main", sess, 500, time.Now()) // 3000 = 100 %
	waitFor(t, "the 100% warning", 10*time.Second, func() bool { _, ok := e.api.counts(); return ok == 1 })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	if s := e.api.sent(); len(s) != 1 || !strings.Contains(s[0], "وصلت للحد الشهري (3000 طلب)") {
		t.Fatalf("sent %q", s)
	}
}

// TestE2ERunArmSendsTheBacklog: `run --arm` on a fresh database sends the
// warning the history crossed, once.
func TestE2ERunArmSendsTheBacklog(t *testing.T) {
	e := newE2EEnv(t, buildQuotawatch(t), "")
	e.appendCalls("main", "88888888-8888-4888-8888-888888888888", 2500, time.Now())
	cmd, logs := e.startRun("--arm")
	waitFor(t, "the backlog's 80% warning", 10*time.Second, func() bool { _, ok := e.api.counts(); return ok == 1 })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	if as := e.alerts(); len(as) != 1 || as[0].Status != "sent" {
		t.Fatalf("alerts %+v", as)
	}
}

// TestE2EAlertsShowWhyAWarningWasSentAgain is issue 11 item 7 through the
// binary: after a limit change the 80 % warning goes out again saying the
// limit is now 3100, and `alerts` (table and JSON) shows the reason.
func TestE2EAlertsShowWhyAWarningWasSentAgain(t *testing.T) {
	e := newE2EEnv(t, buildQuotawatch(t), "")
	e.appendCalls("main", "99999999-9999-4999-8999-999999999999", 2500, time.Now())
	e.mustRun("backfill", "--no-progress")
	e.mustRun("check")
	body, _ := os.ReadFile(e.cfg)
	os.WriteFile(e.cfg, bytes.Replace(body, []byte("standard: {requests: 3000}"), []byte("standard: {requests: 3100}"), 1), 0o600)
	e.mustRun("check")
	if s := e.api.sent(); len(s) != 2 || !strings.Contains(s[1], "حدك الشهري صار 3100 طلب.") {
		t.Fatalf("sent %q", s)
	}
	const why = "limit changed from requests=3000 to requests=3100"
	if table := e.mustRun("alerts"); !strings.Contains(table, "REASON") || !strings.Contains(table, why) {
		t.Fatalf("alerts table:\n%s", table)
	}
	var rows []struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(e.mustRun("alerts", "--format", "json")), &rows); err != nil || len(rows) != 2 || rows[0].Reason != "" || rows[1].Reason != why {
		t.Fatalf("alerts json: %+v %v", rows, err)
	}
}
