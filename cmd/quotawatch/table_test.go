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
