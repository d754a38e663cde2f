package report

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/store"
)

// DigestSource is one configured source as the digest's health section
// names it.
type DigestSource struct {
	Kind  string // clawdbot | openclaw | jsonl
	Label string // as the monitor labels it: "clawdbot:/home/op/.clawdbot", "jsonl:proxy"
	Dir   string // a state dir (clawdbot, openclaw)
	Glob  string // a jsonl source's path glob
}

// SourceHealth is what one source has given the database.
type SourceHealth struct {
	DigestSource
	Files     int // files followed (checkpoints)
	Active    int // of which read in the last 24 hours
	Databases int // OpenClaw databases read (cursors)
}

// Empty reports whether the source has given no transcript at all.
func (s SourceHealth) Empty() bool { return s.Files == 0 && s.Databases == 0 }

// BadFile is a file with bad lines that was read since the last digest.
type BadFile struct {
	Path string
	Bad  int64 // its bad lines in all
}

// Digest is the operator's daily digest: what it says, before any text.
// Compose builds it from the store and a clock only, so a test, `digest
// --dry-run` and the daemon see the same one.
type Digest struct {
	Day      string // YYYY-MM-DD in the global timezone
	Now      time.Time
	Location *time.Location

	// Customers are the limited customers, the closest to their limit
	// first; each row is of the customer's own running period.
	Customers []Row
	// Unlimited is the number of configured customers without a limit.
	Unlimited int
	// Flagged are the rows of customers flagged for review this period.
	Flagged []Row

	// The last 24 hours of the outbox: warnings sent, failed for good and
	// skipped since Now-24h, and every row still pending.
	Sent, Failed, Skipped, Pending []store.Alert

	// Unassigned is the usage that matched no customer this period (nil
	// when there is none), and its sessions, the most requests first.
	Unassigned       *Row
	UnassignedSess   []store.SessionUsage
	UnassignedNSessn int

	// Health.
	Sources     []SourceHealth
	OtherFiles  int // followed files no configured source names (a backfill PATH, a removed source)
	LastEventMs int64
	HasEvents   bool
	// BadTotal is every file's bad lines now; BadSince those since the
	// last digest (all of them before the first). BadFiles are the files
	// with bad lines read since then.
	BadTotal     int64
	BadSince     int64
	LastDigest   string // day of the previous digest ("" = none)
	BadFiles     []BadFile
	MoreBadFiles int
}

// Digest list bounds: the message stays one a person reads; what is left
// out is counted and said, never dropped silently.
const (
	digestSessions = 10
	digestBadFiles = 5
)

// ComposeDigest builds the digest at now for the book's customers and the
// configured sources.
func ComposeDigest(ctx context.Context, st *store.Store, b *Book, sources []DigestSource, now time.Time) (*Digest, error) {
	loc := b.Location
	if loc == nil {
		loc = time.UTC
	}
	d := &Digest{Day: DayOf(now, loc), Now: now, Location: loc}
	global := PeriodOf(now, loc)
	// Each customer is read in its own running period; a customer in
	// another timezone may be in another month.
	byPeriod := map[string]map[string]Row{}
	read := func(period string) (map[string]Row, error) {
		if m, ok := byPeriod[period]; ok {
			return m, nil
		}
		rows, err := Rows(ctx, st, b, period, "", now)
		if err != nil {
			return nil, fmt.Errorf("digest: %w", err)
		}
		m := make(map[string]Row, len(rows))
		for _, r := range rows {
			m[r.Customer] = r
		}
		byPeriod[period] = m
		return m, nil
	}
	for i := range b.Customers {
		cu := &b.Customers[i]
		m, err := read(PeriodOf(now, cu.In(loc)))
		if err != nil {
			return nil, err
		}
		r := m[cu.ID]
		if r.Flagged {
			d.Flagged = append(d.Flagged, r)
		}
		if !r.Limited() {
			d.Unlimited++
			continue
		}
		d.Customers = append(d.Customers, r)
	}
	sort.SliceStable(d.Customers, func(i, j int) bool {
		return d.Customers[i].Reading.cmp(d.Customers[j].Reading) > 0
	})
	m, err := read(global)
	if err != nil {
		return nil, err
	}
	if u, ok := m[Unassigned]; ok && (u.Requests > 0 || u.FailedRequests > 0 || u.TotalTokens > 0) {
		d.Unassigned = &u
		if d.UnassignedSess, d.UnassignedNSessn, err = st.SessionsOf(ctx, Unassigned, global, digestSessions); err != nil {
			return nil, fmt.Errorf("digest: %w", err)
		}
	}

	since := now.Add(-24 * time.Hour).UnixMilli()
	as, err := st.AlertsSince(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	for _, a := range as {
		notice := a.Customer == store.NoticeCustomer
		switch {
		case a.Status == store.AlertPending:
			d.Pending = append(d.Pending, a)
		case a.Status == store.AlertFailed:
			d.Failed = append(d.Failed, a) // a failed digest too: the operator must hear of it
		case notice:
			// a sent or skipped digest is not a warning
		case a.Status == store.AlertSent && a.SentMs >= since:
			d.Sent = append(d.Sent, a)
		case a.Status == store.AlertSkipped:
			d.Skipped = append(d.Skipped, a)
		}
	}

	lastDay, lastMs, vars, ok, err := st.LastDigest(ctx)
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	d.Sources = make([]SourceHealth, len(sources))
	for i, s := range sources {
		d.Sources[i].DigestSource = s
	}
	var bad []BadFile
	h, err := st.ReadHealth(ctx, func(f store.FileHealth) {
		if f.Bad > 0 && (!ok || f.UpdatedMs >= lastMs) {
			bad = append(bad, BadFile{Path: f.Path, Bad: f.Bad})
		}
		i := sourceOf(sources, f.Path)
		if i < 0 {
			d.OtherFiles++
			return
		}
		d.Sources[i].Files++
		if f.UpdatedMs >= since {
			d.Sources[i].Active++
		}
	})
	if err != nil {
		return nil, fmt.Errorf("digest: %w", err)
	}
	d.LastEventMs, d.HasEvents, d.BadTotal = h.LastEventMs, h.HasEvents, h.BadLines
	for _, f := range h.Databases {
		if i := sourceOf(sources, f.Path); i >= 0 {
			d.Sources[i].Databases++
		}
	}
	d.BadSince = d.BadTotal
	if ok {
		d.LastDigest = lastDay
		if n, err := strconv.ParseInt(vars[VarBadLines], 10, 64); err == nil {
			// A file read again from the start (rewritten) counts anew:
			// never report a negative number.
			d.BadSince = max(d.BadTotal-n, 0)
		}
	}
	sort.SliceStable(bad, func(i, j int) bool { return bad[i].Bad > bad[j].Bad })
	if len(bad) > digestBadFiles {
		d.MoreBadFiles = len(bad) - digestBadFiles
		bad = bad[:digestBadFiles]
	}
	d.BadFiles = bad
	return d, nil
}

// sourceOf is the index of the configured source a followed path belongs
// to (-1 for none).
func sourceOf(sources []DigestSource, path string) int {
	for i, s := range sources {
		switch {
		case s.Dir != "":
			if dir := filepath.Clean(s.Dir); path == dir || strings.HasPrefix(path, dir+string(filepath.Separator)) {
				return i
			}
		case s.Glob != "":
			if ok, _ := filepath.Match(s.Glob, path); ok {
				return i
			}
		}
	}
	return -1
}

// VarBadLines is the digest record's variable holding the bad-line total
// at the time of that digest.
const VarBadLines = "bad_lines_total"

// Vars are the variables a digest's record keeps (every part carries them;
// the next digest reads the first part's).
func (d *Digest) Vars(part, parts int) map[string]string {
	return map[string]string{"kind": "digest", "day": d.Day, "part": strconv.Itoa(part), "parts": strconv.Itoa(parts),
		VarBadLines: strconv.FormatInt(d.BadTotal, 10)}
}

// MaxMessageChars is WhatsApp's limit on a text message body. It is
// counted in UTF-16 code units, as Meta counts, which is never less than
// the characters a person sees.
const MaxMessageChars = 4096

// Parts is the digest's text in lang, split at line boundaries into
// messages of at most maxChars (MaxMessageChars when 0) UTF-16 code units,
// each numbered "(k/n)" in its title when there is more than one. Nothing
// is cut: a line longer than a whole message (none of ours is) is broken
// across messages rather than shortened.
func (d *Digest) Parts(lang string, maxChars int) []string {
	if maxChars <= 0 {
		maxChars = MaxMessageChars
	}
	title, body := d.render(lang)
	return SplitMessage(title, body, maxChars)
}

// Text is the whole digest as one text (what --dry-run prints as one piece
// before splitting).
func (d *Digest) Text(lang string) string {
	title, body := d.render(lang)
	return title + "\n" + strings.Join(body, "\n")
}

// SplitMessage packs lines under title into messages of at most maxChars
// UTF-16 code units. With more than one message every one starts with the
// title and "(k/n)", so a reader sees at once that a part is missing or out
// of order.
func SplitMessage(title string, lines []string, maxChars int) []string {
	whole := title + "\n" + strings.Join(lines, "\n")
	if utf16Len(whole) <= maxChars {
		return []string{whole}
	}
	// The header's width depends on the number of parts: pack, and pack
	// again while that number's digits grow.
	n := 2
	for {
		head := utf16Len(numbered(title, n, n)) + 1
		budget := maxChars - head
		if budget < 16 {
			budget = 16 // a title nearly as long as a message: still never lose a line
		}
		chunks := pack(lines, budget)
		if len(strconv.Itoa(len(chunks))) <= len(strconv.Itoa(n)) {
			out := make([]string, len(chunks))
			for i, c := range chunks {
				out[i] = numbered(title, i+1, len(chunks)) + "\n" + c
			}
			return out
		}
		n = len(chunks)
	}
}

func numbered(title string, k, n int) string {
	return title + " (" + strconv.Itoa(k) + "/" + strconv.Itoa(n) + ")"
}

// pack joins lines into chunks of at most budget UTF-16 units, breaking a
// chunk only between lines (or, for a line longer than budget, inside it).
func pack(lines []string, budget int) []string {
	var out []string
	var cur strings.Builder
	curLen := 0
	flush := func() {
		if curLen > 0 || cur.Len() > 0 {
			out = append(out, cur.String())
		}
		cur.Reset()
		curLen = 0
	}
	for _, l := range lines {
		for _, piece := range breakLine(l, budget) {
			pl := utf16Len(piece)
			need := pl
			if cur.Len() > 0 {
				need++ // the newline
			}
			if curLen+need > budget && cur.Len() > 0 {
				flush()
				need = pl
			}
			if cur.Len() > 0 {
				cur.WriteByte('\n')
			}
			cur.WriteString(piece)
			curLen += need
		}
	}
	flush()
	return out
}

// breakLine splits a line longer than budget at rune boundaries.
func breakLine(l string, budget int) []string {
	if utf16Len(l) <= budget {
		return []string{l}
	}
	var out []string
	start, n := 0, 0
	for i, r := range l {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > budget {
			out = append(out, l[start:i])
			start, n = i, 0
		}
		n += w
	}
	return append(out, l[start:])
}

// utf16Len is the length of s in UTF-16 code units, as WhatsApp counts.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// Unicode isolates: a run of left-to-right text (numbers, a date, an id)
// inside an Arabic line keeps its own order only when it is isolated, or
// "2,400 / 3,000" reads "3,000 / 2,400" in an RTL bubble. Our own numbers
// and dates are forced left-to-right (LRI); text from the configuration or
// the logs (names, ids, session keys, reasons) gets FSI, which takes the
// direction of its first strong letter, so an Arabic name inside an
// English line stays whole too. PDI closes either.
const (
	lri = "\u2066"
	fsi = "\u2068"
	pdi = "\u2069"
)

// digestText is one language's words.
type digestText struct {
	title, customers, columns, noneLimited, unlimited, flagged, warnings, counts   string
	failed, skipped, pending, noWarnings, unassigned, unassignedTotals, more       string
	health, source, sourceDB, noTranscript, otherFiles, lastEvent, noEvents        string
	bad, badFirst, badFile, moreBad, notice, ago, noProjection, limitOn, projected string
	units, recipients                                                              map[string]string
	rtl                                                                            bool
}

var digestTexts = map[string]digestText{
	"ar": {
		title:            "📊 ملخص quotawatch اليومي %s",
		customers:        "👥 العملاء ذوو الحد الشهري (%s):",
		columns:          "المستخدم / الحد · النسبة · المتوقع لنهاية الشهر · تاريخ بلوغ الحد",
		noneLimited:      "لا يوجد عميل بحد شهري.",
		unlimited:        "غير محدودين (تتبع فقط): %s",
		flagged:          "🚩 للمراجعة اليدوية: %s",
		warnings:         "📨 التنبيهات في آخر 24 ساعة:",
		counts:           "أُرسلت %s · فشلت %s · تُخطّيت %s · قيد الإرسال %s",
		failed:           "✗ فشل: %s %s ← %s: %s",
		skipped:          "– تخطٍّ: %s %s: %s",
		pending:          "… قيد الإرسال: %s %s (محاولات %s): %s",
		noWarnings:       "لا شيء.",
		unassigned:       "❓ استخدام لا يطابق أي عميل (%s):",
		unassignedTotals: "%s طلب · %s توكن · %s دولار",
		more:             "… و%s جلسة أخرى (quotawatch usage --customer unassigned)",
		health:           "🩺 صحة quotawatch:",
		source:           "• %s: %s ملف (%s نشط خلال 24 ساعة)",
		sourceDB:         "، %s قاعدة بيانات OpenClaw",
		noTranscript:     "⚠️ %s: لا يوجد أي سجل محادثات",
		otherFiles:       "• ملفات أخرى (backfill): %s",
		lastEvent:        "آخر استدعاء: %s (منذ %s)",
		noEvents:         "آخر استدعاء: لا يوجد أي استدعاء مسجل",
		bad:              "أسطر تالفة منذ آخر ملخص (%s): %s (المجموع %s)",
		badFirst:         "أسطر تالفة (أول ملخص): %s",
		badFile:          "  • %s: %s",
		moreBad:          "  … و%s ملف آخر",
		notice:           "الملخص",
		noProjection:     "—",
		limitOn:          "الحد %s",
		projected:        "متوقع",
		units:            map[string]string{UnitRequests: "طلب", UnitTokens: "توكن", UnitCostUSD: "دولار"},
		recipients:       map[string]string{"customer": "العميل", "operator": "المشغّل"},
		rtl:              true,
	},
	"en": {
		title:            "📊 quotawatch daily digest %s",
		customers:        "👥 Customers with a monthly limit (%s):",
		columns:          "used / limit · percent · projected month-end · limit reached on",
		noneLimited:      "No customer has a monthly limit.",
		unlimited:        "Unlimited (tracked only): %s",
		flagged:          "🚩 Flagged for review: %s",
		warnings:         "📨 Warnings in the last 24 hours:",
		counts:           "sent %s · failed %s · skipped %s · pending %s",
		failed:           "✗ failed: %s %s → %s: %s",
		skipped:          "– skipped: %s %s: %s",
		pending:          "… pending: %s %s (attempts %s): %s",
		noWarnings:       "none.",
		unassigned:       "❓ Usage matching no customer (%s):",
		unassignedTotals: "%s requests · %s tokens · %s USD",
		more:             "… and %s more sessions (quotawatch usage --customer unassigned)",
		health:           "🩺 Sidecar health:",
		source:           "• %s: %s files (%s active in 24 h)",
		sourceDB:         ", %s OpenClaw databases",
		noTranscript:     "⚠️ %s: no transcript at all",
		otherFiles:       "• other files (backfill): %s",
		lastEvent:        "last call: %s (%s ago)",
		noEvents:         "last call: no call recorded yet",
		bad:              "bad lines since the last digest (%s): %s (%s in all)",
		badFirst:         "bad lines (first digest): %s",
		badFile:          "  • %s: %s",
		moreBad:          "  … and %s more files",
		notice:           "digest",
		noProjection:     "—",
		limitOn:          "limit %s",
		projected:        "projected",
		units:            map[string]string{UnitRequests: "requests", UnitTokens: "tokens", UnitCostUSD: "USD"},
	},
}

// DigestLanguage is lang when the digest speaks it, else English.
func DigestLanguage(lang string) string {
	if _, ok := digestTexts[lang]; ok {
		return lang
	}
	return "en"
}

// render writes the digest's title and body lines in lang.
func (d *Digest) render(lang string) (string, []string) {
	tx := digestTexts[DigestLanguage(lang)]
	// ltr isolates a run of our own left-to-right text (numbers, dates)
	// in an Arabic line; in an English line it needs none.
	ltr := func(s string) string {
		if tx.rtl {
			return lri + s + pdi
		}
		return s
	}
	// user isolates text that came from the configuration or the logs
	// (names, ids, session keys, errors) in either language: it may be
	// Arabic or Latin, and must not reorder what surrounds it.
	user := func(s string) string { return fsi + s + pdi }
	who := func(id, name string) string {
		if name == "" || name == id {
			return user(id)
		}
		return user(name) + " (" + user(id) + ")"
	}
	f := func(format string, args ...string) string {
		as := make([]any, len(args))
		for i, a := range args {
			as[i] = a
		}
		return fmt.Sprintf(format, as...)
	}
	num := func(n int64) string { return ltr(Group(n)) }
	title := f(tx.title, ltr(d.Day))
	var out []string
	blank := func() { out = append(out, "") }

	// Customers: one aligned line each.
	out = append(out, f(tx.customers, num(int64(len(d.Customers)))))
	if len(d.Customers) == 0 {
		out = append(out, tx.noneLimited)
	} else {
		out = append(out, tx.columns)
		type cells struct{ name, amount, unit, pct, proj, date string }
		cs := make([]cells, len(d.Customers))
		var wName, wAmount, wUnit, wPct, wProj int
		for i := range d.Customers {
			r := &d.Customers[i]
			c := cells{name: r.Customer}
			if r.Name != "" && r.Name != r.Customer {
				c.name = r.Name + " (" + r.Customer + ")"
			}
			c.amount = amount(r.Reading.Used, r.Reading.Unit) + " / " + amount(r.Reading.Limit, r.Reading.Unit)
			c.unit = tx.units[r.Reading.Unit]
			c.pct = shortPercent(r.Reading.Percent())
			c.proj = tx.noProjection
			if r.ProjectedPercent != nil {
				c.proj = "→ " + shortPercent(*r.ProjectedPercent)
			}
			if date := projectedLimitDate(r); date != "" {
				c.date = f(tx.limitOn, ltr(date))
			}
			if r.Flagged {
				c.name = "🚩 " + c.name
			}
			cs[i] = c
			wName, wAmount, wUnit = max(wName, runeLen(c.name)), max(wAmount, runeLen(c.amount)), max(wUnit, runeLen(c.unit))
			wPct, wProj = max(wPct, runeLen(c.pct)), max(wProj, runeLen(c.proj))
		}
		for i, c := range cs {
			r := &d.Customers[i]
			// The name is isolated as user text; the padding stays outside
			// every isolate so the columns line up in either direction.
			name := c.name
			if r.Name != "" && r.Name != r.Customer {
				name = user(r.Name) + " (" + user(r.Customer) + ")"
			} else {
				name = user(r.Customer)
			}
			if r.Flagged {
				name = "🚩 " + name
			}
			line := "• " + name + pad(c.name, wName) + "  " + padLeft(c.amount, wAmount, ltr) + " " + c.unit + pad(c.unit, wUnit) + "  " +
				padLeft(c.pct, wPct, ltr) + "  " + padLeft(c.proj, wProj, ltr)
			if c.date != "" {
				line += "  " + c.date
			}
			out = append(out, strings.TrimRight(line, " "))
		}
	}
	if d.Unlimited > 0 {
		out = append(out, f(tx.unlimited, num(int64(d.Unlimited))))
	}
	if len(d.Flagged) > 0 {
		names := make([]string, len(d.Flagged))
		for i, r := range d.Flagged {
			names[i] = who(r.Customer, r.Name)
		}
		blank()
		out = append(out, f(tx.flagged, strings.Join(names, "، ")))
	}

	// Warnings of the last 24 hours.
	blank()
	out = append(out, tx.warnings)
	out = append(out, f(tx.counts, num(int64(len(d.Sent))), num(int64(len(d.Failed))), num(int64(len(d.Skipped))), num(int64(len(d.Pending)))))
	alertWho := func(a store.Alert) (string, string) {
		if a.Customer == store.NoticeCustomer {
			return tx.notice, ltr(a.Period)
		}
		if a.Threshold < 0 {
			// A pre-warning's key is minus its projected percent.
			return user(a.Customer), tx.projected + " " + ltr(strconv.FormatFloat(-a.Threshold, 'f', -1, 64)+"%")
		}
		return user(a.Customer), ltr(strconv.FormatFloat(a.Threshold, 'f', -1, 64) + "%")
	}
	for _, a := range d.Failed {
		c, t := alertWho(a)
		to := a.To
		if w, ok := tx.recipients[a.To]; ok {
			to = w
		}
		out = append(out, f(tx.failed, c, t, to, user(oneLine(a.LastError))))
	}
	for _, a := range d.Skipped {
		c, t := alertWho(a)
		out = append(out, f(tx.skipped, c, t, user(oneLine(a.LastError))))
	}
	for _, a := range d.Pending {
		c, t := alertWho(a)
		reason := a.LastError
		if reason == "" {
			reason = "-"
		}
		out = append(out, f(tx.pending, c, t, num(int64(a.Attempts)), user(oneLine(reason))))
	}

	// Usage that matched no customer.
	if u := d.Unassigned; u != nil {
		blank()
		out = append(out, f(tx.unassigned, ltr(u.Period)))
		out = append(out, f(tx.unassignedTotals, num(u.Requests), num(u.TotalTokens), ltr(groupDecimal(u.CostUSD.Cents()))))
		for _, s := range d.UnassignedSess {
			parts := []string{s.Key}
			if s.Key == "" {
				parts[0] = s.Agent + "/" + s.SessionID
			}
			if s.Peer != "" {
				parts = append(parts, s.Peer)
			}
			if s.Channel != "" {
				parts = append(parts, s.Channel)
			}
			out = append(out, "  • "+user(strings.Join(parts, " · "))+": "+ltr(Group(s.Requests))+" "+tx.units[UnitRequests])
		}
		if more := d.UnassignedNSessn - len(d.UnassignedSess); more > 0 {
			out = append(out, "  "+f(tx.more, num(int64(more))))
		}
	}

	// Health.
	blank()
	out = append(out, tx.health)
	for _, s := range d.Sources {
		if s.Empty() {
			out = append(out, f(tx.noTranscript, user(s.Label)))
			continue
		}
		line := f(tx.source, user(s.Label), num(int64(s.Files)), num(int64(s.Active)))
		if s.Databases > 0 {
			line += f(tx.sourceDB, num(int64(s.Databases)))
		}
		out = append(out, line)
	}
	if d.OtherFiles > 0 {
		out = append(out, f(tx.otherFiles, num(int64(d.OtherFiles))))
	}
	if d.HasEvents {
		t := time.UnixMilli(d.LastEventMs).In(d.Location)
		out = append(out, f(tx.lastEvent, ltr(t.Format("2006-01-02 15:04")), ago(d.Now.Sub(t), lang)))
	} else {
		out = append(out, tx.noEvents)
	}
	if d.LastDigest != "" {
		out = append(out, f(tx.bad, ltr(d.LastDigest), num(d.BadSince), num(d.BadTotal)))
	} else {
		out = append(out, f(tx.badFirst, num(d.BadSince)))
	}
	for _, b := range d.BadFiles {
		out = append(out, f(tx.badFile, user(b.Path), num(b.Bad)))
	}
	if d.MoreBadFiles > 0 {
		out = append(out, f(tx.moreBad, num(int64(d.MoreBadFiles))))
	}
	return title, out
}

// projectedLimitDate is the day the customer reaches 100 % at the current
// pace ("" = not within the period, or no projection).
func projectedLimitDate(r *Row) string {
	if r.ProjectedLimitDate == nil {
		return ""
	}
	return *r.ProjectedLimitDate
}

// amount prints a reading's amount in its unit with thousands separators:
// whole numbers, cents for money.
func amount(v int64, unit string) string {
	if unit == UnitCostUSD {
		return groupDecimal(Money(v).Cents())
	}
	return Group(v)
}

// Group writes n with a comma between thousands: 1234567 → "1,234,567".
func Group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// groupDecimal groups the whole part of a decimal string ("12345.60").
func groupDecimal(s string) string {
	whole, frac, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return s
	}
	g := Group(n)
	if whole == "-0" {
		g = "-0"
	}
	if ok {
		return g + "." + frac
	}
	return g
}

// ago is a duration as a reader wants it: minutes, hours and minutes, or
// days.
func ago(d time.Duration, lang string) string {
	if d < 0 {
		d = 0
	}
	m := int64(d / time.Minute)
	h, d2 := m/60, m/(60*24)
	if lang == "ar" {
		n := func(v int64) string { return lri + strconv.FormatInt(v, 10) + pdi }
		switch {
		case m < 60:
			return n(m) + " د"
		case h < 48:
			return n(h) + " س " + n(m%60) + " د"
		}
		switch {
		case d2 == 1:
			return "يوم"
		case d2 == 2:
			return "يومين"
		case d2 <= 10:
			return n(d2) + " أيام"
		}
		return n(d2) + " يوماً"
	}
	switch {
	case m < 60:
		return strconv.FormatInt(m, 10) + " min"
	case h < 48:
		return strconv.FormatInt(h, 10) + " h " + strconv.FormatInt(m%60, 10) + " min"
	}
	return strconv.FormatInt(d2, 10) + " days"
}

// shortPercent prints a percentage for a glance, rounded down as the
// warnings round it (79.9 % is not 80 %): whole above 10 %, one decimal
// below, where a whole number would say 0 % of a customer who has begun.
func shortPercent(p float64) string {
	if p < 10 {
		return strconv.FormatFloat(math.Floor(p*10+1e-9)/10, 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(math.Floor(p+1e-9), 'f', 0, 64) + "%"
}

func runeLen(s string) int { return len([]rune(s)) }

// pad is the spaces that bring s to width w.
func pad(s string, w int) string { return strings.Repeat(" ", max(w-runeLen(s), 0)) }

// padLeft right-aligns s in width w, isolating s itself.
func padLeft(s string, w int, iso func(string) string) string { return pad(s, w) + iso(s) }

// oneLine squeezes a stored reason to one line of bounded length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		s = string(r[:300]) + "…"
	}
	return s
}
