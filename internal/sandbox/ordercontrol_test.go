package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/wxevent"
)

// The controls refuse what the buyer, WeChat Pay or WeChat could not do,
// and say why.
func TestOrderControlsRefuseWhatCannotHappen(t *testing.T) {
	t.Parallel()
	s := setupShop(t)
	o := s.pay(t, map[string]any{})
	ref := map[string]any{"transaction_id": o.TransactionID}
	for _, tc := range []struct {
		method, path string
		body         any
		want         string
	}{
		{"POST", "/sandbox/orders", map[string]any{"amount": 5}, "openid is empty"},
		{"POST", "/sandbox/orders", map[string]any{"openid": "o-1", "hidden_for": "soon"}, "duration"},
		{"POST", "/sandbox/orders", map[string]any{"openid": "o-1", "transaction_id": o.TransactionID}, "is already a payment of " + appID},
		{"POST", "/sandbox/orders", map[string]any{"openid": "o-1", "appid": "wx-unknown"}, `appid \"wx-unknown\" is not one of the sandbox's apps`},
		{"POST", "/sandbox/orders/confirm", ref, "the order is awaiting_shipment; a buyer confirms receipt of a shipped order"},
		{"POST", "/sandbox/orders/settle", ref, "the order is awaiting_shipment; funds settle after shipping"},
		{"POST", "/sandbox/orders/confirm", map[string]any{"transaction_id": "4200000000000000000000000000"}, "no payment with transaction_id 4200000000000000000000000000"},
		{"POST", "/sandbox/orders/confirm", map[string]any{"transaction_id": o.TransactionID, "colour": "red"}, `unknown field \"colour\"`},
		{"GET", "/sandbox/orders?mchid=" + o.MchID + "&out_trade_no=nope", nil, "no payment with mchid " + o.MchID + " out_trade_no nope"},
	} {
		if a := s.do(t, tc.method, tc.path, tc.body); !strings.Contains(a.raw, tc.want) {
			t.Errorf("%s %s %v: %s; want it to say %q", tc.method, tc.path, tc.body, a.raw, tc.want)
		}
	}
	wantCode(t, "upload", s.api(t, "upload_shipping_info", express(o, "YT1", s.clock.Now())), 0)
	if a := s.do(t, "POST", "/sandbox/orders/remind_shipping", ref); !strings.Contains(a.raw, "WeChat reminds the merchant of unshipped orders") {
		t.Errorf("reminding to ship a shipped order: %s", a.raw)
	}
	// Settling a shipped order the buyer never confirmed confirms it for him.
	var settled sandbox.Order
	_ = json.Unmarshal([]byte(s.do(t, "POST", "/sandbox/orders/settle", ref).raw), &settled)
	if settled.State != sandbox.OrderCompleted || settled.ConfirmMethod != sandbox.ConfirmedAutomatically || settled.ConfirmedAt.IsZero() {
		t.Fatalf("settling an unconfirmed shipped order: %+v; want completed, confirmed automatically", settled)
	}
	s.do(t, "POST", "/sandbox/orders/refund", ref)
	if a := s.do(t, "POST", "/sandbox/orders/refund", ref); !strings.Contains(a.raw, "already refunded") {
		t.Errorf("refunding twice: %s", a.raw)
	}
}

// tradePush is a trade event as a receiver reads the plain JSON or XML body.
type tradePush struct {
	FromUserName            string `json:"FromUserName" xml:"FromUserName"`
	Event                   string `json:"Event" xml:"Event"`
	TransactionID           string `json:"transaction_id" xml:"transaction_id"`
	MerchantID              string `json:"merchant_id" xml:"merchant_id"`
	MerchantTradeNo         string `json:"merchant_trade_no" xml:"merchant_trade_no"`
	PayTime                 int64  `json:"pay_time" xml:"pay_time"`
	Msg                     string `json:"msg" xml:"msg"`
	ShippedTime             int64  `json:"shipped_time" xml:"shipped_time"`
	EstimatedSettlementTime int64  `json:"estimated_settlement_time" xml:"estimated_settlement_time"`
	ConfirmReceiveMethod    int    `json:"confirm_receive_method" xml:"confirm_receive_method"`
	ConfirmReceiveTime      int64  `json:"confirm_receive_time" xml:"confirm_receive_time"`
	SettlementTime          int64  `json:"settlement_time" xml:"settlement_time"`
}

// The order shipping service's pushes reach the app's push URL as every
// push does — signed, text/xml, JSON or XML, encrypted in safe mode — with
// their fields at the top level: the settlement estimate when shipping
// completes, the settlement with how receipt was confirmed, the reminders.
func TestTradePushes(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		push sandbox.Push
	}{
		{"json", sandbox.Push{}},
		{"xml", sandbox.Push{XML: true}},
		{"json safe mode", sandbox.Push{AESKey: pushAESKey}},
		{"xml safe mode", sandbox.Push{XML: true, AESKey: pushAESKey}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			f, rc := pushingFixture(t, "success", mode.push)
			s := &shop{fixture: f, tok: f.stable(t, false).AccessToken}
			paid := s.clock.Now()
			o := s.pay(t, map[string]any{"mchid": "1612345678", "out_trade_no": "SHOP-7"})
			s.do(t, "POST", "/sandbox/orders/remind_shipping", map[string]any{"transaction_id": o.TransactionID, "msg": "请发货"})
			s.clock.Advance(time.Hour)
			wantCode(t, "upload", s.api(t, "upload_shipping_info", express(o, "YT1", s.clock.Now())), 0)
			s.clock.Advance(time.Hour)
			s.do(t, "POST", "/sandbox/orders/confirm", map[string]any{"transaction_id": o.TransactionID})
			s.clock.Advance(time.Hour)
			s.do(t, "POST", "/sandbox/orders/settle", map[string]any{"transaction_id": o.TransactionID})
			s.do(t, "POST", "/sandbox/orders/remind_access_api", nil)

			verifier, _ := wxevent.NewVerifier(pushToken, mode.push.AESKey, appID)
			var got []tradePush
			for _, a := range rc.arrivals(t, 4) {
				if a.contentType != "text/xml" {
					t.Errorf("push labelled %q; WeChat labels its pushes text/xml", a.contentType)
				}
				p, err := verifier.Open(wxevent.Params{Signature: a.query.Get("signature"), Timestamp: a.query.Get("timestamp"),
					Nonce: a.query.Get("nonce"), MsgSignature: a.query.Get("msg_signature")}, a.body)
				if err != nil {
					t.Fatalf("wxevent could not open the push: %v\n%s", err, a.body)
				}
				if p.FromUserName == o.OpenID || p.FromUserName == "" {
					t.Errorf("push from %q; WeChat's trade pushes come from a system account, not the buyer", p.FromUserName)
				}
				var tp tradePush
				if mode.push.AESKey != "" {
					tp = tradePush{Event: p.Event} // the plain forms show the fields
				} else if mode.push.XML {
					err = xml.Unmarshal(a.body, &tp)
				} else {
					err = json.Unmarshal(a.body, &tp)
				}
				if err != nil {
					t.Fatalf("push body: %v\n%s", err, a.body)
				}
				got = append(got, tp)
			}
			// Pushes travel concurrently, as WeChat's do: tell them by their fields.
			events := map[string]int{}
			var remind, shipped, settled, access tradePush
			for _, tp := range got {
				events[tp.Event]++
				switch {
				case tp.Event == sandbox.RemindShippingEventName:
					remind = tp
				case tp.Event == sandbox.RemindAccessAPIEventName:
					access = tp
				case tp.Event == sandbox.OrderSettlementEventName && tp.SettlementTime != 0:
					settled = tp
				case tp.Event == sandbox.OrderSettlementEventName:
					shipped = tp
				}
			}
			if events[sandbox.RemindShippingEventName] != 1 || events[sandbox.OrderSettlementEventName] != 2 || events[sandbox.RemindAccessAPIEventName] != 1 {
				t.Fatalf("events %v; want a shipping reminder, two settlement pushes and an access reminder", events)
			}
			if mode.push.AESKey != "" {
				return
			}
			order := tradePush{TransactionID: o.TransactionID, MerchantID: "1612345678", MerchantTradeNo: "SHOP-7", PayTime: paid.Unix()}
			if remind.TransactionID != order.TransactionID || remind.MerchantID != order.MerchantID || remind.MerchantTradeNo != order.MerchantTradeNo ||
				remind.PayTime != order.PayTime || remind.Msg != "请发货" {
				t.Errorf("remind_shipping push %+v; want the payment and the text", remind)
			}
			shipTime := paid.Add(time.Hour).Unix()
			if shipped.TransactionID != order.TransactionID || shipped.ShippedTime != shipTime || shipped.EstimatedSettlementTime <= shipTime ||
				shipped.ConfirmReceiveMethod != 0 || shipped.SettlementTime != 0 {
				t.Errorf("settlement push at shipping %+v; want shipped_time and estimated_settlement_time only", shipped)
			}
			if settled.ShippedTime != shipTime || settled.EstimatedSettlementTime != 0 || settled.ConfirmReceiveMethod != sandbox.ConfirmedByBuyer ||
				settled.ConfirmReceiveTime != paid.Add(2*time.Hour).Unix() || settled.SettlementTime != paid.Add(3*time.Hour).Unix() {
				t.Errorf("settlement push at settling %+v; want how and when receipt was confirmed and when it settled", settled)
			}
			if access.Msg == "" || access.TransactionID != "" {
				t.Errorf("remind_access_api push %+v; want a text and no payment", access)
			}
			for _, a := range rc.arrivals(t, 4) {
				if mode.push.XML && bytes.Contains(a.body, []byte(sandbox.OrderSettlementEventName)) &&
					!bytes.Contains(a.body, []byte("<transaction_id>"+o.TransactionID+"</transaction_id>")) {
					t.Errorf("XML settlement push without a top-level transaction_id element: %s", a.body)
				}
			}
		})
	}
}

// The sandbox's faults apply to the shipping APIs as to send: a reply lost
// after the upload took effect leaves the order shipped and the buyer told,
// and the retry that follows learns that nothing changed.
func TestShippingFaults(t *testing.T) {
	t.Parallel()
	s := setupShop(t, func(c *sandbox.Config) {
		c.Faults = sandbox.Faults{LostReplyRate: 1, HangFor: sandbox.Duration(5 * time.Second), Endpoints: []string{sandbox.EndpointUploadShipping}}
	})
	o := s.pay(t, map[string]any{})
	up := express(o, "YT1", s.clock.Now())
	body, _ := json.Marshal(up)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.url+"/wxa/sec/order/upload_shipping_info?access_token="+s.tok, bytes.NewReader(body))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a lost reply answered")
	}
	if got, _ := s.sb.Order(o.OrderKey); got.State != sandbox.OrderShipped || got.BuyerMessages != 1 {
		t.Fatalf("after the lost reply: %+v; want shipped and the buyer told once", got)
	}
	if err := s.sb.SetFaults(sandbox.Faults{}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "the retry", s.api(t, "upload_shipping_info", up), 10060023)
	if n := len(s.messages(t, o)); n != 1 {
		t.Fatalf("the buyer got %d messages; want 1 however often the upload was sent", n)
	}

	// Scripted answers, rates limited to one endpoint, unauthorised APIs.
	if err := s.sb.SetFaults(sandbox.Faults{Script: []sandbox.Scripted{
		{Endpoint: sandbox.EndpointGetOrder, ErrCode: -1}, {Endpoint: sandbox.EndpointNotifyConfirmReceive, ErrCode: 10060001},
	}}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "scripted get_order", s.api(t, "get_order", map[string]string{"transaction_id": o.TransactionID}), -1)
	wantCode(t, "get_order after the script", s.api(t, "get_order", map[string]string{"transaction_id": o.TransactionID}), 0)
	wantCode(t, "scripted reminder", s.api(t, "notify_confirm_receive", map[string]any{"transaction_id": o.TransactionID, "received_time": s.clock.Now().Unix()}), 10060001)
	if got, _ := s.sb.Order(o.OrderKey); !got.RemindedAt.IsZero() {
		t.Fatalf("a scripted answer took effect: %+v", got)
	}
	if err := s.sb.SetFaults(sandbox.Faults{BusyRate: 1, Endpoints: []string{sandbox.EndpointNotifyConfirmReceive}, Unauthorized: []string{sandbox.EndpointGetOrder}}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "busy reminder", s.api(t, "notify_confirm_receive", map[string]any{"transaction_id": o.TransactionID, "received_time": s.clock.Now().Unix()}), -1)
	wantCode(t, "get_order not granted", s.api(t, "get_order", map[string]string{"transaction_id": o.TransactionID}), 48001)
	wantCode(t, "upload outside the fault's endpoints", s.api(t, "upload_shipping_info", up), 10060023)

	// Tokens are checked as for send, before anything else.
	s.tok = ""
	wantCode(t, "no token", s.api(t, "upload_shipping_info", up), 41001)
	s.tok = "short!"
	wantCode(t, "malformed token", s.api(t, "get_order", map[string]string{"transaction_id": o.TransactionID}), 40014)
	if c := s.sb.Calls()[sandbox.EndpointUploadShipping]; c.Outcomes["lost_reply"] != 1 || c.Outcomes["10060023"] != 2 {
		t.Fatalf("upload_shipping_info call counts %+v", c)
	}
	if bad := s.do(t, "PUT", "/sandbox/faults", map[string]any{"endpoints": []string{"upload_shipping"}}); !strings.Contains(bad.raw, `unknown endpoint \"upload_shipping\"`) {
		t.Fatalf("PUT faults for an unknown endpoint: %s", bad.raw)
	}
}
