package httpapi

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"wxnotify/internal/task"
)

// orderRequest is the "order" of POST /v1/notifications: the WeChat Pay
// order the order channel acts on.
type orderRequest struct {
	TransactionID  string            `json:"transaction_id"`
	MchID          string            `json:"mchid"`
	OutTradeNo     string            `json:"out_trade_no"`
	Event          string            `json:"event"`
	LogisticsType  int               `json:"logistics_type"`
	DeliveryMode   int               `json:"delivery_mode"`
	IsAllDelivered bool              `json:"is_all_delivered"`
	Shipments      []shipmentRequest `json:"shipments"`
	ReceivedAt     string            `json:"received_at"`
}

type shipmentRequest struct {
	TrackingNo       string `json:"tracking_no"`
	ExpressCompany   string `json:"express_company"`
	ItemDesc         string `json:"item_desc"`
	ConsignorContact string `json:"consignor_contact"`
	ReceiverContact  string `json:"receiver_contact"`
}

// WeChat's bounds on an upload (upload_shipping_info): 1 to 15 parcels,
// an item description of at most 120 characters, numbers of at most 128
// bytes.
const maxShipments, maxItemDesc, maxOrderField = 15, 120, 128

// channelOf is the channel a notification goes on: the one the request
// names, else the app's default for a notification with an order, else a
// subscribe message. ok is false, with a message, for an unknown one.
func channelOf(named string, withOrder bool, appDefault task.Channel) (task.Channel, string, bool) {
	switch c := task.Channel(named); c {
	case task.ChannelSubscribe, task.ChannelOrder, task.ChannelAuto:
		return c, "", true
	case "":
		if withOrder {
			return appDefault, "", true
		}
		return task.ChannelSubscribe, "", true
	}
	return "", fmt.Sprintf("channel %q is not one of subscribe, order, auto", named), false
}

// checkOrder validates the order for channel c and returns it as the task
// carries it, or the field and message of the first problem.
func checkOrder(c task.Channel, o *orderRequest, now time.Time) (*task.Order, string, string) {
	if c == task.ChannelSubscribe {
		if o != nil {
			return nil, "order", "an order is only for the order channel (channel order or auto)"
		}
		return nil, "", ""
	}
	if o == nil {
		return nil, "order", fmt.Sprintf("channel %s needs the WeChat Pay order: {\"transaction_id\": …, \"event\": \"shipped\"}", c)
	}
	out := &task.Order{TransactionID: o.TransactionID, MchID: o.MchID, OutTradeNo: o.OutTradeNo, Event: o.Event}
	for field, v := range map[string]string{"order.transaction_id": o.TransactionID, "order.mchid": o.MchID, "order.out_trade_no": o.OutTradeNo} {
		if len(v) > maxOrderField || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, field, fmt.Sprintf("%s must be at most %d printable characters without spaces", field, maxOrderField)
		}
	}
	switch {
	case o.TransactionID == "" && (o.MchID == "" || o.OutTradeNo == ""):
		return nil, "order.transaction_id", "name the order by transaction_id, or by mchid and out_trade_no"
	case o.TransactionID != "" && (o.MchID != "" || o.OutTradeNo != ""):
		return nil, "order.transaction_id", "give transaction_id, or mchid and out_trade_no, not both"
	}
	switch o.Event {
	case task.OrderShipped:
		return checkShipped(o, out)
	case task.OrderArrived:
		if o.LogisticsType != 0 || o.DeliveryMode != 0 || len(o.Shipments) > 0 {
			return nil, "order.shipments", "an arrived order carries no shipping: it was uploaded when it shipped"
		}
		at := now.Truncate(time.Second)
		if o.ReceivedAt != "" {
			t, err := time.Parse(time.RFC3339, o.ReceivedAt)
			if err != nil {
				return nil, "order.received_at", fmt.Sprintf("received_at %q is not an RFC 3339 time such as 2026-11-24T15:01:00+08:00", o.ReceivedAt)
			}
			if t.After(now.Add(time.Minute)) {
				return nil, "order.received_at", "received_at is in the future"
			}
			at = t
		}
		out.ReceivedAt = &at
		return out, "", ""
	}
	return nil, "order.event", fmt.Sprintf("order.event %q is not shipped or arrived", o.Event)
}

// checkShipped validates what "shipped" uploads, as WeChat checks it.
func checkShipped(o *orderRequest, out *task.Order) (*task.Order, string, string) {
	if o.ReceivedAt != "" {
		return nil, "order.received_at", "received_at is for an arrived order"
	}
	if o.LogisticsType < 1 || o.LogisticsType > 4 {
		return nil, "order.logistics_type", "order.logistics_type must be 1 (express), 2 (same-city delivery), 3 (virtual goods) or 4 (picked up by the buyer)"
	}
	mode := o.DeliveryMode
	if mode == 0 {
		mode = 1
	}
	if mode != 1 && mode != 2 {
		return nil, "order.delivery_mode", "order.delivery_mode must be 1 (one parcel) or 2 (split into several)"
	}
	if len(o.Shipments) < 1 || len(o.Shipments) > maxShipments || mode == 1 && len(o.Shipments) != 1 {
		return nil, "order.shipments", fmt.Sprintf("order.shipments must list the parcels: 1 for delivery_mode 1, 1 to %d for 2", maxShipments)
	}
	out.LogisticsType, out.DeliveryMode, out.IsAllDelivered = o.LogisticsType, mode, o.IsAllDelivered
	for i, s := range o.Shipments {
		field := fmt.Sprintf("order.shipments[%d]", i)
		switch {
		case s.ItemDesc == "" || utf8.RuneCountInString(s.ItemDesc) > maxItemDesc:
			return nil, field + ".item_desc", fmt.Sprintf("item_desc is required: what the parcel holds, at most %d characters", maxItemDesc)
		case o.LogisticsType == 1 && (s.TrackingNo == "" || s.ExpressCompany == ""):
			return nil, field + ".tracking_no", "an express parcel (logistics_type 1) needs tracking_no and express_company"
		case len(s.TrackingNo) > maxOrderField || len(s.ExpressCompany) > maxOrderField:
			return nil, field + ".tracking_no", fmt.Sprintf("tracking_no and express_company are at most %d bytes", maxOrderField)
		}
		out.Shipments = append(out.Shipments, task.Shipment(s))
	}
	return out, "", ""
}
