package keyword

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits, in characters (runes) unless noted.
const (
	maxThing           = 20
	maxNumber          = 32
	maxLetter          = 32
	maxSymbol          = 5
	maxCharacterString = 32
	maxAmountDigits    = 10 // digits, integer and decimal parts together
	maxPhoneNumber     = 17
	maxCarNumber       = 8
	maxNameChinese     = 10
	maxName            = 20
	maxPhrase          = 5
)

// Each check below returns "" for an acceptable value, else the problem.
// Problems are built only on failure, so the success path does not allocate.

// common checks what every value shares: non-empty, valid UTF-8 and, when
// max > 0, at most max runes. It returns the rune count.
func common(v string, max int) (n int, problem string) {
	if v == "" {
		return 0, "empty"
	}
	if !utf8.ValidString(v) {
		return 0, fmt.Sprintf("%q is not valid UTF-8", v)
	}
	n = utf8.RuneCountInString(v)
	if max > 0 && n > max {
		return n, fmt.Sprintf("%d characters, at most %d", n, max)
	}
	return n, ""
}

// only checks that every rune of v satisfies ok; allowed describes ok.
func only(v string, ok func(rune) bool, allowed string) string {
	for _, r := range v {
		if !ok(r) {
			return has(v, r, allowed)
		}
	}
	return ""
}

// has describes v containing the unacceptable rune r.
func has(v string, r rune, allowed string) string {
	return fmt.Sprintf("%q has %q, %s", v, string(r), allowed)
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func isASCIIDigit(r rune) bool { return '0' <= r && r <= '9' }

func isASCIILetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

// isASCIISymbol reports ASCII punctuation and symbols: printable, not a
// space, letter or digit.
func isASCIISymbol(r rune) bool {
	return '!' <= r && r <= '~' && !isASCIILetter(r) && !isASCIIDigit(r)
}

// isSymbol reports Unicode punctuation (P*) and symbols (S*).
func isSymbol(r rune) bool {
	if r < utf8.RuneSelf {
		return isASCIISymbol(r)
	}
	return unicode.IsPunct(r) || unicode.IsSymbol(r)
}

func isHan(r rune) bool { return r >= 0x2E80 && unicode.Is(unicode.Han, r) }

// skipDigits returns the index of the first non-digit in v at or after i.
func skipDigits(v string, i int) int {
	for i < len(v) && isDigit(v[i]) {
		i++
	}
	return i
}

// checkThing: 1..20 printable characters. Stricter readings: the only space
// allowed is the ASCII space (no U+3000, no-break or zero-width spaces),
// and it may not lead or trail; any character unicode.IsPrint rejects
// (control, format, separator, private-use, unassigned) is refused.
func checkThing(v string) string {
	if _, p := common(v, maxThing); p != "" {
		return p
	}
	for _, r := range v {
		if r < utf8.RuneSelf {
			if ' ' <= r && r < 0x7f {
				continue
			}
		} else if unicode.IsPrint(r) {
			continue
		}
		if unicode.IsControl(r) {
			return has(v, r, "control characters not allowed")
		}
		return has(v, r, "only printable characters and the ASCII space allowed")
	}
	if strings.TrimLeft(v, " ") == "" {
		return fmt.Sprintf("%q is only spaces", v)
	}
	if v[0] == ' ' || v[len(v)-1] == ' ' {
		return fmt.Sprintf("%q has leading or trailing spaces", v)
	}
	return ""
}

// checkNumber: at most 32 characters of ASCII digits with at most one
// decimal point, digits on both sides of it; no sign (stricter reading).
func checkNumber(v string) string {
	if _, p := common(v, maxNumber); p != "" {
		return p
	}
	i := skipDigits(v, 0)
	if i > 0 && i < len(v) && v[i] == '.' {
		if j := skipDigits(v, i+1); j > i+1 {
			i = j
		}
	}
	if i == 0 || i != len(v) {
		return fmt.Sprintf("%q is not a number (digits with at most one decimal point)", v)
	}
	return ""
}

// checkLetter: at most 32 letters, read strictly as ASCII letters.
func checkLetter(v string) string {
	if _, p := common(v, maxLetter); p != "" {
		return p
	}
	return only(v, isASCIILetter, "only ASCII letters allowed")
}

// checkSymbol: at most 5 Unicode punctuation or symbol characters.
func checkSymbol(v string) string {
	if _, p := common(v, maxSymbol); p != "" {
		return p
	}
	return only(v, isSymbol, "only symbols allowed")
}

// checkCharacterString: at most 32 ASCII letters, digits and symbols,
// read strictly as printable ASCII without the space.
func checkCharacterString(v string) string {
	if _, p := common(v, maxCharacterString); p != "" {
		return p
	}
	return only(v, func(r rune) bool { return '!' <= r && r <= '~' },
		"only ASCII letters, digits and symbols allowed")
}

// checkAmount: an optional single currency symbol (category Sc), ASCII
// digits with an optional decimal part (digits on both sides of the point),
// and an optional trailing 元; 1..10 digits in all. Symbol and 元 together
// ("¥18.50元") match the official wording and are accepted.
func checkAmount(v string) string {
	if _, p := common(v, 0); p != "" {
		return p
	}
	s := v
	if r, size := utf8.DecodeRuneInString(s); unicode.Is(unicode.Sc, r) {
		s = s[size:]
	}
	s = strings.TrimSuffix(s, "元")
	i := skipDigits(s, 0)
	digits := i
	if i > 0 && i < len(s) && s[i] == '.' {
		if j := skipDigits(s, i+1); j > i+1 {
			digits += j - i - 1
			i = j
		}
	}
	if i == 0 || i != len(s) {
		return fmt.Sprintf("%q is not an amount (e.g. \"¥18.50\" or \"18.50元\")", v)
	}
	if digits > maxAmountDigits {
		return fmt.Sprintf("%d digits, at most %d", digits, maxAmountDigits)
	}
	return ""
}

// checkPhoneNumber: at most 17 characters of ASCII digits and ASCII
// symbols ("+-()" and the like), at least one digit. Stricter reading: no
// spaces, no letters (so no "ext"), no non-ASCII symbols.
func checkPhoneNumber(v string) string {
	if _, p := common(v, maxPhoneNumber); p != "" {
		return p
	}
	if p := only(v, func(r rune) bool { return isASCIIDigit(r) || isASCIISymbol(r) },
		"only digits and symbols allowed"); p != "" {
		return p
	}
	if !strings.ContainsAny(v, "0123456789") {
		return fmt.Sprintf("%q has no digit", v)
	}
	return ""
}

// checkCarNumber: at most 8 characters; the first and the last may be
// Chinese (Han), every other one is an ASCII letter or digit.
func checkCarNumber(v string) string {
	n, p := common(v, maxCarNumber)
	if p != "" {
		return p
	}
	i := 0
	for _, r := range v {
		if isASCIILetter(r) || isASCIIDigit(r) || (i == 0 || i == n-1) && isHan(r) {
			i++
			continue
		}
		if isHan(r) {
			return has(v, r, "Chinese allowed only as the first or last character")
		}
		return has(v, r, "only letters and digits allowed (the first and last may be Chinese)")
	}
	return ""
}
