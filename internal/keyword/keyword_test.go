package keyword

import (
	"errors"
	"strings"
	"testing"
)

var allTypes = []Type{Thing, Number, Letter, Symbol, CharacterString, Time, Date,
	Amount, PhoneNumber, CarNumber, Name, Phrase, Enum}

func TestTypeOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key  string
		want Type
	}{
		{"thing1", Thing},
		{"thing12", Thing},
		{"thing0", Thing},
		{"number2", Number},
		{"letter3", Letter},
		{"symbol4", Symbol},
		{"character_string3", CharacterString},
		{"time12", Time},
		{"date2", Date},
		{"amount7", Amount},
		{"phone_number2", PhoneNumber},
		{"car_number5", CarNumber},
		{"name1", Name},
		{"phrase4", Phrase},
		{"enum9", Enum},
	} {
		got, err := TypeOf(tc.key)
		if err != nil || got != tc.want {
			t.Errorf("TypeOf(%q) = %q, %v; want %q", tc.key, got, err, tc.want)
		}
	}
	for _, typ := range allTypes {
		if got, err := TypeOf(string(typ) + "1"); err != nil || got != typ {
			t.Errorf("TypeOf(%q) = %q, %v", string(typ)+"1", got, err)
		}
	}
}

func TestTypeOfErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ key, want string }{
		{"thing", `keyword "thing": no number after the type name (want e.g. "thing1")`},
		{"", `keyword "": no number after the type name (want e.g. "thing1")`},
		{"thing1a", `keyword "thing1a": no number after the type name (want e.g. "thing1")`},
		{"thing１", `keyword "thing１": no number after the type name (want e.g. "thing1")`},
		{"12", `keyword "12": no type name before the number (want e.g. "thing1")`},
		{"foo1", `keyword "foo1": unknown type "foo"`},
		{"Thing1", `keyword "Thing1": unknown type "Thing"`},
		{"thing_1", `keyword "thing_1": unknown type "thing_"`},
		{" thing1", `keyword " thing1": unknown type " thing"`},
		{"characterstring1", `keyword "characterstring1": unknown type "characterstring"`},
	} {
		typ, err := TypeOf(tc.key)
		if err == nil || err.Error() != tc.want || typ != "" {
			t.Errorf("TypeOf(%q) = %q, %v; want error %s", tc.key, typ, err, tc.want)
		}
		if _, perr := Parse(tc.key); perr == nil || perr.Error() != tc.want {
			t.Errorf("Parse(%q) error = %v; want %s", tc.key, perr, tc.want)
		}
		cerr := Check(tc.key, "x")
		var ve *ValueError
		if cerr == nil || cerr.Error() != tc.want || errors.As(cerr, &ve) {
			t.Errorf("Check(%q) = %v; want plain error %s", tc.key, cerr, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	s, err := Parse("time12")
	if err != nil || s.Key != "time12" || s.Type != Time || s.Values != nil {
		t.Fatalf("Parse(time12) = %+v, %v", s, err)
	}
}

func TestRule(t *testing.T) {
	t.Parallel()
	seen := map[string]Type{}
	for _, typ := range allTypes {
		r := typ.Rule()
		if r == "" || r == "unknown type" || strings.Contains(r, "\n") {
			t.Errorf("%s.Rule() = %q", typ, r)
		}
		if other, dup := seen[r]; dup {
			t.Errorf("%s and %s share rule %q", typ, other, r)
		}
		seen[r] = typ
	}
	if got := Type("bogus").Rule(); got != "unknown type" {
		t.Errorf("bogus.Rule() = %q", got)
	}
	if got := Thing.Rule(); !strings.Contains(got, "20") {
		t.Errorf("Thing.Rule() = %q, want the limit 20", got)
	}
}

func TestValueError(t *testing.T) {
	t.Parallel()
	value := strings.Repeat("面", 23)
	err := Check("thing1", value)
	var ve *ValueError
	if !errors.As(err, &ve) {
		t.Fatalf("Check = %#v, want *ValueError", err)
	}
	want := ValueError{Key: "thing1", Type: Thing, Value: value, Problem: "23 characters, at most 20"}
	if *ve != want {
		t.Errorf("ValueError = %+v, want %+v", *ve, want)
	}
	if got := err.Error(); got != "thing1: 23 characters, at most 20" {
		t.Errorf("Error() = %q", got)
	}
}

func TestEnum(t *testing.T) {
	t.Parallel()
	s := Spec{Key: "enum1", Type: Enum, Values: []string{"待支付", "已支付"}}
	for _, tc := range []struct{ value, want string }{
		{"待支付", ""},
		{"已支付", ""},
		{"已取消", `enum1: "已取消" is not one of the template's values`},
		{"待支付 ", `enum1: "待支付 " is not one of the template's values`},
		{"", "enum1: empty"},
	} {
		checkErr(t, s.Check(tc.value), "enum1", tc.value, tc.want)
	}
	none := "enum1: the template defines no values for this enum"
	checkErr(t, Spec{Key: "enum1", Type: Enum}.Check("待支付"), "enum1", "待支付", none)
	checkErr(t, Check("enum1", "待支付"), "enum1", "待支付", none)
	// Values are ignored by the other types.
	checkErr(t, Spec{Key: "thing1", Type: Thing, Values: []string{"x"}}.Check("y"), "thing1", "y", "")
}

func TestUnknownSpecType(t *testing.T) {
	t.Parallel()
	checkErr(t, Spec{Key: "k1", Type: "bogus"}.Check("x"), "k1", "x", `k1: unknown type "bogus"`)
	checkErr(t, Spec{}.Check("x"), "", "x", `: unknown type ""`)
}

// TestCheckNoAllocs is not parallel: testing.AllocsPerRun refuses to run
// in a parallel test, as other tests' allocations would be counted.
func TestCheckNoAllocs(t *testing.T) {
	for _, kv := range [][2]string{
		{"thing1", "Beef noodles x2"},
		{"thing1", "牛肉面 x2"},
		{"number2", "3.5"},
		{"letter3", "ABC"},
		{"symbol4", "%"},
		{"character_string3", "TX20261124001"},
		{"time2", "2019年10月1日 15:01~16:30"},
		{"date3", "2019年10月1日"},
		{"amount4", "¥18.50"},
		{"phone_number5", "+86-0766-66888866"},
		{"car_number6", "粤A8Z888挂"},
		{"name7", "John Smith"},
		{"phrase8", "配送中"},
	} {
		if n := testing.AllocsPerRun(100, func() { _ = Check(kv[0], kv[1]) }); n != 0 {
			t.Errorf("Check(%q, %q): %v allocations", kv[0], kv[1], n)
		}
	}
}

// checkErr asserts err is nil when want is "", any *ValueError for key and
// value when want is "*", else a *ValueError whose Error() is want.
func checkErr(t *testing.T, err error, key, value, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Errorf("%s %q: unexpected error: %v", key, value, err)
		}
		return
	}
	var ve *ValueError
	if !errors.As(err, &ve) {
		t.Errorf("%s %q: error %#v, want *ValueError %s", key, value, err, want)
		return
	}
	if ve.Key != key || ve.Value != value || ve.Problem == "" || ve.Error() != key+": "+ve.Problem {
		t.Errorf("%s %q: malformed %+v", key, value, *ve)
	}
	if want != "*" && err.Error() != want {
		t.Errorf("%s %q:\n got %s\nwant %s", key, value, err, want)
	}
}
