package sandbox_test

import (
	"strings"
	"testing"

	"wxnotify/internal/sandbox"
)

// allTypes has one keyword of every value type WeChat documents.
var allTypes = sandbox.Template{
	ID: "all-types", Keywords: []sandbox.Keyword{
		{Key: "thing1"}, {Key: "number2"}, {Key: "letter3"}, {Key: "symbol4"}, {Key: "character_string5"},
		{Key: "time6"}, {Key: "date7"}, {Key: "amount8"}, {Key: "phone_number9"}, {Key: "car_number10"},
		{Key: "name11"}, {Key: "phrase12"}, {Key: "enum13", Values: []string{"已发货", "已送达"}},
	},
}

// Every value-rule row, through the sandbox's send: the reference's own
// examples are delivered, a broken value of each type answers 47003 naming
// the keyword.
func TestEveryValueRuleRowThroughSend(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *sandbox.Config) { c.Templates = []sandbox.Template{allTypes} })
	tok := f.stable(t, false).AccessToken
	_, openid := f.sb.Login("", "", false)
	if _, err := f.sb.Subscribe(openid, allTypes.ID, sandbox.Accept, 100); err != nil {
		t.Fatal(err)
	}
	valid := map[string]string{ // the reference's examples
		"thing1": "牛肉面 x2", "number2": "3.5", "letter3": "ABC", "symbol4": "%", "character_string5": "TX20261124001",
		"time6": "15:01", "date7": "2019年10月1日", "amount8": "¥18.50", "phone_number9": "+86-0766-66888866",
		"car_number10": "粤A8Z888挂", "name11": "张三", "phrase12": "配送中", "enum13": "已送达",
	}
	sendWith := func(key, value string) answer {
		data := map[string]any{}
		for k, v := range valid {
			data[k] = map[string]string{"value": v}
		}
		data[key] = map[string]string{"value": value}
		return f.send(t, tok, map[string]any{"touser": openid, "template_id": allTypes.ID, "data": data})
	}
	for _, tc := range []struct {
		key      string
		accepted []string
		rejected []string
	}{
		{"thing1", []string{"牛肉面 x2", strings.Repeat("面", 20)}, []string{strings.Repeat("面", 21), "a\nb"}},
		{"number2", []string{"3.5", "42"}, []string{"3.5.1", "-3", "1e5"}},
		{"letter3", []string{"ABC", strings.Repeat("a", 32)}, []string{"AB1", strings.Repeat("a", 33)}},
		{"symbol4", []string{"%", "#$%&*"}, []string{"%%%%%%", "a"}},
		{"character_string5", []string{"TX20261124001", "A-1_b"}, []string{"TX 1", "订单1"}},
		{"time6", []string{"15:01", "2019年10月1日 15:01", "15:01~16:30"}, []string{"2019年10月1日", "25:00", "2019-10-01 15:01", "3pm"}},
		{"date7", []string{"2019年10月1日", "2019年10月1日 15:01", "2019年10月1日~2019年10月3日"}, []string{"15:01", "2019年2月30日", "2019-10-01"}},
		{"amount8", []string{"¥18.50", "18.50元", "$3"}, []string{"¥12345678901", "18,50", "¥"}},
		{"phone_number9", []string{"+86-0766-66888866", "13800138000"}, []string{"+86 0766 66888866", strings.Repeat("1", 18), "call me"}},
		{"car_number10", []string{"粤A8Z888挂", "京A12345"}, []string{"粤A8Z888挂X", "A-1234"}},
		{"name11", []string{"张三", "John Smith"}, []string{"张三李四王五赵六钱七孙", "R2D2"}},
		{"phrase12", []string{"配送中", "已送达"}, []string{"配送中ing", "六个汉字呀呀"}},
		{"enum13", []string{"已发货"}, []string{"已取消"}},
	} {
		for _, v := range tc.accepted {
			if a := sendWith(tc.key, v); a.ErrCode != 0 {
				t.Errorf("%s %q: %s; want delivered", tc.key, v, a.raw)
			}
		}
		for _, v := range tc.rejected {
			if a := sendWith(tc.key, v); a.ErrCode != 47003 || !strings.Contains(a.ErrMsg, "data."+tc.key+".value") {
				t.Errorf("%s %q: %s; want 47003 naming data.%s.value", tc.key, v, a.raw, tc.key)
			}
		}
	}
}
