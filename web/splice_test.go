package web

import (
	"strings"
	"testing"
)

// TestSplicePutsEachPartWhereItsMarkIs: the front page's rows are spliced
// into the template's output over marks; each part must land exactly in
// place of its mark, absent marks leave the text as it is, and a mark
// printed twice (which would drop or duplicate rows) is an error.
func TestSplicePutsEachPartWhereItsMarkIs(t *testing.T) {
	marks := []string{string(rowsMark), string(extraMark)}
	parts := [][]byte{[]byte("<tr>r1</tr><tr>r2</tr>"), []byte("<tr>x</tr>")}
	for _, c := range []struct{ out, want string }{
		{"a" + marks[0] + "b" + marks[1] + "c", "a<tr>r1</tr><tr>r2</tr>b<tr>x</tr>c"},
		{marks[1] + "|" + marks[0], "<tr>x</tr>|<tr>r1</tr><tr>r2</tr>"},
		{"head" + marks[0] + "tail", "head<tr>r1</tr><tr>r2</tr>tail"},
		{"no marks", "no marks"},
		{"", ""},
	} {
		got, err := splice([]byte(c.out), marks, parts)
		if err != nil || got != c.want {
			t.Errorf("splice(%q) = %q, %v; want %q", c.out, got, err, c.want)
		}
	}
	if got, err := splice([]byte(marks[0]+"/"+marks[0]), marks, parts); err == nil {
		t.Errorf("a mark printed twice gave %q and no error", got)
	}
	if !strings.ContainsRune(string(bodyMark), 0) || !strings.ContainsRune(string(rowsMark), 0) || !strings.ContainsRune(string(extraMark), 0) {
		t.Error("marks must hold a NUL, which escaped template text never does")
	}
}
