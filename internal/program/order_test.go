package program

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"wxnotify/internal/httpapi/contract"
	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
)

// paid is a WeChat Pay order the sandbox filed for openid.
func (s *stack) paid(openid string) sandbox.Order {
	s.t.Helper()
	o, err := s.sb.CreateOrder(sandbox.NewOrder{OpenID: openid, Description: "牛肉面 x2"})
	if err != nil {
		s.t.Fatal(err)
	}
	return o
}

// shippedOrder is the "order" of a shipped post for o.
func shippedOrder(o sandbox.Order, tracking string) map[string]any {
	return map[string]any{"transaction_id": o.TransactionID, "event": "shipped", "logistics_type": 1,
		"shipments": []any{map[string]any{"tracking_no": tracking, "express_company": "ZTO", "item_desc": "牛肉面 x2"}}}
}

// onOrder posts a notification on channel with order, without data for the
// order channel alone, and returns its id.
func (s *stack) onOrder(openid, dedupe, channel string, order map[string]any) string {
	s.t.Helper()
	body := map[string]any{"template": "order_arrived", "openid": openid, "dedupe_key": dedupe, "channel": channel, "order": order}
	if channel != "order" {
		body["data"] = orderData()
	}
	st, out := s.call("POST", "/v1/notifications", e2eKey, body)
	if st != 202 {
		s.t.Fatalf("notify on %s: %d %v", channel, st, out)
	}
	return out["id"].(string)
}

// The order channel reaches a buyer who granted nothing: "shipped"
// uploads the shipping and WeChat tells the buyer; "arrived" has WeChat
// remind the buyer to confirm receipt — once: a second "arrived" for the
// same order is skipped, and the buyer sees one reminder.
func TestE2EOrderChannelShipsAndReminds(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	openid := s.user(0, 0)
	o := s.paid(openid)
	st := s.waitState(s.onOrder(openid, "ship-1", "order", shippedOrder(o, "ZTO0001")), "completed", 10*time.Second)
	if result(st, "status") != "delivered" || result(st, "channel") != "order" {
		t.Fatalf("shipped: %v; want delivered through the order channel", st)
	}
	got, _ := s.sb.Order(sandbox.OrderKey{TransactionID: o.TransactionID})
	if got.State != sandbox.OrderShipped {
		t.Fatalf("the order at WeChat is %v; want shipped", got.State)
	}
	// WeChat takes a signing time in whole seconds, after the ship time.
	for !time.Now().Truncate(time.Second).After(got.ShippedAt) {
		time.Sleep(10 * time.Millisecond)
	}
	arrived := map[string]any{"transaction_id": o.TransactionID, "event": "arrived", "received_at": time.Now().Format(time.RFC3339)}
	st = s.waitState(s.onOrder(openid, "arrive-1", "order", arrived), "completed", 10*time.Second)
	if result(st, "status") != "delivered" || result(st, "channel") != "order" {
		t.Fatalf("arrived: %v; want delivered through the order channel", st)
	}
	st = s.waitState(s.onOrder(openid, "arrive-2", "order", arrived), "completed", 10*time.Second)
	if result(st, "status") != "skipped" || result(st, "reason") != "already_reminded" {
		t.Fatalf("a second arrived: %v; want skipped already_reminded", st)
	}
	if msgs := s.sb.OrderMessages(openid, o.TransactionID); len(msgs) != 2 {
		t.Fatalf("the buyer saw %d order messages (%v); want the shipping notice and one reminder", len(msgs), msgs)
	}
	if n := len(s.sb.Messages(openid, "")); n != 0 {
		t.Fatalf("%d subscribe messages; want none", n)
	}
}

// "auto" sends one of the two look-alike messages, never both: a
// subscribe message to a user holding a grant, the order channel to one
// holding none.
func TestE2EAutoChannelSendsOneOfTheTwo(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1)
	granted, ungranted := s.user(1, 1), s.user(0, 0)
	og, ou := s.paid(granted), s.paid(ungranted)
	st := s.waitState(s.onOrder(granted, "auto-1", "auto", shippedOrder(og, "ZTO0002")), "completed", 10*time.Second)
	if result(st, "status") != "delivered" || result(st, "channel") != "" || result(st, "msgid") == "" {
		t.Fatalf("auto with a grant: %v; want a subscribe message", st)
	}
	st = s.waitState(s.onOrder(ungranted, "auto-2", "auto", shippedOrder(ou, "ZTO0003")), "completed", 10*time.Second)
	if result(st, "status") != "delivered" || result(st, "channel") != "order" {
		t.Fatalf("auto without a grant: %v; want the order channel", st)
	}
	if a, b := len(s.sb.Messages(granted, "")), len(s.sb.OrderMessages(granted, og.TransactionID)); a != 1 || b != 0 {
		t.Fatalf("the granted buyer saw %d subscribe and %d order messages; want 1 and 0", a, b)
	}
	if a, b := len(s.sb.Messages(ungranted, "")), len(s.sb.OrderMessages(ungranted, ou.TransactionID)); a != 0 || b != 1 {
		t.Fatalf("the ungranted buyer saw %d subscribe and %d order messages; want 0 and 1", a, b)
	}
}

// An upload whose answer was lost took effect at WeChat: the next attempt
// reads the order with get_order before uploading again, finds the
// shipping there, and ends delivered — one shipping notice, the order's one
// change of shipping left unspent.
func TestE2EOrderChannelLostReplyUploadsOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, func(c *sandbox.Config) {
		c.Faults = sandbox.Faults{LostReplyRate: 1, Endpoints: []string{sandbox.EndpointUploadShipping}}
	})
	openid := s.user(0, 0)
	o := s.paid(openid)
	id := s.onOrder(openid, "ship-lost", "order", shippedOrder(o, "ZTO0004"))
	deadline := time.Now().Add(10 * time.Second)
	for len(s.sb.OrderMessages(openid, o.TransactionID)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first upload never reached the sandbox")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = s.sb.SetFaults(sandbox.Faults{}) // the next attempt gets real answers
	st := s.waitState(id, "completed", 15*time.Second)
	if result(st, "status") != "delivered" || result(st, "channel") != "order" || st["attempts"] != float64(2) {
		t.Fatalf("after a lost reply: %v; want delivered through the order channel at the second attempt", st)
	}
	if n := len(s.sb.OrderMessages(openid, o.TransactionID)); n != 1 {
		t.Fatalf("the buyer saw %d shipping notices; want 1", n)
	}
	if calls := s.sb.Calls()[sandbox.EndpointGetOrder]; calls.Calls == 0 {
		t.Fatal("the second attempt uploaded without reading the order first")
	}
	if got, _ := s.sb.Order(sandbox.OrderKey{TransactionID: o.TransactionID}); got.Shipping.FinishCount > 1 {
		t.Fatalf("the order's shipping was changed %d times; want the one upload", got.Shipping.FinishCount)
	}
}

// WeChat's trade events, pushed to the api, show on the notification that
// shipped the order: its order state and, in its history, each state once.
func TestE2ETradeEventsShowOnTheTimeline(t *testing.T) {
	t.Parallel()
	const token = "e2e-push-token"
	s := newStackEnv(t, 1, map[string]string{"WECHAT_PUSH_TOKEN": token})
	if err := s.sb.SetPush(sandbox.Push{URL: s.api.addr + "/v1/wx/events", Token: token, Client: contract.Client(t, 5*time.Second)}); err != nil {
		t.Fatal(err)
	}
	openid := s.user(0, 0)
	o := s.paid(openid)
	id := s.onOrder(openid, "ship-events", "order", shippedOrder(o, "ZTO0005"))
	s.waitState(id, "completed", 10*time.Second)
	key := sandbox.OrderKey{TransactionID: o.TransactionID}
	app, err := s.sb.App(sandboxtest.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.ConfirmReceipt(key); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Settle(key, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, st := s.call("GET", "/v1/notifications/"+id, e2eKey, nil)
		if st["order_state"] == "completed" {
			// The upload's settlement push may come before or after the
			// worker writes its outcome: each shows once, the order's
			// states in their order.
			var seen, states []string
			for _, h := range st["history"].([]any) {
				outcome := h.(map[string]any)["outcome"].(string)
				seen = append(seen, outcome)
				if strings.HasPrefix(outcome, "order_") {
					states = append(states, outcome)
				}
			}
			if !slices.Contains(seen, "delivered_order") || strings.Join(states, ",") != "order_shipped,order_receipt_confirmed,order_completed" {
				t.Fatalf("history %v; want delivered_order and the order's states shipped, receipt_confirmed, completed once each", seen)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the order's state never showed completed: %v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// orderLoad is order-channel traffic for a fault test: buyers without
// grants, each with a paid order to ship and, once shipped, to remind.
type orderLoad struct {
	s       *stack
	buyers  []string
	orders  []sandbox.Order
	shipped []string // notification ids of the accepted shipments
	// accepted are the orders whose shipment the api accepted.
	accepted []int
	mu       sync.Mutex
}

// shipOrders posts n "shipped" notifications on the order channel, each
// for a new buyer's new order.
func (s *stack) shipOrders(n int, prefix string) *orderLoad {
	s.t.Helper()
	l := s.paidOrders(n)
	for i := range n {
		if status, err := l.ship(i, prefix); status != 202 {
			s.t.Fatalf("shipping order %d answered %d %v", i, status, err)
		}
	}
	return l
}

// paidOrders makes n buyers without grants, each with a paid order.
func (s *stack) paidOrders(n int) *orderLoad {
	s.t.Helper()
	l := &orderLoad{s: s}
	for range n {
		buyer := s.user(0, 0)
		l.buyers, l.orders = append(l.buyers, buyer), append(l.orders, s.paid(buyer))
	}
	return l
}

// ship posts order i's "shipped" and returns the api's status (0 and the
// error for a request that failed); an accepted one joins the load's
// shipments, a refused one (503 while Redis is away) drops the order from
// the load. Posts may run at once.
func (l *orderLoad) ship(i int, prefix string) (int, error) {
	s := l.s
	body, _ := json.Marshal(map[string]any{"template": "order_arrived", "openid": l.buyers[i], "dedupe_key": fmt.Sprintf("%s-ship-%d", prefix, i),
		"channel": "order", "order": shippedOrder(l.orders[i], fmt.Sprintf("ZTO%s%04d", prefix, i))})
	req, _ := http.NewRequest("POST", s.api.addr+"/v1/notifications", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eKey)
	resp, err := s.apiClient(5 * time.Second).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	if resp.StatusCode == 202 {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return 0, err
		}
		l.mu.Lock()
		l.shipped = append(l.shipped, out.ID)
		l.accepted = append(l.accepted, i)
		l.mu.Unlock()
	}
	return resp.StatusCode, nil
}

// remind waits for every shipment to finish delivered, then posts each
// order's "arrived" and waits for those: limit bounds each wait.
func (l *orderLoad) remind(prefix string, limit time.Duration) {
	s := l.s
	s.t.Helper()
	var reminders []string
	for k, id := range l.shipped {
		i := l.accepted[k]
		st := s.waitFinished(id, limit)
		if st["state"] != "completed" || result(st, "status") != "delivered" || result(st, "channel") != "order" {
			s.t.Fatalf("shipment %d ended %v; want delivered through the order channel", i, st)
		}
		got, _ := s.sb.Order(sandbox.OrderKey{TransactionID: l.orders[i].TransactionID})
		// WeChat takes a signing time in whole seconds, after the ship time.
		for !time.Now().Truncate(time.Second).After(got.ShippedAt) {
			time.Sleep(10 * time.Millisecond)
		}
		arrived := map[string]any{"transaction_id": l.orders[i].TransactionID, "event": "arrived", "received_at": time.Now().Format(time.RFC3339)}
		reminders = append(reminders, s.onOrder(l.buyers[i], fmt.Sprintf("%s-arrive-%d", prefix, i), "order", arrived))
	}
	for i, id := range reminders {
		st := s.waitFinished(id, limit)
		if st["state"] != "completed" || result(st, "status") != "delivered" {
			s.t.Fatalf("reminder %d ended %v; want delivered", i, st)
		}
	}
}

// check counts what every buyer saw: exactly one shipping notice and one
// receipt reminder each, or the test fails; it returns the figures.
func (l *orderLoad) check() (uploads, reminders, lost int) {
	s := l.s
	s.t.Helper()
	for _, i := range l.accepted {
		o := l.orders[i]
		var notices, reminded int
		for _, m := range s.sb.OrderMessages(l.buyers[i], o.TransactionID) {
			switch m.Kind {
			case "confirm_reminder":
				reminded++
			default:
				notices++
			}
		}
		got, _ := s.sb.Order(sandbox.OrderKey{TransactionID: o.TransactionID})
		if got.Reshipped || notices > 1 {
			uploads++
		}
		if reminded > 1 {
			reminders++
		}
		if notices == 0 || reminded == 0 {
			lost++
		}
	}
	if uploads+reminders+lost != 0 {
		s.t.Fatalf("order channel: %d orders shipped twice, %d reminded twice, %d lost; want none", uploads, reminders, lost)
	}
	return uploads, reminders, lost
}
