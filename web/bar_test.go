package web

import (
	"fmt"
	"html/template"
	"math/rand/v2"
	"strings"
	"testing"
)

// fmtBarHTML is barHTML as it was written with fmt (commit eee17a1), the
// reference the faster one must equal.
func fmtBarHTML(b bar) template.HTML {
	var sb strings.Builder
	fill := fmt.Sprintf("%.2f", b.Fill)
	fmt.Fprintf(&sb, `<div class="bar lvl-%s" data-fill="%s"`, b.Level, fill)
	if b.HasProj {
		fmt.Fprintf(&sb, ` data-proj="%.2f"`, b.Proj)
	}
	fmt.Fprintf(&sb, `><svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true"><rect class="track" width="100" height="10"/><rect class="fill" width="%s" height="10"/>`, fill)
	sb.WriteString(marksSVG)
	if b.HasProj {
		fmt.Fprintf(&sb, `<line class="proj" x1="%.2f" x2="%.2f" y1="-1" y2="11"/>`, b.Proj, b.Proj)
	}
	sb.WriteString(`</svg></div>`)
	return template.HTML(sb.String())
}

// TestBarHTMLIsTheFmtFormattedBar proves the bar written without fmt is
// byte for byte the one written with it: for random fills and projections
// (halfway cases of the rounding, 0, the bar's end), every level, with and
// without a projection.
func TestBarHTMLIsTheFmtFormattedBar(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := []float64{0, 0.005, 0.015, 0.125, 1.005, 2.675, 33.335, 99.995, 100}
	for range 2000 {
		vals = append(vals, rng.Float64()*100, float64(rng.IntN(100_000))/1000)
	}
	for i, f := range vals {
		b := bar{Limited: true, Fill: f, Level: []string{"ok", "near", "over", "flag"}[i%4], Marks: thresholdMarks}
		if i%3 != 0 {
			b.HasProj, b.Proj = true, vals[(i*7)%len(vals)]
		}
		if got, want := barHTML(b, words["en"]), fmtBarHTML(b); got != want {
			t.Fatalf("bar %+v:\n%s\nwant\n%s", b, got, want)
		}
	}
}
