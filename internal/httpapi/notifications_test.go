package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"wxnotify/internal/logging"
	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/sandbox/sandboxtest"
	"wxnotify/internal/task"
)

func TestNotifyEnqueuesOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	r := e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("shop-user-1", "order-1001"))
	e.want(r, 202, "")
	id := str(r.body, "id")
	if !strings.HasPrefix(id, "order_arrived-") || str(r.body, "state") != "pending" || r.body["duplicate"] != false {
		t.Fatalf("first POST: %s", r.raw)
	}
	p := e.taskPayload(id)
	want := map[string]string{"thing1": "牛肉面 x2", "character_string2": "TX20261124001", "time3": "2026年11月24日 15:01", "thing4": "3号楼前台", "thing5": "请凭取件码取件"}
	for k, v := range want {
		if p.Data[k] != v {
			t.Errorf("payload %s = %q; want %q (rendered now, defaults filled, UTC shown in China time)", k, p.Data[k], v)
		}
	}
	if p.TemplateID != orderTmpl || p.Page != "pages/order/detail?id=TX20261124001" || p.UserID != "shop-user-1" || p.DedupeKey != "order-1001" {
		t.Fatalf("payload %+v", p)
	}

	again := e.do("POST", "/v1/notifications", bearer("order-service-key-0002"), orderRequest("shop-user-1", "order-1001"))
	e.want(again, 200, "")
	if str(again.body, "id") != id || again.body["duplicate"] != true || str(again.body, "state") != "pending" {
		t.Fatalf("repeat: %s; want 200 with the same id and duplicate true", again.raw)
	}
	n, _ := asynq.NewInspectorFromRedisClient(e.rdb).GetQueueInfo(task.QueueName)
	if n.Size != 1 {
		t.Fatalf("queue holds %d tasks after a repeat; want 1", n.Size)
	}
	other := e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("shop-user-1", "order-1002"))
	e.want(other, 202, "")
	if str(other.body, "id") == id {
		t.Fatal("another dedupe_key got the same id")
	}
}

func TestNotifyShortensLongThings(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	req := orderRequest("u", "order-long")
	req["data"].(map[string]any)["item_name"] = "超大份牛肉面加蛋加肉加青菜加辣椒加醋不要香菜"
	r := e.do("POST", "/v1/notifications", bearer(apiKey), req)
	e.want(r, 202, "")
	got := e.taskPayload(str(r.body, "id")).Data["thing1"]
	if n := len([]rune(got)); n != 20 || !strings.HasSuffix(got, "…") {
		t.Fatalf("thing1 %q (%d runes); want 20 runes ending in …", got, n)
	}
}

func TestNotifyByOpenID(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	_, openid := e.login("")
	req := orderRequest("", "order-oid")
	delete(req, "user_id")
	req["openid"] = openid
	r := e.do("POST", "/v1/notifications", bearer(apiKey), req)
	e.want(r, 202, "")
	if p := e.taskPayload(str(r.body, "id")); p.OpenID != openid || p.UserID != openid {
		t.Fatalf("payload user %q openid %q; want both %s (no JWT: the openid is the user id)", p.UserID, p.OpenID, openid)
	}
}

func TestNotifyValidation(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	edit := func(f func(m map[string]any)) map[string]any {
		m := orderRequest("u-1", "order-9")
		f(m)
		return m
	}
	data := func(m map[string]any) map[string]any { return m["data"].(map[string]any) }
	refused := 0
	for _, tc := range []struct {
		name    string
		body    any
		code    string
		field   string
		message string
	}{
		{"unknown template", edit(func(m map[string]any) { m["template"] = "order_lost" }), "unknown_template", "template", `"order_lost" is not in the registry`},
		{"no template", edit(func(m map[string]any) { delete(m, "template") }), "invalid_field", "template", "required"},
		{"no receiver", edit(func(m map[string]any) { delete(m, "user_id") }), "invalid_field", "user_id", "user_id or openid"},
		{"two receivers", edit(func(m map[string]any) { m["openid"] = "o-1" }), "invalid_field", "openid", "not both"},
		{"bad user id", edit(func(m map[string]any) { m["user_id"] = "a b" }), "invalid_field", "user_id", "without spaces"},
		{"bad openid", edit(func(m map[string]any) { delete(m, "user_id"); m["openid"] = "o/../x" }), "invalid_field", "openid", "letters, digits"},
		{"no dedupe key", edit(func(m map[string]any) { delete(m, "dedupe_key") }), "invalid_field", "dedupe_key", "required"},
		{"no data", edit(func(m map[string]any) { delete(m, "data") }), "invalid_field", "data", "required"},
		{"missing field", edit(func(m map[string]any) { delete(data(m), "item_name") }), "invalid_value", "data.item_name", "data.item_name is required (thing1)"},
		{"bad time", edit(func(m map[string]any) { data(m)["arrived_at"] = "yesterday" }), "invalid_value", "data.arrived_at", "not an RFC 3339 time"},
		{"bad order id", edit(func(m map[string]any) { data(m)["order_id"] = "订单 42" }), "invalid_value", "data.order_id", "character_string2"},
		{"object value", edit(func(m map[string]any) { data(m)["item_name"] = map[string]any{"x": 1} }), "invalid_value", "data.item_name", "string or a number"},
		{"bad send_at", edit(func(m map[string]any) { m["send_at"] = "tomorrow" }), "invalid_field", "send_at", "RFC 3339"},
		{"far send_at", edit(func(m map[string]any) { m["send_at"] = time.Now().Add(40 * 24 * time.Hour).Format(time.RFC3339) }), "invalid_field", "send_at", "30 days"},
		{"unknown field", edit(func(m map[string]any) { m["dedup_key"] = "typo" }), "unknown_field", "dedup_key", "not a field"},
		{"wrong type", edit(func(m map[string]any) { m["dedupe_key"] = 42 }), "invalid_field", "dedupe_key", "must be a string"},
		{"not json", "{x", "invalid_json", "", "not valid JSON"},
		{"truncated", `{"template":`, "invalid_json", "", "truncated"},
		{"array", "[]", "invalid_json", "", "JSON object"},
		{"two values", `{"template":"order_arrived"} {}`, "invalid_json", "", "more after the JSON object"},
		{"stray bracket after", `{"template":"order_arrived"}]`, "invalid_json", "", "more after the JSON object"},
		{"stray brace after", `{"template":"order_arrived"}}`, "invalid_json", "", "more after the JSON object"},
		{"null", `null`, "invalid_json", "", "JSON object"},
		{"invalid UTF-8", "{\"template\":\"order_arrived\",\"user_id\":\"\x89u\"}", "invalid_json", "", "UTF-8"},
		{"other case", edit(func(m map[string]any) { m["TEMPLATE"] = m["template"]; delete(m, "template") }), "unknown_field", "TEMPLATE", "case-sensitive"},
		{"duplicate key", `{"template":"order_arrived","template":"transit_reminder"}`, "duplicate_field", "template", "twice"},
		{"unknown channel", edit(func(m map[string]any) { m["channel"] = "sms" }), "invalid_field", "channel", "not one of"},
		{"order channel, no order", edit(func(m map[string]any) { m["channel"] = "order" }), "invalid_field", "order", "needs the WeChat Pay order"},
		{"order on a subscribe message", edit(func(m map[string]any) { m["channel"] = "subscribe"; m["order"] = shipped() }), "invalid_field", "order", "only for the order channel"},
		{"order not named", edit(func(m map[string]any) { o := shipped(); delete(o, "transaction_id"); m["order"] = o }), "invalid_field", "order.transaction_id", "mchid and out_trade_no"},
		{"order named twice", edit(func(m map[string]any) { o := shipped(); o["mchid"] = "1230000109"; m["order"] = o }), "invalid_field", "order.transaction_id", "not both"},
		{"bad event", edit(func(m map[string]any) { o := shipped(); o["event"] = "lost"; m["order"] = o }), "invalid_field", "order.event", "shipped or arrived"},
		{"bad logistics", edit(func(m map[string]any) { o := shipped(); o["logistics_type"] = 9; m["order"] = o }), "invalid_field", "order.logistics_type", "1 (express)"},
		{"no parcels", edit(func(m map[string]any) { o := shipped(); o["shipments"] = []any{}; m["order"] = o }), "invalid_field", "order.shipments", "list the parcels"},
		{"express without tracking", edit(func(m map[string]any) {
			o := shipped()
			o["shipments"] = []any{map[string]any{"item_desc": "牛肉面 x2"}}
			m["order"] = o
		}), "invalid_field", "order.shipments[0].tracking_no", "tracking_no and express_company"},
		{"arrived with parcels", edit(func(m map[string]any) { o := shipped(); o["event"] = "arrived"; m["order"] = o }), "invalid_field", "order.shipments", "carries no shipping"},
		{"arrived in the future", edit(func(m map[string]any) {
			m["order"] = map[string]any{"transaction_id": "4200000001", "event": "arrived", "received_at": time.Now().Add(time.Hour).Format(time.RFC3339)}
		}), "invalid_field", "order.received_at", "in the future"},
	} {
		r := e.do("POST", "/v1/notifications", bearer(apiKey), tc.body)
		if r.status != 400 || r.errCode() != tc.code || r.errField() != tc.field || !strings.Contains(str(r.body, "error", "message"), tc.message) {
			t.Errorf("%s: %d %s; want 400 %s field %q mentioning %q", tc.name, r.status, r.raw, tc.code, tc.field, tc.message)
		}
		refused++
	}
	counted := 0
	for _, n := range e.enqueueCounts("invalid") {
		counted += n
	}
	if counted != refused {
		t.Errorf("%d requests refused, %d counted as invalid", refused, counted)
	}
	if n, _ := asynq.NewInspectorFromRedisClient(e.rdb).GetQueueInfo(task.QueueName); n != nil && n.Size != 0 {
		t.Fatalf("%d tasks enqueued by refused requests", n.Size)
	}
}

// shipped is a valid "shipped" order for the order channel.
func shipped() map[string]any {
	return map[string]any{"transaction_id": "4200000001", "event": "shipped", "logistics_type": 1,
		"shipments": []any{map[string]any{"tracking_no": "SF1234567890", "express_company": "SF", "item_desc": "牛肉面 x2"}}}
}

// The order channel takes a WeChat Pay order instead of a grant: the
// notification is its own (a subscribe message for the same order is
// another), carries the order to the worker, and is found by its channel.
func TestNotifyOnTheOrderChannel(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	body := orderRequest("u-1", "order-ch")
	delete(body, "data")
	body["channel"] = "order"
	body["order"] = shipped()
	r := e.do("POST", "/v1/notifications", bearer(apiKey), body)
	e.want(r, 202, "")
	id := str(r.body, "id")
	sub := e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("u-1", "order-ch"))
	e.want(sub, 202, "")
	if str(sub.body, "id") == id {
		t.Fatal("the order channel's notification and the subscribe message share an id")
	}
	p := e.taskPayload(id)
	if p.Channel != task.ChannelOrder || p.Order == nil || p.Order.TransactionID != "4200000001" || p.Order.DeliveryMode != 1 ||
		len(p.Order.Shipments) != 1 || p.Order.Shipments[0].TrackingNo != "SF1234567890" {
		t.Fatalf("the task carries %+v, order %+v", p, p.Order)
	}
	got := e.do("GET", "/v1/notifications?template=order_arrived&dedupe_key=order-ch&channel=order", bearer(apiKey), nil)
	if got.status != 200 || str(got.body, "id") != id {
		t.Fatalf("lookup on the order channel: %d %s", got.status, got.raw)
	}
	// Without a channel, an order goes by the app's default: auto.
	auto := orderRequest("u-1", "order-auto")
	auto["order"] = shipped()
	r = e.do("POST", "/v1/notifications", bearer(apiKey), auto)
	e.want(r, 202, "")
	if p := e.taskPayload(str(r.body, "id")); p.Channel != task.ChannelAuto || p.Order == nil || len(p.Data) == 0 {
		t.Fatalf("an order without a channel: %+v", p)
	}
}

// enqueueCounts reads wxnotify_notifications_enqueued_total for an outcome,
// by template, whatever the app ("" when the request named none served).
func (e *env) enqueueCounts(outcome string) map[string]int {
	e.t.Helper()
	counts := map[string]int{}
	for _, line := range strings.Split(e.do("GET", "/metrics", "", nil).raw, "\n") {
		rest, ok := strings.CutPrefix(line, `wxnotify_notifications_enqueued_total{app="`)
		if !ok {
			continue
		}
		_, rest, _ = strings.Cut(rest, `",`)
		if rest, ok := strings.CutPrefix(rest, `outcome="`+outcome+`",template="`); ok {
			template, value, _ := strings.Cut(rest, `"} `)
			n, err := strconv.Atoi(value)
			if err != nil {
				e.t.Fatalf("metric line %q", line)
			}
			counts[template] += n
		}
	}
	return counts
}

// Every refused notification counts once as invalid, under the template it
// names when the registry has it: field errors, data errors and bodies the
// decoder refuses alike (issue 11: 8 answers of 400 counted 2).
func TestEveryRefusedNotificationCountsOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, options{maxBody: 2048})
	edit := func(f func(m map[string]any)) map[string]any {
		m := orderRequest("u-1", "order-m")
		f(m)
		return m
	}
	data := func(m map[string]any) map[string]any { return m["data"].(map[string]any) }
	order := []any{
		edit(func(m map[string]any) { delete(m, "dedupe_key") }),
		edit(func(m map[string]any) { m["openid"] = "o-1" }),
		edit(func(m map[string]any) { m["send_at"] = "tomorrow" }),
		edit(func(m map[string]any) { delete(m, "data") }),
		edit(func(m map[string]any) { delete(data(m), "item_name") }),
		edit(func(m map[string]any) { data(m)["arrived_at"] = "yesterday" }),
		edit(func(m map[string]any) { m["dedup_key"] = "typo" }),
		edit(func(m map[string]any) { m["dedupe_key"] = 42 }),
	}
	nameless := []any{
		edit(func(m map[string]any) { data(m)["pickup_location"] = strings.Repeat("x", 4096) }), // 413: never read to the end
		edit(func(m map[string]any) { m["template"] = "order_lost" }),
		edit(func(m map[string]any) { delete(m, "template") }),
		"{x", "[]", "",
	}
	for _, body := range append(order, nameless...) {
		if r := e.do("POST", "/v1/notifications", bearer(apiKey), body); r.status != 400 && r.status != 413 {
			t.Fatalf("%v: %d %s; want it refused", body, r.status, r.raw)
		}
	}
	e.want(e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("u-1", "order-ok")), 202, "")
	e.want(e.do("POST", "/v1/notifications", "", orderRequest("u-1", "order-ok")), 401, "unauthorized") // not a notification yet
	invalid := e.enqueueCounts("invalid")
	if invalid["order_arrived"] != len(order) || invalid[""] != len(nameless) || len(invalid) != 2 {
		t.Errorf("invalid counts %v; want order_arrived %d and (no template) %d", invalid, len(order), len(nameless))
	}
	if accepted := e.enqueueCounts("accepted"); accepted["order_arrived"] != 1 || len(accepted) != 1 {
		t.Errorf("accepted counts %v; want order_arrived 1", accepted)
	}
}

// The JSON endpoints take a body labelled application/json, or not
// labelled at all; any other label — a form, as curl -d sends without -H —
// is refused with 415 before the body is read, and counts as refused.
func TestJSONBodiesMustNotBeLabelledOtherwise(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	token, _ := e.login("")
	code, _ := e.sb.Login("", "", false)
	for _, label := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", "application/xml", "json", "application/json-seq"} {
		for _, tc := range []struct {
			path, auth string
			body       any
		}{
			{"/v1/wx/login", "", map[string]string{"code": code}},
			{"/v1/subscriptions", bearer(token), map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok"}},
			{"/v1/notifications", bearer(apiKey), orderRequest("u-ct", "order-ct")},
		} {
			r := e.doAs(label, "POST", tc.path, tc.auth, tc.body)
			e.want(r, 415, "unsupported_media_type")
			if !strings.Contains(str(r.body, "error", "message"), "Content-Type: application/json") {
				t.Errorf("POST %s labelled %q: %s; want it to say which Content-Type to send", tc.path, label, r.raw)
			}
		}
	}
	if got := e.enqueueCounts("invalid"); got[""] != 6 || len(got) != 1 {
		t.Errorf("refusals counted %v; want 6 without a template (the body is not read)", got)
	}
	// The code was not spent by the refusals; unlabelled and charset-labelled bodies are read.
	e.want(e.doAs("", "POST", "/v1/wx/login", "", map[string]string{"code": code}), 200, "")
	e.want(e.doAs("application/json; charset=utf-8", "POST", "/v1/notifications", bearer(apiKey), orderRequest("u-ct", "order-ct")), 202, "")
	e.want(e.doAs("", "POST", "/v1/notifications", bearer(apiKey), orderRequest("u-ct", "order-ct")), 200, "")
	e.want(e.doAs("Application/JSON", "POST", "/v1/subscriptions", bearer(token), map[string]string{orderTmpl: "accept", "errMsg": "requestSubscribeMessage:ok"}), 200, "")
}

func TestNotifyAuth(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	body := orderRequest("u-1", "order-a")
	e.want(e.do("POST", "/v1/notifications", "", body), 401, "unauthorized")
	e.want(e.do("POST", "/v1/notifications", "Bearer wrong-key-wrong-key", body), 401, "unauthorized")
	e.want(e.do("POST", "/v1/notifications", "Basic "+apiKey, body), 401, "unauthorized")
	e.want(e.do("GET", "/v1/notifications/order_arrived-x", "", nil), 401, "unauthorized")
	token, _ := e.login("")
	e.want(e.do("POST", "/v1/notifications", bearer(token), body), 401, "unauthorized")
}

func TestBodyOverTheCapIs413(t *testing.T) {
	t.Parallel()
	e := setup(t, options{maxBody: 2048, push: true})
	req := orderRequest("u-1", "order-big")
	req["data"].(map[string]any)["pickup_location"] = strings.Repeat("x", 4096)
	e.want(e.do("POST", "/v1/notifications", bearer(apiKey), req), 413, "body_too_large")
	e.want(e.do("POST", "/v1/wx/login", "", map[string]string{"code": strings.Repeat("c", 4096)}), 413, "body_too_large")
	token, _ := e.login("")
	e.want(e.do("POST", "/v1/subscriptions", bearer(token), map[string]string{"errMsg": strings.Repeat("m", 4096)}), 413, "body_too_large")
	// WeChat's push: the cap holds before the signature is even checked.
	e.want(e.do("POST", "/v1/wx/events?timestamp=1700000000&nonce=n1", "", strings.Repeat("<xml/>", 1024)), 413, "body_too_large")
}

func TestScheduledNotification(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	req := orderRequest("u-1", "order-later")
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	req["send_at"] = at.Format(time.RFC3339)
	r := e.do("POST", "/v1/notifications", bearer(apiKey), req)
	e.want(r, 202, "")
	if str(r.body, "state") != "scheduled" {
		t.Fatalf("send_at an hour ahead: %s; want state scheduled", r.raw)
	}
	st := e.do("GET", "/v1/notifications/"+str(r.body, "id"), bearer(apiKey), nil)
	next, _ := time.Parse(time.RFC3339, str(st.body, "next_process_at"))
	if !next.Equal(at) || str(st.body, "send_at") == "" {
		t.Fatalf("status %s; want next_process_at %s", st.raw, at)
	}
}

// The status shows what a worker recorded: a result and completion.
func TestNotificationStatus(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.want(e.do("GET", "/v1/notifications/order_arrived-0000", bearer(apiKey), nil), 404, "not_found")

	r := e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("u-1", "order-77"))
	id := str(r.body, "id")
	st := e.do("GET", "/v1/notifications/"+id, bearer(apiKey), nil)
	e.want(st, 200, "")
	if str(st.body, "state") != "pending" || str(st.body, "template") != "order_arrived" || str(st.body, "dedupe_key") != "order-77" ||
		st.body["attempts"] != float64(0) || st.body["max_retry"] != float64(5) || str(st.body, "created_at") == "" {
		t.Fatalf("pending status: %s", st.raw)
	}

	// A stand-in worker delivers it and records the result.
	standInWorker(t, e, "1988810812324364291")
	deadline := time.Now().Add(10 * time.Second)
	for str(st.body, "state") != "completed" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		st = e.do("GET", "/v1/notifications/"+id, bearer(apiKey), nil)
	}
	if str(st.body, "state") != "completed" || st.body["attempts"] != float64(1) || str(st.body, "result", "msgid") != "1988810812324364291" ||
		str(st.body, "result", "status") != "delivered" || str(st.body, "completed_at") == "" {
		t.Fatalf("completed status: %s", st.raw)
	}
}

// standInWorker completes every notification task as delivered with
// msgid, recording it as the real worker does, until the test ends.
func standInWorker(t *testing.T, e *env, msgid string) {
	t.Helper()
	records := record.NewStore(e.rdb, sandboxtest.AppID, time.Hour)
	srv := asynq.NewServerFromRedisClient(e.rdb, asynq.Config{Queues: map[string]int{task.QueueName: 1}, TaskCheckInterval: 10 * time.Millisecond, Logger: logging.Asynq{L: slog.New(slog.DiscardHandler)}})
	mux := asynq.NewServeMux()
	mux.HandleFunc(task.Type, func(ctx context.Context, t *asynq.Task) error {
		taskID, _ := asynq.GetTaskID(ctx)
		id := task.IDOfTask(taskID)
		p, err := task.Decode(t.Payload())
		if err != nil {
			return err
		}
		link := records.LinkCall(id, msgid)
		if err := redisconn.RunScripts(ctx, e.rdb, records.FinishCall(id, record.From(p, 5), record.Completed,
			record.Result{Status: record.Delivered, MsgID: msgid}, record.Step{Outcome: "delivered"}), link.Call); err != nil {
			return err
		}
		return records.Apply(ctx, link)
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
}

// The order service finds a notification by what it posted, and lists what
// a user was sent, newest first, a page at a time.
func TestNotificationLookups(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	var ids []string
	for _, key := range []string{"order-a", "order-b", "order-c"} {
		r := e.do("POST", "/v1/notifications", bearer(apiKey), orderRequest("u-look", key))
		e.want(r, 202, "")
		ids = append(ids, str(r.body, "id"))
	}
	byID := e.do("GET", "/v1/notifications/"+ids[1], bearer(apiKey), nil)
	byKey := e.do("GET", "/v1/notifications?template=order_arrived&dedupe_key=order-b", bearer(apiKey), nil)
	e.want(byKey, 200, "")
	if byKey.raw != byID.raw {
		t.Fatalf("by key %s; by id %s: want the same document", byKey.raw, byID.raw)
	}
	e.want(e.do("GET", "/v1/notifications?template=order_arrived&dedupe_key=order-z", bearer(apiKey), nil), 404, "not_found")
	for _, q := range []string{"dedupe_key=order-b", "template=order_arrived", ""} {
		r := e.do("GET", "/v1/notifications?"+q, bearer(apiKey), nil)
		e.want(r, 400, "invalid_field")
		if str(r.body, "error", "field") == "" {
			t.Fatalf("?%s: %s names no field", q, r.raw)
		}
	}
	e.want(e.do("GET", "/v1/notifications?template=order_arrived&dedupe_key=order-b", "", nil), 401, "")

	// Two per page: c, b, then a.
	first := e.do("GET", "/v1/users/u-look/notifications?limit=2", bearer(apiKey), nil)
	e.want(first, 200, "")
	page := func(r reply) []string {
		var ids []string
		for _, n := range r.body["notifications"].([]any) {
			ids = append(ids, n.(map[string]any)["dedupe_key"].(string))
		}
		return ids
	}
	next := str(first.body, "next")
	if got := page(first); fmt.Sprint(got) != "[order-c order-b]" || next == "" {
		t.Fatalf("first page %s", first.raw)
	}
	second := e.do("GET", "/v1/users/u-look/notifications?limit=2&cursor="+next, bearer(apiKey), nil)
	if got := page(second); fmt.Sprint(got) != "[order-a]" || str(second.body, "next") != "" {
		t.Fatalf("second page %s", second.raw)
	}
	if r := e.do("GET", "/v1/users/nobody-here/notifications", bearer(apiKey), nil); r.status != 200 || len(r.body["notifications"].([]any)) != 0 {
		t.Fatalf("unknown user: %d %s; want an empty list", r.status, r.raw)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=abc", "cursor=-5"} {
		r := e.do("GET", "/v1/users/u-look/notifications?"+q, bearer(apiKey), nil)
		e.want(r, 400, "invalid_field")
	}
	e.want(e.do("GET", "/v1/users/u-look/notifications", "", nil), 401, "")
}
