package registry

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"wxnotify/internal/keyword"
)

// Example inputs quoted in format errors.
const (
	exampleTime   = "2026-11-24T15:01:00+08:00"
	exampleDate   = "2026-11-24"
	exampleAmount = "18.50"
)

// valueText returns the text of a data value: a string as it is, a number
// as its decimal text. Other values (bool, object, array) give ok false.
func valueText(v any) (text string, ok bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int32:
		return strconv.FormatInt(int64(v), 10), true
	case uint:
		return strconv.FormatUint(uint64(v), 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case uint32:
		return strconv.FormatUint(uint64(v), 10), true
	}
	return "", false
}

// formatValue converts s by a keyword's format ("" leaves it unchanged).
// On failure it returns the problem, e.g. `"yesterday" is not an RFC 3339
// time such as ...`, for the caller to prefix with the field.
func formatValue(format, s string) (value, problem string) {
	switch format {
	case "time":
		return formatTime(s)
	case "date":
		return formatDate(s)
	case "amount":
		return formatAmount(s)
	}
	return s, ""
}

// formatTime turns an RFC 3339 time (fractional seconds allowed) into a
// time keyword value with its date, in China time: "2026年11月24日 15:01".
func formatTime(s string) (string, string) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", fmt.Sprintf("%q is not an RFC 3339 time such as %s", s, exampleTime)
	}
	t = t.In(keyword.ChinaTime)
	if p := checkYear(s, t); p != "" {
		return "", p
	}
	return keyword.FormatTime(t), ""
}

// formatDate turns a plain date (2006-01-02, taken as is) or an RFC 3339
// time (converted to China time) into a date keyword value: "2026年11月24日".
func formatDate(s string) (string, string) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return "", fmt.Sprintf("%q is not a date such as %s or an RFC 3339 time such as %s", s, exampleDate, exampleTime)
		}
		t = t.In(keyword.ChinaTime)
	}
	if p := checkYear(s, t); p != "" {
		return "", p
	}
	return keyword.FormatDate(t), ""
}

// checkYear refuses years WeChat's 年月日 form cannot show: the keyword
// formatters are exact for years 1 to 9999 only.
func checkYear(s string, t time.Time) string {
	if y := t.Year(); y < 1 || y > 9999 {
		return fmt.Sprintf("%q is year %d in China time, outside 1 to 9999", s, y)
	}
	return ""
}

// formatAmount turns a non-negative decimal ("18.5", "7", "0018.50") into
// an amount keyword value with exactly two decimals ("¥18.50", "¥7.00"),
// by string manipulation only, so no float rounding can creep in. More than
// two decimal places are refused unless the extra ones are zeros.
func formatAmount(s string) (string, string) {
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if strings.HasPrefix(s, "-") {
		return "", fmt.Sprintf("%q is negative (want an amount such as %s)", s, exampleAmount)
	}
	if !allDigits(intPart) || hasPoint && !allDigits(frac) {
		return "", fmt.Sprintf("%q is not an amount such as %s (digits, optionally a point and up to 2 decimals)", s, exampleAmount)
	}
	if len(frac) > 2 {
		if strings.TrimRight(frac[2:], "0") != "" {
			return "", fmt.Sprintf("%q has more than 2 decimal places", s)
		}
		frac = frac[:2]
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	return "¥" + intPart + "." + frac + "00"[len(frac):], ""
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
