package notification_test

import (
	"net/url"
	"strings"
	"testing"

	"wxnotify/internal/notification"
)

func TestTaskIDIsStableDistinctAndURLSafe(t *testing.T) {
	t.Parallel()
	a := notification.TaskID("order_arrived", "order-1")
	if a != notification.TaskID("order_arrived", "order-1") {
		t.Fatal("the same template and dedupe key gave two ids")
	}
	for _, other := range []string{
		notification.TaskID("order_arrived", "order-2"),
		notification.TaskID("transit_reminder", "order-1"),
		// No ambiguity from joining: ("a", "b\x00c") is not ("a\x00b", "c").
		notification.TaskID("order_arrived\x00order", "-1"),
	} {
		if other == a {
			t.Fatalf("distinct notifications share id %s", a)
		}
	}
	weird := notification.TaskID("order_arrived", "订单/../?#%20 42")
	if url.PathEscape(weird) != weird || !strings.HasPrefix(weird, "order_arrived-") || len(weird) != len("order_arrived-")+32 {
		t.Fatalf("id %q is not a URL-safe template-prefixed id", weird)
	}
}

func TestDecodeRefusesWhatTheWorkerCannotSend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ json, want string }{
		{`{`, "decode notification payload"},
		{`{"user_id":"u","data":{"thing1":"x"}}`, "no template_id"},
		{`{"template_id":"T","data":{"thing1":"x"}}`, "neither user_id nor openid"},
		{`{"template_id":"T","user_id":"u"}`, "no data"},
	} {
		if _, err := notification.Decode([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%s): %v; want %q", tc.json, err, tc.want)
		}
	}
	p, err := notification.Decode([]byte(`{"template":"order_arrived","template_id":"T","openid":"o","data":{"thing1":"x"},"long_term":true}`))
	if err != nil || !p.LongTerm || p.OpenID != "o" || p.Data["thing1"] != "x" {
		t.Fatalf("Decode = %+v, %v", p, err)
	}
}
