package registry

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"wxnotify/internal/keyword"
)

// FuzzLoad checks that Load never panics, returns a registry exactly when
// it returns no error, and that what it accepts is consistent.
func FuzzLoad(f *testing.F) {
	f.Add(defaultYAML)
	f.Add([]byte(doc(lineID, lineKind, "page: pages/a/{x}?b={y}&c=1", lineKWs, lineKW, "  enum2: {from: e, values: [a, b], default: a}")))
	f.Add([]byte(`{"templates":{"t":{"template_id":"x","kind":"long_term","keywords":{"amount1":{"from":"a","format":"amount"}}}}}`))
	f.Add([]byte(doc(lineID, lineKind, "page: /x{", lineKWs, "  colour1: {from: c}")))
	f.Add([]byte("templates:\n  t1: &a {template_id: x}\n  t2: *a\n"))
	f.Add([]byte("templates: !!map {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Load(data)
		if (r == nil) == (err == nil) {
			t.Fatalf("Load = %v, %v: want exactly one of registry and error", r, err)
		}
		if err != nil {
			return
		}
		ts := r.Templates()
		if len(ts) == 0 {
			t.Fatal("a loaded registry has no templates")
		}
		for i, tm := range ts {
			if i > 0 && ts[i-1].Name >= tm.Name {
				t.Errorf("Templates not sorted: %q before %q", ts[i-1].Name, tm.Name)
			}
			if got, _ := r.Lookup(tm.Name); got != tm {
				t.Errorf("Lookup(%q) = %p, want %p", tm.Name, got, tm)
			}
			if got, _ := r.ByTemplateID(tm.TemplateID); got != tm {
				t.Errorf("ByTemplateID(%q) = %p, want %p", tm.TemplateID, got, tm)
			}
			if len(tm.Keywords) == 0 {
				t.Errorf("%s has no keywords", tm.Name)
			}
			for _, kw := range tm.Keywords {
				if kw.Default != nil {
					if err := kw.Spec.Check(*kw.Default); err != nil {
						t.Errorf("%s.%s: default %q accepted but fails Check: %v", tm.Name, kw.Key, *kw.Default, err)
					}
				}
			}
		}
	})
}

// fuzzRegistry has templates covering every format, enum and both overflows.
const fuzzRegistry = `
templates:
  all:
    template_id: TID-ALL
    kind: one_time
    page: "pages/p/{a}/x?b={b}&c={c}"
    thing_overflow: reject
    keywords:
      amount1: {from: a, format: amount}
      date2: {from: b, format: date}
      time3: {from: c, format: time}
      date4: {from: c, format: time}
      enum5: {from: d, values: [甲, 乙], default: 甲}
      number6: {from: e}
      phrase7: {from: d, default: 配送中}
      name8: {from: a}
`

// FuzzRender checks that Render never panics, returns a *FieldError on
// failure, and on success yields values every keyword accepts.
func FuzzRender(f *testing.F) {
	f.Add("牛肉面 x2", "TX20261124001", "2026-11-24T07:01:00Z", "3号楼前台", "", uint8(0), 18.5)
	f.Add("超大份招牌红烧牛肉面加卤蛋加青菜加豆皮 x2", "a b&c/d", "2026-11-24", "已支付", "1.50", uint8(0x1f), -1.0)
	f.Add("\x00", "", "9999-12-31T23:59:59Z", " ", "1e3", uint8(0xff), 1e300)
	r, err := Load([]byte(fuzzRegistry))
	if err != nil {
		f.Fatal(err)
	}
	templates := append(Default().Templates(), r.Templates()...)
	f.Fuzz(func(t *testing.T, s1, s2, s3, s4, s5 string, shape uint8, num float64) {
		values := []any{s1, s2, s3, s4, s5, json.Number(s5), num}
		fields := []string{"item_name", "order_id", "arrived_at", "pickup_location", "remarks", "trip", "departs_at", "a", "b", "c", "d", "e"}
		data := map[string]any{}
		for i, field := range fields {
			switch shape >> (i % 8) & 3 {
			case 0:
				data[field] = values[i%5]
			case 1:
				data[field] = values[(i+int(shape))%len(values)]
			case 2:
				if i%2 == 0 {
					data[field] = nil
				} // else absent
			case 3:
				data[field] = values[(i+3)%5]
			}
		}
		for _, tm := range templates {
			got, err := tm.Render(data)
			if err != nil {
				fe, ok := err.(*FieldError)
				if !ok || fe.Message == "" || !strings.HasPrefix(fe.Field, "data.") {
					t.Fatalf("%s: error %#v is not a *FieldError naming a data field", tm.Name, err)
				}
				if got.Data != nil || got.Page != "" {
					t.Errorf("%s: Render returned %+v with its error", tm.Name, got)
				}
				continue
			}
			if len(got.Data) != len(tm.Keywords) {
				t.Errorf("%s: %d values for %d keywords", tm.Name, len(got.Data), len(tm.Keywords))
			}
			for _, kw := range tm.Keywords {
				v, ok := got.Data[kw.Key]
				if !ok {
					t.Fatalf("%s: no value for %s", tm.Name, kw.Key)
				}
				if err := kw.Spec.Check(v); err != nil {
					t.Errorf("%s: %s = %q fails Spec.Check: %v", tm.Name, kw.Key, v, err)
				}
				if kw.Spec.Type != keyword.Enum {
					if err := keyword.Check(kw.Key, v); err != nil {
						t.Errorf("%s: %s = %q fails keyword.Check: %v", tm.Name, kw.Key, v, err)
					}
				}
			}
			if !utf8.ValidString(got.Page) || strings.ContainsAny(got.Page, " {}") {
				t.Errorf("%s: page %q is not a filled, escaped path", tm.Name, got.Page)
			}
		}
	})
}
