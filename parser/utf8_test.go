package parser

import (
	"testing"
	"unicode/utf8"
)

var utf8Cases = []string{
	"", "a", "hello, world", "مرحبا بك في الصالون", "[WhatsApp +966500000001] أبغى أحجز موعد 🌹 ok",
	"日本語のテキスト", "\xed\xa0\x80", "\xc0\x80", "\xc1\xbf", "\xc2\x80", "\xdf\xbf", "\xe0\x80\x80", "\xf4\x90\x80\x80",
	"abcdefg\xd8", "abcdefg\xd8a", "abcdefg\xd8\xa7", "abcdefgh\x80", "\xd8\xa7\xd8\xa7\xd8\xa7\xd8", "\xd8\xa7\xd8\xa7\xd8\xa7\xd8\xa7\xd8",
	"\xd8\xa7\xd8\xa7\xd8\xa7\xd8\xa7\xd8\xa7", "1234567\xd8\xa7bcdefgh", "1234567\xd8\xe2\x82\xacfgh", "\xef\xbf\xbd", "\xff", "\xf5\x80\x80\x80",
	"ليلى ليلى ليلى ليلى ليلى ليلى \xe2\x82", "ليلى ليلى ليلى ليلى ليلى ليلى \xe2\x82\xac",
}

func TestValidUTF8(t *testing.T) {
	for _, c := range utf8Cases {
		for pad := 0; pad < 9; pad++ {
			s := "01234567"[:pad] + c
			if got, want := validUTF8([]byte(s)), utf8.Valid([]byte(s)); got != want {
				t.Errorf("validUTF8(%q) = %v, want %v", s, got, want)
			}
		}
	}
}

func FuzzValidUTF8(f *testing.F) {
	for _, c := range utf8Cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validUTF8(b), utf8.Valid(b); got != want {
			t.Fatalf("validUTF8(%q) = %v, want %v", b, got, want)
		}
	})
}

func BenchmarkValidUTF8(b *testing.B) {
	line := []byte(`{"type":"message","message":{"role":"user","content":[{"type":"text","text":"[WhatsApp +966512345678 +2m 2026-11-03 10:00 GMT+3] السلام عليكم، أبغى أحجز موعد يوم الخميس الساعة ٤ العصر كم سعر الصبغة مع القص؟ 🌹"}]}}`)
	for _, f := range []struct {
		name string
		fn   func([]byte) bool
	}{{"parser", validUTF8}, {"stdlib", utf8.Valid}} {
		b.Run(f.name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for range b.N {
				if !f.fn(line) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
