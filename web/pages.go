package web

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html"
	"html/template"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/report"
	"github.com/quotawatch/quotawatch/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// assetHandler serves the embedded stylesheet and icon: nothing is loaded
// from anywhere else (the host is often offline).
func assetHandler() http.Handler {
	sub, _ := fs.Sub(assetFS, "assets")
	fsrv := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// pages holds one parsed template set per language.
type pages struct {
	byLang map[string]*template.Template
}

func newPages() (*pages, error) {
	p := &pages{byLang: map[string]*template.Template{}}
	for _, lang := range languages {
		dict := words[lang]
		funcs := template.FuncMap{
			"t": func(k string) string {
				if v, ok := dict[k]; ok {
					return v
				}
				return k
			},
			"num":    formatInt,
			"money":  func(m report.Money) string { return "$" + m.Cents() },
			"exact":  func(m report.Money) string { return "$" + m.String() },
			"pct":    formatPct,
			"rawpct": rawPct,
			"f1":     func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
			"f2":     func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
			"add64":  func(a, b int64) int64 { return a + b },
			"sub":    func(a, b float64) float64 { return a - b },
			"int64":  func(n int) int64 { return int64(n) },
			"dur":    humanSeconds,
		}
		t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
		if err != nil {
			return nil, fmt.Errorf("parse dashboard templates: %w", err)
		}
		p.byLang[lang] = t
	}
	return p, nil
}

// formatInt writes n with thousands separators, in Western digits.
func formatInt(n int64) string {
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

// formatPct is a percentage for display, isolated left-to-right (U+2066
// … U+2069) so an Arabic sentence never shows "%80".
func formatPct(p *float64) string {
	if p == nil {
		return "—"
	}
	return "\u2066" + strconv.FormatFloat(*p, 'f', -1, 64) + "%\u2069"
}

// rawPct is a percentage for a data attribute ("" for none).
func rawPct(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'f', -1, 64)
}

// Page is what every page's frame needs.
type Page struct {
	Lang, Dir, OtherLang string
	Title                string
	Nav                  string // customers | alerts | sources
	Month                string
	PrevURL, NextURL     string
	LangURL              string
	Version              string
	Now                  string
	Ready                bool
	NotReady             string
}

// frame fills the page frame for a request.
func (s *server) frame(r *http.Request, nav, title, month string) Page {
	lang := r.URL.Query().Get("lang")
	if _, ok := words[lang]; !ok {
		lang = s.o.Language
		if _, ok := words[lang]; !ok {
			lang = languages[0]
		}
	}
	p := Page{Lang: lang, Dir: dir[lang], OtherLang: words[lang]["other_lang"], Title: title, Nav: nav, Month: month,
		Version: s.o.Version, Now: s.now().In(s.o.Book.Location).Format("2006-01-02 15:04 MST")}
	if t, err := time.Parse("2006-01", month); err == nil {
		p.PrevURL = withQuery(r, "month", t.AddDate(0, -1, 0).Format("2006-01"))
		p.NextURL = withQuery(r, "month", t.AddDate(0, 1, 0).Format("2006-01"))
	}
	p.LangURL = withQuery(r, "lang", p.OtherLang)
	p.Ready, p.NotReady = s.ready(r.Context())
	return p
}

// withQuery is the request's own URL with one query key set.
func withQuery(r *http.Request, k, v string) string {
	q := r.URL.Query()
	q.Set(k, v)
	return r.URL.Path + "?" + q.Encode()
}

// Link is a page URL carrying the current month and language.
func (p Page) Link(path string) string {
	q := url.Values{}
	q.Set("month", p.Month)
	q.Set("lang", p.Lang)
	return path + "?" + q.Encode()
}

// render executes a template into a buffer first, so a failure half-way
// is an error page rather than a truncated one.
func (s *server) render(w http.ResponseWriter, r *http.Request, lang, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages.byLang[lang].ExecuteTemplate(&buf, name, data); err != nil {
		s.fail(w, r, http.StatusInternalServerError, fmt.Errorf("render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

// renderAround renders the page template name with body in place of
// bodyMark, written straight to the client: the cached front page body is
// not copied through the template (fmt) and a growing buffer on every
// request.
func (s *server) renderAround(w http.ResponseWriter, r *http.Request, lang, name string, data any, body string) {
	var buf bytes.Buffer
	if err := s.pages.byLang[lang].ExecuteTemplate(&buf, name, data); err != nil {
		s.fail(w, r, http.StatusInternalServerError, fmt.Errorf("render %s: %w", name, err))
		return
	}
	head, tail, ok := bytes.Cut(buf.Bytes(), []byte(bodyMark))
	if !ok {
		s.fail(w, r, http.StatusInternalServerError, fmt.Errorf("render %s: no place for the body", name))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(head)
	io.WriteString(w, body)
	w.Write(tail)
}

// barMax is the percentage at the end of a usage bar: room for the 120 %
// mark and a little past it.
const barMax = 150.0

// bar is a usage bar: widths in percent of the bar.
type bar struct {
	Limited  bool
	Fill     float64 // 0..100
	Proj     float64 // 0..100
	HasProj  bool
	Marks    []mark
	Level    string // ok | near | over | flag
	Percent  string
	Overflow bool // past barMax: the fill is clipped
}

type mark struct {
	X     float64
	Label string
}

func scale(p float64) float64 { return math.Round(math.Min(math.Max(p, 0), barMax)/barMax*10000) / 100 }

// thresholdMarks are the 80/100/120 marks every bar carries.
var thresholdMarks = func() []mark {
	var ms []mark
	for _, p := range []float64{80, 100, 120} {
		ms = append(ms, mark{X: scale(p), Label: strconv.FormatFloat(p, 'f', -1, 64) + "%"})
	}
	return ms
}()

func barOf(r *report.Row) bar {
	b := bar{Limited: r.Limited(), Marks: thresholdMarks, Level: "ok", Percent: formatPct(r.Percent)}
	if !b.Limited {
		return b
	}
	p := *r.Percent
	b.Fill, b.Overflow = scale(p), p > barMax
	if r.ProjectedPercent != nil {
		b.Proj, b.HasProj = scale(*r.ProjectedPercent), true
	}
	switch {
	case r.Flagged || p >= 120:
		b.Level = "flag"
	case p >= 100:
		b.Level = "over"
	case p >= 80:
		b.Level = "near"
	}
	return b
}

// rowView is one customer row: the row, and what the page shows of it
// formatted once in Go (a template action per number costs a reflective
// call and an escaper; a front page of 1,000 customers has tens of
// thousands of them).
type rowView struct {
	report.Row
	Display    string
	URL        string
	Bar        bar
	LastActive string
	Limit      string
	// BarHTML and Badge hold only numbers and the pages' own words.
	BarHTML template.HTML
	Badge   template.HTML
	// The numbers as shown.
	Req, Fail, Tok, Cost, CostExact, Pct, Forecast, DataPct string
}

// newRowView formats a row for the pages.
func newRowView(x *report.Row, display, href, lastActive string, t map[string]string) rowView {
	v := rowView{Row: *x, Display: display, URL: href, Bar: barOf(x), LastActive: lastActive, Limit: limitText(x, t),
		Req: formatInt(x.Requests), Tok: formatInt(x.TotalTokens), Cost: "$" + x.CostUSD.Cents(), CostExact: "$" + x.CostUSD.String(),
		Pct: formatPct(x.Percent), Forecast: formatPct(x.ProjectedPercent), DataPct: rawPct(x.Percent)}
	if x.FailedRequests > 0 {
		v.Fail = formatInt(x.FailedRequests)
	}
	v.BarHTML = barHTML(v.Bar, t)
	v.Badge = badgeHTML(x.Flagged, v.Bar, t)
	return v
}

// barHTML draws a usage bar: an SVG whose fill is the percent of barMax,
// with the threshold marks and the projected month-end mark.
func barHTML(b bar, t map[string]string) template.HTML {
	if !b.Limited {
		return template.HTML(`<div class="bar none"><span>` + html.EscapeString(t["unlimited"]) + `</span></div>`)
	}
	// Written piece by piece, not with fmt: the front page draws one a
	// customer after every commit. %.2f is FormatFloat(f, 'f', 2, 64).
	var sb strings.Builder
	sb.Grow(640)
	fill := strconv.FormatFloat(b.Fill, 'f', 2, 64)
	sb.WriteString(`<div class="bar lvl-`)
	sb.WriteString(b.Level)
	sb.WriteString(`" data-fill="`)
	sb.WriteString(fill)
	sb.WriteString(`"`)
	var proj string
	if b.HasProj {
		proj = strconv.FormatFloat(b.Proj, 'f', 2, 64)
		sb.WriteString(` data-proj="`)
		sb.WriteString(proj)
		sb.WriteString(`"`)
	}
	sb.WriteString(`><svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect class="track" width="100" height="10"/><rect class="fill" width="`)
	sb.WriteString(fill)
	sb.WriteString(`" height="10"/>`)
	sb.WriteString(marksSVG)
	if b.HasProj {
		sb.WriteString(`<line class="proj" x1="`)
		sb.WriteString(proj)
		sb.WriteString(`" x2="`)
		sb.WriteString(proj)
		sb.WriteString(`" y1="-1" y2="11"/>`)
	}
	sb.WriteString(`</svg></div>`)
	return template.HTML(sb.String())
}

// marksSVG are the threshold marks every bar carries.
var marksSVG = func() string {
	var sb strings.Builder
	for _, m := range thresholdMarks {
		fmt.Fprintf(&sb, `<line class="mark" x1="%v" x2="%v" y1="0" y2="10"/>`, m.X, m.X)
	}
	return sb.String()
}()

// badgeHTML is a row's status badge.
func badgeHTML(flagged bool, b bar, t map[string]string) template.HTML {
	class, word := "muted", "unlimited"
	switch {
	case flagged:
		class, word = "flag", "flagged"
	case b.Level == "flag":
		class, word = "flag", "over"
	case b.Level == "over":
		class, word = "over", "over"
	case b.Level == "near":
		class, word = "near", "near"
	case b.Limited:
		class, word = "ok", "ok"
	}
	return template.HTML(`<span class="badge ` + class + `">` + html.EscapeString(t[word]) + `</span>`)
}

// indexPage is the front page: the frame, rendered per request, around
// the body, which is cached (see indexBody).
type indexPage struct {
	Page
	Body template.HTML
}

// indexBody is what the front page's cached body shows.
type indexBody struct {
	Customers   int
	Requests    int64
	Cost        report.Money
	AtRisk      int
	Flagged     int
	TotalTokens int64
	FailedTotal int64
	// RowsHTML and ExtraHTML are the customer rows and the unassigned
	// ones, written by writeRow/writeExtraRow: one template action each
	// instead of a dozen per row (html/template's escaping of 1,000 rows
	// was most of the page's time).
	RowsHTML, ExtraHTML template.HTML
}

// htmlEscaper escapes text and quoted attribute values as html/template
// does, writing straight into the page's buffer.
var htmlEscaper = strings.NewReplacer("&", "&amp;", "'", "&#39;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "+", "&#43;", "\x00", "\uFFFD")

func esc(b *bytes.Buffer, s string) { htmlEscaper.WriteString(b, s) }

// writeRow writes a configured customer's row of the front page (the
// markup index.html had; tests and the browser test read it).
func writeRow(b *bytes.Buffer, v *rowView, t map[string]string) {
	b.WriteString(`<tr class="row" data-customer="`)
	esc(b, v.Customer)
	b.WriteString(`" data-percent="`)
	esc(b, v.DataPct)
	b.WriteString("\">\n  <td><a class=\"name\" href=\"")
	esc(b, v.URL)
	b.WriteString(`" dir="auto">`)
	esc(b, v.Display)
	b.WriteString(`</a><div class="id" dir="ltr">`)
	esc(b, v.Customer)
	b.WriteString("</div></td>\n  <td><span class=\"tier\">")
	if v.Tier != "" {
		esc(b, v.Tier)
	} else {
		esc(b, t["no_tier"])
	}
	b.WriteString(`</span><div class="id num">`)
	esc(b, v.Limit)
	b.WriteString("</div></td>\n  <td class=\"usage-col\">")
	b.WriteString(string(v.BarHTML))
	b.WriteString(`<div class="pct num">`)
	if v.Bar.Limited {
		esc(b, v.Pct)
	}
	b.WriteString("</div></td>\n  <td class=\"n num\">")
	writeCounts(b, v, t)
	b.WriteString("\n  <td class=\"n num\">")
	esc(b, v.Forecast)
	b.WriteString("</td>\n  <td class=\"num muted\">")
	writeLastActive(b, v)
	b.WriteString("\n  <td>")
	b.WriteString(string(v.Badge))
	b.WriteString("</td>\n</tr>")
}

// writeCounts writes the requests, tokens and cost cells a row and an
// unassigned row share (the requests cell's <td> is already open).
func writeCounts(b *bytes.Buffer, v *rowView, t map[string]string) {
	esc(b, v.Req)
	if v.Fail != "" {
		b.WriteString(`<div class="id">+`)
		esc(b, v.Fail)
		b.WriteByte(' ')
		esc(b, t["failed"])
		b.WriteString(`</div>`)
	}
	b.WriteString("</td>\n  <td class=\"n num\">")
	esc(b, v.Tok)
	b.WriteString("</td>\n  <td class=\"n num\" title=\"")
	esc(b, v.CostExact)
	b.WriteString(`">`)
	esc(b, v.Cost)
	b.WriteString("</td>")
}

func writeLastActive(b *bytes.Buffer, v *rowView) {
	if v.LastActive != "" {
		esc(b, v.LastActive)
	} else {
		b.WriteString("—")
	}
	b.WriteString("</td>")
}

// writeExtraRow writes a row of the unassigned table.
func writeExtraRow(b *bytes.Buffer, v *rowView, t map[string]string) {
	b.WriteString(`<tr class="row" data-customer="`)
	esc(b, v.Customer)
	b.WriteString("\">\n  <td><a class=\"name\" href=\"")
	esc(b, v.URL)
	b.WriteString(`" dir="ltr">`)
	esc(b, v.Display)
	b.WriteString("</a></td>\n  <td class=\"n num\">")
	writeCounts(b, v, t)
	b.WriteString("\n  <td class=\"num muted\">")
	writeLastActive(b, v)
	b.WriteString("\n</tr>")
}

func limitText(r *report.Row, t map[string]string) string {
	switch {
	case r.LimitRequests != nil:
		return formatInt(*r.LimitRequests) + " " + t["unit_requests"]
	case r.LimitTokens != nil:
		return formatInt(*r.LimitTokens) + " " + t["unit_tokens"]
	case r.LimitCostUSD != nil:
		return "$" + r.LimitCostUSD.String()
	case r.Tier != "":
		return t["unlimited"]
	}
	return "—"
}

// indexKey is what else the cached body depends on.
type indexKey struct{ Month, Lang string }

func (s *server) index(w http.ResponseWriter, r *http.Request) {
	month, err := s.month(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	g, now, err := s.generation(ctx)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	p := indexPage{Page: s.frame(r, "customers", "", month)}
	p.Title = words[p.Lang]["title"]
	body, err := s.indexCache.get(g, indexKey{month, p.Lang}, func() (string, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queryTimeout)
		defer cancel()
		return s.indexBody(ctx, g, p.Page, now)
	})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	p.Body = bodyMark
	s.renderAround(w, r, p.Lang, "index.html", p, body)
}

// indexBody renders the front page's cards and tables.
func (s *server) indexBody(ctx context.Context, g gen, pg Page, now time.Time) (string, error) {
	shared, err := s.rows(ctx, g, pg.Month, now)
	if err != nil {
		return "", err
	}
	rows := slices.Clone(shared)
	last, err := s.o.Store.LastActiveDays(ctx, pg.Month)
	if err != nil {
		return "", err
	}
	report.SortByPercent(rows)
	t := words[pg.Lang]
	var p indexBody
	var main, extra bytes.Buffer
	main.Grow(len(rows) * 1400)
	for i := range rows {
		x := &rows[i]
		display := x.Customer
		if cu, ok := s.o.Book.Customer(x.Customer); ok {
			display = cu.DisplayName()
		}
		v := newRowView(x, display, pg.Link("/customer/"+url.PathEscape(x.Customer)), last[x.Customer], t)
		p.Requests += x.Requests
		p.FailedTotal += x.FailedRequests
		p.TotalTokens += x.TotalTokens
		p.Cost += x.CostUSD
		if !x.Configured {
			writeExtraRow(&extra, &v, t)
			continue
		}
		p.Customers++
		if x.Percent != nil && *x.Percent >= 80 {
			p.AtRisk++
		}
		if x.Flagged {
			p.Flagged++
		}
		writeRow(&main, &v, t)
	}
	// The rows (a megabyte at 1,000 customers) are spliced in after the
	// template ran over marks: printed through the template they were
	// copied by fmt and by every buffer growth, after every commit.
	if main.Len() > 0 {
		p.RowsHTML = rowsMark
	}
	if extra.Len() > 0 {
		p.ExtraHTML = extraMark
	}
	var out bytes.Buffer
	if err := s.pages.byLang[pg.Lang].ExecuteTemplate(&out, "indexbody", p); err != nil {
		return "", fmt.Errorf("render the front page: %w", err)
	}
	return splice(out.Bytes(), []string{string(rowsMark), string(extraMark)}, [][]byte{main.Bytes(), extra.Bytes()})
}

// Marks that templates print where a part rendered apart goes (see
// splice): NUL never comes out of a template, whose text is escaped.
const (
	bodyMark  template.HTML = "\x00qw:body\x00"
	rowsMark  template.HTML = "\x00qw:rows\x00"
	extraMark template.HTML = "\x00qw:extra\x00"
)

// splice returns out with each mark that occurs in it (once at most)
// replaced by its part, in one allocation of the result's size.
func splice(out []byte, marks []string, parts [][]byte) (string, error) {
	var b strings.Builder
	n := len(out)
	for i, m := range marks {
		if bytes.Contains(out, []byte(m)) {
			n += len(parts[i]) - len(m)
		}
	}
	b.Grow(n)
	for len(out) > 0 {
		at, which := len(out), -1
		for i, m := range marks {
			if j := bytes.Index(out, []byte(m)); j >= 0 && j < at {
				at, which = j, i
			}
		}
		b.Write(out[:at])
		if which < 0 {
			break
		}
		b.Write(parts[which])
		out = out[at+len(marks[which]):]
	}
	if b.Len() != n {
		return "", fmt.Errorf("render the front page: a mark occurs more than once (%d bytes, want %d)", b.Len(), n)
	}
	return b.String(), nil
}

// chart is a server-rendered SVG chart (viewBox units).
type chart struct {
	W, H, Left, Top, Right, Bottom float64
	Bars                           []chartBar
	YTicks                         []tick
	XTicks                         []tick
	Line                           string // SVG path of the cumulative line
	ProjLine                       string
	Levels                         []level
	Empty                          bool
	Unit                           string
	// X0, X1 are the plot's left and right edges, AxisY the x labels' line.
	X0, X1, AxisY float64
}

type chartBar struct {
	X, Y, W, H float64
	Title      string
}

type tick struct {
	Pos   float64
	Label string
}

type level struct {
	Y     float64
	Label string
	Class string
}

// newChart is the frame both charts share (viewBox units).
func newChart() chart {
	c := chart{W: 1000, H: 250, Left: 60, Top: 16, Right: 16, Bottom: 30}
	c.X0, c.X1, c.AxisY = c.Left, c.W-c.Right, c.H-8
	return c
}

// niceMax rounds a chart's top up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}

// amount is a day's usage in the unit that decides the percentage.
func amount(u report.Used, unit string) float64 {
	switch unit {
	case report.UnitTokens:
		return float64(u.Tokens)
	case report.UnitCostUSD:
		return u.Cost.Float()
	}
	return float64(u.Requests)
}

func unitLabel(unit string, f float64) string {
	switch {
	case unit == report.UnitCostUSD:
		return "$" + strconv.FormatFloat(f, 'f', 2, 64)
	case f != math.Trunc(f):
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return formatInt(int64(f))
}

// dailyChart draws each day's usage as a bar.
func dailyChart(days []report.DayUsage, daysInMonth int, unit string, t map[string]string) chart {
	c := newChart()
	c.Unit = unit
	pw, ph := c.W-c.Left-c.Right, c.H-c.Top-c.Bottom
	var top float64
	for _, d := range days {
		top = math.Max(top, amount(used(d), unit))
	}
	c.Empty = top == 0
	top = niceMax(top)
	slot := pw / float64(max(daysInMonth, len(days), 1))
	for i, d := range days {
		v := amount(used(d), unit)
		h := v / top * ph
		c.Bars = append(c.Bars, chartBar{X: r2(c.Left + float64(i)*slot + slot*0.15), Y: r2(c.Top + ph - h), W: r2(slot * 0.7), H: r2(h),
			Title: fmt.Sprintf("%s: %s %s, %s %s, %s", d.Day, formatInt(d.Requests), t["unit_requests"], formatInt(d.TotalTokens), t["unit_tokens"], "$"+d.CostUSD.Cents())})
		if n := i + 1; n == 1 || n%5 == 0 {
			c.XTicks = append(c.XTicks, tick{Pos: r2(c.Left + float64(i)*slot + slot/2), Label: strconv.Itoa(n)})
		}
	}
	for _, f := range []float64{0, 0.5, 1} {
		c.YTicks = append(c.YTicks, tick{Pos: r2(c.Top + ph - f*ph), Label: unitLabel(unit, f*top)})
	}
	return c
}

func used(d report.DayUsage) report.Used {
	return report.Used{Requests: d.Requests, Tokens: d.TotalTokens, Cost: d.CostUSD}
}

func r2(f float64) float64 { return math.Round(f*100) / 100 }

// cumulativeChart draws the month so far in percent of the limit, the
// threshold levels and the straight projection to the month's end.
func cumulativeChart(days []report.DayUsage, daysInMonth int, rd report.Reading, proj *float64) chart {
	c := newChart()
	pw, ph := c.W-c.Left-c.Right, c.H-c.Top-c.Bottom
	pcts := make([]float64, len(days))
	top := 130.0
	for i, d := range days {
		r := report.Reading{Unit: rd.Unit, Used: usedIn(d.Cumulative, rd.Unit), Limit: rd.Limit}
		pcts[i] = r.Percent()
		top = math.Max(top, pcts[i])
	}
	if proj != nil {
		top = math.Max(top, *proj)
	}
	top = math.Ceil(top/50) * 50
	steps := top / 50
	n := float64(max(daysInMonth, len(days), 1))
	x := func(i float64) float64 { return r2(c.Left + i/n*pw) }
	y := func(p float64) float64 { return r2(c.Top + ph - p/top*ph) }
	var b strings.Builder
	fmt.Fprintf(&b, "M%v %v", x(0), y(0))
	for i, p := range pcts {
		fmt.Fprintf(&b, " L%v %v", x(float64(i+1)), y(p))
	}
	c.Line = b.String()
	if proj != nil && len(pcts) > 0 && len(pcts) < daysInMonth {
		c.ProjLine = fmt.Sprintf("M%v %v L%v %v", x(float64(len(pcts))), y(pcts[len(pcts)-1]), x(n), y(*proj))
	}
	for _, l := range []struct {
		p     float64
		class string
	}{{80, "near"}, {100, "over"}, {120, "flag"}} {
		c.Levels = append(c.Levels, level{Y: y(l.p), Label: strconv.FormatFloat(l.p, 'f', -1, 64) + "%", Class: l.class})
	}
	for i := 0.0; i <= steps; i++ {
		c.YTicks = append(c.YTicks, tick{Pos: y(i * 50), Label: strconv.FormatFloat(i*50, 'f', -1, 64) + "%"})
	}
	for i := 1; i <= int(n); i++ {
		if i == 1 || i%5 == 0 {
			c.XTicks = append(c.XTicks, tick{Pos: x(float64(i)), Label: strconv.Itoa(i)})
		}
	}
	return c
}

func usedIn(u report.Used, unit string) int64 {
	switch unit {
	case report.UnitTokens:
		return u.Tokens
	case report.UnitCostUSD:
		return int64(u.Cost)
	}
	return u.Requests
}

type modelView struct {
	report.ModelUsage
	Share float64 // percent of the customer's cost (or requests when unpriced)
}

type customerPage struct {
	Page
	Row        rowView
	Configured bool
	Detail     report.Detail
	Daily      chart
	Cumulative *chart
	Models     []modelView
	Alerts     []report.AlertRow
	Sessions   []sessionView
	MoreSess   int
	Timezone   string
	Unit       string
}

// sessionView is one session billed to the customer in the month.
type sessionView struct {
	store.SessionUsage
	Last *string
}

// maxSessions bounds the customer page's session list.
const maxSessions = 200

func (s *server) customer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	month, err := s.month(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	rows, err := report.Rows(ctx, s.o.Store, s.o.Book, month, id, s.now())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	var row *report.Row
	for i := range rows {
		if rows[i].Customer == id {
			row = &rows[i]
		}
	}
	if row == nil {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("customer %q is neither configured nor has usage in %s", id, month))
		return
	}
	p := customerPage{Page: s.frame(r, "customers", "", month), Configured: row.Configured}
	t := words[p.Lang]
	display := id
	if cu, ok := s.o.Book.Customer(id); ok {
		display = cu.DisplayName()
	}
	p.Row = newRowView(row, display, "", "", t)
	p.Title = p.Row.Display
	loc := s.o.Book.LocationOf(id)
	p.Timezone = loc.String()
	if p.Detail, err = report.CustomerDetail(ctx, s.o.Store, s.o.Book, id, month, s.now()); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	start, end, _ := report.PeriodBounds(month, loc)
	daysInMonth := int(math.Round(end.Sub(start).Hours() / 24))
	unit := report.UnitRequests
	if row.ReadingOK {
		unit = row.Reading.Unit
	}
	p.Unit = t["unit_"+unit]
	p.Daily = dailyChart(p.Detail.Days, daysInMonth, unit, t)
	if row.ReadingOK && len(p.Detail.Days) > 0 {
		c := cumulativeChart(p.Detail.Days, daysInMonth, row.Reading, row.ProjectedPercent)
		p.Cumulative = &c
	}
	for _, m := range p.Detail.Models {
		mv := modelView{ModelUsage: m}
		switch {
		case row.CostUSD > 0:
			mv.Share = r2(float64(m.CostUSD) / float64(row.CostUSD) * 100)
		case row.Requests+row.FailedRequests > 0:
			mv.Share = r2(float64(m.Requests+m.FailedRequests) / float64(row.Requests+row.FailedRequests) * 100)
		}
		p.Models = append(p.Models, mv)
	}
	if p.Alerts, err = report.AlertRows(ctx, s.o.Store, month, id, loc); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	sess, total, err := s.o.Store.SessionsOf(ctx, id, month, maxSessions)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	for _, x := range sess {
		p.Sessions = append(p.Sessions, sessionView{SessionUsage: x, Last: report.TimeMs(x.LastMs, loc)})
	}
	p.MoreSess = total - len(p.Sessions)
	s.render(w, r, p.Lang, "customer.html", p)
}

type alertsPage struct {
	Page
	Alerts []alertView
}

type alertView struct {
	report.AlertRow
	Display string
	URL     string
}

func (s *server) alerts(w http.ResponseWriter, r *http.Request) {
	month, err := s.month(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	p := alertsPage{Page: s.frame(r, "alerts", "", month)}
	p.Title = words[p.Lang]["alerts"]
	rows, err := report.AlertRows(ctx, s.o.Store, month, "", s.o.Book.Location)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	// Newest first: the operator looks for what happened since yesterday.
	for i := len(rows) - 1; i >= 0; i-- {
		v := alertView{AlertRow: rows[i], Display: rows[i].Customer, URL: p.Link("/customer/" + url.PathEscape(rows[i].Customer))}
		if cu, ok := s.o.Book.Customer(rows[i].Customer); ok {
			v.Display = cu.DisplayName()
		}
		p.Alerts = append(p.Alerts, v)
	}
	s.render(w, r, p.Lang, "alerts.html", p)
}

type sourcesPage struct {
	Page
	Status Status
	Size   string
	// Limit is how many items each source lists.
	Limit int
}

// maxItems bounds how many files or databases the sources page lists per
// source.
const maxItems = 500

// humanSeconds is a lag as an operator reads it: 42 s, 7 min, 3 h 5 min, 5 d 2 h.
func humanSeconds(f float64) string {
	d := time.Duration(f * float64(time.Second))
	switch {
	case d < time.Minute:
		return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h " + strconv.Itoa(int(d%time.Hour/time.Minute)) + " min"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " d " + strconv.Itoa(int(d%(24*time.Hour)/time.Hour)) + " h"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}

func (s *server) sources(w http.ResponseWriter, r *http.Request) {
	month, err := s.month(r)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	p := sourcesPage{Page: s.frame(r, "sources", "", month), Limit: maxItems}
	p.Title = words[p.Lang]["sources"]
	if p.Status, err = s.status(ctx); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	for i := range p.Status.Sources {
		if it := p.Status.Sources[i].Items; len(it) > maxItems {
			p.Status.Sources[i].Items = it[:maxItems]
		}
	}
	p.Size = humanBytes(p.Status.DatabaseBytes)
	s.render(w, r, p.Lang, "sources.html", p)
}
