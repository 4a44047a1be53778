package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/httpapi/contract"
	"wxnotify/internal/registry"
	"wxnotify/internal/task"
)

// The fuzz targets below send arbitrary bytes as the body of each POST
// endpoint through the real router (real Redis, real WeChat sandbox) and
// check that no body gets a panic or a 5xx, that every 4xx carries the
// {"error":{"code":…,"message":…}} body, and, per endpoint, that what was
// accepted is consistent. `go test` replays the seeds added here and those
// in testdata/fuzz/<FuzzName>/; to explore, run for example
//
//	go test -run XXX -fuzz '^FuzzLoginBody$' -fuzztime 60s -fuzzminimizetime 3s ./internal/httpapi
//
// Each input is an HTTP round trip (a few hundred µs), so the default
// minimisation budget of 60 s per new input stalls fuzzing for tens of
// seconds at a time; -fuzzminimizetime 3s keeps the workers fuzzing.

// fuzzSetup builds one env for a whole fuzz target (seed replay and every
// fuzz worker): setup with the *testing.F, whose cleanup runs at the end.
func fuzzSetup(f *testing.F, loginPerMin int) *env {
	f.Helper()
	return setup(f, options{loginPerMin: loginPerMin})
}

// fuzzAs is the shared env bound to one input's test, with the log emptied
// so that a failure shows only this input's log lines. Inputs run one at a
// time within a process (seed replay runs them as sequential subtests, a
// fuzz worker one after another), so sharing the env is safe.
func (e *env) fuzzAs(t *testing.T) *env {
	t.Helper()
	e.logs.Reset()
	c := *e
	c.t = t
	c.client = contract.Client(t, 0) // report drift to this input's test, not to the *testing.F
	return &c
}

// fuzzLogin logs a new sandbox user in and returns the session token; it
// works with the *testing.F, before f.Fuzz, where env.login cannot.
func fuzzLogin(tb testing.TB, e *env) string {
	tb.Helper()
	code, _ := e.sb.Login("", "", false)
	resp, err := e.client.Post(e.url+"/v1/wx/login", "application/json", strings.NewReader(`{"code":"`+code+`"}`))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		SessionToken string `json:"session_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.SessionToken == "" {
		tb.Fatalf("login: %d, %v", resp.StatusCode, err)
	}
	return out.SessionToken
}

// fuzzCheck fails the input unless the answer's status is one of allowed
// (never a 5xx: Redis and the sandbox are up throughout) and, for a 4xx,
// the body is exactly {"error":{"code":"…","message":"…","field":"…"}}
// with a non-empty code and message (field is empty when the error is not
// about one field). e.do also holds every answer to openapi.yaml.
func (e *env) fuzzCheck(r reply, sent []byte, allowed ...int) {
	e.t.Helper()
	if r.status >= 500 || !slices.Contains(allowed, r.status) {
		e.t.Fatalf("body %q: answered %d %s; want one of %v\nlog of this request:\n%s", sent, r.status, r.raw, allowed, e.logs.String())
	}
	if r.status < 400 {
		if !json.Valid([]byte(r.raw)) {
			e.t.Fatalf("body %q: %d answer is not JSON: %q", sent, r.status, r.raw)
		}
		return
	}
	var eb struct {
		Error *struct {
			Code    *string `json:"code"`
			Message *string `json:"message"`
			Field   *string `json:"field"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(r.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil || dec.More() || eb.Error == nil ||
		eb.Error.Code == nil || *eb.Error.Code == "" || eb.Error.Message == nil || *eb.Error.Message == "" ||
		eb.Error.Field == nil {
		e.t.Fatalf("body %q: %d answer %q is not {\"error\":{\"code\":…,\"message\":…,\"field\":…}} (%v)", sent, r.status, r.raw, err)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e.t.Fatalf("body %q: %d error answer has Content-Type %q", sent, r.status, ct)
	}
	switch {
	case r.status == http.StatusRequestEntityTooLarge && *eb.Error.Code != "body_too_large":
		e.t.Fatalf("body of %d bytes: 413 with code %q", len(sent), *eb.Error.Code)
	case r.status == http.StatusRequestEntityTooLarge && len(sent) <= 64<<10:
		e.t.Fatalf("body of %d bytes, under the 64 KiB cap: 413", len(sent))
	case len(sent) > 64<<10 && r.status != http.StatusRequestEntityTooLarge && r.status != http.StatusTooManyRequests:
		e.t.Fatalf("body of %d bytes, over the 64 KiB cap: %d %s; want 413", len(sent), r.status, r.raw)
	}
}

// fuzzCodeMark in a login body is replaced by a fresh wx.login code from
// the sandbox before sending, so that the fuzzer also reaches the accepted
// path (bind, session) and mutates around valid logins; a body without it
// can only carry codes WeChat never issued.
const fuzzCodeMark = "$CODE"

// fuzzLoginPerMin replaces setup's 1000 logins a minute: the fuzzer sends
// thousands a second from one IP, and with the usual limit every input after
// the first thousand would stop at the limiter with 429, before the body is
// even read. 429 stays a valid answer (and is checked for Retry-After and
// the error body); the limiter itself is tested in login_test.go.
const fuzzLoginPerMin = 100_000_000

func FuzzLoginBody(f *testing.F) {
	long := strings.Repeat("a", 128)
	for _, s := range []string{
		`{"code":"$CODE"}`,
		`{"code":"$CODE"}` + "\n",
		` {"code" : "$CODE"} `,
		`{"CODE":"$CODE"}`, // encoding/json matches field names case-insensitively
		`{"code":"$CODE","code":"0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p"}`,
		`{"code":"0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p"}`,
		`{"code":"` + long + `"}`,
		`{"code":"` + long + `a"}`,
		`{"code":"$CODE$CODE$CODE$CODE$CODE"}`,
		`{"code":""}`, `{"code":" "}`, `{"code":null}`, `{"code":0}`, `{"code":1e999999}`,
		`{"code":true}`, `{"code":["$CODE"]}`, `{"code":{"code":"$CODE"}}`,
		`{"code":"微信登录码"}`, `{"code":"\u0000"}`, `{"code":"\ud800"}`, "{\"code\":\"\xff\xfe\"}",
		`{"code":"a&secret=x&grant_type=y#z"}`, `{"code":"../../sns/jscode2session?js_code=x"}`,
		`{"code":"$CODE","extra":1}`, `{"code":"$CODE","user_id":"someone-else"}`, `{"js_code":"$CODE"}`,
		`{"code":"$CODE"}{"code":"$CODE"}`, `{"code":"$CODE"}]`, `{"code":"$CODE"}}`, `{"code":"$CODE"} x`,
		`{"code":"$CODE"`, `{"code":`, `{`, `}`, "\ufeff" + `{"code":"$CODE"}`,
		``, ` `, "\n\t", `null`, `[]`, `{}`, `""`, `"$CODE"`, `0`, `[{"code":"$CODE"}]`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		`{"code":"` + strings.Repeat("码", 70<<10/3) + `"}`, // over the 64 KiB cap
	} {
		f.Add([]byte(s))
	}
	e := fuzzSetup(f, fuzzLoginPerMin)
	f.Fuzz(func(t *testing.T, body []byte) {
		e := e.fuzzAs(t)
		sent := body
		if bytes.Contains(body, []byte(fuzzCodeMark)) {
			code, _ := e.sb.Login("", "", false)
			sent = bytes.ReplaceAll(body, []byte(fuzzCodeMark), []byte(code))
		}
		r := e.do("POST", "/v1/wx/login", "", string(sent))
		e.fuzzCheck(r, sent, 200, 400, 401, 413, 429)
		switch r.status {
		case http.StatusTooManyRequests:
			if r.header.Get("Retry-After") == "" || r.errCode() != "rate_limited" {
				t.Fatalf("429 %s without Retry-After or code rate_limited", r.raw)
			}
		case http.StatusOK:
			if !bytes.Contains(body, []byte(fuzzCodeMark)) {
				t.Fatalf("body %q: 200 %s for a code the sandbox never issued", sent, r.raw)
			}
			token := str(r.body, "session_token")
			expires, err := time.Parse(time.RFC3339, str(r.body, "expires_at"))
			if token == "" || str(r.body, "user_id") == "" || err != nil || !expires.After(time.Now()) {
				t.Fatalf("body %q: 200 with %s", sent, r.raw)
			}
			e.want(e.do("GET", "/v1/subscriptions", bearer(token), nil), 200, "")
		}
	})
}

// fuzzGrants checks a grants answer (of POST or GET /v1/subscriptions): one
// entry per registry template, one-time ones with a non-negative integer
// remaining, long-term ones with a boolean subscribed. It returns the
// grants by template id (subscribed as 0 or 1).
func (e *env) fuzzGrants(r reply, sent []byte) map[string]int {
	e.t.Helper()
	var g struct {
		UserID string `json:"user_id"`
		Grants []struct {
			Template   string           `json:"template"`
			TemplateID string           `json:"template_id"`
			Kind       string           `json:"kind"`
			Remaining  *json.RawMessage `json:"remaining"`
			Subscribed *bool            `json:"subscribed"`
		} `json:"grants"`
	}
	dec := json.NewDecoder(strings.NewReader(r.raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&g); err != nil || g.UserID == "" {
		e.t.Fatalf("body %q: grants answer %s: %v", sent, r.raw, err)
	}
	out := map[string]int{}
	for _, v := range g.Grants {
		t, ok := registry.Default().ByTemplateID(v.TemplateID)
		if !ok || t.Name != v.Template || string(t.Kind) != v.Kind {
			e.t.Fatalf("body %q: grants answer %s lists %+v, not a registry template", sent, r.raw, v)
		}
		if _, dup := out[v.TemplateID]; dup {
			e.t.Fatalf("body %q: grants answer %s lists %s twice", sent, r.raw, v.TemplateID)
		}
		switch t.Kind {
		case registry.LongTerm:
			if v.Subscribed == nil || v.Remaining != nil {
				e.t.Fatalf("body %q: long-term grant %s in %s", sent, v.Template, r.raw)
			}
			out[v.TemplateID] = 0
			if *v.Subscribed {
				out[v.TemplateID] = 1
			}
		default:
			var n int
			// Unmarshalling into an int refuses fractions, exponents and overflow.
			if v.Subscribed != nil || v.Remaining == nil || json.Unmarshal(*v.Remaining, &n) != nil || n < 0 {
				e.t.Fatalf("body %q: one-time grant %s in %s; want a non-negative integer remaining", sent, v.Template, r.raw)
			}
			out[v.TemplateID] = n
		}
	}
	if len(out) != len(registry.Default().Templates()) {
		e.t.Fatalf("body %q: grants answer %s does not list every template", sent, r.raw)
	}
	return out
}

func FuzzSubscriptionsBody(f *testing.F) {
	const ok = `"errMsg":"requestSubscribeMessage:ok"`
	many := func(n int) string {
		var b strings.Builder
		b.WriteString("{" + ok)
		for i := range n {
			b.WriteString(`,"` + orderTmpl[:len(orderTmpl)-3] + string(rune('A'+i/26)) + string(rune('a'+i%26)) + `x":"accept"`)
		}
		return b.String() + "}"
	}
	for _, s := range []string{
		`{"` + orderTmpl + `":"accept",` + ok + `}`,
		`{"` + orderTmpl + `":"accept","` + transitTpl + `":"accept",` + ok + `}`,
		`{` + ok + `,"` + orderTmpl + `":"reject","` + transitTpl + `":"ban"}`,
		`{"` + orderTmpl + `":"filter","` + transitTpl + `":"filter",` + ok + `}`,
		`{"` + orderTmpl + `":"accept","` + orderTmpl + `":"reject",` + ok + `}`,
		`{"\u005Ax8qLtOrderArrived0000000000000000000000000":"accept",` + ok + `}`,
		`{"` + orderTmpl + `":"accept",` + ok + `,` + ok + `}`,
		`{"` + orderTmpl + `":"accept",` + ok + `} {"` + orderTmpl + `":"accept",` + ok + `}`,
		`{"` + orderTmpl + `":"accept",` + ok + `}]`,
		`{"` + orderTmpl + `":"accept",` + ok + `} trailing`,
		// errMsg variants
		`{"` + orderTmpl + `":"accept"}`,
		`{"` + orderTmpl + `":"accept","errMsg":"requestSubscribeMessage:fail cancel"}`,
		`{"errMsg":"requestSubscribeMessage:fail can only be invoked by user TAP gesture.","errCode":20004}`,
		`{"` + orderTmpl + `":"accept","errMsg":"requestSubscribeMessage:ok ","errCode":0}`,
		`{"` + orderTmpl + `":"accept","errMsg":"REQUESTSUBSCRIBEMESSAGE:OK"}`,
		`{"` + orderTmpl + `":"accept","errmsg":"requestSubscribeMessage:ok"}`,
		`{"` + orderTmpl + `":"accept","errMsg":null}`,
		`{"` + orderTmpl + `":"accept","errMsg":["requestSubscribeMessage:ok"]}`,
		`{"` + orderTmpl + `":"accept","errMsg":"requestSubscribeMessage\u003aok"}`,
		`{` + ok + `}`,
		`{` + ok + `,"errCode":0}`,
		// results
		`{"` + orderTmpl + `":"ACCEPT",` + ok + `}`,
		`{"` + orderTmpl + `":"accept ",` + ok + `}`,
		`{"` + orderTmpl + `":1,` + ok + `}`,
		`{"` + orderTmpl + `":-1e999,` + ok + `}`,
		`{"` + orderTmpl + `":true,` + ok + `}`,
		`{"` + orderTmpl + `":null,` + ok + `}`,
		`{"` + orderTmpl + `":["accept"],` + ok + `}`,
		`{"` + orderTmpl + `":{"result":"accept"},` + ok + `}`,
		`{"` + orderTmpl + `":"` + strings.Repeat("accept", 2000) + `",` + ok + `}`,
		// template ids
		`{"unknownTemplateId":"accept",` + ok + `}`,
		`{"order_arrived":"accept",` + ok + `}`,
		`{"Ｚx8qLtOrderArrived0000000000000000000000000":"accept",` + ok + `}`,
		`{"` + orderTmpl + ` ":"accept",` + ok + `}`,
		`{"订阅模板🍜":"accept",` + ok + `}`,
		"{\"\xff\xfe\":\"accept\"," + ok + "}",
		`{"":"accept",` + ok + `}`,
		`{"user_id":"alice","` + orderTmpl + `":"reject",` + ok + `}`,
		`{"` + strings.Repeat("Zx8q", 1000) + `":"accept",` + ok + `}`,
		many(20), many(21),
		// not the object
		``, ` `, `null`, `[]`, `[{` + ok + `}]`, `""`, `"accept"`, `0`, `{}`, `{`, `{"` + orderTmpl + `":"accept",`,
		"\ufeff{" + ok + "}",
		strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat(`}`, 10001),
		`{"` + orderTmpl + `":"accept",` + ok + `,"pad":"` + strings.Repeat("x", 65<<10) + `"}`,
	} {
		f.Add([]byte(s))
	}
	e := fuzzSetup(f, 1000)
	token := fuzzLogin(f, e)
	auth := bearer(token)
	// grants is what the user holds as of the last accepted body: a refused
	// body must leave it unchanged.
	var grants map[string]int
	f.Fuzz(func(t *testing.T, body []byte) {
		e := e.fuzzAs(t)
		if grants == nil {
			grants = e.fuzzGrants(e.do("GET", "/v1/subscriptions", auth, nil), nil)
		}
		r := e.do("POST", "/v1/subscriptions", auth, string(body))
		e.fuzzCheck(r, body, 200, 400, 413)
		got := e.do("GET", "/v1/subscriptions", auth, nil)
		e.want(got, 200, "")
		now := e.fuzzGrants(got, body)
		if r.status != http.StatusOK {
			if !reflect.DeepEqual(now, grants) {
				t.Fatalf("body %q was refused (%d %s) but the grants changed from %v to %v", body, r.status, r.raw, grants, now)
			}
			return
		}
		if answered := e.fuzzGrants(r, body); !reflect.DeepEqual(answered, now) {
			t.Fatalf("body %q: POST answered grants %v, GET then %v", body, answered, now)
		}
		grants = now
	})
}

func FuzzNotificationsBody(f *testing.F) {
	order := func(top, data string) string {
		s := `{"template":"order_arrived","user_id":"shop-user-1","dedupe_key":"order-1001"`
		if top != "" {
			s += "," + top
		}
		return s + `,"data":{"item_name":"牛肉面 x2","order_id":"TX20261124001","arrived_at":"2026-11-24T07:01:00Z","pickup_location":"3号楼前台"` + data + `}}`
	}
	// Each value seed has its own dedupe key, so that an accepted one is
	// enqueued (and its payload checked) rather than answered as a repeat.
	n := 0
	item := func(v string) string {
		n++
		return `{"template":"order_arrived","user_id":"u-1","dedupe_key":"item-` + strconv.Itoa(n) + `","data":{"item_name":` + v + `,"order_id":"TX1","arrived_at":"2026-11-24T07:01:00Z","pickup_location":"前台"}}`
	}
	field := func(k, v string) string {
		n++
		m := map[string]string{"item_name": `"面"`, "order_id": `"TX1"`, "arrived_at": `"2026-11-24T07:01:00Z"`, "pickup_location": `"前台"`}
		m[k] = v
		var parts []string
		for _, name := range []string{"item_name", "order_id", "arrived_at", "pickup_location", "remarks"} {
			if val, ok := m[name]; ok {
				parts = append(parts, `"`+name+`":`+val)
			}
		}
		return `{"template":"order_arrived","user_id":"u-1","dedupe_key":"` + k + `-` + strconv.Itoa(n) + `","data":{` + strings.Join(parts, ",") + `}}`
	}
	for _, s := range []string{
		order("", ""),
		order("", `,"remarks":"放在门口"`),
		order("", `,"remarks":null`),
		order("", `,"remarks":""`),
		order("", `,"extra":"ignored?"`),
		order(`"send_at":"2026-11-24T18:00:00+08:00","dedupe_key":"at-1"`, ""),
		order(`"send_at":"2026-11-24T14:00:00.5Z","dedupe_key":"at-2"`, ""),
		order(`"send_at":"2026-12-20T00:00:00.999999999-12:00","dedupe_key":"at-3"`, ""),
		order(`"send_at":"1970-01-01T00:00:00Z","dedupe_key":"at-4"`, ""),
		order(`"send_at":"0000-01-01T00:00:00+23:59","dedupe_key":"at-5"`, ""),
		order(`"send_at":"0000-01-01T00:00:00.5-23:59","dedupe_key":"at-6"`, ""),
		order(`"send_at":"9999-12-31T23:59:59Z","dedupe_key":"at-7"`, ""),
		order(`"send_at":"tomorrow"`, ""),
		order(`"send_at":"2026-11-24 18:00"`, ""),
		order(`"send_at":1764000000`, ""),
		`{"template":"order_arrived","openid":"oAbC-123_xyz","dedupe_key":"o-1","data":{"item_name":"面","order_id":"TX1","arrived_at":"2026-11-24T07:01:00+08:00","pickup_location":"前台"}}`,
		`{"template":"transit_reminder","user_id":"u-1","dedupe_key":"trip-1","data":{"trip":"北京→上海 G1","departs_at":"2026-12-01"}}`,
		`{"template":"transit_reminder","user_id":"u-1","dedupe_key":"trip-2","data":{"trip":"G1","departs_at":"2026-12-01T08:00:00+08:00"}}`,
		`{"template":"transit_reminder","user_id":"u-1","dedupe_key":"trip-3","data":{"trip":"G1","departs_at":"0000-12-31T16:00:00Z"}}`,
		// data values
		item(`"` + strings.Repeat("面", 20) + `"`), item(`"` + strings.Repeat("面", 21) + `"`),
		item(`"` + strings.Repeat("面", 5000) + `"`), item(`"   "`), item(`" a"`), item(`"a "`),
		item(`"\u0007"`), item(`"a\u3000b"`), item(`"\u3000` + strings.Repeat("面", 25) + `"`),
		item(`"a\u200bb"`), item(`"\ue000"`), item(`"🍜🍜"`), item(`"` + strings.Repeat("🍜", 21) + `"`),
		item(`"\ud800"`), item("\"\xff\xfe\""), item(`"a\nb"`), item(`"` + strings.Repeat(" ", 25) + `x"`),
		item(`123`), item(`-0.5`), item(`1e400`), item(`123456789012345678901234567890`),
		item(`true`), item(`null`), item(`{"x":1}`), item(`["面"]`),
		item(strings.Repeat("[", 10001) + strings.Repeat("]", 10001)),
		field("order_id", `"TX 1"`), field("order_id", `"`+strings.Repeat("9", 33)+`"`), field("order_id", `"订单1"`),
		field("order_id", `"../../etc?x=1&y#z"`), field("order_id", `12345`), field("order_id", `1.5e3`),
		field("arrived_at", `"2026-11-24 07:01"`), field("arrived_at", `"0001-01-01T00:00:00Z"`),
		field("arrived_at", `"0000-12-31T16:00:00Z"`), field("arrived_at", `"0000-01-01T00:00:00Z"`),
		field("arrived_at", `"9999-12-31T23:59:59Z"`), field("arrived_at", `"9999-12-31T15:59:59Z"`),
		field("arrived_at", `"2026-02-30T00:00:00Z"`), field("arrived_at", `"2026-11-24T07:01:00.123456789+08:00"`),
		field("arrived_at", `"2026-11-24t07:01:00z"`), field("arrived_at", `"2026-11-24T24:00:00Z"`),
		field("arrived_at", `1764000000`), field("arrived_at", `""`),
		field("pickup_location", `null`), field("remarks", `"请凭取件码取件"`), field("remarks", `"\t"`),
		// receiver and keys
		order(`"openid":"o-1"`, ""),
		`{"template":"order_arrived","user_id":"{user}","dedupe_key":"k","data":{}}`,
		`{"template":"order_arrived","user_id":"用户 1","dedupe_key":"k","data":{}}`,
		`{"template":"order_arrived","user_id":"` + strings.Repeat("u", 129) + `","dedupe_key":"k","data":{}}`,
		`{"template":"order_arrived","user_id":"用户一","dedupe_key":"` + strings.Repeat("k", 256) + `","data":{"item_name":"面","order_id":"TX1","arrived_at":"2026-11-24T07:01:00Z","pickup_location":"前台"}}`,
		`{"template":"order_arrived","user_id":"u","dedupe_key":"` + strings.Repeat("k", 257) + `","data":{}}`,
		`{"template":"order_arrived","user_id":"u","dedupe_key":"订单\u2028🍜","data":{"item_name":"面","order_id":"TX1","arrived_at":"2026-11-24T07:01:00Z","pickup_location":"前台"}}`,
		`{"template":"order_arrived","user_id":"u","dedupe_key":"a\nb","data":{}}`,
		`{"template":"order_arrived","openid":"o-é","dedupe_key":"k","data":{}}`,
		`{"template":"order_arrived","openid":"` + strings.Repeat("o", 65) + `","dedupe_key":"k","data":{}}`,
		// template
		`{"template":"ORDER_ARRIVED","user_id":"u","dedupe_key":"k","data":{}}`,
		`{"template":"order_arrived ","user_id":"u","dedupe_key":"k","data":{}}`,
		`{"template":"订单到达","user_id":"u","dedupe_key":"k","data":{}}`,
		`{"template":"` + orderTmpl + `","user_id":"u","dedupe_key":"k","data":{}}`,
		`{"template":1,"user_id":"u","dedupe_key":"k","data":{}}`,
		`{"template":null,"user_id":"u","dedupe_key":"k","data":{}}`,
		// shape
		`{"TEMPLATE":"order_arrived","User_ID":"u","DEDUPE_KEY":"case","Data":{"item_name":"面","order_id":"TX1","arrived_at":"2026-11-24T07:01:00Z","pickup_location":"前台"}}`,
		`{"template":"order_arrived","template":"transit_reminder","user_id":"u","dedupe_key":"dup","data":{"trip":"G1","departs_at":"2026-12-01"}}`,
		`{"template":"order_arrived","user_id":"u","dedupe_key":"k","data":[]}`,
		`{"template":"order_arrived","user_id":"u","dedupe_key":"k","data":"x"}`,
		`{"template":"order_arrived","user_id":"u","dedupe_key":"k","data":null}`,
		`{"template":"order_arrived","user_id":"u","dedupe_key":"k","dedup_key":"typo","data":{}}`,
		order("", "") + `]`, order("", "") + ` {}`, order("", "") + `x`,
		``, ` `, `null`, `[]`, `{}`, `""`, `0`, `{`, `{"template":`, "\ufeff{}",
		order(`"pad":"`+strings.Repeat("x", 65<<10)+`"`, ""),
	} {
		f.Add([]byte(s))
	}
	e := fuzzSetup(f, 1000)
	auth := bearer(apiKey)
	f.Fuzz(func(t *testing.T, body []byte) {
		e := e.fuzzAs(t)
		r := e.do("POST", "/v1/notifications", auth, string(body))
		e.fuzzCheck(r, body, 200, 202, 400, 413)
		if r.status >= 400 {
			return
		}
		id := str(r.body, "id")
		dup, isBool := r.body["duplicate"].(bool)
		if id == "" || str(r.body, "state") == "" || !isBool || dup != (r.status == http.StatusOK) {
			t.Fatalf("body %q: %d %s; want an id, a state and duplicate %v", body, r.status, r.raw, r.status == http.StatusOK)
		}
		st := e.do("GET", "/v1/notifications/"+url.PathEscape(id), auth, nil)
		e.want(st, 200, "")
		tmpl, known := registry.Default().Lookup(str(st.body, "template"))
		if str(st.body, "id") != id || !known || !strings.HasPrefix(id, tmpl.Name+"-") || str(st.body, "dedupe_key") == "" || str(st.body, "state") == "" {
			t.Fatalf("body %q: accepted as %s, then GET answered %s", body, id, st.raw)
		}
		// What was queued is something the worker can send as it is.
		p := e.taskPayload(id) // task.Decode, as the worker does
		if p.Template != tmpl.Name || p.TemplateID != tmpl.TemplateID || p.DedupeKey != str(st.body, "dedupe_key") ||
			task.ID(p.Template, p.DedupeKey) != id || len(p.Data) != len(tmpl.Keywords) {
			t.Fatalf("body %q: task %s holds %+v", body, id, p)
		}
		for _, kw := range tmpl.Keywords {
			if err := kw.Spec.Check(p.Data[kw.Key]); err != nil {
				t.Fatalf("body %q: task %s would send %s=%q: %v", body, id, kw.Key, p.Data[kw.Key], err)
			}
		}
	})
}
