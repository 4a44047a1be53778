package registry

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

func TestParsePage(t *testing.T) {
	t.Parallel()
	got, err := parsePage("pages/{a}{b}/x?y={c}&z=1")
	if err != nil {
		t.Fatal(err)
	}
	want := []pageSegment{
		{text: "pages/"}, {text: "a", field: true}, {text: "b", field: true},
		{text: "/x?y="}, {text: "c", field: true, query: true}, {text: "&z=1"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parsePage = %+v\nwant %+v", got, want)
	}
}

func TestRenderPage(t *testing.T) {
	t.Parallel()
	tm := mustLookup(t, testRegistry(t), "shorten")
	got, err := tm.Render(map[string]any{"item_name": "面", "path_part": "a b&c/d 面", "query_part": "a b&c/d=面?", "n": json.Number("12.5")})
	if err != nil {
		t.Fatal(err)
	}
	if want := "pages/p/a%20b&c%2Fd%20%E9%9D%A2?q=a+b%26c%2Fd%3D%E9%9D%A2%3F&n=12.5"; got.Page != want {
		t.Errorf("Page = %q\nwant %q", got.Page, want)
	}
	base := map[string]any{"item_name": "面", "path_part": "a", "query_part": "b", "n": 1}
	for _, tc := range []struct {
		field string
		value any
		want  FieldError
	}{
		{"query_part", nil, FieldError{Field: "data.query_part", Message: "data.query_part is required (page)"}},
		{"n", false, FieldError{Field: "data.n", Message: "data.n must be a string or a number (page)"}},
	} {
		d := maps.Clone(base)
		if tc.value == nil {
			delete(d, tc.field)
		} else {
			d[tc.field] = tc.value
		}
		_, err := tm.Render(d)
		if fe, ok := err.(*FieldError); !ok || *fe != tc.want {
			t.Errorf("%s = %v: error %#v, want %#v", tc.field, tc.value, err, tc.want)
		}
	}
}

func TestRenderHandBuiltTemplate(t *testing.T) {
	t.Parallel()
	oa := *mustLookup(t, Default(), "order_arrived")
	oa.page = nil // as if built by hand: Render parses Page itself
	oa.ThingOverflow = ""
	got, err := oa.Render(orderArrivedData())
	if err != nil || got.Page != "pages/order/detail?id=TX20261124001" {
		t.Errorf("Render = %+v, %v", got, err)
	}
	oa.Page = "pages/{x"
	_, err = oa.Render(orderArrivedData())
	if fe, ok := err.(*FieldError); !ok || fe.Field != "page" {
		t.Errorf("invalid hand-built page: error %#v, want a FieldError for page", err)
	}
}
