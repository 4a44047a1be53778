package sdkcheck_test

import (
	"net/url"
	"testing"
	"time"

	spmessage "github.com/silenceper/wechat/v2/miniprogram/message"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/sandbox/sandboxtest"
)

// The order shipping service's pushes, whose fields sit at the top level
// rather than in a List, in each of the four forms, read by silenceper's
// receiver into its own types: the shipping reminder with the payment and
// its text, the settlement estimate pushed when shipping completes, the
// settlement with how and when receipt was confirmed, the reminder to use
// the APIs. As for the subscription events, JSON bodies are relabelled
// application/json for silenceper, which trusts the label.
func TestSilenceperReadsTheTradePushes(t *testing.T) {
	t.Parallel()
	forEachForm(t, func(t *testing.T, s *sandboxtest.Server, rc *receiver, p sandbox.Push, label string) {
		paid := s.Clock.Now()
		_, buyer := s.Login("", "", false)
		o, err := s.CreateOrder(sandbox.NewOrder{OpenID: buyer, MchID: "1612345678", OutTradeNo: "SHOP-7"})
		if err != nil {
			t.Fatal(err)
		}
		app, _ := s.App("")
		if _, err := app.RemindShipping(o.OrderKey, "请发货"); err != nil {
			t.Fatal(err)
		}
		s.Clock.Advance(time.Hour)
		tok := post(t, s, "/cgi-bin/stable_token", map[string]any{"grant_type": "client_credential", "appid": appID, "secret": sandboxtest.AppSecret})
		accessToken, _ := tok["access_token"].(string)
		post(t, s, "/wxa/sec/order/upload_shipping_info?access_token="+url.QueryEscape(accessToken), map[string]any{
			"order_key":      map[string]any{"order_number_type": 2, "transaction_id": o.TransactionID},
			"logistics_type": 1, "delivery_mode": 1,
			"shipping_list": []map[string]any{{"tracking_no": "YT1", "express_company": "YTO", "item_desc": "牛肉面 x2"}},
			"upload_time":   s.Clock.Now().Format(time.RFC3339),
			"payer":         map[string]string{"openid": buyer},
		})
		s.Clock.Advance(time.Hour)
		if _, err := app.ConfirmReceipt(o.OrderKey); err != nil {
			t.Fatal(err)
		}
		s.Clock.Advance(time.Hour)
		if _, err := app.Settle(o.OrderKey, false); err != nil {
			t.Fatal(err)
		}
		app.RemindAccessAPI("")

		seen := map[spmessage.EventType]int{}
		for _, a := range rc.arrivals(t, 4) {
			event, data, err := silenceper(a, label, pushToken, p.AESKey)
			if err != nil {
				t.Fatalf("silenceper could not read the push: %v\n%s", err, a.body)
			}
			seen[event]++
			switch d := data.(type) {
			case *spmessage.PushDataRemindShipping:
				if d.TransactionID != o.TransactionID || d.MerchantID != "1612345678" || d.MerchantTradeNo != "SHOP-7" ||
					d.PayTime != paid.Unix() || d.Msg != "请发货" {
					t.Errorf("shipping reminder read as %+v", d)
				}
			case *spmessage.PushDataOrderSettlement:
				shipped := paid.Add(time.Hour).Unix()
				if d.TransactionID != o.TransactionID || d.MerchantTradeNo != "SHOP-7" || d.PayTime != paid.Unix() || d.ShippedTime != shipped {
					t.Errorf("settlement push read as %+v; want the payment, paid and shipped", d)
				}
				switch {
				case d.SettlementTime == 0 && d.EstimatedSettlementTime <= shipped:
					t.Errorf("settlement push at shipping read as %+v; want an estimate after shipping", d)
				case d.SettlementTime != 0 && (d.ConfirmReceiveMethod != spmessage.ConfirmReceiveMethodManual ||
					d.ConfirmReceiveTime != paid.Add(2*time.Hour).Unix() || d.SettlementTime != paid.Add(3*time.Hour).Unix()):
					t.Errorf("settlement push at settling read as %+v; want confirmed by the buyer, then settled", d)
				}
			case *spmessage.PushDataRemindAccessAPI:
				if d.Msg == "" {
					t.Errorf("access reminder read as %+v; want a text", d)
				}
			default:
				t.Errorf("push read as %T", data)
			}
			if _, _, err := silenceper(a, label, "not-the-push-token", p.AESKey); err == nil {
				t.Error("silenceper read the push with the wrong token: the signature checks nothing")
			}
		}
		if seen[spmessage.EventTypeTradeManageRemindShipping] != 1 || seen[spmessage.EventTypeTradeManageOrderSettlement] != 2 ||
			seen[spmessage.EventTypeTradeManageRemindAccessAPI] != 1 {
			t.Fatalf("events %v; want a shipping reminder, two settlement pushes and an access reminder", seen)
		}
	})
}
