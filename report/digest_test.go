package report

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// digestRig is a real store with customers, usage, outbox rows and
// checkpoints, as a month in progress leaves them.
type digestRig struct {
	t    *testing.T
	st   *store.Store
	book *Book
	now  time.Time
	seq  int
	b    *store.Batch
}

func newDigestRig(t *testing.T, customers []Customer, now time.Time) *digestRig {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "qw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &digestRig{t: t, st: st, book: NewBook(customers, riyadh), now: now, b: &store.Batch{}}
}

// use adds n calls of customer in session at time at to the pending batch.
func (r *digestRig) use(customer, session string, n int, at time.Time) {
	for i := 0; i < n; i++ {
		r.seq++
		r.b.Events = append(r.b.Events, store.Event{Key: fmt.Sprintf("t/%d", r.seq), Agent: "main", SessionID: session,
			TimeMs: at.UnixMilli(), Period: PeriodOf(at, r.book.LocationOf(customer)), Customer: customer, Provider: "p", Model: "m",
			Input: 1000, Output: 100, Priced: true, CostUSD: 0.01})
	}
}

func (r *digestRig) commit() {
	r.t.Helper()
	// The day of an event in its customer's timezone (only moves use it
	// today; a daily rollup reads it).
	dayOf := func(c string, ms int64) string { return DayOf(time.UnixMilli(ms), r.book.LocationOf(c)) }
	if _, err := r.st.Commit(context.Background(), r.b, dayOf); err != nil {
		r.t.Fatal(err)
	}
	r.b = &store.Batch{}
}

func (r *digestRig) alert(customer string, threshold float64, status, lastError string, updated time.Time, flag bool) {
	r.t.Helper()
	ms := updated.UnixMilli()
	a := store.Alert{Customer: customer, Period: PeriodOf(r.now, riyadh), Threshold: threshold, LimitKey: "requests=500", To: "customer",
		Recipient: "+966500000001", Channel: "whatsapp", Language: "ar", Percent: threshold, Used: 1, Limit: 1, Unit: UnitRequests,
		Flag: flag, Message: "m", Status: status, LastError: lastError, CreatedMs: ms, UpdatedMs: ms, NextAttemptMs: ms}
	if status == store.AlertSent {
		a.SentMs = ms
	}
	if flag {
		a.To = "operator"
	}
	if _, err := r.st.RecordAlerts(context.Background(), nil, func(map[store.AlertKey]bool) ([]store.Alert, error) {
		return []store.Alert{a}, nil
	}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *digestRig) compose(sources []DigestSource) *Digest {
	r.t.Helper()
	d, err := ComposeDigest(context.Background(), r.st, r.book, sources, r.now)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

var (
	basic    = Tier{Requests: 500}
	standard = Tier{Requests: 3000}
)

func TestDigestSaysWhereEveryLimitedCustomerStandsAndWhatWentWrong(t *testing.T) {
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, riyadh)
	r := newDigestRig(t, []Customer{
		{ID: "omar", Name: "عمر", Tier: "standard", Limits: &standard},
		{ID: "layla", Name: "ليلى", Tier: "basic", Limits: &basic},
		{ID: "khalid", Name: "خالد", Tier: "basic", Limits: &basic},
		{ID: "salon", Name: "Salon", Tier: "pro"},
	}, now)
	day := now.Add(-2 * time.Hour)
	r.use("omar", "s-omar", 2400, day)
	r.use("layla", "s-layla", 100, day)
	r.use("khalid", "s-khalid", 620, day)
	r.use("salon", "s-salon", 50, day)
	r.use(Unassigned, "s-stranger", 7, day)
	r.use(Unassigned, "s-other", 2, day)
	r.b.Sessions = []store.Session{
		{Agent: "main", SessionID: "s-stranger", Key: "agent:main:whatsapp:dm:+966599999999", Peer: "+966599999999", Channel: "whatsapp", Customer: Unassigned},
		{Agent: "main", SessionID: "s-other", Key: "agent:main:telegram:dm:77", Peer: "77", Channel: "telegram", Customer: Unassigned},
	}
	r.b.Checkpoints = []store.Checkpoint{
		{FileID: store.FileID{Dev: 1, Ino: 1}, Path: "/state/agents/main/sessions/s-omar.jsonl", Bad: 4},
		{FileID: store.FileID{Dev: 1, Ino: 2}, Path: "/state/agents/main/sessions/s-layla.jsonl"},
		{FileID: store.FileID{Dev: 1, Ino: 3}, Path: "/elsewhere/old.jsonl", Bad: 1},
	}
	r.b.Cursors = []store.Cursor{{Source: "openclaw", Item: "/state/agents/ops/agent/openclaw-agent.sqlite", State: "{}"}}
	r.commit()

	r.alert("omar", 80, store.AlertSent, "", now.Add(-time.Hour), false)
	r.alert("layla", 80, store.AlertSent, "", now.Add(-30*time.Hour), false) // before the last 24 hours
	r.alert("khalid", 100, store.AlertSkipped, "skipped: crossed together with 120%, which was sent instead", now.Add(-3*time.Hour), false)
	r.alert("khalid", 120, store.AlertFailed, "WhatsApp error 131026 (HTTP 400): Message undeliverable", now.Add(-3*time.Hour), true)
	r.alert("layla", -100, store.AlertSkipped, "superseded: the 80% warning was sent first", now.Add(-time.Hour), false) // a pre-warning
	r.alert("omar", 100, store.AlertPending, "WhatsApp error 131000 (HTTP 500): Something went wrong", now.Add(-10*time.Minute), false)
	// Yesterday's digest counted 2 bad lines.
	if _, err := r.st.RecordDigest(context.Background(), "2026-11-19", []store.Alert{{Customer: store.NoticeCustomer, Period: "2026-11",
		LimitKey: store.DigestLimitKey("2026-11-19", 1, 1), To: "operator", Channel: "log", Language: "ar", Unit: store.DigestUnit,
		Message: "d", Params: `{"bad_lines_total":"2"}`, Status: store.AlertSent, CreatedMs: now.Add(-24 * time.Hour).UnixMilli(),
		UpdatedMs: now.Add(-24 * time.Hour).UnixMilli(), SentMs: now.Add(-24 * time.Hour).UnixMilli()}}); err != nil {
		t.Fatal(err)
	}

	sources := []DigestSource{{Kind: "clawdbot", Label: "clawdbot:/state", Dir: "/state"},
		{Kind: "jsonl", Label: "jsonl:proxy", Glob: "/var/log/proxy/*.jsonl"}}
	d := r.compose(sources)

	if d.Day != "2026-11-20" {
		t.Errorf("day %s", d.Day)
	}
	var order []string
	for _, c := range d.Customers {
		order = append(order, c.Customer)
	}
	if strings.Join(order, ",") != "khalid,omar,layla" || d.Unlimited != 1 {
		t.Errorf("limited customers %v (closest to the limit first), unlimited %d", order, d.Unlimited)
	}
	if len(d.Flagged) != 1 || d.Flagged[0].Customer != "khalid" {
		t.Errorf("flagged %+v", d.Flagged)
	}
	if len(d.Sent) != 1 || d.Sent[0].Customer != "omar" || len(d.Failed) != 1 || d.Failed[0].Customer != "khalid" ||
		len(d.Skipped) != 2 || len(d.Pending) != 1 {
		t.Errorf("last 24 h: sent %d failed %d skipped %d pending %d", len(d.Sent), len(d.Failed), len(d.Skipped), len(d.Pending))
	}
	if d.Unassigned == nil || d.Unassigned.Requests != 9 || d.UnassignedNSessn != 2 || d.UnassignedSess[0].SessionID != "s-stranger" {
		t.Errorf("unassigned %+v sessions %+v", d.Unassigned, d.UnassignedSess)
	}
	if s := d.Sources; len(s) != 2 || s[0].Files != 2 || s[0].Databases != 1 || !s[1].Empty() || d.OtherFiles != 1 {
		t.Errorf("sources %+v, other files %d", s, d.OtherFiles)
	}
	if !d.HasEvents || d.LastEventMs != day.UnixMilli() || d.BadTotal != 5 || d.BadSince != 3 || d.LastDigest != "2026-11-19" {
		t.Errorf("health: last event %d, bad %d since %s / %d in all", d.LastEventMs, d.BadSince, d.LastDigest, d.BadTotal)
	}

	en := d.Text("en")
	for _, want := range []string{
		"📊 quotawatch daily digest 2026-11-20",
		"Customers with a monthly limit (3):",
		iso("خالد") + " (" + iso("khalid") + ")",
		"620 / 500 requests  124%",
		"2,400 / 3,000 requests   80%  → 195%  limit 2026-11-22", // the forecast's month-end percent and limit date
		"– skipped: " + iso("layla") + " projected 100%: ",
		"Unlimited (tracked only): 1",
		"🚩 Flagged for review: " + iso("خالد") + " (" + iso("khalid") + ")",
		"sent 1 · failed 1 · skipped 2 · pending 1",
		"✗ failed: " + iso("khalid") + " 120% → operator: " + iso("WhatsApp error 131026 (HTTP 400): Message undeliverable"),
		"… pending: " + iso("omar") + " 100% (attempts 0): " + iso("WhatsApp error 131000 (HTTP 500): Something went wrong"),
		"Usage matching no customer (2026-11):",
		"9 requests · 9,900 tokens · 0.09 USD",
		iso("agent:main:whatsapp:dm:+966599999999 · +966599999999 · whatsapp") + ": 7 requests",
		iso("clawdbot:/state") + ": 2 files",
		", 1 OpenClaw databases",
		"⚠️ " + iso("jsonl:proxy") + ": no transcript at all",
		"other files (backfill): 1",
		"last call: 2026-11-20 07:00 (2 h 0 min ago)",
		"bad lines since the last digest (2026-11-19): 3 (5 in all)",
		iso("/state/agents/main/sessions/s-omar.jsonl") + ": 4",
	} {
		if !strings.Contains(en, want) {
			t.Errorf("English digest lacks %q:\n%s", want, en)
		}
	}
	ar := d.Text("ar")
	for _, want := range []string{
		"📊 ملخص quotawatch اليومي " + ltrIso("2026-11-20"),
		ltrIso("2,400 / 3,000") + " طلب   " + ltrIso("80%") + "  " + ltrIso("→ 195%") + "  " + "الحد " + ltrIso("2026-11-22"),
		"– تخطٍّ: " + iso("layla") + " متوقع " + ltrIso("100%"),
		"🚩 للمراجعة اليدوية: " + iso("خالد"),
		"أُرسلت " + ltrIso("1") + " · فشلت " + ltrIso("1"),
		"✗ فشل: " + iso("khalid") + " " + ltrIso("120%"),
		"⚠️ " + iso("jsonl:proxy") + ": لا يوجد أي سجل محادثات",
		"آخر استدعاء: " + ltrIso("2026-11-20 07:00") + " (منذ " + ltrIso("2") + " س " + ltrIso("0") + " د)",
		"✗ فشل: " + iso("khalid") + " " + ltrIso("120%") + " ← المشغّل: ",
	} {
		if !strings.Contains(ar, want) {
			t.Errorf("Arabic digest lacks %q:\n%s", want, ar)
		}
	}
}

func iso(s string) string    { return fsi + s + pdi }
func ltrIso(s string) string { return lri + s + pdi }

// Every left-to-right run of an Arabic digest is isolated: no Western digit
// or Latin letter sits outside an isolate, except the product's name and the
// fixed "24" of "24 hours" and the "OpenClaw" and command names of our own
// sentences; and isolates are balanced on every line.
func TestArabicDigestIsolatesEveryLeftToRightRun(t *testing.T) {
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, riyadh)
	r := newDigestRig(t, []Customer{{ID: "omar-001", Name: "عمر", Tier: "standard", Limits: &standard},
		{ID: "acme", Tier: "basic", Limits: &Tier{Requests: 500, CostUSD: 3.5}}}, now)
	r.use("omar-001", "s1", 1234, now.Add(-time.Hour))
	r.use("acme", "s2", 400, now.Add(-time.Hour)) // 4 USD of 3.50 (80 % of the requests): the cost limit decides
	r.use(Unassigned, "s3", 3, now.Add(-time.Hour))
	r.b.Sessions = []store.Session{{Agent: "main", SessionID: "s3", Key: "agent:main:whatsapp:dm:+966511111111", Peer: "+966511111111", Customer: Unassigned}}
	r.commit()
	r.alert("acme", 100, store.AlertFailed, "WhatsApp error 131026: undeliverable", now.Add(-time.Hour), false)
	d := r.compose([]DigestSource{{Kind: "clawdbot", Label: "clawdbot:/state", Dir: "/state"}})
	allowed := regexp.MustCompile(`quotawatch|OpenClaw|usage --customer unassigned|24`)
	for _, line := range strings.Split(d.Text("ar"), "\n") {
		open := strings.Count(line, lri) + strings.Count(line, fsi)
		if closed := strings.Count(line, pdi); open != closed {
			t.Errorf("unbalanced isolates (%d open, %d closed): %q", open, closed, line)
		}
		outside := stripIsolates(line)
		outside = allowed.ReplaceAllString(outside, "")
		if m := regexp.MustCompile(`[0-9A-Za-z+]`).FindString(outside); m != "" {
			t.Errorf("left-to-right text %q outside an isolate in %q (outside: %q)", m, line, outside)
		}
	}
	if !strings.Contains(d.Text("ar"), ltrIso("4.00 / 3.50")+" دولار") {
		t.Errorf("cost reading:\n%s", d.Text("ar"))
	}
}

// stripIsolates removes every isolated run (nested ones included).
func stripIsolates(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch string(r) {
		case lri, fsi:
			depth++
			continue
		case pdi:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// 200 customers do not fit one WhatsApp message: the digest is split at
// line boundaries into numbered parts of at most 4,096 characters (UTF-16,
// as Meta counts), and every line is in exactly one part, in order.
func TestDigestOf200CustomersSplitsIntoNumberedPartsWithoutLosingALine(t *testing.T) {
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, riyadh)
	var cs []Customer
	for i := 0; i < 200; i++ {
		cs = append(cs, Customer{ID: fmt.Sprintf("customer-%03d", i), Name: fmt.Sprintf("عميل رقم %d", i), Tier: "standard", Limits: &standard})
	}
	r := newDigestRig(t, cs, now)
	for i := 0; i < 200; i++ {
		r.use(cs[i].ID, fmt.Sprintf("s%d", i), i*7, now.Add(-time.Hour))
	}
	r.commit()
	d := r.compose(nil)
	for _, lang := range []string{"ar", "en"} {
		title, body := d.render(lang)
		parts := d.Parts(lang, 0)
		if len(parts) < 3 {
			t.Fatalf("%s: %d parts for 200 customers, want several", lang, len(parts))
		}
		var got []string
		for k, p := range parts {
			if n := utf16Len(p); n > MaxMessageChars {
				t.Errorf("%s part %d: %d UTF-16 units, over %d", lang, k+1, n, MaxMessageChars)
			}
			head, rest, _ := strings.Cut(p, "\n")
			if want := fmt.Sprintf("%s (%d/%d)", title, k+1, len(parts)); head != want {
				t.Errorf("%s part %d starts %q, want %q", lang, k+1, head, want)
			}
			got = append(got, strings.Split(rest, "\n")...)
		}
		if strings.Join(got, "\n") != strings.Join(body, "\n") {
			t.Errorf("%s: the parts' lines are not the digest's lines in order (%d vs %d lines)", lang, len(got), len(body))
		}
		for i := 0; i < 200; i++ {
			if n := strings.Count(strings.Join(parts, "\n"), fmt.Sprintf("customer-%03d%s", i, pdi)); n != 1 {
				t.Errorf("%s: customer-%03d appears %d times", lang, i, n)
			}
		}
	}
	// A short digest is one message, unnumbered.
	small := newDigestRig(t, cs[:3], now).compose(nil)
	if ps := small.Parts("ar", 0); len(ps) != 1 || strings.Contains(strings.SplitN(ps[0], "\n", 2)[0], "(1/1)") {
		t.Errorf("small digest: %d parts: %q", len(ps), ps)
	}
}

// A line longer than a whole message (a reason nobody bounded) is carried
// over into the next part, never cut off.
func TestSplitMessageNeverDropsTextOfAnOverlongLine(t *testing.T) {
	long := strings.Repeat("ب", 250) + "😀" + strings.Repeat("x", 100)
	parts := SplitMessage("T", []string{"a", long, "z"}, 120)
	var joined strings.Builder
	for k, p := range parts {
		if utf16Len(p) > 120 {
			t.Errorf("part %d: %d units", k+1, utf16Len(p))
		}
		_, rest, _ := strings.Cut(p, "\n")
		joined.WriteString(strings.ReplaceAll(rest, "\n", ""))
	}
	if joined.String() != "a"+long+"z" {
		t.Fatalf("text lost or reordered across %d parts", len(parts))
	}
}

func TestGroupSeparatesThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -45000: "-45,000"} {
		if got := Group(n); got != want {
			t.Errorf("Group(%d) = %q, want %q", n, got, want)
		}
	}
	if got := groupDecimal("12345.60"); got != "12,345.60" {
		t.Errorf("groupDecimal = %q", got)
	}
}
