package parser

import (
	"encoding/binary"
	"unicode/utf8"
)

// validUTF8 is utf8.Valid, about twice as fast on text made of ASCII and
// two-byte sequences (Arabic, Hebrew, Cyrillic, Greek...), which is what
// WhatsApp transcripts here are: it checks 8 bytes at a time with word
// arithmetic, and falls back to rune-by-rune decoding only around three-
// and four-byte sequences (emoji, CJK) and at the tail.
func validUTF8(p []byte) bool {
	const (
		lo7  = 0x7F7F7F7F7F7F7F7F
		hi   = 0x8080808080808080
		c0s  = 0xC0C0C0C0C0C0C0C0
		e0s  = 0xE0E0E0E0E0E0E0E0
		fes  = 0xFEFEFEFEFEFEFEFE
		conT = 0x8080808080808080 // 10xxxxxx
		ldT  = 0xC0C0C0C0C0C0C0C0 // 110xxxxx
	)
	// eq has the high bit of every byte of x that is zero, and only those.
	eq := func(x uint64) uint64 { return ^(((x & lo7) + lo7) | x) & hi }
	i, n := 0, len(p)
	lead := false // p[i-1] was the first byte of a two-byte sequence
	for i+8 <= n {
		w := binary.LittleEndian.Uint64(p[i:])
		if w&hi == 0 {
			if lead {
				return false
			}
			i += 8
			continue
		}
		cont := eq(w&c0s ^ conT)
		lds := eq(w&e0s ^ ldT)
		if w&hi == cont|lds {
			// Only ASCII, leads and continuations: every continuation must
			// follow a lead, every lead precede a continuation; C0 and C1
			// would be overlong.
			want := lds << 8
			if lead {
				want |= 0x80
			}
			if cont != want || eq(w&fes^ldT)&lds != 0 {
				return false
			}
			lead = lds>>63 != 0
			i += 8
			continue
		}
		// A longer sequence or an invalid byte: decode runes for a while.
		if lead {
			if p[i]&0xC0 != 0x80 {
				return false
			}
			i++
			lead = false
		}
		for stop := i + 16; i < n && i < stop; {
			if p[i] < utf8.RuneSelf {
				i++
				continue
			}
			r, size := utf8.DecodeRune(p[i:])
			if r == utf8.RuneError && size == 1 {
				return false
			}
			i += size
		}
	}
	if lead {
		if i >= n || p[i]&0xC0 != 0x80 {
			return false
		}
		i++
	}
	return utf8.Valid(p[i:])
}
