package httpapi

import "testing"

// A key may act as every app (API_KEYS), or as the apps whose api_keys list
// it: listed by two apps it acts as both, and listed by an app as well as in
// API_KEYS it still acts as every app.
func TestKeyRingScopes(t *testing.T) {
	t.Parallel()
	shop := &App{Name: "shop", APIKeys: []string{"shared-key-000001", "shop-key-00000001", "every-app-key-001"}}
	club := &App{Name: "club", APIKeys: []string{"shared-key-000001"}}
	news := &App{Name: "news"}
	ring := newKeyRing([]string{"every-app-key-001"}, apps{shop, club, news})
	for _, tc := range []struct {
		key  string
		want map[*App]bool
	}{
		{"every-app-key-001", map[*App]bool{shop: true, club: true, news: true}},
		{"shared-key-000001", map[*App]bool{shop: true, club: true, news: false}},
		{"shop-key-00000001", map[*App]bool{shop: true, club: false, news: false}},
	} {
		k, ok := ring.find(tc.key)
		if !ok {
			t.Fatalf("%s not found", tc.key)
		}
		for a, want := range tc.want {
			if k.allows(a) != want {
				t.Errorf("%s acting as %s: %v; want %v", tc.key, a.Name, !want, want)
			}
		}
	}
	if _, ok := ring.find("unknown-key-00001"); ok {
		t.Error("an unknown key was found")
	}
	if len(ring) != 3 {
		t.Errorf("%d entries; want one per distinct key", len(ring))
	}
}
