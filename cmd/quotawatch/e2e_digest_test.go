package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EDigestThroughTheCloudAPI runs `quotawatch digest` through the fake
// Cloud API: one Arabic message to the operator with the customer's line,
// recorded like an alert; a second `digest` the same day sends nothing and
// says so; the English digest is asked for with --lang en.
func TestE2EDigestThroughTheCloudAPI(t *testing.T) {
	e := newE2EEnv(t, buildQuotawatch(t), "")
	now := time.Now()
	e.appendCalls("main", "11111111-1111-4111-8111-111111111111", 2450, now.Add(-time.Minute))
	e.mustRun("backfill", "--no-progress")
	e.mustRun("check") // the 80 % warning, which the digest reports

	out := e.mustRun("digest")
	if !strings.Contains(out, "recorded: 1 message(s)") || !strings.Contains(out, ": sent id=wamid.E2E-2") {
		t.Fatalf("digest:\n%s", out)
	}
	sent := e.api.sent()
	if len(sent) != 2 {
		t.Fatalf("sent %d messages, want the warning and the digest", len(sent))
	}
	e.api.mu.Lock()
	to := e.api.bodies[len(e.api.bodies)-1]["to"]
	e.api.mu.Unlock()
	dg := sent[1]
	for _, want := range []string{"📊 ملخص quotawatch اليومي", "\u2068عمر\u2069 (\u2068omar\u2069)", "\u20662,450 / 3,000\u2069 طلب", "\u206681%\u2069",
		"أُرسلت \u20661\u2069", "🩺 صحة quotawatch", "\u20661\u2069 ملف"} {
		if !strings.Contains(dg, want) {
			t.Errorf("digest lacks %q:\n%s", want, dg)
		}
	}
	if to != "+966500000000" {
		t.Errorf("digest sent to %v, want the operator", to)
	}
	// Recorded like an alert: listed, sent.
	var digests int
	for _, a := range e.alerts("--all") {
		if a.To == "operator" && a.Customer == "" && a.Status == "sent" && a.ProviderID == "wamid.E2E-2" {
			digests++
		}
	}
	if digests != 1 {
		t.Fatalf("%d digest rows sent in `alerts --all`, want 1", digests)
	}

	// Once per day, across processes.
	out = e.mustRun("digest", "--lang", "en")
	if !strings.Contains(out, "was already recorded") || !strings.Contains(out, "not sent again") {
		t.Fatalf("second digest:\n%s", out)
	}
	if n, _ := e.api.counts(); n != 2 {
		t.Fatalf("%d requests after a second digest the same day, want 2", n)
	}
	en := e.mustRun("digest", "--dry-run", "--lang", "en")
	if !strings.Contains(en, "quotawatch daily digest") || !strings.Contains(en, "2,450 / 3,000 requests") || !strings.Contains(en, "nothing recorded, nothing sent") {
		t.Fatalf("English dry run:\n%s", en)
	}
	if _, errOut, code := e.run("digest", "--lang", "fr"); code != 2 || !strings.Contains(errOut, "--lang") {
		t.Fatalf("--lang fr: exit %d %s", code, errOut)
	}
}

// TestE2EDigestDryRunOnTheBundledSample prints the digest of the bundled
// Clawdbot sample (make demo's) as of the day after its last call, in
// Arabic and in English, and records nothing.
func TestE2EDigestDryRunOnTheBundledSample(t *testing.T) {
	bin := buildQuotawatch(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	e2eCopyTree(t, filepath.Join("..", "..", "testdata", "clawdbot-sample"), state)
	demo, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "quotawatch.yaml")
	body := string(demo) + fmt.Sprintf("sources: [{type: clawdbot, dir: %s}]\nalerts: {operator_phone: \"+966500000000\"}\n", state)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "demo.db")
	e := &e2eEnv{t: t, bin: bin, dir: dir, state: state, cfg: cfg, db: db}
	e.mustRun("backfill", "--no-progress")
	at := "2026-11-28T09:00:00+03:00"
	ar := e.mustRun("digest", "--dry-run", "--at", at)
	for _, want := range []string{"📊 ملخص quotawatch اليومي \u20662026-11-28\u2069", "👥 العملاء ذوو الحد الشهري (\u20663\u2069)",
		"\u2068عمر\u2069 (\u2068omar\u2069)", "/ 3,000\u2069 طلب", "غير محدودين (تتبع فقط): \u20662\u2069", "🩺 صحة quotawatch",
		"آخر استدعاء: \u20662026-11-27", "(dry run: 1 message(s) to the operator +966500000000 via log; nothing recorded, nothing sent)"} {
		if !strings.Contains(ar, want) {
			t.Errorf("Arabic dry run lacks %q:\n%s", want, ar)
		}
	}
	en := e.mustRun("digest", "--dry-run", "--at", at, "--lang", "en")
	for _, want := range []string{"📊 quotawatch daily digest 2026-11-28", "Customers with a monthly limit (3):", "/ 3,000 requests",
		"Unlimited (tracked only): 2", "last call: 2026-11-27", "7 files"} {
		if !strings.Contains(en, want) {
			t.Errorf("English dry run lacks %q:\n%s", want, en)
		}
	}
	if out := e.mustRun("alerts", "--all", "--format", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("the dry run recorded something:\n%s", out)
	}
	if _, errOut, code := e.run("digest", "--at", at); code != 2 || !strings.Contains(errOut, "--dry-run") {
		t.Fatalf("--at without --dry-run: exit %d %s", code, errOut)
	}
}

// TestE2ERunSendsTheMissedDigestOnceOnStart starts `run` after today's
// scheduled time (alerts.digest_schedule "0 0 * * *", from the
// environment): the digest goes out once the backlog is read; a second
// `run` the same day sends no other.
func TestE2ERunSendsTheMissedDigestOnceOnStart(t *testing.T) {
	e := newE2EEnv(t, buildQuotawatch(t), "")
	e.appendCalls("main", "11111111-1111-4111-8111-111111111111", 10, time.Now().Add(-time.Minute))
	for round := 1; round <= 2; round++ {
		cmd := e.command("run")
		cmd.Env = append(cmd.Env, "QUOTAWATCH_ALERTS_DIGEST_SCHEDULE=0 0 * * *")
		var stderr e2eSyncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(stderr.String(), "caught up; following") || (round == 1 && !strings.Contains(stderr.String(), "alert sent")) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: no digest sent within 20 s:\n%s", round, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // room for a second digest, if there were one
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		e.record([]byte(stderr.String()))
		if n := len(e.api.sent()); n != 1 {
			t.Fatalf("round %d: %d messages sent, want the one digest\n%s", round, n, stderr.String())
		}
	}
	if dg := e.api.sent()[0]; !strings.Contains(dg, "📊 ملخص quotawatch اليومي") || !strings.Contains(dg, "\u206610 / 3,000\u2069") {
		t.Fatalf("digest:\n%s", dg)
	}
}
