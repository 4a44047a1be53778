package keyword

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ChinaTime is Beijing time (UTC+8, no daylight saving), for formatting
// values users read, without needing the tzdata database.
var ChinaTime = time.FixedZone("CST", 8*60*60)

// Layouts of the values WeChat shows in its own examples.
const (
	dateLayout  = "2006年1月2日"
	clockLayout = "15:04"
)

// FormatTime formats t, in t's own location, as a time keyword value with
// its date: "2019年10月1日 15:01" (month and day unpadded, 24-hour clock
// with zero-padded hour and minute). Convert with t.In(ChinaTime) first for
// Beijing time. The result passes Check for time and date keys for years
// 1 to 9999.
func FormatTime(t time.Time) string {
	return t.Format(dateLayout + " " + clockLayout)
}

// FormatClock formats t, in t's own location, as a time keyword value
// without a date: "15:01".
func FormatClock(t time.Time) string {
	return t.Format(clockLayout)
}

// FormatDate formats t, in t's own location, as a date keyword value:
// "2019年10月1日". The result passes Check for years 1 to 9999.
func FormatDate(t time.Time) string {
	return t.Format(dateLayout)
}

// Shorten fits s into max characters (runes) for length-limited keywords:
// s unchanged when it has at most max runes; otherwise its first max-1
// runes, trailing spaces trimmed, followed by "…". A max below 1 gives "".
func Shorten(s string, max int) string {
	if max < 1 {
		return ""
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	cut, n := 0, 0
	for cut < len(s) && n < max-1 {
		_, size := utf8.DecodeRuneInString(s[cut:])
		cut += size
		n++
	}
	return strings.TrimRightFunc(s[:cut], unicode.IsSpace) + "…"
}

// ShortenThing makes a thing keyword value from free text such as a dish
// name: s with surrounding white space trimmed, then Shorten to 20 runes.
// The result passes Check for a thing key whenever s is printable
// (unicode.IsPrint) and not blank.
func ShortenThing(s string) string {
	return Shorten(strings.TrimSpace(s), maxThing)
}
