package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

func openOutboxStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "o.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func pending(customer string, threshold float64, limit string) Alert {
	return Alert{Customer: customer, Period: "2026-11", Threshold: threshold, LimitKey: limit, To: "customer", Recipient: "+966500000001",
		Channel: "whatsapp", Language: "ar", Percent: threshold, Used: 1, Limit: 1, Unit: "requests", Message: "m",
		Status: AlertPending, CreatedMs: 1000, NextAttemptMs: 1000, UpdatedMs: 1000}
}

func TestOutboxUniqueKey(t *testing.T) {
	s := openOutboxStore(t)
	ctx := context.Background()
	var seen map[AlertKey]bool
	rows, err := s.RecordAlerts(ctx, []string{"2026-11"}, func(rec map[AlertKey]bool) ([]Alert, error) {
		seen = rec
		return []Alert{pending("a", 80, "requests=3000"), pending("a", 80, "requests=3000")}, nil
	})
	if err != nil || len(rows) != 1 || rows[0].ID == 0 || len(seen) != 0 {
		t.Fatalf("first record: %+v %v (seen %v)", rows, err, seen)
	}
	rows, err = s.RecordAlerts(ctx, []string{"2026-11"}, func(rec map[AlertKey]bool) ([]Alert, error) {
		seen = rec
		// The same key again, and the same threshold against another limit.
		return []Alert{pending("a", 80, "requests=3000"), pending("a", 80, "requests=500")}, nil
	})
	if err != nil || len(rows) != 1 || rows[0].LimitKey != "requests=500" {
		t.Fatalf("second record: %+v %v", rows, err)
	}
	if !seen[AlertKey{"a", "2026-11", 80, "requests=3000"}] {
		t.Fatalf("decide did not see the recorded key: %v", seen)
	}
	// An error from decide records nothing.
	boom := errors.New("boom")
	if _, err := s.RecordAlerts(ctx, []string{"2026-11"}, func(map[AlertKey]bool) ([]Alert, error) {
		return nil, boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if as, _ := s.Alerts(ctx, "2026-11", ""); len(as) != 2 {
		t.Fatalf("%d rows", len(as))
	}
}

func TestOutboxDeliveryStates(t *testing.T) {
	s := openOutboxStore(t)
	ctx := context.Background()
	skipped := pending("a", 80, "k")
	skipped.Status, skipped.NextAttemptMs, skipped.Flag = AlertSkipped, 0, true
	if _, err := s.RecordAlerts(ctx, nil, func(map[AlertKey]bool) ([]Alert, error) {
		return []Alert{skipped, pending("a", 100, "k"), pending("b", 80, "k")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if ms, ok, _ := s.NextAlertDue(ctx); !ok || ms != 1000 {
		t.Fatalf("next due %d %v", ms, ok)
	}
	if a, _ := s.ClaimDueAlert(ctx, 999, 60000, "whatsapp"); a != nil {
		t.Fatalf("claimed a row before it was due: %+v", a)
	}
	a, err := s.ClaimDueAlert(ctx, 1000, 60000, "webhook")
	if err != nil || a == nil || a.Customer != "a" || a.Threshold != 100 || a.Attempts != 1 || a.NextAttemptMs != 61000 || a.Channel != "webhook" {
		t.Fatalf("claim: %+v %v", a, err)
	}
	b, _ := s.ClaimDueAlert(ctx, 1000, 60000, "whatsapp")
	if b == nil || b.Customer != "b" {
		t.Fatalf("second claim: %+v", b)
	}
	if c, _ := s.ClaimDueAlert(ctx, 1000, 60000, "whatsapp"); c != nil {
		t.Fatalf("claimed a leased row: %+v", c)
	}
	if err := s.MarkAlertRetry(ctx, b.ID, "HTTP 500", 5000, 1001); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkAlertSent(ctx, a.ID, "wamid.X", "", 1002); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkAlertSent(ctx, a.ID, "wamid.Y", "", 1003); !errors.Is(err, ErrNotFound) {
		t.Fatalf("marking a sent row again: %v", err)
	}
	got, _ := s.Alert(ctx, a.ID)
	if got.Status != AlertSent || got.ProviderID != "wamid.X" || got.SentMs != 1002 {
		t.Fatalf("sent row: %+v", got)
	}
	b2, _ := s.ClaimDueAlert(ctx, 5000, 60000, "whatsapp")
	if b2 == nil || b2.ID != b.ID || b2.Attempts != 2 || b2.LastError != "HTTP 500" {
		t.Fatalf("retry claim: %+v", b2)
	}
	if err := s.MarkAlertFailed(ctx, b.ID, "131047", 5001); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.NextAlertDue(ctx); ok {
		t.Fatal("nothing should be pending")
	}
	flagged, _ := s.FlaggedCustomers(ctx, "2026-11")
	if !flagged["a"] || flagged["b"] {
		t.Fatalf("flagged: %v", flagged)
	}
}

// short prints what matters of a row in a failure message.
func short(a *Alert) string {
	if a == nil {
		return "<nil>"
	}
	return fmt.Sprintf("#%d %s %g%% status=%s attempts=%d next=%d last_error=%q", a.ID, a.Customer, a.Threshold, a.Status,
		a.Attempts, a.NextAttemptMs, a.LastError)
}

// A halted attempt is taken back in one update: attempts as before the
// claim, due again when it was due before the claim (not at the end of the
// lease), the reason kept; a row no longer pending is left alone.
func TestHaltedClaimIsUndone(t *testing.T) {
	s := openOutboxStore(t)
	ctx := context.Background()
	if _, err := s.RecordAlerts(ctx, nil, func(map[AlertKey]bool) ([]Alert, error) {
		return []Alert{pending("a", 80, "k")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	a, err := s.ClaimDueAlert(ctx, 5000, 120000, "whatsapp")
	if err != nil || a == nil || a.Attempts != 1 || a.ClaimedDueMs != 1000 || a.NextAttemptMs != 125000 {
		t.Fatalf("claim: %+v %v", a, err)
	}
	if err := s.MarkAlertHalted(ctx, a.ID, "halted: WhatsApp error 190", a.ClaimedDueMs, 5100); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Alert(ctx, a.ID)
	if got.Status != AlertPending || got.Attempts != 0 || got.NextAttemptMs != 1000 || got.LastError != "halted: WhatsApp error 190" || got.UpdatedMs != 5100 {
		t.Fatalf("after the halt: %s", short(&got))
	}
	// Due at once: a new process claims it straight away.
	b, err := s.ClaimDueAlert(ctx, 5200, 120000, "whatsapp")
	if err != nil || b == nil || b.ID != a.ID || b.Attempts != 1 {
		t.Fatalf("claim after the halt: %+v %v", b, err)
	}
	if err := s.MarkAlertSent(ctx, b.ID, "wamid.X", "", 5300); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkAlertHalted(ctx, b.ID, "late", 1000, 5400); !errors.Is(err, ErrNotFound) {
		t.Fatalf("halting a sent row: %v", err)
	}
}

// A due row whose customer was sent a higher threshold of the same period,
// decided after it, is recorded skipped by the claim itself (reason in
// last_error, attempts untouched) and handed back as skipped, not leased.
func TestClaimRecordsASupersededLowerWarningAsSkipped(t *testing.T) {
	s := openOutboxStore(t)
	ctx := context.Background()
	if _, err := s.RecordAlerts(ctx, nil, func(map[AlertKey]bool) ([]Alert, error) {
		other := pending("b", 80, "k") // another customer: not superseded
		other.NextAttemptMs = 90000
		return []Alert{pending("a", 80, "k"), other}, nil
	}); err != nil {
		t.Fatal(err)
	}
	low, _ := s.ClaimDueAlert(ctx, 1000, 60000, "whatsapp") // its sender dies
	if _, err := s.RecordAlerts(ctx, nil, func(map[AlertKey]bool) ([]Alert, error) {
		return []Alert{pending("a", 100, "k")}, nil
	}); err != nil {
		t.Fatal(err)
	}
	high, _ := s.ClaimDueAlert(ctx, 2000, 60000, "whatsapp")
	if high == nil || high.Threshold != 100 {
		t.Fatalf("claim of the 100%% row: %+v", high)
	}
	if err := s.MarkAlertSent(ctx, high.ID, "wamid.100", "", 2100); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimDueAlert(ctx, 61000, 60000, "whatsapp")
	if err != nil || got == nil || got.ID != low.ID || got.Status != AlertSkipped || got.LastError != "superseded: the 100% warning was sent first" {
		t.Fatalf("claim after the lease: %s %v", short(got), err)
	}
	row, _ := s.Alert(ctx, low.ID)
	if row.Status != AlertSkipped || row.Attempts != 1 || row.NextAttemptMs != 0 || row.LastError != got.LastError {
		t.Fatalf("stored row: %s", short(&row))
	}
	if none, _ := s.ClaimDueAlert(ctx, 61000, 60000, "whatsapp"); none != nil {
		t.Fatalf("claimed again: %+v", none)
	}
	next, _ := s.ClaimDueAlert(ctx, 90000, 60000, "whatsapp")
	if next == nil || next.Customer != "b" || next.Status != AlertPending || next.Attempts != 1 {
		t.Fatalf("the other customer's row: %s", short(next))
	}
}
