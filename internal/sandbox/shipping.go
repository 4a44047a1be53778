package sandbox

import (
	"slices"
	"time"
	"unicode/utf8"
)

// The order shipping service's APIs (/wxa/sec/order/*), played from their
// reference: every refusal is the errcode the reference lists for it. Where
// the reference does not say which of two refusals comes first, the sandbox
// checks the request's shape before the payment, and the payment's state
// last; docs/wechat.md lists what the reference leaves open and what the
// sandbox does there.

// Limits of an upload, from the reference.
const (
	maxPackages      = 15  // shipping_list: [1, 15] (10060024 past it)
	maxItemDesc      = 120 // item_desc: "限120个字以内" (10060009 past it)
	maxTrackingBytes = 128 // tracking_no and express_company: [1, 128] bytes
)

// estimatedSettlement is how long after shipping the sandbox says the funds
// will settle (estimated_settlement_time); WeChat's own figure depends on
// rules the reference does not give.
const estimatedSettlement = 10 * 24 * time.Hour

// expressSF is the express_company code of SF Express, for whose parcels the
// reference requires a contact.
const expressSF = "SF"

// uploadRequest is the body of upload_shipping_info.
type uploadRequest struct {
	OrderKey struct {
		OrderNumberType int    `json:"order_number_type"`
		TransactionID   string `json:"transaction_id"`
		MchID           string `json:"mchid"`
		OutTradeNo      string `json:"out_trade_no"`
	} `json:"order_key"`
	LogisticsType  int             `json:"logistics_type"`
	DeliveryMode   int             `json:"delivery_mode"`
	IsAllDelivered *bool           `json:"is_all_delivered"`
	ShippingList   []uploadPackage `json:"shipping_list"`
	UploadTime     string          `json:"upload_time"`
	Payer          struct {
		OpenID string `json:"openid"`
	} `json:"payer"`
}

type uploadPackage struct {
	TrackingNo     string   `json:"tracking_no"`
	ExpressCompany string   `json:"express_company"`
	ItemDesc       string   `json:"item_desc"`
	Contact        *Contact `json:"contact"`
}

// uploadShippingLocked is POST /wxa/sec/order/upload_shipping_info: record
// how a payment shipped. Shipping completes with a unified delivery, or a
// split one whose last upload says is_all_delivered; then the order is
// shipped (state 2), WeChat messages the buyer and pushes the settlement
// estimate. Until the buyer confirms, completed shipping may be changed
// once (10060003 after); an upload identical to what is recorded changes
// nothing (10060023).
func (p *MiniProgram) uploadShippingLocked(req uploadRequest) reply {
	key, rep, bad := req.orderKey()
	if bad {
		return rep
	}
	if rep, bad := req.checkShipping(); bad {
		return rep
	}
	uploadTime, err := time.Parse(time.RFC3339, req.UploadTime)
	if err != nil {
		return failCode(268485216)
	}
	o := p.visibleLocked(key)
	if o == nil {
		return failCode(10060001)
	}
	if req.Payer.OpenID != o.OpenID {
		return failCode(10060031)
	}
	if o.State != OrderAwaitingShipment && o.State != OrderShipped {
		return failCode(10060004)
	}
	complete := req.DeliveryMode == DeliveryUnified || *req.IsAllDelivered
	if old := o.Shipping; old != nil {
		switch {
		case old.same(req):
			return failCode(10060023)
		case old.FinishCount > 0 && !complete:
			// Shipping is complete: it can be replaced, not continued.
			return failCode(10060002)
		case old.FinishCount > 0 && o.Reshipped:
			return failCode(10060003)
		case !uploadTime.After(old.UploadTime):
			return fail(10060014, "参数错误: upload_time 必须晚于上一次上传的 "+old.UploadTime.Format(time.RFC3339Nano))
		}
	}
	now := p.sb.now()
	sh := &Shipping{LogisticsType: req.LogisticsType, DeliveryMode: req.DeliveryMode, AllDelivered: complete, UploadTime: uploadTime}
	for _, pk := range req.ShippingList {
		sh.Packages = append(sh.Packages, Package{TrackingNo: pk.TrackingNo, ExpressCompany: pk.ExpressCompany, ItemDesc: pk.ItemDesc, Contact: pk.Contact, UploadedAt: now})
	}
	reship := o.Shipping != nil && o.Shipping.FinishCount > 0
	if o.Shipping != nil {
		sh.FinishCount = o.Shipping.FinishCount
	}
	o.Shipping = sh
	if !complete {
		return success(okBody)
	}
	sh.FinishCount++
	o.State, o.ShippedAt, o.Reshipped = OrderShipped, now, o.Reshipped || reship
	kind := ShippedMessage
	if reship {
		kind = ShippingChangedMessage
	}
	p.messageBuyerLocked(o, OrderMessage{Kind: kind, Packages: slices.Clone(sh.Packages)})
	p.pushSettlementLocked(o, tradeEvent{EstimatedSettlementTime: now.Add(estimatedSettlement).Unix()})
	return success(okBody)
}

// okBody is the success answer of the APIs that return nothing else.
var okBody = struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}{0, "ok"}

// orderKey checks order_key the way the reference lists its errcodes.
func (req uploadRequest) orderKey() (OrderKey, reply, bool) {
	k := req.OrderKey
	switch k.OrderNumberType {
	case 2:
		if k.TransactionID == "" {
			return OrderKey{}, failCode(268485195), true
		}
		return OrderKey{TransactionID: k.TransactionID}, reply{}, false
	case 1:
		if k.MchID == "" {
			return OrderKey{}, failCode(268485196), true
		}
		if k.OutTradeNo == "" {
			return OrderKey{}, failCode(268485197), true
		}
		return OrderKey{MchID: k.MchID, OutTradeNo: k.OutTradeNo}, reply{}, false
	}
	return OrderKey{}, failCode(268485194), true
}

// checkShipping checks what the upload says about the shipping itself.
func (req uploadRequest) checkShipping() (reply, bool) {
	if req.LogisticsType < LogisticsExpress || req.LogisticsType > LogisticsPickup {
		return failCode(10060005), true
	}
	switch req.DeliveryMode {
	case DeliveryUnified:
		if len(req.ShippingList) > maxPackages {
			return failCode(10060024), true
		}
		if len(req.ShippingList) != 1 {
			return failCode(268485228), true
		}
	case DeliverySplit:
		if req.LogisticsType != LogisticsExpress {
			return failCode(10060006), true
		}
		if req.IsAllDelivered == nil {
			return failCode(10060007), true
		}
		if len(req.ShippingList) > maxPackages {
			return failCode(10060024), true
		}
		if len(req.ShippingList) == 0 {
			return fail(10060014, "参数错误: shipping_list 为空"), true
		}
	default:
		return failCode(268485224), true
	}
	for _, pk := range req.ShippingList {
		switch {
		case pk.ItemDesc == "":
			return failCode(10060008), true
		case utf8.RuneCountInString(pk.ItemDesc) > maxItemDesc:
			return failCode(10060009), true
		case len(pk.TrackingNo) > maxTrackingBytes:
			return failCode(10060026), true
		case len(pk.ExpressCompany) > maxTrackingBytes:
			return failCode(10060025), true
		}
		if req.LogisticsType != LogisticsExpress {
			continue
		}
		switch {
		case pk.TrackingNo == "":
			return failCode(268485226), true
		case pk.ExpressCompany == "":
			return failCode(268485227), true
		case pk.ExpressCompany == expressSF && (pk.Contact == nil || *pk.Contact == Contact{}):
			return fail(10060014, "参数错误: 顺丰发货时 contact 必填"), true
		}
	}
	return reply{}, false
}

// same reports whether req would record exactly what sh holds (its
// upload_time aside).
func (sh *Shipping) same(req uploadRequest) bool {
	if sh.LogisticsType != req.LogisticsType || sh.DeliveryMode != req.DeliveryMode ||
		sh.AllDelivered != (req.DeliveryMode == DeliveryUnified || *req.IsAllDelivered) || len(sh.Packages) != len(req.ShippingList) {
		return false
	}
	for i, pk := range req.ShippingList {
		old := sh.Packages[i]
		if old.TrackingNo != pk.TrackingNo || old.ExpressCompany != pk.ExpressCompany || old.ItemDesc != pk.ItemDesc ||
			contactOf(old.Contact) != contactOf(pk.Contact) {
			return false
		}
	}
	return true
}

func contactOf(c *Contact) Contact {
	if c == nil {
		return Contact{}
	}
	return *c
}

// paymentRef names a payment in get_order and notify_confirm_receive,
// which use other field names than upload's order_key.
type paymentRef struct {
	TransactionID   string `json:"transaction_id"`
	MerchantID      string `json:"merchant_id"`
	SubMerchantID   string `json:"sub_merchant_id"` // service providers' sub-merchant: not played
	MerchantTradeNo string `json:"merchant_trade_no"`
}

// key is the payment named, preferring transaction_id; a request naming
// none is refused as malformed (47001), as WeChat answers requests that use
// upload's field names here.
func (r paymentRef) key() (OrderKey, reply, bool) {
	switch {
	case r.TransactionID != "":
		return OrderKey{TransactionID: r.TransactionID}, reply{}, false
	case r.MerchantID != "" && r.MerchantTradeNo != "":
		return OrderKey{MchID: r.MerchantID, OutTradeNo: r.MerchantTradeNo}, reply{}, false
	}
	return OrderKey{}, failCode(47001), true
}

// notifyRequest is the body of notify_confirm_receive.
type notifyRequest struct {
	paymentRef
	ReceivedTime int64 `json:"received_time"`
}

// notifyConfirmReceiveLocked is POST /wxa/sec/order/notify_confirm_receive:
// remind the buyer of a shipped express order to confirm receipt, once per
// order, naming the signing time (Unix seconds), which must come after the
// ship time. WeChat messages the buyer.
func (p *MiniProgram) notifyConfirmReceiveLocked(req notifyRequest) reply {
	key, rep, bad := req.key()
	if bad {
		return rep
	}
	o := p.visibleLocked(key)
	switch {
	case o == nil:
		return failCode(10060001)
	case !o.RemindedAt.IsZero():
		return failCode(10060030)
	case o.State != OrderShipped:
		return failCode(10060028)
	case o.Shipping.LogisticsType != LogisticsExpress:
		return failCode(10060032)
	}
	// After the ship time, and not in the future: a time in milliseconds,
	// the usual mistake, is refused as developers report WeChat does.
	now := p.sb.now()
	if req.ReceivedTime <= o.ShippedAt.Unix() || req.ReceivedTime > now.Unix() {
		return failCode(10060029)
	}
	o.RemindedAt, o.ReceivedTime = now, req.ReceivedTime
	p.messageBuyerLocked(o, OrderMessage{Kind: ConfirmReminderMessage, ReceivedTime: req.ReceivedTime})
	return success(okBody)
}

// getOrderLocked is POST /wxa/sec/order/get_order: the payment as the
// shipping service holds it.
func (p *MiniProgram) getOrderLocked(req paymentRef) reply {
	key, rep, bad := req.key()
	if bad {
		return rep
	}
	o := p.visibleLocked(key)
	if o == nil {
		return failCode(10060001)
	}
	return success(struct {
		ErrCode int       `json:"errcode"`
		ErrMsg  string    `json:"errmsg"`
		Order   wireOrder `json:"order"`
	}{0, "ok", o.wire()})
}

// wireOrder is get_order's order; times are Unix seconds.
type wireOrder struct {
	TransactionID   string       `json:"transaction_id"`
	MerchantID      string       `json:"merchant_id"`
	SubMerchantID   string       `json:"sub_merchant_id"`
	MerchantTradeNo string       `json:"merchant_trade_no"`
	Description     string       `json:"description"`
	PaidAmount      int64        `json:"paid_amount"`
	OpenID          string       `json:"openid"`
	TradeCreateTime int64        `json:"trade_create_time"`
	PayTime         int64        `json:"pay_time"`
	OrderState      int          `json:"order_state"`
	InComplaint     bool         `json:"in_complaint"`
	Shipping        wireShipping `json:"shipping"`
}

type wireShipping struct {
	DeliveryMode        int           `json:"delivery_mode"`
	LogisticsType       int           `json:"logistics_type"`
	FinishShipping      bool          `json:"finish_shipping"`
	GoodsDesc           string        `json:"goods_desc"` // entered in the admin console, never by the API
	FinishShippingCount int           `json:"finish_shipping_count"`
	ShippingList        []wirePackage `json:"shipping_list"`
}

type wirePackage struct {
	TrackingNo     string  `json:"tracking_no"`
	ExpressCompany string  `json:"express_company"`
	GoodsDesc      string  `json:"goods_desc"`
	UploadTime     int64   `json:"upload_time"`
	Contact        Contact `json:"contact"`
}

func (o *Order) wire() wireOrder {
	w := wireOrder{
		TransactionID: o.TransactionID, MerchantID: o.MchID, MerchantTradeNo: o.OutTradeNo,
		Description: truncateDescription(o.Description), PaidAmount: o.Amount, OpenID: o.OpenID,
		TradeCreateTime: o.PaidAt.Unix(), PayTime: o.PaidAt.Unix(), OrderState: int(o.State),
		Shipping: wireShipping{ShippingList: []wirePackage{}},
	}
	if sh := o.Shipping; sh != nil {
		w.Shipping.DeliveryMode, w.Shipping.LogisticsType = sh.DeliveryMode, sh.LogisticsType
		w.Shipping.FinishShipping, w.Shipping.FinishShippingCount = sh.AllDelivered, sh.FinishCount
		for _, pk := range sh.Packages {
			w.Shipping.ShippingList = append(w.Shipping.ShippingList, wirePackage{
				TrackingNo: pk.TrackingNo, ExpressCompany: pk.ExpressCompany, GoodsDesc: pk.ItemDesc,
				UploadTime: pk.UploadedAt.Unix(), Contact: contactOf(pk.Contact),
			})
		}
	}
	return w
}
