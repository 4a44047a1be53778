package keyword

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// seeds are keys with accepted and rejected values of every type.
var seeds = [][2]string{
	{"thing1", "牛肉面 x2"}, {"thing1", " a\tb"}, {"thing1", strings.Repeat("面", 21)},
	{"number2", "3.5"}, {"number2", "3.5.1"},
	{"letter3", "ABC"}, {"letter3", "AB1"},
	{"symbol4", "%"}, {"symbol4", "%a"},
	{"character_string5", "TX20261124001"}, {"character_string5", "TX 1"},
	{"time6", "15:01"}, {"time6", "2019年10月1日 15:01~16:00"}, {"time6", "2019-10-01 15:01"}, {"time6", "24:00"},
	{"date7", "2019年10月1日"}, {"date7", "2019年10月1日 15:01"}, {"date7", "2019年2月30日"},
	{"amount8", "¥18.50"}, {"amount8", "18.50元"}, {"amount8", "¥¥1"},
	{"phone_number9", "+86-0766-66888866"}, {"phone_number9", "+-()"},
	{"car_number10", "粤A8Z888挂"}, {"car_number10", "粤A8粤888"},
	{"name11", "张三"}, {"name11", "John Smith"}, {"name11", "张三3"},
	{"phrase12", "配送中"}, {"phrase12", "配送ing"},
	{"enum13", "x"}, {"thing", "x"}, {"foo1", "x"}, {"", ""}, {"thing1", "\xff"},
}

func FuzzCheck(f *testing.F) {
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		err := Check(key, value)
		spec, perr := Parse(key)
		var ve *ValueError
		if perr != nil {
			if err == nil || err.Error() != perr.Error() || errors.As(err, &ve) {
				t.Fatalf("Check(%q, %q) = %v, want Parse's error %v", key, value, err, perr)
			}
			return
		}
		if err == nil {
			if value == "" || !utf8.ValidString(value) {
				t.Fatalf("Check(%q, %q) accepted an empty or invalid value", key, value)
			}
			return
		}
		if !errors.As(err, &ve) {
			t.Fatalf("Check(%q, %q) = %#v, want *ValueError", key, value, err)
		}
		if !strings.HasPrefix(err.Error(), key+": ") || ve.Key != key || ve.Type != spec.Type ||
			ve.Value != value || ve.Problem == "" || strings.HasPrefix(ve.Problem, key+":") {
			t.Fatalf("Check(%q, %q): malformed %+v", key, value, *ve)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	for _, kv := range [][2]string{
		{"thing1", "Beef noodles x2"},
		{"thing1", "牛肉面 x2"},
		{"character_string3", "TX20261124001"},
		{"time2", "2019年10月1日 15:01"},
		{"amount4", "¥18.50"},
		{"phone_number5", "+86-0766-66888866"},
		{"thing1", strings.Repeat("面", 23)}, // failure path
	} {
		b.Run(kv[0]+"/"+kv[1], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Check(kv[0], kv[1])
			}
		})
	}
}
