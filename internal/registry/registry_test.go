package registry

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"wxnotify/internal/keyword"
)

// doc builds a registry with one template t1 from its body lines (indented
// under the template).
func doc(lines ...string) string {
	return "templates:\n  t1:\n    " + strings.Join(lines, "\n    ") + "\n"
}

// The minimal valid lines of t1, for cases that change one thing.
var (
	lineID   = "template_id: TID1"
	lineKind = "kind: one_time"
	lineKWs  = "keywords:"
	lineKW   = "  thing1: {from: item_name}"
)

func TestDefault(t *testing.T) {
	t.Parallel()
	r := Default()
	if r != Default() {
		t.Error("Default() returned a different registry on the second call")
	}
	var names []string
	for _, tm := range r.Templates() {
		names = append(names, tm.Name)
	}
	if want := []string{"order_arrived", "transit_reminder"}; !slices.Equal(names, want) {
		t.Fatalf("Templates() names = %q, want %q", names, want)
	}
	oa, ok := r.Lookup("order_arrived")
	if !ok {
		t.Fatal(`Lookup("order_arrived") not found`)
	}
	if oa.TemplateID != "Zx8qLtOrderArrived0000000000000000000000000" || oa.Kind != OneTime ||
		oa.Page != "pages/order/detail?id={order_id}" || oa.ThingOverflow != "shorten" ||
		oa.MiniprogramState != "formal" || oa.Lang != "zh_CN" {
		t.Errorf("order_arrived = %+v", oa)
	}
	var keys []string
	for _, kw := range oa.Keywords {
		keys = append(keys, kw.Key)
		if kw.Spec.Key != kw.Key {
			t.Errorf("%s: Spec.Key = %q", kw.Key, kw.Spec.Key)
		}
	}
	if want := []string{"character_string2", "thing1", "thing4", "thing5", "time3"}; !slices.Equal(keys, want) {
		t.Errorf("order_arrived keys = %q, want %q (sorted)", keys, want)
	}
	if kw := oa.Keywords[3]; kw.Default == nil || *kw.Default != "请凭取件码取件" || kw.From != "remarks" {
		t.Errorf("thing5 = %+v", kw)
	}
	if kw := oa.Keywords[4]; kw.Format != "time" || kw.Spec.Type != keyword.Time || kw.Default != nil {
		t.Errorf("time3 = %+v", kw)
	}
	tr, ok := r.ByTemplateID("Zx8qLtTransitNotice000000000000000000000000")
	if !ok || tr.Name != "transit_reminder" || tr.Kind != LongTerm || tr.Page != "" || tr.ThingOverflow != "shorten" {
		t.Errorf("ByTemplateID(transit) = %+v, %v", tr, ok)
	}
	if _, ok := r.Lookup("nope"); ok {
		t.Error(`Lookup("nope") found something`)
	}
	if _, ok := r.ByTemplateID("nope"); ok {
		t.Error(`ByTemplateID("nope") found something`)
	}
}

func TestTemplatesIsACopy(t *testing.T) {
	t.Parallel()
	r := Default()
	ts := r.Templates()
	ts[0] = nil
	if r.Templates()[0] == nil {
		t.Error("changing the slice Templates returned changed the registry")
	}
}

func TestLoadJSON(t *testing.T) {
	t.Parallel()
	r, err := Load([]byte(`{"templates": {"paid": {"template_id": "TIDP", "kind": "long_term",
		"page": "pages/pay/result?no={order_no}", "thing_overflow": "reject",
		"keywords": {"amount2": {"from": "total", "format": "amount"}, "enum1": {"from": "state", "values": ["已支付", "已退款"], "default": "已支付"}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := r.Lookup("paid")
	if tm == nil || tm.ThingOverflow != "reject" || len(tm.Keywords) != 2 {
		t.Fatalf("paid = %+v", tm)
	}
	enum := tm.Keywords[1]
	if enum.Key != "enum1" || !slices.Equal(enum.Values, []string{"已支付", "已退款"}) || !slices.Equal(enum.Spec.Values, enum.Values) {
		t.Errorf("enum1 = %+v", enum)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, defaultYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(doc(lineID, "kind: sometimes", lineKWs, lineKW)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r, err := LoadFile(good); err != nil || len(r.Templates()) != 2 {
		t.Errorf("LoadFile(good) = %v, %v", r, err)
	}
	_, err := LoadFile(bad)
	if want := "registry " + bad + `: templates.t1.kind: "sometimes" is not one of one_time, long_term`; err == nil || err.Error() != want {
		t.Errorf("LoadFile(bad) error = %v, want %s", err, want)
	}
	missing := filepath.Join(dir, "missing.yaml")
	_, err = LoadFile(missing)
	if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile(missing) error = %v, want one naming %s and wrapping ErrNotExist", err, missing)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty input", "", "templates: none defined (want at least one template, e.g. order_arrived)"},
		{"empty templates", "templates: {}\n", "templates: none defined (want at least one template, e.g. order_arrived)"},
		{"bad name", "templates:\n  Order-Arrived:\n    " + lineID + "\n",
			`templates: template name "Order-Arrived" must be lowercase letters, digits and _, starting with a letter, at most 64 characters`},
		{"name too long", "templates:\n  a" + strings.Repeat("b", 64) + ":\n    " + lineID + "\n", "at most 64 characters"},
		{"null template", "templates:\n  t1:\n", "templates.t1: empty (want template_id, kind and keywords)"},
		{"no template_id", doc(lineKind, lineKWs, lineKW), "templates.t1.template_id: required (WeChat's template id)"},
		{"duplicate template_id", doc(lineID, lineKind, lineKWs, lineKW) + "  t2:\n    " + strings.Join([]string{lineID, lineKind, lineKWs, lineKW}, "\n    "),
			`templates.t2.template_id: "TID1" is already used by templates.t1`},
		{"no kind", doc(lineID, lineKWs, lineKW), "templates.t1.kind: required (one_time or long_term)"},
		{"bad kind", doc(lineID, "kind: forever", lineKWs, lineKW), `templates.t1.kind: "forever" is not one of one_time, long_term`},
		{"bad thing_overflow", doc(lineID, lineKind, "thing_overflow: cut", lineKWs, lineKW),
			`templates.t1.thing_overflow: "cut" is not one of shorten, reject`},
		{"bad miniprogram_state", doc(lineID, lineKind, "miniprogram_state: prod", lineKWs, lineKW),
			`templates.t1.miniprogram_state: "prod" is not one of developer, trial, formal`},
		{"bad lang", doc(lineID, lineKind, "lang: zh", lineKWs, lineKW), `templates.t1.lang: "zh" is not one of zh_CN, en_US, zh_HK, zh_TW`},
		{"no keywords", doc(lineID, lineKind), "templates.t1.keywords: none defined (want e.g. thing1: {from: item_name})"},
		{"empty keywords", doc(lineID, lineKind, "keywords: {}"), "templates.t1.keywords: none defined (want e.g. thing1: {from: item_name})"},
		{"unknown type", doc(lineID, lineKind, lineKWs, "  colour1: {from: c}"), `templates.t1.keywords.colour1: unknown type "colour"`},
		{"key without number", doc(lineID, lineKind, lineKWs, "  thing: {from: c}"),
			`templates.t1.keywords.thing: no number after the type name (want e.g. "thing1")`},
		{"no from", doc(lineID, lineKind, lineKWs, "  thing5: {default: x}"), `templates.t1.keywords.thing5: no "from" field (which data field fills it?)`},
		{"null keyword", doc(lineID, lineKind, lineKWs, "  thing5:"), `templates.t1.keywords.thing5: no "from" field (which data field fills it?)`},
		{"bad from", doc(lineID, lineKind, lineKWs, "  thing1: {from: item-name}"),
			`templates.t1.keywords.thing1.from: "item-name" is not a data field name (want letters, digits and _, not starting with a digit)`},
		{"from starting with digit", doc(lineID, lineKind, lineKWs, "  thing1: {from: 1st}"), `templates.t1.keywords.thing1.from: "1st" is not a data field name`},
		{"bad format", doc(lineID, lineKind, lineKWs, "  time1: {from: at, format: clock}"),
			`templates.t1.keywords.time1.format: "clock" is not one of time, date, amount`},
		{"time on thing", doc(lineID, lineKind, lineKWs, "  thing1: {from: at, format: time}"),
			`templates.t1.keywords.thing1.format: "time" needs a time or date keyword, not thing`},
		{"date on thing", doc(lineID, lineKind, lineKWs, "  thing1: {from: at, format: date}"),
			`templates.t1.keywords.thing1.format: "date" needs a date keyword, not thing`},
		{"date on time", doc(lineID, lineKind, lineKWs, "  time1: {from: at, format: date}"),
			`templates.t1.keywords.time1.format: "date" gives no clock, which a time keyword needs (use format "time")`},
		{"amount on number", doc(lineID, lineKind, lineKWs, "  number1: {from: n, format: amount}"),
			`templates.t1.keywords.number1.format: "amount" needs an amount keyword, not number`},
		{"enum without values", doc(lineID, lineKind, lineKWs, "  enum1: {from: s}"),
			`templates.t1.keywords.enum1: no "values" (an enum keyword needs the values the template defines)`},
		{"enum with empty values", doc(lineID, lineKind, lineKWs, "  enum1: {from: s, values: []}"),
			`templates.t1.keywords.enum1: no "values" (an enum keyword needs the values the template defines)`},
		{"values on thing", doc(lineID, lineKind, lineKWs, "  thing1: {from: s, values: [a]}"),
			"templates.t1.keywords.thing1.values: only an enum keyword takes values, not thing"},
		{"empty enum value", doc(lineID, lineKind, lineKWs, `  enum1: {from: s, values: [a, ""]}`), "templates.t1.keywords.enum1.values[1]: empty"},
		{"duplicate enum value", doc(lineID, lineKind, lineKWs, "  enum1: {from: s, values: [a, b, a]}"),
			`templates.t1.keywords.enum1.values[2]: "a" is listed twice`},
		{"default too long", doc(lineID, lineKind, lineKWs, "  thing5: {from: r, default: "+strings.Repeat("长", 21)+"}"),
			"templates.t1.keywords.thing5.default: 21 characters, at most 20"},
		{"empty default", doc(lineID, lineKind, lineKWs, `  thing5: {from: r, default: ""}`), "templates.t1.keywords.thing5.default: empty"},
		{"default not in enum", doc(lineID, lineKind, lineKWs, "  enum1: {from: s, values: [a, b], default: c}"),
			`templates.t1.keywords.enum1.default: "c" is not one of the template's values`},
		{"default not a time", doc(lineID, lineKind, lineKWs, "  time1: {from: at, format: time, default: 2026-11-24T15:01:00+08:00}"),
			`templates.t1.keywords.time1.default: "2026-11-24T15:01:00+08:00" is not a time (use "15:01" or "2019年10月1日 15:01")`},
		{"page starts with slash", doc(lineID, lineKind, "page: /pages/a", lineKWs, lineKW),
			`templates.t1.page: "/pages/a" starts with "/" (WeChat pages are relative, e.g. pages/order/detail)`},
		{"page unclosed brace", doc(lineID, lineKind, "page: pages/a?id={id", lineKWs, lineKW),
			`templates.t1.page: "pages/a?id={id" has an unbalanced "{" at byte 11`},
		{"page nested brace", doc(lineID, lineKind, `page: "pages/a?id={a{b}}"`, lineKWs, lineKW),
			`templates.t1.page: "pages/a?id={a{b}}" has an unbalanced "{" at byte 11`},
		{"page stray close", doc(lineID, lineKind, "page: pages/a?id=id}", lineKWs, lineKW),
			`templates.t1.page: "pages/a?id=id}" has an unbalanced "}" at byte 13`},
		{"page empty placeholder", doc(lineID, lineKind, "page: pages/a?id={}", lineKWs, lineKW),
			`templates.t1.page: "pages/a?id={}" has an empty placeholder "{}" (want e.g. {order_id})`},
		{"page bad placeholder", doc(lineID, lineKind, "page: pages/a?id={order id}", lineKWs, lineKW),
			`templates.t1.page: "pages/a?id={order id}": placeholder {order id} is not a data field name`},
		{"unknown template field", doc(lineID, lineKind, "colour: red", lineKWs, lineKW), `yaml: [5:5] unknown field "colour"`},
		{"unknown keyword field", doc(lineID, lineKind, lineKWs, "  thing1: {from: a, fromat: time}"), `unknown field "fromat"`},
		{"unknown top-level field", "version: 2\n" + doc(lineID, lineKind, lineKWs, lineKW), `yaml: [1:1] unknown field "version"`},
		{"duplicate keyword", doc(lineID, lineKind, lineKWs, lineKW, lineKW), `mapping key "thing1" already defined`},
		{"not a mapping", "- 1\n", "yaml: [1:1] sequence was used where mapping is expected"},
		{"syntax error", "templates: {t1: {\n", "yaml: [1:"},
		{"two documents", doc(lineID, lineKind, lineKWs, lineKW) + "---\nfoo: 1\n", "yaml: more than one document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := Load([]byte(tt.in))
			if err == nil {
				t.Fatalf("Load succeeded, want error %q\ninput:\n%s", tt.want, tt.in)
			}
			if r != nil {
				t.Errorf("Load returned a registry with its error")
			}
			if got := err.Error(); got != tt.want && !strings.Contains(got, tt.want) {
				t.Errorf("Load error\n got: %s\nwant: %s", got, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Load error has several lines: %q", err)
			}
		})
	}
}

func TestLoadErrorUnwraps(t *testing.T) {
	t.Parallel()
	_, err := Load([]byte(doc(lineID, lineKind, lineKWs, "  thing5: {from: r, default: \" x\"}")))
	if _, ok := errors.AsType[*keyword.ValueError](err); !ok {
		t.Errorf("default error %v does not wrap a *keyword.ValueError", err)
	}
	_, err = Load([]byte(doc(lineID, lineKind, lineKWs, "  colour1: {from: c}")))
	if _, perr := keyword.Parse("colour1"); err == nil || errors.Unwrap(err) == nil || errors.Unwrap(err).Error() != perr.Error() {
		t.Errorf("unknown type error %v does not wrap keyword.Parse's error", err)
	}
}

func TestLoadOptionalFields(t *testing.T) {
	t.Parallel()
	r, err := Load([]byte(doc(lineID, "kind: long_term", "thing_overflow: reject", "miniprogram_state: trial", "lang: en_US", lineKWs, lineKW,
		"  amount2: {from: total, format: amount}", "  date3: {from: day, format: time}", "  number4: {from: n, default: 7}")))
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := r.Lookup("t1")
	if tm.Kind != LongTerm || tm.ThingOverflow != "reject" || tm.MiniprogramState != "trial" || tm.Lang != "en_US" || tm.Page != "" {
		t.Errorf("t1 = %+v", tm)
	}
	if d := tm.Keywords[2].Default; d == nil || *d != "7" {
		t.Errorf("number4 default = %v, want \"7\" (a YAML number read as text)", d)
	}
}
