package httpapi_test

import (
	"testing"
)

// grantOf returns the remaining/subscribed value of a template in a grants answer.
func grantOf(t *testing.T, r reply, template string) any {
	t.Helper()
	list, _ := r.body["grants"].([]any)
	for _, g := range list {
		m := g.(map[string]any)
		if m["template"] == template {
			if v, ok := m["remaining"]; ok {
				return v
			}
			return m["subscribed"]
		}
	}
	t.Fatalf("no %s in %s", template, r.raw)
	return nil
}

func TestSubscriptionsCountGrants(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	token, _ := e.login("")
	accept := map[string]string{orderTmpl: "accept", transitTpl: "accept", "errMsg": "requestSubscribeMessage:ok"}

	r := e.do("POST", "/v1/subscriptions", bearer(token), accept)
	e.want(r, 200, "")
	if grantOf(t, r, "order_arrived") != float64(1) || grantOf(t, r, "transit_reminder") != true {
		t.Fatalf("after one accept: %s", r.raw)
	}
	r = e.do("POST", "/v1/subscriptions", bearer(token), accept)
	if grantOf(t, r, "order_arrived") != float64(2) || grantOf(t, r, "transit_reminder") != true {
		t.Fatalf("after two accepts: %s; one-time accepts accumulate, long-term stays subscribed", r.raw)
	}
	r = e.do("POST", "/v1/subscriptions", bearer(token), map[string]string{orderTmpl: "filter", "errMsg": "requestSubscribeMessage:ok"})
	if grantOf(t, r, "order_arrived") != float64(2) {
		t.Fatalf("filter changed the grants: %s", r.raw)
	}
	r = e.do("POST", "/v1/subscriptions", bearer(token), map[string]string{orderTmpl: "reject", transitTpl: "ban", "errMsg": "requestSubscribeMessage:ok"})
	if grantOf(t, r, "order_arrived") != float64(0) || grantOf(t, r, "transit_reminder") != false {
		t.Fatalf("after reject and ban: %s", r.raw)
	}
	got := e.do("GET", "/v1/subscriptions", bearer(token), nil)
	e.want(got, 200, "")
	if grantOf(t, got, "order_arrived") != float64(0) {
		t.Fatalf("GET /v1/subscriptions: %s", got.raw)
	}
}

func TestSubscriptionsRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	token, _ := e.login("")
	ok := map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok"}
	e.want(e.do("POST", "/v1/subscriptions", "", ok), 401, "unauthorized")
	// A token one character off (never the same character: a token that
	// starts with x would otherwise stay valid, one run in 64).
	forged := "x" + token[1:]
	if token[0] == 'x' {
		forged = "y" + token[1:]
	}
	e.want(e.do("POST", "/v1/subscriptions", bearer(forged), ok), 401, "invalid_session")
	e.want(e.do("GET", "/v1/subscriptions", bearer("not-a-session"), nil), 401, "invalid_session")
	e.want(e.do("POST", "/v1/subscriptions", bearer(apiKey), ok), 401, "invalid_session")

	for _, tc := range []struct {
		body  any
		code  string
		field string
	}{
		{map[string]string{"unknownTemplateId": "accept", "errMsg": "requestSubscribeMessage:ok"}, "unknown_template", "unknownTemplateId"},
		{map[string]string{orderTmpl: "yes", "errMsg": "requestSubscribeMessage:ok"}, "invalid_field", orderTmpl},
		{map[string]any{orderTmpl: 1, "errMsg": "requestSubscribeMessage:ok"}, "invalid_field", orderTmpl},
		{map[string]string{orderTmpl: "accept"}, "invalid_field", "errMsg"},
		{map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:fail cancel"}, "invalid_field", "errMsg"},
		{map[string]string{"errMsg": "requestSubscribeMessage:ok"}, "invalid_field", ""},
		{"[]", "invalid_json", ""},
		{`{"` + orderTmpl + `":"accept","errMsg":"requestSubscribeMessage:ok"} trailing`, "invalid_json", ""},
		{`{"` + orderTmpl + `":"accept","errMsg":"requestSubscribeMessage:ok"}]`, "invalid_json", ""},
		{`{"` + orderTmpl + `":"accept","errMsg":"requestSubscribeMessage:fail","errMsg":"requestSubscribeMessage:ok"}`, "duplicate_field", "errMsg"},
		{"null", "invalid_json", ""},
	} {
		r := e.do("POST", "/v1/subscriptions", bearer(token), tc.body)
		e.want(r, 400, tc.code)
		if r.errField() != tc.field {
			t.Errorf("body %v: field %q; want %q", tc.body, r.errField(), tc.field)
		}
	}
	// None of the refused requests changed anything.
	if r := e.do("GET", "/v1/subscriptions", bearer(token), nil); grantOf(t, r, "order_arrived") != float64(0) {
		t.Fatalf("grants after refusals: %s", r.raw)
	}
}

// A session only ever touches its own user's grants.
func TestOneUserCannotTouchAnothersGrants(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	alice, _ := e.login("")
	bob, _ := e.login("")
	e.do("POST", "/v1/subscriptions", bearer(alice), map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok"})
	// There is no naming another user in the body: every key is a template id.
	r := e.do("POST", "/v1/subscriptions", bearer(bob), map[string]string{"user_id": "alice", orderTmpl: "reject", "errMsg": "requestSubscribeMessage:ok"})
	e.want(r, 400, "invalid_field")
	e.do("POST", "/v1/subscriptions", bearer(bob), map[string]string{orderTmpl: "reject", "errMsg": "requestSubscribeMessage:ok"})
	if r := e.do("GET", "/v1/subscriptions", bearer(alice), nil); grantOf(t, r, "order_arrived") != float64(1) {
		t.Fatalf("alice's grants after bob's reject: %s", r.raw)
	}
}

// Some clients put errCode 0 beside errMsg on success: it is not a template id.
func TestSubscriptionsTolerateErrCode(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	token, _ := e.login("")
	r := e.do("POST", "/v1/subscriptions", bearer(token), map[string]any{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok", "errCode": 0})
	e.want(r, 200, "")
	if grantOf(t, r, "order_arrived") != float64(1) {
		t.Fatalf("grants %s", r.raw)
	}
}
