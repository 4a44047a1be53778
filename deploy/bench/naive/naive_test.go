package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"wxnotify/internal/registry"
)

// The naive worker sends what wxnotify sends for the same call: the same
// template, page, state, language and keyword values, so that the bench
// compares the same bytes to WeChat.
func TestMessageMatchesWxnotify(t *testing.T) {
	for _, data := range []string{
		`{"item_name": "牛肉面 x2", "order_id": "TX20261124001", "arrived_at": "2026-11-24T15:01:00+08:00", "pickup_location": "3号楼前台"}`,
		`{"item_name": "a", "order_id": "A-1", "arrived_at": "2026-01-02T03:04:05Z", "pickup_location": "b", "remarks": "c"}`,
	} {
		var fields map[string]any
		if err := json.Unmarshal([]byte(data), &fields); err != nil {
			t.Fatal(err)
		}
		tmpl, ok := registry.Default().Lookup("order_arrived")
		if !ok {
			t.Fatal("no order_arrived in the registry")
		}
		want, err := tmpl.Render(fields)
		if err != nil {
			t.Fatal(err)
		}
		var p orderArrivedTask
		if err := json.Unmarshal([]byte(`{"openid": "o-1", "data": `+data+`}`), &p); err != nil {
			t.Fatal(err)
		}
		got := orderArrivedMessage(p)
		if got.TemplateID != tmpl.TemplateID || got.Page != want.Page || got.MiniprogramState != tmpl.MiniprogramState || got.Lang != tmpl.Lang || got.ToUser != "o-1" {
			t.Errorf("message %+v; wxnotify: template %s page %q state %s lang %s", got, tmpl.TemplateID, want.Page, tmpl.MiniprogramState, tmpl.Lang)
		}
		if len(got.Data) != len(want.Data) {
			t.Errorf("keywords %v; wxnotify %v", got.Data, want.Data)
		}
		for k, v := range want.Data {
			if item := got.Data[k]; item == nil || item.Value != v {
				t.Errorf("%s = %+v; wxnotify %q", k, item, v)
			}
		}
	}
}

// silenceper's fixed URLs reach the sandbox with path and query intact.
func TestRedirect(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Host + " " + r.URL.RequestURI()
		_, _ = io.WriteString(w, "{}")
	}))
	defer srv.Close()
	to, _ := url.Parse(srv.URL)
	c := &http.Client{Transport: redirect{to: to, next: http.DefaultTransport}}
	resp, err := c.Post("https://api.weixin.qq.com/cgi-bin/message/subscribe/send?access_token=T", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := to.Host + " /cgi-bin/message/subscribe/send?access_token=T"; got != want {
		t.Fatalf("sandbox saw %q; want %q", got, want)
	}
}

// Exactly one mode, and the addresses it needs.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{}, {"-api", "-worker", "-redis", "x:1"}, {"-api", "-api-key", "k"}, {"-api", "-redis", "x:1"}, {"-worker", "-redis", "x:1"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	if _, err := parseFlags([]string{"-worker", "-redis", "x:1", "-appid", "a", "-secret", "s"}, io.Discard); err != nil {
		t.Error(err)
	}
}
