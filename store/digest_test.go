package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func digestPart(day string, k, n int, nowMs int64) Alert {
	return Alert{Customer: NoticeCustomer, Period: day[:7], LimitKey: DigestLimitKey(day, k, n), To: "operator", Recipient: "+966500000000",
		Channel: "whatsapp", Language: "ar", Used: float64(k), Limit: float64(n), Unit: DigestUnit, Message: "part",
		Params: `{"bad_lines_total":"7"}`, Status: AlertPending, CreatedMs: nowMs, NextAttemptMs: nowMs, UpdatedMs: nowMs}
}

func TestDigestIsRecordedOncePerDayHoweverItIsSplit(t *testing.T) {
	s := openOutboxStore(t)
	ctx := context.Background()
	rows, err := s.RecordDigest(ctx, "2026-12-01", []Alert{digestPart("2026-12-01", 1, 2, 1000), digestPart("2026-12-01", 2, 2, 1000)})
	if err != nil || len(rows) != 2 || rows[0].ID == 0 || rows[1].ID <= rows[0].ID {
		t.Fatalf("first digest: %+v %v", rows, err)
	}
	// Another process composed the same day in three parts: refused whole.
	_, err = s.RecordDigest(ctx, "2026-12-01", []Alert{digestPart("2026-12-01", 1, 3, 2000), digestPart("2026-12-01", 2, 3, 2000),
		digestPart("2026-12-01", 3, 3, 2000)})
	if !errors.Is(err, ErrDigestRecorded) {
		t.Fatalf("second digest of the day: %v, want ErrDigestRecorded", err)
	}
	if parts, err := s.DigestParts(ctx, "2026-12-01"); err != nil || len(parts) != 2 {
		t.Fatalf("parts of the day: %d, %v; want the 2 of the first digest", len(parts), err)
	}
	if done, err := s.DigestRecorded(ctx, "2026-12-02"); err != nil || done {
		t.Fatalf("the next day is recorded already: %v %v", done, err)
	}
	if _, err := s.RecordDigest(ctx, "2026-12-02", []Alert{digestPart("2026-12-02", 1, 1, 3000)}); err != nil {
		t.Fatalf("the next day: %v", err)
	}
	day, created, vars, ok, err := s.LastDigest(ctx)
	if err != nil || !ok || day != "2026-12-02" || created != 3000 || vars["bad_lines_total"] != "7" {
		t.Fatalf("LastDigest = %q %d %v %v %v", day, created, vars, ok, err)
	}
	// A part that is not of the day it is recorded for is refused.
	if _, err := s.RecordDigest(ctx, "2026-12-03", []Alert{digestPart("2026-12-04", 1, 1, 3000)}); err == nil {
		t.Fatal("a part of another day was recorded")
	}
}

// A digest in several messages must read in order: when part 1 waits for a
// retry, parts 2 and 3 wait behind it instead of going first, and they do
// not look due meanwhile (the delivery worker would poll them 10 times a
// second).
func TestDigestPartsAreClaimedInOrderWhenOneWaitsForARetry(t *testing.T) {
	s := openOutboxStore(t)
	ctx := context.Background()
	day := "2026-12-01"
	if _, err := s.RecordDigest(ctx, day, []Alert{digestPart(day, 1, 3, 1000), digestPart(day, 2, 3, 1000), digestPart(day, 3, 3, 1000)}); err != nil {
		t.Fatal(err)
	}
	a, err := s.ClaimDueAlert(ctx, 1000, 120_000, "whatsapp")
	if err != nil || a == nil || a.LimitKey != DigestLimitKey(day, 1, 3) {
		t.Fatalf("first claim: %+v %v", a, err)
	}
	if err := s.MarkAlertRetry(ctx, a.ID, "WhatsApp error 131000", 61_000, 1000); err != nil {
		t.Fatal(err)
	}
	if b, err := s.ClaimDueAlert(ctx, 1000, 120_000, "whatsapp"); err != nil || b != nil {
		t.Fatalf("claimed %+v (%v) while part 1 waits for its retry", b, err)
	}
	if next, ok, err := s.NextAlertDue(ctx); err != nil || !ok || next != 61_000 {
		t.Fatalf("next due = %d %v %v, want 61000 (the held parts must not look due)", next, ok, err)
	}
	var order []string
	for now := int64(61_000); ; now++ {
		a, err := s.ClaimDueAlert(ctx, now, 120_000, "whatsapp")
		if err != nil {
			t.Fatal(err)
		}
		if a == nil {
			break
		}
		order = append(order, a.LimitKey)
		if err := s.MarkAlertSent(ctx, a.ID, "wamid", "", now); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{DigestLimitKey(day, 1, 3), DigestLimitKey(day, 2, 3), DigestLimitKey(day, 3, 3)}
	if len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Fatalf("sent %v, want %v", order, want)
	}
}

// Digest rows share the outbox with the warnings: none of the readers of
// customers' warnings may see one as a customer's.
func TestDigestRowsNeverCountAsACustomersWarning(t *testing.T) {
	s := openOutboxStore(t)
	ctx := context.Background()
	if _, err := s.RecordAlerts(ctx, []string{"2026-11"}, func(map[AlertKey]bool) ([]Alert, error) {
		a := pending("omar", 120, "requests=3000")
		a.Flag, a.Status = true, AlertSent
		return []Alert{a}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordDigest(ctx, "2026-11-30", []Alert{digestPart("2026-11-30", 1, 1, 5000)}); err != nil {
		t.Fatal(err)
	}
	flagged, err := s.FlaggedCustomers(ctx, "2026-11")
	if err != nil || len(flagged) != 1 || !flagged["omar"] {
		t.Fatalf("flagged = %v %v, want omar only", flagged, err)
	}
	keys, err := s.RecordedAlerts(ctx, []string{"2026-11"})
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys {
		if k.Customer == "omar" && k.Threshold != 120 {
			t.Fatalf("recorded keys %v", keys)
		}
	}
	if as, err := s.Alerts(ctx, "2026-11", "omar"); err != nil || len(as) != 1 {
		t.Fatalf("omar's alerts: %d %v, want 1", len(as), err)
	}
	// Never superseded: a digest has no threshold a warning could pass.
	a, err := s.ClaimDueAlert(ctx, 5000, 1000, "whatsapp")
	if err != nil || a == nil || a.Status != AlertPending || a.Unit != DigestUnit {
		t.Fatalf("claimed digest %+v %v", a, err)
	}
}

func TestSessionsOfListsTheSessionsOfACustomerByRequests(t *testing.T) {
	s := openOutboxStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	b := &Batch{Sessions: []Session{
		{Agent: "main", SessionID: "a", Key: "agent:main:whatsapp:dm:+966511111111", Peer: "+966511111111", Channel: "whatsapp", Customer: "unassigned"},
		{Agent: "main", SessionID: "b", Key: "agent:main:telegram:dm:42", Peer: "42", Channel: "telegram", Customer: "unassigned"},
		{Agent: "main", SessionID: "c", Customer: "omar"},
	}}
	add := func(session, customer string, n int, failed bool) {
		for i := 0; i < n; i++ {
			b.Events = append(b.Events, Event{Key: session + customer + string(rune('a'+i)) + boolKey(failed), Agent: "main", SessionID: session,
				TimeMs: at.UnixMilli() + int64(i), Period: "2026-11", Customer: customer, Failed: failed})
		}
	}
	add("a", "unassigned", 2, false)
	add("b", "unassigned", 5, false)
	add("b", "unassigned", 1, true)
	add("c", "omar", 9, false)
	if _, err := s.Commit(ctx, b, func(string, int64) string { return "2026-11-20" }); err != nil {
		t.Fatal(err)
	}
	got, n, err := s.SessionsOf(ctx, "unassigned", "2026-11", 1)
	if err != nil || n != 2 || len(got) != 1 {
		t.Fatalf("SessionsOf = %+v %d %v, want 1 of 2", got, n, err)
	}
	if g := got[0]; g.SessionID != "b" || g.Requests != 5 || g.Failed != 1 || g.Peer != "42" || g.Channel != "telegram" ||
		g.Key != "agent:main:telegram:dm:42" || g.LastMs != at.UnixMilli()+4 {
		t.Fatalf("busiest unassigned session %+v", g)
	}
	if got, n, _ := s.SessionsOf(ctx, "unassigned", "2026-10", 0); len(got) != 0 || n != 0 {
		t.Fatalf("another month: %+v", got)
	}
}

func boolKey(b bool) string {
	if b {
		return "!"
	}
	return ""
}

func TestReadHealthCountsFilesDatabasesBadLinesAndTheLastEvent(t *testing.T) {
	s := openOutboxStore(t)
	ctx := context.Background()
	var files []FileHealth
	each := func(f FileHealth) { files = append(files, f) }
	h, err := s.ReadHealth(ctx, each)
	if err != nil || h.HasEvents || len(files) != 0 || h.BadLines != 0 {
		t.Fatalf("empty store: %+v %v", h, err)
	}
	b := &Batch{
		Checkpoints: []Checkpoint{{FileID: FileID{1, 1}, Path: "/s/agents/main/sessions/a.jsonl", Bad: 3},
			{FileID: FileID{1, 2}, Path: "/s/agents/main/sessions/b.jsonl", Bad: 4}},
		Cursors: []Cursor{{Source: "openclaw", Item: "/s/agents/main/agent/openclaw-agent.sqlite", State: "{}"}},
		Events: []Event{{Key: "k1", Agent: "main", SessionID: "a", TimeMs: 5000, Period: "1970-01", Customer: "omar"},
			{Key: "k2", Agent: "main", SessionID: "a", TimeMs: 9000, Period: "1970-01", Customer: "omar"}},
	}
	if _, err := s.Commit(ctx, b, func(string, int64) string { return "1970-01-01" }); err != nil {
		t.Fatal(err)
	}
	files = nil
	h, err = s.ReadHealth(ctx, each)
	if err != nil || len(files) != 2 || files[0].Path != "/s/agents/main/sessions/a.jsonl" || files[1].Bad != 4 || h.BadLines != 7 || len(h.Databases) != 1 || !h.HasEvents || h.LastEventMs != 9000 {
		t.Fatalf("health %+v %v", h, err)
	}
}
