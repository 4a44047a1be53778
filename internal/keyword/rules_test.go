package keyword

import (
	"strings"
	"testing"
)

// checkCase is one value for one key: want "" accepts, "*" rejects with any
// *ValueError, anything else is the exact error message.
type checkCase struct{ key, value, want string }

func runCases(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		checkErr(t, Check(tc.key, tc.value), tc.key, tc.value, tc.want)
	}
}

var rep = strings.Repeat

func TestThing(t *testing.T) {
	t.Parallel()
	runCases(t, []checkCase{
		{"thing1", "牛肉面 x2", ""},
		{"thing1", "a", ""},
		{"thing1", "订单#123 ¥18.50（已付）", ""},
		{"thing1", "🍜 ramen", ""},
		{"thing1", "a  b", ""},
		{"thing1", rep("面", 20), ""},
		{"thing1", rep("a", 20), ""},
		{"thing1", rep("面", 21), "thing1: 21 characters, at most 20"},
		{"thing1", rep("a", 21), "thing1: 21 characters, at most 20"},
		{"thing1", "一二三四五六七八九十一二三四五六七八九十一二三", "thing1: 23 characters, at most 20"},
		{"thing1", "", "thing1: empty"},
		{"thing1", "a\nb", `thing1: "a\nb" has "\n", control characters not allowed`},
		{"thing1", "a\tb", `thing1: "a\tb" has "\t", control characters not allowed`},
		{"thing1", "a\x7fb", `thing1: "a\x7fb" has "\x7f", control characters not allowed`},
		{"thing1", "a\u0085b", "*"},
		{"thing1", "a\u3000b", `thing1: "a\u3000b" has "\u3000", only printable characters and the ASCII space allowed`},
		{"thing1", "a\u00a0b", "*"},
		{"thing1", "a\u200bb", "*"},
		{"thing1", "a\u2028b", "*"},
		{"thing1", "\ue000", "*"},
		{"thing1", " ab", `thing1: " ab" has leading or trailing spaces`},
		{"thing1", "ab ", `thing1: "ab " has leading or trailing spaces`},
		{"thing1", "   ", `thing1: "   " is only spaces`},
		{"thing1", "\xff", `thing1: "\xff" is not valid UTF-8`},
	})
}

func TestNumber(t *testing.T) {
	t.Parallel()
	runCases(t, []checkCase{
		{"number2", "3.5", ""},
		{"number2", "0", ""},
		{"number2", "007", ""},
		{"number2", "0.25", ""},
		{"number2", rep("9", 32), ""},
		{"number2", rep("9", 30) + ".5", ""},
		{"number2", rep("9", 33), "number2: 33 characters, at most 32"},
		{"number2", rep("9", 31) + ".5", "number2: 33 characters, at most 32"},
		{"number2", "3.5.1", `number2: "3.5.1" is not a number (digits with at most one decimal point)`},
		{"number2", "-3", `number2: "-3" is not a number (digits with at most one decimal point)`},
		{"number2", "+3", "*"},
		{"number2", ".5", "*"},
		{"number2", "5.", "*"},
		{"number2", ".", "*"},
		{"number2", "1,000", "*"},
		{"number2", "3 5", "*"},
		{"number2", "1e5", "*"},
		{"number2", "３", "*"},
		{"number2", "", "number2: empty"},
	})
}

func TestLetter(t *testing.T) {
	t.Parallel()
	runCases(t, []checkCase{
		{"letter1", "ABC", ""},
		{"letter1", "abcXYZ", ""},
		{"letter1", rep("a", 32), ""},
		{"letter1", rep("a", 33), "letter1: 33 characters, at most 32"},
		{"letter1", "AB1", `letter1: "AB1" has "1", only ASCII letters allowed`},
		{"letter1", "A B", `letter1: "A B" has " ", only ASCII letters allowed`},
		{"letter1", "é", "*"},
		{"letter1", "中", "*"},
		{"letter1", "", "letter1: empty"},
	})
}

func TestSymbol(t *testing.T) {
	t.Parallel()
	runCases(t, []checkCase{
		{"symbol1", "%", ""},
		{"symbol1", "%-+", ""},
		{"symbol1", "¥…", ""},
		{"symbol1", "·", ""},
		{"symbol1", "！", ""},
		{"symbol1", rep("!", 5), ""},
		{"symbol1", rep("!", 6), "symbol1: 6 characters, at most 5"},
		{"symbol1", "%a", `symbol1: "%a" has "a", only symbols allowed`},
		{"symbol1", "% ", `symbol1: "% " has " ", only symbols allowed`},
		{"symbol1", "1", "*"},
		{"symbol1", "中", "*"},
		{"symbol1", "", "symbol1: empty"},
	})
}

func TestCharacterString(t *testing.T) {
	t.Parallel()
	runCases(t, []checkCase{
		{"character_string3", "TX20261124001", ""},
		{"character_string3", "a-b_c.d/e#1", ""},
		{"character_string3", rep("A", 32), ""},
		{"character_string3", rep("A", 33), "character_string3: 33 characters, at most 32"},
		{"character_string3", "TX 1", `character_string3: "TX 1" has " ", only ASCII letters, digits and symbols allowed`},
		{"character_string3", "订单1", `character_string3: "订单1" has "订", only ASCII letters, digits and symbols allowed`},
		{"character_string3", "ＴＸ", "*"},
		{"character_string3", "a\tb", "*"},
		{"character_string3", "", "character_string3: empty"},
	})
}

func TestAmount(t *testing.T) {
	t.Parallel()
	runCases(t, []checkCase{
		{"amount1", "¥18.50", ""},
		{"amount1", "18.50元", ""},
		{"amount1", "￥18", ""},
		{"amount1", "$0.99", ""},
		{"amount1", "€1000", ""},
		{"amount1", "18", ""},
		{"amount1", "¥18.50元", ""},
		{"amount1", "1234567890", ""},
		{"amount1", "12345678.90", ""},
		{"amount1", "¥1234567890元", ""},
		{"amount1", "12345678901", "amount1: 11 digits, at most 10"},
		{"amount1", "¥123456789.01元", "amount1: 11 digits, at most 10"},
		{"amount1", "¥¥18", `amount1: "¥¥18" is not an amount (e.g. "¥18.50" or "18.50元")`},
		{"amount1", "¥", "*"},
		{"amount1", "元", "*"},
		{"amount1", "¥元", "*"},
		{"amount1", "18.元", "*"},
		{"amount1", ".5元", "*"},
		{"amount1", "18.5.0", "*"},
		{"amount1", "-18", "*"},
		{"amount1", "¥ 18", "*"},
		{"amount1", "18元元", "*"},
		{"amount1", "18 元", "*"},
		{"amount1", "1,000", "*"},
		{"amount1", "RMB18", "*"},
		{"amount1", "18$", "*"},
		{"amount1", "１８", "*"},
		{"amount1", "", "amount1: empty"},
	})
}

func TestPhoneNumber(t *testing.T) {
	t.Parallel()
	runCases(t, []checkCase{
		{"phone_number2", "+86-0766-66888866", ""},
		{"phone_number2", "13800138000", ""},
		{"phone_number2", "(0766)6688886", ""},
		{"phone_number2", "020-12345678", ""},
		{"phone_number2", rep("1", 17), ""},
		{"phone_number2", rep("1", 18), "phone_number2: 18 characters, at most 17"},
		{"phone_number2", "+86-0766-668888661", "phone_number2: 18 characters, at most 17"},
		{"phone_number2", "138 0013 8000", `phone_number2: "138 0013 8000" has " ", only digits and symbols allowed`},
		{"phone_number2", "+86-ABC", `phone_number2: "+86-ABC" has "A", only digits and symbols allowed`},
		{"phone_number2", "+-()", `phone_number2: "+-()" has no digit`},
		{"phone_number2", "１３８", "*"},
		{"phone_number2", "", "phone_number2: empty"},
	})
}

func TestCarNumber(t *testing.T) {
	t.Parallel()
	runCases(t, []checkCase{
		{"car_number5", "粤A8Z888挂", ""},
		{"car_number5", "粤A12345", ""},
		{"car_number5", "粤AD12345", ""},
		{"car_number5", "WJ12345", ""},
		{"car_number5", "A12345警", ""},
		{"car_number5", "粤B", ""},
		{"car_number5", "粤A8Z888挂1", "car_number5: 9 characters, at most 8"},
		{"car_number5", "粤A-8888", `car_number5: "粤A-8888" has "-", only letters and digits allowed (the first and last may be Chinese)`},
		{"car_number5", "粤A8粤888", `car_number5: "粤A8粤888" has "粤", Chinese allowed only as the first or last character`},
		{"car_number5", "粤A 8888", "*"},
		{"car_number5", "粤Ａ8888", "*"},
		{"car_number5", "", "car_number5: empty"},
	})
}

func TestName(t *testing.T) {
	t.Parallel()
	runCases(t, []checkCase{
		{"name1", "张三", ""},
		{"name1", "阿沛·阿旺晋美", ""},
		{"name1", "张三Tom", ""},
		{"name1", "John Smith", ""},
		{"name1", "O'Brien", ""},
		{"name1", "Jean-Luc Picard", ""},
		{"name1", rep("张", 10), ""},
		{"name1", rep("张", 11), "name1: 11 characters, at most 10 with Chinese characters"},
		{"name1", "张" + rep("a", 10), "name1: 11 characters, at most 10 with Chinese characters"},
		{"name1", rep("a", 20), ""},
		{"name1", rep("a", 21), "name1: 21 characters, at most 20"},
		{"name1", "张三3", `name1: "张三3" has "3", only Chinese characters, letters and symbols allowed`},
		{"name1", "张 三", `name1: "张 三" has " ", only Chinese characters, letters and symbols allowed`},
		{"name1", "John3", `name1: "John3" has "3", only letters, symbols and spaces allowed`},
		{"name1", " John", `name1: " John" has extra spaces (one space between words)`},
		{"name1", "John ", "*"},
		{"name1", "John  Smith", "*"},
		{"name1", "José", "*"},
		{"name1", "··", `name1: "··" has no letter`},
		{"name1", "", "name1: empty"},
	})
}

func TestPhrase(t *testing.T) {
	t.Parallel()
	runCases(t, []checkCase{
		{"phrase4", "配送中", ""},
		{"phrase4", "已完成", ""},
		{"phrase4", "一二三四五", ""},
		{"phrase4", "一二三四五六", "phrase4: 6 characters, at most 5"},
		{"phrase4", "配送ing", `phrase4: "配送ing" has "i", only Chinese characters allowed`},
		{"phrase4", "配送 中", "*"},
		{"phrase4", "配送。", "*"},
		{"phrase4", "", "phrase4: empty"},
	})
}
