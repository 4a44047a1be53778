package delivery

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
	"wxnotify/internal/wechat"
)

// The order channel: WeChat's order shipping service for an order paid
// with WeChat Pay. On "shipped" the order's shipping is uploaded and
// WeChat messages the buyer itself; on "arrived" WeChat reminds the buyer
// to confirm receipt. No grant is needed.
//
// WeChat gives these calls no idempotency key, and they cannot simply be
// repeated: completed shipping may be changed once, and a receipt reminder
// goes out once per order. So after an attempt that may have reached
// WeChat (the ambiguity marker the claim reports), the order is read with
// get_order before anything is sent again, and WeChat's refusals that mean
// "already done" end the notification as delivered rather than failed.

// Shipper calls WeChat's order shipping service; *wechat.Client (through
// InstrumentedClient) is one.
type Shipper interface {
	UploadShippingInfo(ctx context.Context, token string, info wechat.ShippingInfo) error
	NotifyConfirmReceive(ctx context.Context, token string, order wechat.OrderKey, receivedAt time.Time) error
	GetOrder(ctx context.Context, token string, order wechat.OrderKey) (wechat.Order, error)
}

// deliveredByOrder is WeChat's order service taking the call: WeChat
// messages the buyer.
func deliveredByOrder() outcome {
	o := deliveredAs("")
	o.reason = string(task.ChannelOrder)
	o.result.Channel = string(task.ChannelOrder)
	return o
}

// claimGrantFree claims the notification for this run without a grant:
// the order channel's claim, for an "auto" notification whose user holds
// none. It returns an outcome if the attempt cannot go on.
func (h *Handler) claimGrantFree(ctx context.Context, a *attempt) (outcome, bool) {
	claim := h.grants.ClaimCall(subscriber.ClaimRequest{
		User: a.p.Receiver(), Notification: a.id, OpenID: a.p.OpenID, TemplateID: a.p.TemplateID,
		GrantFree: true, Run: a.run, Until: a.deadline,
	})
	if err := redisconn.RunScripts(ctx, h.rdb, claim.Call); err != nil {
		return retryFor("redis", 0, 0, err), true
	}
	c, err := claim.Result()
	if err != nil {
		return retryFor("redis", 0, 0, err), true
	}
	a.openid = c.OpenID
	switch c.State {
	case subscriber.Claimed:
		a.claimed, a.ambiguous = true, c.Ambiguous
		return outcome{}, false
	case subscriber.Busy:
		return outcome{verdict: claimHeld, wait: c.HeldFor + time.Second, err: errClaimHeld, level: slog.LevelWarn}, true
	}
	return skippedFor(record.ReasonNotBound, 0), true
}

// ship carries the order channel's call out: the upload for "shipped",
// the receipt reminder for "arrived".
func (h *Handler) ship(ctx context.Context, a *attempt) outcome {
	ord := a.p.Order
	key := wechat.ByTransaction(ord.TransactionID)
	if ord.TransactionID == "" {
		key = wechat.ByMerchant(ord.MchID, ord.OutTradeNo)
	}
	return h.withToken(ctx, a, func(token string) (outcome, error) {
		if a.ambiguous && ord.Event == task.OrderShipped {
			// An earlier attempt may have uploaded: read the order before
			// sending anything again.
			got, err := h.shipper.GetOrder(ctx, token, key)
			if err != nil {
				return outcome{}, err
			}
			if shippedAsAsked(got, ord) {
				return deliveredByOrder(), nil
			}
		}
		var err error
		switch ord.Event {
		case task.OrderShipped:
			err = h.shipper.UploadShippingInfo(ctx, token, shippingOf(key, ord, a.openid))
		case task.OrderArrived:
			err = h.shipper.NotifyConfirmReceive(ctx, token, key, *ord.ReceivedAt)
		}
		if err == nil {
			return deliveredByOrder(), nil
		}
		return outcome{}, err
	}, func(err error) outcome { return h.shipFailed(a, err) })
}

// shipFailed is the outcome of a refused or failed order call.
func (h *Handler) shipFailed(a *attempt, err error) outcome {
	out := wechat.Classify(err)
	if out.Reason == wechat.ReasonAlreadyDone {
		switch {
		case a.ambiguous, out.Code == 10060023:
			// What this notification asked for is on record: an earlier
			// attempt's call took effect though its answer was lost, or
			// the same shipping was uploaded already.
			o := deliveredByOrder()
			o.errcode = out.Code
			return o
		case a.p.Order.Event == task.OrderArrived:
			// The order's one reminder went out before: the buyer has it.
			return skippedFor(record.ReasonAlreadyReminded, out.Code)
		}
	}
	switch out.Class {
	case wechat.RateLimited:
		return deferFor(out.Reason, out.Code, out.Wait, err)
	case wechat.Transient:
		o := retryFor(out.Reason, out.Code, max(out.Wait, 0), err)
		o.ambiguous = out.Ambiguous
		return o
	}
	return archiveFor(out.Reason, out.Code, err)
}

// shippedAsAsked reports whether WeChat's order already shows the shipping
// this notification uploads: shipped, with the same parcels.
func shippedAsAsked(got wechat.Order, want *task.Order) bool {
	if got.State == wechat.OrderAwaitingShipment || got.State == wechat.OrderRefunded || len(got.Shipping.Packages) != len(want.Shipments) {
		return false
	}
	var have, asked []string
	for _, p := range got.Shipping.Packages {
		have = append(have, p.ExpressCompany+"/"+p.TrackingNo)
	}
	for _, s := range want.Shipments {
		asked = append(asked, s.ExpressCompany+"/"+s.TrackingNo)
	}
	slices.Sort(have)
	slices.Sort(asked)
	return slices.Equal(have, asked)
}

// shippingOf is the upload of ord's shipping, paid by payer.
func shippingOf(key wechat.OrderKey, ord *task.Order, payer string) wechat.ShippingInfo {
	info := wechat.ShippingInfo{Order: key, LogisticsType: ord.LogisticsType, DeliveryMode: ord.DeliveryMode,
		AllDelivered: ord.IsAllDelivered, PayerOpenID: payer}
	for _, s := range ord.Shipments {
		p := wechat.Package{TrackingNo: s.TrackingNo, ExpressCompany: s.ExpressCompany, ItemDesc: s.ItemDesc}
		if s.ConsignorContact != "" || s.ReceiverContact != "" {
			p.Contact = &wechat.Contact{ConsignorContact: s.ConsignorContact, ReceiverContact: s.ReceiverContact}
		}
		info.Packages = append(info.Packages, p)
	}
	return info
}

// errNoOrderChannel: the app cannot use the order channel (no Shipper).
var errNoOrderChannel = errors.New("the order channel is not served by this worker")
