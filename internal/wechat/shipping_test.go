package wechat_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/sandbox"
	"wxnotify/internal/wechat"
)

// paid is a payment of a new buyer in the sandbox.
func (e *env) paid(t *testing.T, n sandbox.NewOrder) sandbox.Order {
	t.Helper()
	if n.OpenID == "" {
		_, n.OpenID = e.sb.Login("", "", false)
	}
	o, err := e.sb.CreateOrder(n)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// primary is the sandbox's app, for the buyer's side of an order.
func (e *env) primary(t *testing.T) *sandbox.MiniProgram {
	t.Helper()
	p, err := e.sb.App("")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// expressInfo is a valid unified express upload for o.
func expressInfo(o sandbox.Order, trackingNo string, at time.Time) wechat.ShippingInfo {
	return wechat.ShippingInfo{
		Order: wechat.ByTransaction(o.TransactionID), LogisticsType: wechat.LogisticsExpress, DeliveryMode: wechat.DeliveryUnified,
		Packages:   []wechat.Package{{TrackingNo: trackingNo, ExpressCompany: "YTO", ItemDesc: "牛肉面 x2", Contact: &wechat.Contact{ReceiverContact: "139****2901"}}},
		UploadTime: at, PayerOpenID: o.OpenID,
	}
}

func (e *env) mustUpload(t *testing.T, info wechat.ShippingInfo) {
	t.Helper()
	if err := e.client.UploadShippingInfo(context.Background(), e.token(t), info); err != nil {
		t.Fatalf("upload %+v: %v", info, err)
	}
}

// upload uploads express shipping of a payment made as n says, after
// prepare (when not nil) made its changes.
func upload(n sandbox.NewOrder, prepare func(t *testing.T, e *env, o sandbox.Order, info *wechat.ShippingInfo)) call {
	return func(t *testing.T, e *env) error {
		o := e.paid(t, n)
		info := expressInfo(o, "YT1", e.clock.Now())
		if prepare != nil {
			prepare(t, e, o, &info)
		}
		return e.client.UploadShippingInfo(context.Background(), e.token(t), info)
	}
}

// remind ships a payment made as n says (by express unless prepare changes
// it), lets an hour pass and reminds the buyer, naming receipt half an hour
// after shipping unless prepare changes it.
func remind(n sandbox.NewOrder, prepare func(t *testing.T, e *env, o sandbox.Order, info *wechat.ShippingInfo, received *time.Time)) call {
	return func(t *testing.T, e *env) error {
		o := e.paid(t, n)
		shipped := e.clock.Now()
		info := expressInfo(o, "YT1", shipped)
		received := shipped.Add(30 * time.Minute)
		if prepare != nil {
			prepare(t, e, o, &info, &received)
		}
		if info.Order.TransactionID != "" {
			e.mustUpload(t, info)
		}
		e.clock.Advance(time.Hour)
		return e.client.NotifyConfirmReceive(context.Background(), e.token(t), wechat.ByTransaction(o.TransactionID), received)
	}
}

func getOrder(n sandbox.NewOrder) call {
	return func(t *testing.T, e *env) error {
		o := e.paid(t, n)
		_, err := e.client.GetOrder(context.Background(), e.token(t), wechat.ByTransaction(o.TransactionID))
		return err
	}
}

// The whole path of a payment through the client: shipped, looked up,
// reminded, each as WeChat records it.
func TestShipRemindAndReadAnOrder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	o := e.paid(t, sandbox.NewOrder{MchID: "1612345678", OutTradeNo: "SHOP-42", Amount: 1250, Description: "牛肉面 x2"})
	paidAt := e.clock.Now()

	got, err := e.client.GetOrder(ctx, e.token(t), wechat.ByMerchant("1612345678", "SHOP-42"))
	if err != nil {
		t.Fatal(err)
	}
	if got.State != wechat.OrderAwaitingShipment || got.TransactionID != o.TransactionID || got.PaidAmount != 1250 || got.OpenID != o.OpenID ||
		!got.PaidAt.Equal(paidAt) || got.Description != "牛肉面 x2" || got.Shipping.Finished || len(got.Shipping.Packages) != 0 {
		t.Fatalf("GetOrder before shipping: %+v", got)
	}

	e.clock.Advance(time.Hour)
	uploadAt := time.Date(2026, 11, 24, 19, 0, 0, 123e6, time.FixedZone("CST", 8*3600)) // 11:00:00.123 UTC
	info := expressInfo(o, "YT7407032196699", uploadAt)
	info.Order = wechat.ByMerchant("1612345678", "SHOP-42")
	e.mustUpload(t, info)
	if rec, _ := e.sb.Order(o.OrderKey); rec.Shipping == nil || !rec.Shipping.UploadTime.Equal(uploadAt) {
		t.Fatalf("the sandbox recorded %+v; want upload_time %s to the millisecond", rec.Shipping, uploadAt)
	}

	got, err = e.client.GetOrder(ctx, e.token(t), wechat.ByTransaction(o.TransactionID))
	if err != nil {
		t.Fatal(err)
	}
	sh := got.Shipping
	if got.State != wechat.OrderShipped || got.State.String() != "shipped" || !sh.Finished || sh.FinishCount != 1 ||
		sh.LogisticsType != wechat.LogisticsExpress || sh.DeliveryMode != wechat.DeliveryUnified || len(sh.Packages) != 1 {
		t.Fatalf("GetOrder after the upload: %+v", got)
	}
	if p := sh.Packages[0]; p.TrackingNo != "YT7407032196699" || p.ExpressCompany != "YTO" || p.GoodsDesc != "牛肉面 x2" ||
		p.Contact.ReceiverContact != "139****2901" || !p.UploadedAt.Equal(paidAt.Add(time.Hour)) {
		t.Fatalf("parcel %+v; want it as uploaded, recorded at the upload", p)
	}

	e.clock.Advance(24 * time.Hour)
	received := paidAt.Add(20 * time.Hour).Add(500 * time.Millisecond)
	if err := e.client.NotifyConfirmReceive(ctx, e.token(t), wechat.ByMerchant("1612345678", "SHOP-42"), received); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.sb.Order(o.OrderKey); rec.ReceivedTime != received.Unix() {
		t.Fatalf("the reminder named %d; want %d, the signing time in Unix seconds", rec.ReceivedTime, received.Unix())
	}
	msgs := e.sb.OrderMessages(o.OpenID, o.TransactionID)
	if len(msgs) != 2 || msgs[0].Kind != sandbox.ShippedMessage || msgs[1].Kind != sandbox.ConfirmReminderMessage {
		t.Fatalf("the buyer saw %+v; want the shipping notice and the reminder", msgs)
	}
}

// AllDelivered travels for split delivery only, where WeChat requires it;
// a zero UploadTime is sent as now.
func TestUploadSendsWhatTheModeNeeds(t *testing.T) {
	t.Parallel()
	e := setup(t)
	o := e.paid(t, sandbox.NewOrder{})
	info := expressInfo(o, "P1", time.Time{})
	info.DeliveryMode = wechat.DeliverySplit
	before := time.Now()
	e.mustUpload(t, info)
	rec, _ := e.sb.Order(o.OrderKey)
	if rec.State != sandbox.OrderAwaitingShipment || rec.Shipping.AllDelivered {
		t.Fatalf("split upload with AllDelivered false: %+v; want the order still awaiting shipment", rec)
	}
	if at := rec.Shipping.UploadTime; at.Before(before.Truncate(time.Millisecond)) || at.After(time.Now()) {
		t.Fatalf("upload_time %s for a zero UploadTime; want now", at)
	}
	info.AllDelivered, info.UploadTime = true, time.Now().Add(time.Second)
	info.Packages = append(info.Packages, wechat.Package{TrackingNo: "P2", ExpressCompany: "ZTO", ItemDesc: "面"})
	e.mustUpload(t, info)
	if rec, _ := e.sb.Order(o.OrderKey); rec.State != sandbox.OrderShipped || len(rec.Shipping.Packages) != 2 {
		t.Fatalf("split upload with AllDelivered: %+v; want shipped with two parcels", rec)
	}

	unified := e.paid(t, sandbox.NewOrder{})
	info = expressInfo(unified, "YT1", time.Time{})
	info.AllDelivered = false // ignored: a unified delivery is complete
	e.mustUpload(t, info)
	if rec, _ := e.sb.Order(unified.OrderKey); rec.State != sandbox.OrderShipped {
		t.Fatalf("unified upload: %+v; want shipped", rec)
	}
}

// A reply lost after WeChat recorded the upload or the reminder is an
// ambiguous timeout; the retry is then refused as already done, and the
// buyer saw each message once.
func TestARetryAfterALostReplyIsAlreadyDone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	hurried := e.newClient(t, func(c *wechat.Config) { c.Timeout = 100 * time.Millisecond })
	o := e.paid(t, sandbox.NewOrder{})
	info := expressInfo(o, "YT1", e.clock.Now())
	tok := e.token(t)
	lose := func(endpoint string) {
		t.Helper()
		if err := e.sb.SetFaults(sandbox.Faults{LostReplyRate: 1, HangFor: sandbox.Duration(5 * time.Second), Endpoints: []string{endpoint}}); err != nil {
			t.Fatal(err)
		}
	}

	lose(sandbox.EndpointUploadShipping)
	err := hurried.UploadShippingInfo(ctx, tok, info)
	if out := wechat.Classify(err); out.Class != wechat.Transient || !out.Ambiguous {
		t.Fatalf("upload with its reply lost: %v → %+v; want transient, ambiguous", err, out)
	}
	_ = e.sb.SetFaults(sandbox.Faults{})
	err = e.client.UploadShippingInfo(ctx, tok, info)
	if out := wechat.Classify(err); out.Code != 10060023 || out.Reason != wechat.ReasonAlreadyDone {
		t.Fatalf("the retry: %v → %+v; want 10060023 already_done", err, out)
	}

	e.clock.Advance(time.Hour)
	lose(sandbox.EndpointNotifyConfirmReceive)
	received := e.clock.Now().Add(-time.Minute)
	err = hurried.NotifyConfirmReceive(ctx, tok, wechat.ByTransaction(o.TransactionID), received)
	if out := wechat.Classify(err); out.Class != wechat.Transient || !out.Ambiguous {
		t.Fatalf("reminder with its reply lost: %v → %+v; want transient, ambiguous", err, out)
	}
	_ = e.sb.SetFaults(sandbox.Faults{})
	err = e.client.NotifyConfirmReceive(ctx, tok, wechat.ByTransaction(o.TransactionID), received)
	if out := wechat.Classify(err); out.Code != 10060030 || out.Reason != wechat.ReasonAlreadyDone {
		t.Fatalf("the retry: %v → %+v; want 10060030 already_done", err, out)
	}
	if n := len(e.sb.OrderMessages(o.OpenID, "")); n != 2 {
		t.Fatalf("the buyer saw %d messages; want 2: the shipping notice and the reminder, once each", n)
	}
}

// A get_order success without the order is malformed, not an order of zeros.
func TestGetOrderWithoutAnOrderIsMalformed(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
	}))
	defer srv.Close()
	c, _ := wechat.New(wechat.Config{AppID: appID, AppSecret: secret, BaseURL: srv.URL})
	_, err := c.GetOrder(context.Background(), strings.Repeat("T", 64), wechat.ByTransaction("4200000000000000000000000000"))
	var me *wechat.MalformedError
	if !errors.As(err, &me) || me.Endpoint != wechat.EndpointGetOrder {
		t.Fatalf("GetOrder of an answer without the order: %v; want a MalformedError", err)
	}
	if out := wechat.Classify(err); out.Class != wechat.Transient || !out.Ambiguous {
		t.Fatalf("Classify(%v) = %+v; want transient", err, out)
	}
}
