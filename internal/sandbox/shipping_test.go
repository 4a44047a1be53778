package sandbox_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
)

// shop is a sandbox driven as a merchant's server drives the order
// shipping service: over raw HTTP, with the primary app's token.
type shop struct {
	*fixture
	tok string
}

func setupShop(t *testing.T, mods ...func(*sandbox.Config)) *shop {
	t.Helper()
	f := setup(t, mods...)
	return &shop{fixture: f, tok: f.stable(t, false).AccessToken}
}

// pay creates a paid order over the control endpoint; body may name the
// payment and the app, and lacks the payer only when the test wants that.
func (s *shop) pay(t *testing.T, body map[string]any) sandbox.Order {
	t.Helper()
	if _, ok := body["openid"]; !ok {
		_, body["openid"] = s.sb.Login("", "", false)
	}
	a := s.do(t, "POST", "/sandbox/orders", body)
	var o sandbox.Order
	if err := json.Unmarshal([]byte(a.raw), &o); err != nil || o.TransactionID == "" {
		t.Fatalf("POST /sandbox/orders: %s", a.raw)
	}
	return o
}

// later moves the clock on by d, with a token still valid after it.
func (s *shop) later(t *testing.T, d time.Duration) {
	t.Helper()
	s.clock.Advance(d)
	s.tok = s.stable(t, false).AccessToken
}

func (s *shop) api(t *testing.T, name string, body any) answer {
	t.Helper()
	return s.do(t, "POST", "/wxa/sec/order/"+name+"?access_token="+url.QueryEscape(s.tok), body)
}

// express is a valid unified express upload for o by transaction_id, at
// upload time at.
func express(o sandbox.Order, trackingNo string, at time.Time) map[string]any {
	return map[string]any{
		"order_key":      map[string]any{"order_number_type": 2, "transaction_id": o.TransactionID},
		"logistics_type": sandbox.LogisticsExpress,
		"delivery_mode":  sandbox.DeliveryUnified,
		"shipping_list": []map[string]any{{
			"tracking_no": trackingNo, "express_company": "YTO", "item_desc": "牛肉面 x2",
			"contact": map[string]string{"receiver_contact": "139****2901"},
		}},
		"upload_time": at.Format("2006-01-02T15:04:05.000Z07:00"),
		"payer":       map[string]string{"openid": o.OpenID},
	}
}

// wireOrder is get_order's answer as a caller decodes it.
type wireOrder struct {
	ErrCode int `json:"errcode"`
	Order   struct {
		TransactionID   string `json:"transaction_id"`
		MerchantID      string `json:"merchant_id"`
		MerchantTradeNo string `json:"merchant_trade_no"`
		Description     string `json:"description"`
		PaidAmount      int64  `json:"paid_amount"`
		OpenID          string `json:"openid"`
		PayTime         int64  `json:"pay_time"`
		OrderState      int    `json:"order_state"`
		Shipping        struct {
			DeliveryMode        int  `json:"delivery_mode"`
			LogisticsType       int  `json:"logistics_type"`
			FinishShipping      bool `json:"finish_shipping"`
			FinishShippingCount int  `json:"finish_shipping_count"`
			ShippingList        []struct {
				TrackingNo     string `json:"tracking_no"`
				ExpressCompany string `json:"express_company"`
				GoodsDesc      string `json:"goods_desc"`
				UploadTime     int64  `json:"upload_time"`
				Contact        struct {
					ReceiverContact string `json:"receiver_contact"`
				} `json:"contact"`
			} `json:"shipping_list"`
		} `json:"shipping"`
	} `json:"order"`
}

func (s *shop) getOrder(t *testing.T, transactionID string) wireOrder {
	t.Helper()
	a := s.api(t, "get_order", map[string]string{"transaction_id": transactionID})
	var w wireOrder
	if err := json.Unmarshal([]byte(a.raw), &w); err != nil || w.ErrCode != 0 {
		t.Fatalf("get_order %s: %s", transactionID, a.raw)
	}
	return w
}

// messages is what the buyer of o was sent about it.
func (s *shop) messages(t *testing.T, o sandbox.Order) []sandbox.OrderMessage {
	t.Helper()
	a := s.do(t, "GET", "/sandbox/orders/messages?transaction_id="+o.TransactionID, nil)
	var got struct {
		Count    int
		Messages []sandbox.OrderMessage
	}
	if err := json.Unmarshal([]byte(a.raw), &got); err != nil || got.Count != len(got.Messages) {
		t.Fatalf("GET /sandbox/orders/messages: %s", a.raw)
	}
	return got.Messages
}

func TestUploadShipsTheOrderAndTellsTheBuyer(t *testing.T) {
	t.Parallel()
	s := setupShop(t)
	now := s.clock.Now()
	o := s.pay(t, map[string]any{"amount": 1250, "description": "牛肉面 x2"})
	if w := s.getOrder(t, o.TransactionID); w.Order.OrderState != 1 || w.Order.Shipping.FinishShipping || len(w.Order.Shipping.ShippingList) != 0 {
		t.Fatalf("a paid order before shipping: %+v; want state 1 and no shipping", w.Order)
	}
	s.clock.Advance(time.Hour)
	wantCode(t, "upload", s.api(t, "upload_shipping_info", express(o, "YT7407032196699", now.Add(time.Hour))), 0)

	w := s.getOrder(t, o.TransactionID)
	sh := w.Order.Shipping
	if w.Order.OrderState != 2 || !sh.FinishShipping || sh.FinishShippingCount != 1 || sh.LogisticsType != 1 || sh.DeliveryMode != 1 {
		t.Fatalf("get_order after the upload: %+v; want state 2, shipping finished once", w.Order)
	}
	if len(sh.ShippingList) != 1 || sh.ShippingList[0].TrackingNo != "YT7407032196699" || sh.ShippingList[0].ExpressCompany != "YTO" ||
		sh.ShippingList[0].GoodsDesc != "牛肉面 x2" || sh.ShippingList[0].Contact.ReceiverContact != "139****2901" ||
		sh.ShippingList[0].UploadTime != now.Add(time.Hour).Unix() {
		t.Fatalf("shipping_list %+v; want the parcel uploaded, with the upload's time in Unix seconds", sh.ShippingList)
	}
	if w.Order.MerchantID != sandbox.DefaultMchID || w.Order.MerchantTradeNo != o.OutTradeNo || w.Order.PaidAmount != 1250 ||
		w.Order.OpenID != o.OpenID || w.Order.PayTime != now.Unix() || w.Order.Description != "牛肉面 x2" {
		t.Fatalf("get_order %+v; want the payment's merchant, number, amount, payer and time", w.Order)
	}
	msgs := s.messages(t, o)
	if len(msgs) != 1 || msgs[0].Kind != sandbox.ShippedMessage || msgs[0].OpenID != o.OpenID || len(msgs[0].Packages) != 1 {
		t.Fatalf("the buyer was sent %+v; want one shipping notice", msgs)
	}
	if got, _ := s.sb.Order(o.OrderKey); got.BuyerMessages != 1 || got.State != sandbox.OrderShipped || !got.ShippedAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("the sandbox's order %+v; want shipped, one message", got)
	}

	// The same by the merchant's own order number (order_number_type 1).
	o2 := s.pay(t, map[string]any{"mchid": "1612345678", "out_trade_no": "SHOP-42"})
	up := express(o2, "YT1", now)
	up["order_key"] = map[string]any{"order_number_type": 1, "mchid": "1612345678", "out_trade_no": "SHOP-42"}
	wantCode(t, "upload by mchid and out_trade_no", s.api(t, "upload_shipping_info", up), 0)
	byMerchant := s.api(t, "get_order", map[string]string{"merchant_id": "1612345678", "merchant_trade_no": "SHOP-42"})
	if !strings.Contains(byMerchant.raw, `"order_state":2`) || !strings.Contains(byMerchant.raw, o2.TransactionID) {
		t.Fatalf("get_order by merchant_id and merchant_trade_no: %s", byMerchant.raw)
	}
}

// Every refusal of an upload the reference lists, each changing nothing.
func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	s := setupShop(t)
	o := s.pay(t, map[string]any{})
	at := s.clock.Now()
	edit := func(e func(b map[string]any)) map[string]any {
		b := express(o, "YT1", at)
		e(b)
		return b
	}
	parcel := func(b map[string]any) map[string]any { return b["shipping_list"].([]map[string]any)[0] }
	parcels := func(n int) []map[string]any {
		l := make([]map[string]any, n)
		for i := range l {
			l[i] = map[string]any{"tracking_no": "YT" + strings.Repeat("9", i+1), "express_company": "YTO", "item_desc": "面"}
		}
		return l
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		code int
	}{
		{"order_number_type 3", edit(func(b map[string]any) {
			b["order_key"] = map[string]any{"order_number_type": 3, "transaction_id": o.TransactionID}
		}), 268485194},
		{"no order_key", edit(func(b map[string]any) { delete(b, "order_key") }), 268485194},
		{"type 2 without transaction_id", edit(func(b map[string]any) { b["order_key"] = map[string]any{"order_number_type": 2} }), 268485195},
		{"type 1 without mchid", edit(func(b map[string]any) {
			b["order_key"] = map[string]any{"order_number_type": 1, "out_trade_no": o.OutTradeNo}
		}), 268485196},
		{"type 1 without out_trade_no", edit(func(b map[string]any) { b["order_key"] = map[string]any{"order_number_type": 1, "mchid": o.MchID} }), 268485197},
		{"logistics_type 5", edit(func(b map[string]any) { b["logistics_type"] = 5 }), 10060005},
		{"logistics_type 0", edit(func(b map[string]any) { b["logistics_type"] = 0 }), 10060005},
		{"delivery_mode 3", edit(func(b map[string]any) { b["delivery_mode"] = 3 }), 268485224},
		{"split delivery by same-city", edit(func(b map[string]any) {
			b["delivery_mode"], b["logistics_type"], b["is_all_delivered"] = 2, 2, true
		}), 10060006},
		{"split delivery without is_all_delivered", edit(func(b map[string]any) { b["delivery_mode"] = 2 }), 10060007},
		{"unified delivery of two parcels", edit(func(b map[string]any) { b["shipping_list"] = parcels(2) }), 268485228},
		{"unified delivery of none", edit(func(b map[string]any) { b["shipping_list"] = parcels(0) }), 268485228},
		{"16 parcels", edit(func(b map[string]any) {
			b["delivery_mode"], b["is_all_delivered"], b["shipping_list"] = 2, true, parcels(16)
		}), 10060024},
		{"split delivery of none", edit(func(b map[string]any) {
			b["delivery_mode"], b["is_all_delivered"], b["shipping_list"] = 2, true, parcels(0)
		}), 10060014},
		{"no item_desc", edit(func(b map[string]any) { delete(parcel(b), "item_desc") }), 10060008},
		{"item_desc of 121 characters", edit(func(b map[string]any) { parcel(b)["item_desc"] = strings.Repeat("面", 121) }), 10060009},
		{"tracking_no of 129 bytes", edit(func(b map[string]any) { parcel(b)["tracking_no"] = strings.Repeat("9", 129) }), 10060026},
		{"express_company of 129 bytes", edit(func(b map[string]any) { parcel(b)["express_company"] = strings.Repeat("X", 129) }), 10060025},
		{"express without tracking_no", edit(func(b map[string]any) { delete(parcel(b), "tracking_no") }), 268485226},
		{"express without express_company", edit(func(b map[string]any) { delete(parcel(b), "express_company") }), 268485227},
		{"SF Express without a contact", edit(func(b map[string]any) { parcel(b)["express_company"] = "SF"; delete(parcel(b), "contact") }), 10060014},
		{"upload_time not RFC 3339", edit(func(b map[string]any) { b["upload_time"] = at.Format("2006-01-02 15:04:05") }), 268485216},
		{"upload_time missing", edit(func(b map[string]any) { delete(b, "upload_time") }), 268485216},
		{"shipping_list an object", edit(func(b map[string]any) { b["shipping_list"] = parcel(b) }), 47001},
		{"unknown transaction_id", edit(func(b map[string]any) {
			b["order_key"] = map[string]any{"order_number_type": 2, "transaction_id": "4200000000000000000000000000"}
		}), 10060001},
		{"mchid of another merchant", edit(func(b map[string]any) {
			b["order_key"] = map[string]any{"order_number_type": 1, "mchid": "1600000000", "out_trade_no": o.OutTradeNo}
		}), 10060001},
		{"payer another user", edit(func(b map[string]any) { b["payer"] = map[string]string{"openid": "o-someone-else"} }), 10060031},
		{"no payer", edit(func(b map[string]any) { delete(b, "payer") }), 10060031},
	} {
		a := s.api(t, "upload_shipping_info", tc.body)
		if a.ErrCode != tc.code || !strings.Contains(a.ErrMsg, " rid: ") {
			t.Errorf("%s: %s; want errcode %d with a rid", tc.name, a.raw, tc.code)
		}
	}
	// Virtual goods and pickup need no tracking number.
	pickup := edit(func(b map[string]any) {
		b["logistics_type"] = sandbox.LogisticsPickup
		b["shipping_list"] = []map[string]any{{"item_desc": "面"}}
	})
	if got, _ := s.sb.Order(o.OrderKey); got.State != sandbox.OrderAwaitingShipment || got.Shipping != nil || got.BuyerMessages != 0 {
		t.Fatalf("after refusals only: %+v; want the order untouched", got)
	}
	wantCode(t, "pickup without tracking", s.api(t, "upload_shipping_info", pickup), 0)
}

// WeChat allows one change of completed shipping, while the buyer has not
// confirmed receipt; an upload identical to what is recorded changes nothing.
func TestShippingChangesOnce(t *testing.T) {
	t.Parallel()
	s := setupShop(t)
	o := s.pay(t, map[string]any{})
	at := s.clock.Now()
	wantCode(t, "first upload", s.api(t, "upload_shipping_info", express(o, "YT-A", at)), 0)
	s.clock.Advance(time.Minute)
	// The same again, as a retry after a lost reply sends it, later or not.
	wantCode(t, "the same shipping", s.api(t, "upload_shipping_info", express(o, "YT-A", at)), 10060023)
	wantCode(t, "the same shipping, later", s.api(t, "upload_shipping_info", express(o, "YT-A", at.Add(time.Minute))), 10060023)
	wantCode(t, "a change not later than the upload recorded", s.api(t, "upload_shipping_info", express(o, "YT-B", at)), 10060014)
	wantCode(t, "a change", s.api(t, "upload_shipping_info", express(o, "YT-B", at.Add(time.Minute))), 0)
	wantCode(t, "a second change", s.api(t, "upload_shipping_info", express(o, "YT-C", at.Add(2*time.Minute))), 10060003)
	wantCode(t, "the changed shipping again", s.api(t, "upload_shipping_info", express(o, "YT-B", at.Add(2*time.Minute))), 10060023)

	w := s.getOrder(t, o.TransactionID)
	if w.Order.Shipping.FinishShippingCount != 2 || w.Order.Shipping.ShippingList[0].TrackingNo != "YT-B" {
		t.Fatalf("get_order after one change: %+v; want finish_shipping_count 2 and the changed parcel", w.Order.Shipping)
	}
	msgs := s.messages(t, o)
	if len(msgs) != 2 || msgs[0].Kind != sandbox.ShippedMessage || msgs[1].Kind != sandbox.ShippingChangedMessage || msgs[1].Packages[0].TrackingNo != "YT-B" {
		t.Fatalf("the buyer was sent %+v; want the shipping notice and the change's", msgs)
	}

	// Once the buyer confirmed, or the money went back, shipping is final.
	for _, step := range []string{"confirm", "refund"} {
		o := s.pay(t, map[string]any{})
		wantCode(t, "upload", s.api(t, "upload_shipping_info", express(o, "YT-A", at)), 0)
		if step == "confirm" {
			s.do(t, "POST", "/sandbox/orders/confirm", map[string]string{"transaction_id": o.TransactionID})
		} else {
			s.do(t, "POST", "/sandbox/orders/refund", map[string]string{"transaction_id": o.TransactionID})
		}
		wantCode(t, "a change after "+step, s.api(t, "upload_shipping_info", express(o, "YT-B", at.Add(time.Hour))), 10060004)
	}
	refunded := s.pay(t, map[string]any{})
	s.do(t, "POST", "/sandbox/orders/refund", map[string]string{"transaction_id": refunded.TransactionID})
	wantCode(t, "shipping a refunded order", s.api(t, "upload_shipping_info", express(refunded, "YT-A", at)), 10060004)
}

// A split delivery ships when its last upload says all is delivered; only
// then is the buyer told, and a completed one can be replaced, not continued.
func TestSplitDelivery(t *testing.T) {
	t.Parallel()
	s := setupShop(t)
	o := s.pay(t, map[string]any{})
	at := s.clock.Now()
	split := func(all bool, at time.Time, trackingNos ...string) map[string]any {
		b := express(o, "", at)
		b["delivery_mode"], b["is_all_delivered"] = sandbox.DeliverySplit, all
		var l []map[string]any
		for _, n := range trackingNos {
			l = append(l, map[string]any{"tracking_no": n, "express_company": "ZTO", "item_desc": "面 " + n})
		}
		b["shipping_list"] = l
		return b
	}
	wantCode(t, "first parcel", s.api(t, "upload_shipping_info", split(false, at, "P1")), 0)
	if w := s.getOrder(t, o.TransactionID); w.Order.OrderState != 1 || w.Order.Shipping.FinishShipping || len(w.Order.Shipping.ShippingList) != 1 {
		t.Fatalf("after a partial split upload: %+v; want still state 1, shipping not finished", w.Order)
	}
	if n := len(s.messages(t, o)); n != 0 {
		t.Fatalf("the buyer got %d messages before all was shipped; want none", n)
	}
	wantCode(t, "all parcels", s.api(t, "upload_shipping_info", split(true, at.Add(time.Minute), "P1", "P2")), 0)
	w := s.getOrder(t, o.TransactionID)
	if w.Order.OrderState != 2 || !w.Order.Shipping.FinishShipping || w.Order.Shipping.FinishShippingCount != 1 || len(w.Order.Shipping.ShippingList) != 2 {
		t.Fatalf("after the last split upload: %+v; want state 2, two parcels, finished once", w.Order)
	}
	wantCode(t, "continuing a finished split delivery", s.api(t, "upload_shipping_info", split(false, at.Add(2*time.Minute), "P3")), 10060002)
	if n := len(s.messages(t, o)); n != 1 {
		t.Fatalf("the buyer got %d messages; want the one shipping notice", n)
	}
}

// A fresh payment is not yet known to the shipping APIs: 10060001 until
// WeChat has filed it, success after.
func TestAFreshPaymentIsNotFoundUntilFiled(t *testing.T) {
	t.Parallel()
	s := setupShop(t)
	o := s.pay(t, map[string]any{"hidden_for": "90s"})
	at := s.clock.Now()
	wantCode(t, "upload at once", s.api(t, "upload_shipping_info", express(o, "YT1", at)), 10060001)
	wantCode(t, "get_order at once", s.api(t, "get_order", map[string]string{"transaction_id": o.TransactionID}), 10060001)
	s.clock.Advance(89 * time.Second)
	wantCode(t, "upload after 89 s", s.api(t, "upload_shipping_info", express(o, "YT1", at)), 10060001)
	s.clock.Advance(time.Second)
	wantCode(t, "upload after 90 s", s.api(t, "upload_shipping_info", express(o, "YT1", at)), 0)
}

func TestConfirmReceiveReminder(t *testing.T) {
	t.Parallel()
	s := setupShop(t)
	o := s.pay(t, map[string]any{})
	remind := func(received int64) answer {
		return s.api(t, "notify_confirm_receive", map[string]any{"transaction_id": o.TransactionID, "received_time": received})
	}
	shipped := s.clock.Now()
	wantCode(t, "before shipping", remind(shipped.Unix()), 10060028)
	wantCode(t, "upload", s.api(t, "upload_shipping_info", express(o, "YT1", shipped)), 0)
	s.later(t, 2*24*time.Hour)
	wantCode(t, "signed at the ship time", remind(shipped.Unix()), 10060029)
	wantCode(t, "signed before the ship time", remind(shipped.Add(-time.Hour).Unix()), 10060029)
	wantCode(t, "signed in milliseconds", remind(shipped.Add(time.Hour).UnixMilli()), 10060029)
	wantCode(t, "signed in the future", remind(s.clock.Now().Add(time.Hour).Unix()), 10060029)
	wantCode(t, "no signing time", s.api(t, "notify_confirm_receive", map[string]any{"transaction_id": o.TransactionID}), 10060029)
	wantCode(t, "no payment named", s.api(t, "notify_confirm_receive", map[string]any{"received_time": shipped.Add(time.Hour).Unix()}), 47001)
	wantCode(t, "signing time as a string", s.api(t, "notify_confirm_receive", map[string]any{"transaction_id": o.TransactionID, "received_time": "1700000000"}), 47001)
	if n := len(s.messages(t, o)); n != 1 {
		t.Fatalf("%d messages after refused reminders; want only the shipping notice", n)
	}
	wantCode(t, "signed after shipping", remind(shipped.Add(time.Hour).Unix()), 0)
	wantCode(t, "a second reminder", remind(shipped.Add(2*time.Hour).Unix()), 10060030)
	msgs := s.messages(t, o)
	if len(msgs) != 2 || msgs[1].Kind != sandbox.ConfirmReminderMessage || msgs[1].ReceivedTime != shipped.Add(time.Hour).Unix() {
		t.Fatalf("the buyer was sent %+v; want the shipping notice and one reminder naming the signing time", msgs)
	}

	// Express only; by the merchant's order number too.
	pickup := s.pay(t, map[string]any{"out_trade_no": "PICKUP-1"})
	up := express(pickup, "", shipped)
	up["logistics_type"], up["shipping_list"] = sandbox.LogisticsPickup, []map[string]any{{"item_desc": "面"}}
	wantCode(t, "pickup upload", s.api(t, "upload_shipping_info", up), 0)
	wantCode(t, "reminder for a pickup order", s.api(t, "notify_confirm_receive", map[string]any{
		"merchant_id": sandbox.DefaultMchID, "merchant_trade_no": "PICKUP-1", "received_time": s.clock.Now().Unix(),
	}), 10060032)
	confirmed := s.pay(t, map[string]any{})
	wantCode(t, "upload", s.api(t, "upload_shipping_info", express(confirmed, "YT2", s.clock.Now())), 0)
	s.do(t, "POST", "/sandbox/orders/confirm", map[string]string{"transaction_id": confirmed.TransactionID})
	s.clock.Advance(time.Hour)
	wantCode(t, "reminder after the buyer confirmed", s.api(t, "notify_confirm_receive", map[string]any{
		"transaction_id": confirmed.TransactionID, "received_time": s.clock.Now().Unix(),
	}), 10060028)
	wantCode(t, "reminder for an unknown payment", s.api(t, "notify_confirm_receive", map[string]any{
		"transaction_id": "4200000000000000000000000000", "received_time": s.clock.Now().Unix(),
	}), 10060001)
}

// get_order follows the payment through its states, and names it only by
// its own field names.
func TestGetOrderFollowsTheStates(t *testing.T) {
	t.Parallel()
	s := setupShop(t)
	long := strings.Repeat("商品描述", 40) // 160 characters
	o := s.pay(t, map[string]any{"description": long})
	w := s.getOrder(t, o.TransactionID)
	if d := []rune(w.Order.Description); len(d) != 120 || !strings.HasSuffix(w.Order.Description, "...") {
		t.Fatalf("description of 160 characters read %q; want it cut to 120 ending in ...", w.Order.Description)
	}
	wantCode(t, "upload's field names", s.api(t, "get_order", map[string]string{"mchid": o.MchID, "out_trade_no": o.OutTradeNo}), 47001)
	wantCode(t, "upload", s.api(t, "upload_shipping_info", express(o, "YT1", s.clock.Now())), 0)
	for _, step := range []struct {
		control string
		body    map[string]any
		state   int
	}{
		{"confirm", nil, 3},
		{"settle", map[string]any{"pending": true}, 6},
		{"settle", nil, 4},
		{"refund", nil, 5},
	} {
		body := map[string]any{"transaction_id": o.TransactionID}
		for k, v := range step.body {
			body[k] = v
		}
		if a := s.do(t, "POST", "/sandbox/orders/"+step.control, body); !strings.Contains(a.raw, `"state":`) {
			t.Fatalf("POST /sandbox/orders/%s: %s", step.control, a.raw)
		}
		if got := s.getOrder(t, o.TransactionID).Order.OrderState; got != step.state {
			t.Fatalf("after %s %v: order_state %d; want %d", step.control, step.body, got, step.state)
		}
	}
}

// A payment belongs to the mini program it was paid in: another app's
// token does not find it.
func TestOrdersBelongToTheirApp(t *testing.T) {
	t.Parallel()
	f := setupTwoApps(t)
	_, buyer := f.b.Login("", "", false)
	a := f.do(t, "POST", "/sandbox/orders", map[string]any{"appid": appID2, "openid": buyer, "transaction_id": "4200000001202611240000000001"})
	if !strings.Contains(a.raw, `"appid":"`+appID2+`"`) {
		t.Fatalf("POST /sandbox/orders in app 2: %s", a.raw)
	}
	o, _ := f.b.Order(sandbox.OrderKey{TransactionID: "4200000001202611240000000001"})
	tokA, tokB := f.stableOf(t, appID, secret).AccessToken, f.stableOf(t, appID2, secret2).AccessToken
	up := express(o, "YT1", f.clock.Now())
	wantCode(t, "upload with the first app's token", f.do(t, "POST", "/wxa/sec/order/upload_shipping_info?access_token="+tokA, up), 10060001)
	wantCode(t, "upload with its own app's token", f.do(t, "POST", "/wxa/sec/order/upload_shipping_info?access_token="+tokB, up), 0)
	if n := len(f.sb.OrderMessages("", "")); n != 0 {
		t.Fatalf("the first app's buyers got %d messages; want none", n)
	}
	if n := len(f.b.OrderMessages(buyer, "")); n != 1 {
		t.Fatalf("the second app's buyer got %d messages; want 1", n)
	}
	if dup := f.do(t, "POST", "/sandbox/orders", map[string]any{"openid": "o-x", "transaction_id": o.TransactionID}); !strings.Contains(dup.raw, "is already a payment of "+appID2) {
		t.Fatalf("the same transaction_id in another app: %s", dup.raw)
	}
	if got := f.do(t, "GET", "/sandbox/orders?transaction_id="+o.TransactionID, nil); !strings.Contains(got.raw, "no payment with") {
		t.Fatalf("GET the second app's order without its appid: %s", got.raw)
	}
	if got := f.do(t, "GET", "/sandbox/orders?appid="+appID2+"&transaction_id="+o.TransactionID, nil); !strings.Contains(got.raw, `"state":2`) {
		t.Fatalf("GET the second app's order: %s", got.raw)
	}
}
