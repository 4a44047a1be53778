package keyword

import (
	"fmt"
	"strings"
)

// The time and date grammar, written as WeChat's examples are:
//
//	value  = stamp | stamp "~" stamp      (no spaces around "~")
//	stamp  = date | date " " clock | clock
//	date   = YYYY "年" M "月" D "日"        (month and day 1 or 2 digits)
//	clock  = H ":" MM                      (hour 1 or 2 digits, 24-hour)
//
// A time key needs a clock in every stamp; a date key needs a date. ISO
// forms such as "2019-10-01 15:01" are refused: whether WeChat accepts them
// is unconfirmed, and the 年月日 form is the one its documentation shows.
// Range ends are not ordered: "22:00~02:00" is a plausible overnight range.
// Digits are ASCII; the full-width "～" is not a range separator.

const (
	timeHint      = `(use "15:01" or "2019年10月1日 15:01")`
	dateHint      = `(use "2019年10月1日" or "2019年10月1日 15:01")`
	timeRangeHint = `(use "15:01~16:30", no spaces around "~")`
	dateRangeHint = `(use "2019年10月1日~2019年10月7日", no spaces around "~")`
)

// stamp is one side of a time or date value, as written and as numbers.
type stamp struct {
	date, clock                    string // the parts as written; "" when absent
	year, month, day, hour, minute int
}

// checkDateTime checks a time value, or a date value when wantDate.
func checkDateTime(v string, wantDate bool) string {
	if _, p := common(v, 0); p != "" {
		return p
	}
	first, second, isRange := strings.Cut(v, "~")
	var st [2]stamp
	ok := scanStamp(first, &st[0])
	if isRange {
		ok = ok && scanStamp(second, &st[1])
	}
	if !ok {
		switch {
		case isRange && wantDate:
			return fmt.Sprintf("%q is not a date range %s", v, dateRangeHint)
		case isRange:
			return fmt.Sprintf("%q is not a time range %s", v, timeRangeHint)
		case wantDate:
			return fmt.Sprintf("%q is not a date %s", v, dateHint)
		}
		return fmt.Sprintf("%q is not a time %s", v, timeHint)
	}
	sides := st[:1]
	if isRange {
		sides = st[:]
	}
	for i := range sides {
		s := &sides[i]
		if wantDate && s.date == "" {
			return fmt.Sprintf("%q is a time, not a date %s", s.clock, dateHint)
		}
		if !wantDate && s.clock == "" {
			return fmt.Sprintf("%q is a date, not a time %s", s.date, timeHint)
		}
		if s.date != "" && !realDate(s.year, s.month, s.day) {
			return fmt.Sprintf("%s is not a real date", s.date)
		}
		if s.clock != "" && (s.hour > 23 || s.minute > 59) {
			return fmt.Sprintf("%s is not a real time (00:00 to 23:59)", s.clock)
		}
	}
	return ""
}

// scanStamp parses all of s as a stamp into st.
func scanStamp(s string, st *stamp) bool {
	if rest, ok := scanDate(s, st); ok {
		st.date = s[:len(s)-len(rest)]
		if rest == "" {
			return true
		}
		if rest[0] != ' ' {
			return false
		}
		s = rest[1:]
	}
	rest, ok := scanClock(s, st)
	if !ok || rest != "" {
		return false
	}
	st.clock = s
	return true
}

// scanDate parses a date at the start of s, returning what follows it.
func scanDate(s string, st *stamp) (rest string, ok bool) {
	if st.year, s, ok = scanNumber(s, 4, 4); !ok {
		return "", false
	}
	if s, ok = strings.CutPrefix(s, "年"); !ok {
		return "", false
	}
	if st.month, s, ok = scanNumber(s, 1, 2); !ok {
		return "", false
	}
	if s, ok = strings.CutPrefix(s, "月"); !ok {
		return "", false
	}
	if st.day, s, ok = scanNumber(s, 1, 2); !ok {
		return "", false
	}
	return strings.CutPrefix(s, "日")
}

// scanClock parses H:MM or HH:MM at the start of s, returning what follows.
func scanClock(s string, st *stamp) (rest string, ok bool) {
	if st.hour, s, ok = scanNumber(s, 1, 2); !ok {
		return "", false
	}
	if s, ok = strings.CutPrefix(s, ":"); !ok {
		return "", false
	}
	st.minute, s, ok = scanNumber(s, 2, 2)
	return s, ok
}

// scanNumber reads min..max ASCII digits at the start of s. More digits
// than max are left in rest, where the grammar then fails on them.
func scanNumber(s string, min, max int) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && i < max && isDigit(s[i]) {
		n = n*10 + int(s[i]-'0')
		i++
	}
	return n, s[i:], i >= min
}

// realDate reports whether year-month-day is a date of the Gregorian
// calendar; year 0000 is refused (there is no year 0).
func realDate(year, month, day int) bool {
	if year < 1 || month < 1 || month > 12 || day < 1 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month-1]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		days = 29
	}
	return day <= days
}
