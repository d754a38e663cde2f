package main

import (
	"io"
	"os"
	"strings"

	"golang.org/x/term"

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
// blanks. On a terminal narrower than the table it prints one block per
// row instead ("KEY  value" lines), which a narrow window reads whole where
// wrapped columns would interleave.
func (t *table) write(w io.Writer) error { return t.writeWidth(w, termWidth(w)) }

// termWidth is the width of w when it is a terminal, else 0 (no limit:
// pipes and files get the table as is).
func termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return cols
}

// writeWidth is write for a known width (0 = unlimited).
func (t *table) writeWidth(w io.Writer, width int) error {
	widths := make([]int, len(t.head))
	for _, r := range append([][]string{t.head}, t.rows...) {
		for i, c := range r {
			if i < len(widths) {
				widths[i] = max(widths[i], uniseg.StringWidth(c))
			}
		}
	}
	total := 2 * (len(widths) - 1)
	for _, wd := range widths {
		total += wd
	}
	if width > 0 && total > width {
		return t.writeRecords(w)
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

// writeRecords prints each row as a block of "KEY  value" lines.
func (t *table) writeRecords(w io.Writer) error {
	kw := 0
	for _, h := range t.head {
		kw = max(kw, uniseg.StringWidth(h))
	}
	var b strings.Builder
	for n, r := range t.rows {
		if n > 0 {
			b.WriteByte('\n')
		}
		for i, c := range r {
			if i >= len(t.head) || c == "" {
				continue
			}
			b.WriteString(t.head[i] + strings.Repeat(" ", kw-uniseg.StringWidth(t.head[i])) + "  " + c + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
