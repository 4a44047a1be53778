package sandbox_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"wxnotify/internal/sandbox"
)

func TestSendConsumesOneGrantPerSuccess(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tok := f.stable(t, false).AccessToken
	openid := f.subscriber(t, 2)
	seen := map[string]bool{}
	for i := range 2 {
		a := f.send(t, tok, f.orderBody(openid))
		wantCode(t, "send with a grant", a, 0)
		// The msgid is a bare 64-bit integer on the wire, beyond float64's exact range.
		var raw struct{ MsgID json.Number }
		_ = json.Unmarshal([]byte(a.raw), &raw)
		id, err := strconv.ParseUint(raw.MsgID.String(), 10, 64)
		if err != nil || id <= 1<<53 || strings.Contains(a.raw, `"msgid":"`) {
			t.Fatalf("send %d: msgid in %s; want a bare integer above 2^53", i, a.raw)
		}
		seen[raw.MsgID.String()] = true
	}
	if len(seen) != 2 {
		t.Fatalf("two sends got msgids %v; want two distinct", seen)
	}
	wantCode(t, "third send with two grants", f.send(t, tok, f.orderBody(openid)), 43101)
	if n := f.sb.Grants(openid, f.order.ID); n != 0 {
		t.Fatalf("grants left %d; want 0", n)
	}
	msgs := f.sb.Messages(openid, f.order.ID)
	if len(msgs) != 2 || msgs[0].Data["thing5"] != "凭取件码取件" || msgs[0].Lang != "zh_CN" || msgs[0].MiniprogramState != "formal" {
		t.Fatalf("delivered %+v; want 2 messages as sent, with WeChat's defaults", msgs)
	}
}

func TestSubscriptionActions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tok := f.stable(t, false).AccessToken
	_, openid := f.sb.Login("", "", false)
	for _, step := range []struct {
		action string
		count  int
		grants int
	}{
		{sandbox.Accept, 1, 1}, {sandbox.Accept, 2, 3}, // accepts accumulate
		{sandbox.Reject, 1, 3},      // a popup reject takes nothing away
		{sandbox.Unsubscribe, 1, 0}, // turning it off in settings does
	} {
		n, err := f.sb.Subscribe(openid, f.order.ID, step.action, step.count)
		if err != nil || n != step.grants {
			t.Fatalf("%s ×%d: grants %d, %v; want %d", step.action, step.count, n, err, step.grants)
		}
	}
	wantCode(t, "after unsubscribe", f.send(t, tok, f.orderBody(openid)), 43101)
	if _, err := f.sb.Subscribe(openid, "nope", sandbox.Accept, 1); err == nil {
		t.Fatal("accepting an undefined template succeeded")
	}
	if _, err := f.sb.Subscribe(openid, f.order.ID, "maybe", 1); err == nil || !strings.Contains(err.Error(), `action "maybe"`) {
		t.Fatalf("unknown action: %v", err)
	}
}

// A long-term template allows repeated sends after one accept, until the
// user turns it off.
func TestLongTermTemplate(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tok := f.stable(t, false).AccessToken
	transit := sandbox.DefaultTemplates()[1]
	_, openid := f.sb.Login("", "", false)
	body := map[string]any{"touser": openid, "template_id": transit.ID, "data": map[string]any{
		"thing1": map[string]string{"value": "上海→北京 G2"}, "date2": map[string]string{"value": "2026年12月1日 08:00"},
	}}
	wantCode(t, "before accepting", f.send(t, tok, body), 43101)
	if _, err := f.sb.Subscribe(openid, transit.ID, sandbox.Accept, 1); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		wantCode(t, "send "+strconv.Itoa(i)+" after one accept", f.send(t, tok, body), 0)
	}
	_, _ = f.sb.Subscribe(openid, transit.ID, sandbox.Unsubscribe, 1)
	wantCode(t, "after unsubscribe", f.send(t, tok, body), 43101)
}

func TestSendRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tok := f.stable(t, false).AccessToken
	openid := f.subscriber(t, 10)
	edit := func(e func(b map[string]any)) map[string]any {
		b := f.orderBody(openid)
		e(b)
		return b
	}
	data := func(b map[string]any) map[string]any { return b["data"].(map[string]any) }
	for _, tc := range []struct {
		name   string
		body   map[string]any
		code   int
		errmsg string
	}{
		{"thing over 20 characters", edit(func(b map[string]any) {
			data(b)["thing1"] = map[string]string{"value": strings.Repeat("面", 21)}
		}), 47003, "argument invalid! data.thing1.value invalid"},
		{"ISO time", edit(func(b map[string]any) { data(b)["time3"] = map[string]string{"value": "2026-11-24 15:01"} }), 47003, "data.time3.value invalid"},
		{"missing keyword", edit(func(b map[string]any) { delete(data(b), "thing5") }), 47003, "data.thing5.value is empty"},
		{"empty value", edit(func(b map[string]any) { data(b)["thing4"] = map[string]string{"value": ""} }), 47003, "data.thing4.value is empty"},
		{"bad miniprogram_state", edit(func(b map[string]any) { b["miniprogram_state"] = "beta" }), 47003, "miniprogram_state invalid"},
		{"bad lang", edit(func(b map[string]any) { b["lang"] = "fr_FR" }), 47003, "lang invalid"},
		{"page not released", edit(func(b map[string]any) { b["page"] = "pages/secret/index" }), 41030, "invalid page"},
		{"unknown template", edit(func(b map[string]any) { b["template_id"] = "unknown" }), 40037, "invalid template_id"},
		{"unknown openid", edit(func(b map[string]any) { b["touser"] = "o-unknown" }), 40003, "invalid openid"},
	} {
		a := f.send(t, tok, tc.body)
		if a.ErrCode != tc.code || !strings.Contains(a.ErrMsg, tc.errmsg) || !strings.Contains(a.ErrMsg, " rid: ") {
			t.Errorf("%s: %s; want errcode %d with %q and a rid", tc.name, a.raw, tc.code, tc.errmsg)
		}
	}
	// Pages are checked against the released version only.
	dev := edit(func(b map[string]any) { b["page"] = "pages/new/feature"; b["miniprogram_state"] = "developer" })
	wantCode(t, "unreleased page in developer state", f.send(t, tok, dev), 0)
	if n := f.sb.Grants(openid, f.order.ID); n != 9 {
		t.Fatalf("grants after 9 refusals and 1 success: %d; want 9 (refusals spend none)", n)
	}
	wantCode(t, "body that is not JSON", f.do(t, "POST", "/cgi-bin/message/subscribe/send?access_token="+tok, "not json"), 47001)
}
