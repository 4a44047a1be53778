package wechat

import (
	"context"
	"net/url"
	"time"
)

// The order shipping service (发货信息管理): for a WeChat Pay payment the
// mini program reports how the order shipped, and WeChat itself messages
// the buyer — no subscription grant needed — and later reminds the buyer
// to confirm receipt. Its APIs name a payment by WeChat Pay's
// transaction_id, or by the merchant id and the merchant's order number.

// OrderKey names a WeChat Pay payment. Build it with ByTransaction or ByMerchant.
type OrderKey struct {
	// OrderNumberType is OrderByMerchant (1) or OrderByTransaction (2).
	OrderNumberType int    `json:"order_number_type"`
	TransactionID   string `json:"transaction_id,omitempty"`
	MchID           string `json:"mchid,omitempty"`
	OutTradeNo      string `json:"out_trade_no,omitempty"`
}

// How an OrderKey names its payment (order_number_type).
const (
	OrderByMerchant    = 1 // mchid and out_trade_no
	OrderByTransaction = 2 // WeChat Pay's transaction_id
)

// ByTransaction names a payment by WeChat Pay's transaction_id.
func ByTransaction(transactionID string) OrderKey {
	return OrderKey{OrderNumberType: OrderByTransaction, TransactionID: transactionID}
}

// ByMerchant names a payment by the merchant id it was paid to and the
// merchant's own order number.
func ByMerchant(mchID, outTradeNo string) OrderKey {
	return OrderKey{OrderNumberType: OrderByMerchant, MchID: mchID, OutTradeNo: outTradeNo}
}

// paymentRef is how get_order and notify_confirm_receive name a payment:
// the same two ways under other field names (merchant_id,
// merchant_trade_no); WeChat refuses upload's names there (47001).
type paymentRef struct {
	TransactionID   string `json:"transaction_id,omitempty"`
	MerchantID      string `json:"merchant_id,omitempty"`
	MerchantTradeNo string `json:"merchant_trade_no,omitempty"`
}

func (k OrderKey) ref() paymentRef {
	if k.OrderNumberType == OrderByTransaction {
		return paymentRef{TransactionID: k.TransactionID}
	}
	return paymentRef{MerchantID: k.MchID, MerchantTradeNo: k.OutTradeNo}
}

// Logistics types (logistics_type) and delivery modes (delivery_mode).
const (
	LogisticsExpress  = 1 // 实体物流配送: a courier; each parcel needs TrackingNo and ExpressCompany
	LogisticsSameCity = 2 // 同城配送
	LogisticsVirtual  = 3 // 虚拟商品: nothing to carry
	LogisticsPickup   = 4 // 用户自提

	DeliveryUnified = 1 // UNIFIED_DELIVERY: exactly one parcel
	DeliverySplit   = 2 // SPLIT_DELIVERY: several parcels, express only; AllDelivered says whether this is the last upload
)

// ShippingInfo is what upload_shipping_info reports about one payment.
type ShippingInfo struct {
	Order         OrderKey
	LogisticsType int
	DeliveryMode  int
	// AllDelivered is sent for DeliverySplit only, where WeChat requires it:
	// shipping completes, and the buyer is told, with the upload that says
	// all parcels are on their way.
	AllDelivered bool
	// Packages are the parcels: 1 for DeliveryUnified, 1 to 15 for DeliverySplit.
	Packages []Package
	// UploadTime orders the uploads of a payment: a change of shipping must
	// be later than the upload it replaces. Zero means now.
	UploadTime time.Time
	// PayerOpenID is the openid that paid; WeChat refuses another (10060031).
	PayerOpenID string
}

// Package is one parcel.
type Package struct {
	// TrackingNo and ExpressCompany (WeChat's courier code, e.g. "YTO") are
	// required for LogisticsExpress, each at most 128 bytes.
	TrackingNo     string `json:"tracking_no,omitempty"`
	ExpressCompany string `json:"express_company,omitempty"`
	// ItemDesc names the goods, at most 120 characters; required.
	ItemDesc string `json:"item_desc"`
	// Contact is required with SF Express ("SF"): either number, masked
	// except for its last four digits ("189****1234").
	Contact *Contact `json:"contact,omitempty"`
}

// Contact is a parcel's masked phone numbers.
type Contact struct {
	ConsignorContact string `json:"consignor_contact,omitempty"`
	ReceiverContact  string `json:"receiver_contact,omitempty"`
}

// uploadTimeLayout is RFC 3339 with milliseconds, the form WeChat's
// reference shows ("2022-12-15T13:29:35.120+08:00").
const uploadTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// UploadShippingInfo reports how a payment shipped
// (POST /wxa/sec/order/upload_shipping_info). When the upload completes
// shipping, WeChat messages the buyer itself and the order becomes shipped.
//
// Completed shipping may be changed once, until the buyer confirms receipt:
// a second change is 10060003, and an upload identical to the one recorded
// is 10060023 — which is how a retry after an ambiguous timeout learns that
// the first attempt took effect (Classify gives both reason "already_done").
// A payment made moments ago may not be filed yet: 10060001, to be retried
// after at least a minute.
func (c *Client) UploadShippingInfo(ctx context.Context, token string, info ShippingInfo) error {
	at := info.UploadTime
	if at.IsZero() {
		at = time.Now()
	}
	body := struct {
		OrderKey       OrderKey  `json:"order_key"`
		LogisticsType  int       `json:"logistics_type"`
		DeliveryMode   int       `json:"delivery_mode"`
		IsAllDelivered *bool     `json:"is_all_delivered,omitempty"`
		ShippingList   []Package `json:"shipping_list"`
		UploadTime     string    `json:"upload_time"`
		Payer          struct {
			OpenID string `json:"openid"`
		} `json:"payer"`
	}{OrderKey: info.Order, LogisticsType: info.LogisticsType, DeliveryMode: info.DeliveryMode,
		ShippingList: info.Packages, UploadTime: at.Format(uploadTimeLayout)}
	if info.DeliveryMode == DeliverySplit {
		body.IsAllDelivered = &info.AllDelivered
	}
	if body.ShippingList == nil {
		body.ShippingList = []Package{}
	}
	body.Payer.OpenID = info.PayerOpenID
	var out struct{ status }
	return c.call(ctx, EndpointUploadShipping, "POST", "/wxa/sec/order/upload_shipping_info", url.Values{"access_token": {token}}, body, &out)
}

// NotifyConfirmReceive reminds the buyer of a shipped express order to
// confirm receipt (POST /wxa/sec/order/notify_confirm_receive); WeChat
// messages the buyer. receivedAt is when the courier delivered, sent in
// Unix seconds: it must be after the ship time and not in the future
// (10060029). WeChat allows one reminder per order: a second is 10060030
// (reason "already_done"), as is the retry of one whose answer was lost.
func (c *Client) NotifyConfirmReceive(ctx context.Context, token string, order OrderKey, receivedAt time.Time) error {
	body := struct {
		paymentRef
		ReceivedTime int64 `json:"received_time"`
	}{order.ref(), receivedAt.Unix()}
	var out struct{ status }
	return c.call(ctx, EndpointNotifyConfirmReceive, "POST", "/wxa/sec/order/notify_confirm_receive", url.Values{"access_token": {token}}, body, &out)
}

// OrderState is a payment's order_state, in WeChat's numbering.
type OrderState int

// The states, with WeChat's names. The usual path is 1 → 2 → 3 → 6 → 4; a
// refund (5) can end it at any point.
const (
	OrderAwaitingShipment   OrderState = 1 // 待发货
	OrderShipped            OrderState = 2 // 已发货
	OrderReceiptConfirmed   OrderState = 3 // 确认收货
	OrderCompleted          OrderState = 4 // 交易完成: settled
	OrderRefunded           OrderState = 5 // 已退款
	OrderAwaitingSettlement OrderState = 6 // 资金待结算: confirmed, funds not settleable yet
)

var orderStateNames = map[OrderState]string{
	OrderAwaitingShipment: "awaiting_shipment", OrderShipped: "shipped", OrderReceiptConfirmed: "receipt_confirmed",
	OrderCompleted: "completed", OrderRefunded: "refunded", OrderAwaitingSettlement: "awaiting_settlement",
}

// String is the state's stable snake_case name, for logs and metrics.
func (s OrderState) String() string {
	if n, ok := orderStateNames[s]; ok {
		return n
	}
	return "unknown"
}

// Order is a payment as get_order reports it.
type Order struct {
	TransactionID string
	MchID         string
	SubMchID      string
	OutTradeNo    string
	// Description is the payment's goods, cut to 120 characters by WeChat.
	Description string
	// PaidAmount is in fen.
	PaidAmount  int64
	OpenID      string
	CreatedAt   time.Time
	PaidAt      time.Time
	State       OrderState
	InComplaint bool
	Shipping    OrderShipping
}

// OrderShipping is the shipping recorded for a payment.
type OrderShipping struct {
	DeliveryMode  int
	LogisticsType int
	// Finished reports that shipping completed; FinishCount is 0 before, 1
	// after, 2 after the one allowed change.
	Finished    bool
	FinishCount int
	// GoodsDesc is what was typed in the admin console, never set by the API.
	GoodsDesc string
	Packages  []ShippedPackage
}

// ShippedPackage is a parcel as recorded.
type ShippedPackage struct {
	TrackingNo     string
	ExpressCompany string
	GoodsDesc      string
	UploadedAt     time.Time
	Contact        Contact
}

// GetOrder reads a payment's state and shipping (POST /wxa/sec/order/get_order).
func (c *Client) GetOrder(ctx context.Context, token string, order OrderKey) (Order, error) {
	var out struct {
		status
		Order struct {
			TransactionID   string `json:"transaction_id"`
			MerchantID      string `json:"merchant_id"`
			SubMerchantID   string `json:"sub_merchant_id"`
			MerchantTradeNo string `json:"merchant_trade_no"`
			Description     string `json:"description"`
			PaidAmount      int64  `json:"paid_amount"`
			OpenID          string `json:"openid"`
			TradeCreateTime int64  `json:"trade_create_time"`
			PayTime         int64  `json:"pay_time"`
			OrderState      int    `json:"order_state"`
			InComplaint     bool   `json:"in_complaint"`
			Shipping        struct {
				DeliveryMode        int    `json:"delivery_mode"`
				LogisticsType       int    `json:"logistics_type"`
				FinishShipping      bool   `json:"finish_shipping"`
				GoodsDesc           string `json:"goods_desc"`
				FinishShippingCount int    `json:"finish_shipping_count"`
				ShippingList        []struct {
					TrackingNo     string  `json:"tracking_no"`
					ExpressCompany string  `json:"express_company"`
					GoodsDesc      string  `json:"goods_desc"`
					UploadTime     int64   `json:"upload_time"`
					Contact        Contact `json:"contact"`
				} `json:"shipping_list"`
			} `json:"shipping"`
		} `json:"order"`
	}
	if err := c.call(ctx, EndpointGetOrder, "POST", "/wxa/sec/order/get_order", url.Values{"access_token": {token}}, order.ref(), &out); err != nil {
		return Order{}, err
	}
	w := out.Order
	if w.TransactionID == "" || w.OrderState == 0 {
		return Order{}, &MalformedError{Endpoint: EndpointGetOrder, Reason: "no transaction_id or order_state in a successful answer"}
	}
	o := Order{
		TransactionID: w.TransactionID, MchID: w.MerchantID, SubMchID: w.SubMerchantID, OutTradeNo: w.MerchantTradeNo,
		Description: w.Description, PaidAmount: w.PaidAmount, OpenID: w.OpenID,
		CreatedAt: unixTime(w.TradeCreateTime), PaidAt: unixTime(w.PayTime), State: OrderState(w.OrderState), InComplaint: w.InComplaint,
		Shipping: OrderShipping{
			DeliveryMode: w.Shipping.DeliveryMode, LogisticsType: w.Shipping.LogisticsType, Finished: w.Shipping.FinishShipping,
			FinishCount: w.Shipping.FinishShippingCount, GoodsDesc: w.Shipping.GoodsDesc,
		},
	}
	for _, p := range w.Shipping.ShippingList {
		o.Shipping.Packages = append(o.Shipping.Packages, ShippedPackage{
			TrackingNo: p.TrackingNo, ExpressCompany: p.ExpressCompany, GoodsDesc: p.GoodsDesc,
			UploadedAt: unixTime(p.UploadTime), Contact: p.Contact,
		})
	}
	return o, nil
}

// unixTime reads WeChat's Unix seconds; 0, WeChat's "none", is the zero time.
func unixTime(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}
