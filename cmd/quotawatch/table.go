package main

import (
	"io"
	"strings"

	"github.com/rivo/uniseg"
)

// table lays out rows in columns by display width (uniseg), not by bytes or
// runes: an Arabic or accented customer name, a wide CJK one or an emoji
// keeps the columns aligned, which text/tabwriter's rune count does not.
type table struct {
	head  []string
	rows  [][]string
	right []bool // per column: numbers align right
}

// newTable starts a table; right marks the columns aligned right.
func newTable(head []string, right ...int) *table {
	t := &table{head: head, right: make([]bool, len(head))}
	for _, c := range right {
		t.right[c] = true
	}
	return t
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// write prints the table with two spaces between columns and no trailing
// blanks.
func (t *table) write(w io.Writer) error {
	widths := make([]int, len(t.head))
	for _, r := range append([][]string{t.head}, t.rows...) {
		for i, c := range r {
			if i < len(widths) {
				widths[i] = max(widths[i], uniseg.StringWidth(c))
			}
		}
	}
	var b strings.Builder
	for _, r := range append([][]string{t.head}, t.rows...) {
		line := make([]string, 0, len(r))
		for i, c := range r {
			if i >= len(widths) {
				break
			}
			pad := strings.Repeat(" ", widths[i]-uniseg.StringWidth(c))
			if t.right[i] {
				line = append(line, pad+c)
			} else {
				line = append(line, c+pad)
			}
		}
		b.WriteString(strings.TrimRight(strings.Join(line, "  "), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
