package main

import (
	"strings"
	"testing"

	"github.com/rivo/uniseg"
)

func TestTablesAlignByDisplayWidthNotBytes(t *testing.T) {
	tb := newTable([]string{"CUSTOMER", "REQUESTS"}, 1)
	for _, name := range []string{"omar", "عُمَر", "صالون-الرياض", "東京サロン", "café 🎉", "x"} {
		tb.add(name, "12")
	}
	var b strings.Builder
	if err := tb.write(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	want := uniseg.StringWidth(lines[0])
	for _, l := range lines {
		if w := uniseg.StringWidth(l); w != want {
			t.Errorf("line %q is %d columns wide, the header %d:\n%s", l, w, want, b.String())
		}
		if !strings.HasSuffix(l, "12") && l != lines[0] {
			t.Errorf("the number column is not right-aligned: %q", l)
		}
	}
}

func TestNarrowTerminalGetsOneBlockPerRowNotWrappedColumns(t *testing.T) {
	tb := newTable([]string{"CUSTOMER", "REQUESTS", "COST USD"}, 1, 2)
	tb.add("omar", "12", "0.10131")
	tb.add("layla", "3", "0.00")
	var wide, narrow strings.Builder
	if err := tb.writeWidth(&wide, 200); err != nil {
		t.Fatal(err)
	}
	if err := tb.writeWidth(&narrow, 20); err != nil {
		t.Fatal(err)
	}
	if strings.Count(wide.String(), "\n") != 3 {
		t.Fatalf("a wide terminal gets the table:\n%s", wide.String())
	}
	want := "CUSTOMER  omar\nREQUESTS  12\nCOST USD  0.10131\n\nCUSTOMER  layla\nREQUESTS  3\nCOST USD  0.00\n"
	if narrow.String() != want {
		t.Fatalf("a 20-column terminal got:\n%s\nwant:\n%s", narrow.String(), want)
	}
	for _, l := range strings.Split(narrow.String(), "\n") {
		if uniseg.StringWidth(l) > 20 {
			t.Errorf("line %q is wider than the terminal", l)
		}
	}
}
