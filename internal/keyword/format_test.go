package keyword

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestShorten(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    string
		max  int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"ab cd", 4, "ab…"},
		{"a   bcdef", 4, "a…"},
		{"牛肉面加大份", 4, "牛肉面…"},
		{"牛肉面加大份", 6, "牛肉面加大份"},
		{"abc", 1, "…"},
		{"abc", 0, ""},
		{"abc", -1, ""},
		{"", 5, ""},
		{" abc ", 5, " abc "},
	} {
		if got := Shorten(tc.s, tc.max); got != tc.want {
			t.Errorf("Shorten(%q, %d) = %q, want %q", tc.s, tc.max, got, tc.want)
		}
	}
	for _, tc := range []struct{ s, want string }{
		{"牛肉面 x2", "牛肉面 x2"},
		{"  牛肉面  ", "牛肉面"},
		{strings.Repeat("面", 20), strings.Repeat("面", 20)},
		{strings.Repeat("面", 25), strings.Repeat("面", 19) + "…"},
		{strings.Repeat("a", 18) + " bc", strings.Repeat("a", 18) + "…"},
	} {
		if got := ShortenThing(tc.s); got != tc.want {
			t.Errorf("ShortenThing(%q) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// randomPrintable returns a string of n runes that unicode.IsPrint accepts,
// drawn mostly from ASCII, Han, spaces and emoji, some from anywhere.
func randomPrintable(rng *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() == 0 || utf8.RuneCountInString(b.String()) < n {
		var r rune
		switch rng.IntN(6) {
		case 0:
			r = rune(' ' + rng.IntN(95))
		case 1:
			r = ' '
		case 2:
			r = rune(0x4E00 + rng.IntN(0x9FFF-0x4E00))
		case 3:
			r = rune(0x1F300 + rng.IntN(0x300))
		default:
			r = rune(rng.IntN(unicode.MaxRune + 1))
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestShortenProperties: Shorten never exceeds max and keeps a prefix, and
// ShortenThing of any printable, non-blank string is a valid thing.
func TestShortenProperties(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50000 {
		s := randomPrintable(rng, 1+rng.IntN(60))
		max := 1 + rng.IntN(30)
		got := Shorten(s, max)
		if n := utf8.RuneCountInString(got); n > max {
			t.Fatalf("Shorten(%q, %d) = %q has %d runes", s, max, got, n)
		}
		if got != s && !strings.HasPrefix(s, strings.TrimSuffix(got, "…")) {
			t.Fatalf("Shorten(%q, %d) = %q is not a prefix", s, max, got)
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		if err := Check("thing1", ShortenThing(s)); err != nil {
			t.Fatalf("ShortenThing(%q) = %q: %v", s, ShortenThing(s), err)
		}
	}
}

func FuzzShortenThing(f *testing.F) {
	for _, s := range []string{"牛肉面 x2", "  a  ", strings.Repeat("面 ", 30), "🍜🍜🍜"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ShortenThing(s)
		if utf8.RuneCountInString(got) > 20 {
			t.Fatalf("ShortenThing(%q) = %q, over 20 runes", s, got)
		}
		printable := utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
		if printable && strings.TrimSpace(s) != "" {
			if err := Check("thing1", got); err != nil {
				t.Fatalf("ShortenThing(%q) = %q: %v", s, got, err)
			}
		}
	})
}
