package keyword

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// checkName: a person's name. With any Chinese (Han) character it has at
// most 10 characters of Han, letters and symbols (such as "·" in
// "阿沛·阿旺晋美"); otherwise at most 20 letters, symbols and spaces. No
// digits in either form. Our readings, stricter than or beyond the official
// "≤ 10 Chinese characters, or ≤ 20 letters/symbols":
//   - letters are ASCII letters (no "é", no kana);
//   - a space is allowed only in the non-Chinese form, and only as a single
//     space between words ("John Smith"); the official text lists no spaces;
//   - at least one letter (Han or ASCII): a run of symbols is no name.
func checkName(v string) string {
	if _, p := common(v, 0); p != "" {
		return p
	}
	if strings.ContainsFunc(v, isHan) {
		if n := utf8.RuneCountInString(v); n > maxNameChinese {
			return fmt.Sprintf("%d characters, at most %d with Chinese characters", n, maxNameChinese)
		}
		return only(v, func(r rune) bool { return isHan(r) || isASCIILetter(r) || isSymbol(r) },
			"only Chinese characters, letters and symbols allowed")
	}
	if _, p := common(v, maxName); p != "" {
		return p
	}
	if p := only(v, func(r rune) bool { return r == ' ' || isASCIILetter(r) || isSymbol(r) },
		"only letters, symbols and spaces allowed"); p != "" {
		return p
	}
	if !strings.ContainsFunc(v, isASCIILetter) {
		return fmt.Sprintf("%q has no letter", v)
	}
	if v[0] == ' ' || v[len(v)-1] == ' ' || strings.Contains(v, "  ") {
		return fmt.Sprintf("%q has extra spaces (one space between words)", v)
	}
	return ""
}

// checkPhrase: 1..5 Chinese (Han) characters and nothing else.
func checkPhrase(v string) string {
	if _, p := common(v, maxPhrase); p != "" {
		return p
	}
	return only(v, isHan, "only Chinese characters allowed")
}
