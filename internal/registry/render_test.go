package registry

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"
)

// orderArrivedData is a realistic order service request's data.
func orderArrivedData() map[string]any {
	return map[string]any{
		"item_name":       "牛肉面 x2",
		"order_id":        "TX20261124001",
		"arrived_at":      "2026-11-24T07:01:00Z",
		"pickup_location": "3号楼前台",
	}
}

func mustLookup(t testing.TB, r *Registry, name string) *Template {
	t.Helper()
	tm, ok := r.Lookup(name)
	if !ok {
		t.Fatalf("template %q not registered", name)
	}
	return tm
}

// testRegistry has templates exercising every format and both overflows.
func testRegistry(t testing.TB) *Registry {
	t.Helper()
	r, err := Load([]byte(`
templates:
  shorten:
    template_id: TID-S
    kind: one_time
    page: "pages/p/{path_part}?q={query_part}&n={n}"
    keywords:
      thing1: {from: item_name}
  reject:
    template_id: TID-R
    kind: one_time
    thing_overflow: reject
    keywords:
      thing1: {from: item_name}
  paid:
    template_id: TID-P
    kind: long_term
    keywords:
      amount1: {from: total, format: amount}
      date2: {from: day, format: date}
      date3: {from: at, format: time}
      enum4: {from: state, values: [已支付, 已退款]}
      number5: {from: count}
`))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRenderOrderArrived(t *testing.T) {
	t.Parallel()
	got, err := mustLookup(t, Default(), "order_arrived").Render(orderArrivedData())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"thing1": "牛肉面 x2", "character_string2": "TX20261124001", "time3": "2026年11月24日 15:01",
		"thing4": "3号楼前台", "thing5": "请凭取件码取件",
	}
	if !maps.Equal(got.Data, want) {
		t.Errorf("Data = %q\nwant %q", got.Data, want)
	}
	if got.Page != "pages/order/detail?id=TX20261124001" {
		t.Errorf("Page = %q", got.Page)
	}
}

func TestRenderRemarksGiven(t *testing.T) {
	t.Parallel()
	data := orderArrivedData()
	data["remarks"] = "放门口即可"
	got, err := mustLookup(t, Default(), "order_arrived").Render(data)
	if err != nil || got.Data["thing5"] != "放门口即可" {
		t.Errorf("thing5 = %q, %v", got.Data["thing5"], err)
	}
	data["remarks"] = nil // null → default
	got, err = mustLookup(t, Default(), "order_arrived").Render(data)
	if err != nil || got.Data["thing5"] != "请凭取件码取件" {
		t.Errorf("thing5 for null = %q, %v", got.Data["thing5"], err)
	}
}

func TestRenderTransitReminder(t *testing.T) {
	t.Parallel()
	tm := mustLookup(t, Default(), "transit_reminder")
	for _, departs := range []string{"2026-12-01", "2026-11-30T16:30:00Z", "2026-12-01T08:00:00+08:00"} {
		got, err := tm.Render(map[string]any{"trip": "上海 → 北京 G2", "departs_at": departs})
		if err != nil {
			t.Fatalf("departs_at %q: %v", departs, err)
		}
		want := map[string]string{"thing1": "上海 → 北京 G2", "date2": "2026年12月1日"}
		if !maps.Equal(got.Data, want) || got.Page != "" {
			t.Errorf("departs_at %q: %q page %q, want %q and no page", departs, got.Data, got.Page, want)
		}
	}
}

func TestRenderThingOverflow(t *testing.T) {
	t.Parallel()
	r := testRegistry(t)
	long := "超大份招牌红烧牛肉面加卤蛋加青菜加豆皮 x2" // 25 runes
	got, err := mustLookup(t, r, "shorten").Render(map[string]any{"item_name": "  " + long + " ", "path_part": "a", "query_part": "b", "n": 1})
	if err != nil {
		t.Fatal(err)
	}
	v := got.Data["thing1"]
	if v != "超大份招牌红烧牛肉面加卤蛋加青菜加豆皮…" || utf8.RuneCountInString(v) != 20 {
		t.Errorf("shortened thing1 = %q (%d runes)", v, utf8.RuneCountInString(v))
	}
	_, err = mustLookup(t, r, "reject").Render(map[string]any{"item_name": long})
	want := &FieldError{Field: "data.item_name", Keyword: "thing1", Message: "data.item_name → thing1: 22 characters, at most 20"}
	if fe, ok := err.(*FieldError); !ok || *fe != *want {
		t.Errorf("reject error = %#v, want %#v", err, want)
	}
}

func TestRenderFormats(t *testing.T) {
	t.Parallel()
	tm := mustLookup(t, testRegistry(t), "paid")
	tests := []struct {
		total, count any
		wantAmount   string
		wantCount    string
	}{
		{json.Number("18.5"), json.Number("3"), "¥18.50", "3"},
		{"7", 2, "¥7.00", "2"},
		{18.5, 2.5, "¥18.50", "2.5"},
		{int64(1200), int64(12), "¥1200.00", "12"},
		{"0.05", "0012", "¥0.05", "0012"},
		{json.Number("9.990"), 1, "¥9.99", "1"},
	}
	for _, tt := range tests {
		got, err := tm.Render(map[string]any{"total": tt.total, "day": "2026-11-24", "at": "2026-11-24T23:30:00-02:00", "state": "已退款", "count": tt.count})
		if err != nil {
			t.Fatalf("total %v: %v", tt.total, err)
		}
		want := map[string]string{"amount1": tt.wantAmount, "date2": "2026年11月24日", "date3": "2026年11月25日 09:30", "enum4": "已退款", "number5": tt.wantCount}
		if !maps.Equal(got.Data, want) {
			t.Errorf("total %v: %q\nwant %q", tt.total, got.Data, want)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	r := testRegistry(t)
	oa := mustLookup(t, Default(), "order_arrived")
	paid := mustLookup(t, r, "paid")
	paidData := func(k string, v any) map[string]any {
		d := map[string]any{"total": "1", "day": "2026-11-24", "at": "2026-11-24T15:01:00+08:00", "state": "已支付", "count": 1}
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
		return d
	}
	with := func(k string, v any) map[string]any {
		d := orderArrivedData()
		d[k] = v
		return d
	}
	without := func(k string) map[string]any {
		d := orderArrivedData()
		delete(d, k)
		return d
	}
	tests := []struct {
		name string
		tm   *Template
		data map[string]any
		want FieldError
	}{
		{"absent", oa, without("item_name"), FieldError{"data.item_name", "thing1", "data.item_name is required (thing1)"}},
		{"null", oa, with("item_name", nil), FieldError{"data.item_name", "thing1", "data.item_name is required (thing1)"}},
		{"nil data", oa, nil, FieldError{"data.order_id", "character_string2", "data.order_id is required (character_string2)"}},
		{"bool", oa, with("item_name", true), FieldError{"data.item_name", "thing1", "data.item_name must be a string or a number (thing1)"}},
		{"object", oa, with("order_id", map[string]any{}), FieldError{"data.order_id", "character_string2", "data.order_id must be a string or a number (character_string2)"}},
		{"array", oa, with("pickup_location", []any{"a"}), FieldError{"data.pickup_location", "thing4", "data.pickup_location must be a string or a number (thing4)"}},
		{"not a time", oa, with("arrived_at", "yesterday"), FieldError{"data.arrived_at", "time3",
			`data.arrived_at: "yesterday" is not an RFC 3339 time such as 2026-11-24T15:01:00+08:00 (time3)`}},
		{"time without zone", oa, with("arrived_at", "2026-11-24T15:01:00"), FieldError{"data.arrived_at", "time3",
			`data.arrived_at: "2026-11-24T15:01:00" is not an RFC 3339 time such as 2026-11-24T15:01:00+08:00 (time3)`}},
		{"time out of range", oa, with("arrived_at", "9999-12-31T23:00:00Z"), FieldError{"data.arrived_at", "time3",
			`data.arrived_at: "9999-12-31T23:00:00Z" is year 10000 in China time, outside 1 to 9999 (time3)`}},
		{"not a date", paid, paidData("day", "24/11/2026"), FieldError{"data.day", "date2",
			`data.day: "24/11/2026" is not a date such as 2026-11-24 or an RFC 3339 time such as 2026-11-24T15:01:00+08:00 (date2)`}},
		{"year zero", paid, paidData("day", "0000-01-01"), FieldError{"data.day", "date2",
			`data.day: "0000-01-01" is year 0 in China time, outside 1 to 9999 (date2)`}},
		{"not an amount", paid, paidData("total", "18,50"), FieldError{"data.total", "amount1",
			`data.total: "18,50" is not an amount such as 18.50 (digits, optionally a point and up to 2 decimals) (amount1)`}},
		{"amount exponent", paid, paidData("total", json.Number("1e3")), FieldError{"data.total", "amount1",
			`data.total: "1e3" is not an amount such as 18.50 (digits, optionally a point and up to 2 decimals) (amount1)`}},
		{"negative amount", paid, paidData("total", -3), FieldError{"data.total", "amount1",
			`data.total: "-3" is negative (want an amount such as 18.50) (amount1)`}},
		{"amount decimals", paid, paidData("total", "18.505"), FieldError{"data.total", "amount1",
			`data.total: "18.505" has more than 2 decimal places (amount1)`}},
		{"amount too many digits", paid, paidData("total", "123456789"), FieldError{"data.total", "amount1",
			"data.total → amount1: 11 digits, at most 10"}},
		{"enum", paid, paidData("state", "已发货"), FieldError{"data.state", "enum4", `data.state → enum4: "已发货" is not one of the template's values`}},
		{"number", paid, paidData("count", "three"), FieldError{"data.count", "number5",
			`data.count → number5: "three" is not a number (digits with at most one decimal point)`}},
		{"empty thing", oa, with("item_name", ""), FieldError{"data.item_name", "thing1", "data.item_name → thing1: empty"}},
		{"character_string", oa, with("order_id", "订单 1"), FieldError{"data.order_id", "character_string2",
			`data.order_id → character_string2: "订单 1" has "订", only ASCII letters, digits and symbols allowed`}},
		{"blank long thing", oa, with("item_name", strings.Repeat(" ", 25)), FieldError{"data.item_name", "thing1", "data.item_name → thing1: empty"}},
		{"first error wins", oa, map[string]any{"arrived_at": "x"}, FieldError{"data.order_id", "character_string2", "data.order_id is required (character_string2)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.tm.Render(tt.data)
			fe, ok := err.(*FieldError)
			if !ok {
				t.Fatalf("Render = %q, %v; want *FieldError %q", got.Data, err, tt.want.Message)
			}
			if *fe != tt.want {
				t.Errorf("FieldError\n got %#v\nwant %#v", *fe, tt.want)
			}
			if fe.Error() != fe.Message {
				t.Errorf("Error() = %q, want the Message", fe.Error())
			}
			if got.Data != nil || got.Page != "" {
				t.Errorf("Render returned %+v with its error", got)
			}
		})
	}
}

func BenchmarkRenderOrderArrived(b *testing.B) {
	tm := mustLookup(b, Default(), "order_arrived")
	data := orderArrivedData()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tm.Render(data); err != nil {
			b.Fatal(err)
		}
	}
}
