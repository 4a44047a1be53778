package httpapi

import (
	"slices"
	"testing"
)

func TestTopLevelKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		json string
		want []string
	}{
		{`{}`, nil},
		{`{"a":1,"b":"x"}`, []string{"a", "b"}},
		{` { "a" : "b:c" , "d":["e:", {"f":1}], "g":{"h":{"i":2}} } `, []string{"a", "d", "g"}},
		{`{"q\"uote":1,"b\\":2}`, []string{`q"uote`, `b\`}},
		{`{"\u0074emplate":"x"}`, []string{"template"}},
		{`{"a":"}","b":"{"}`, []string{"a", "b"}},
	} {
		if got := topLevelKeys([]byte(tc.json)); !slices.Equal(got, tc.want) {
			t.Errorf("topLevelKeys(%s) = %q; want %q", tc.json, got, tc.want)
		}
	}
}
