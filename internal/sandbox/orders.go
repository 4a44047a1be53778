package sandbox

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The order shipping service (发货信息管理) keeps, per mini program, the
// WeChat Pay payments made in it: the merchant uploads how each was
// shipped, WeChat messages the buyer about it, the buyer confirms receipt
// and the funds settle. The sandbox plays WeChat's side of that here; the
// payments themselves come from a control (CreateOrder), standing in for
// WeChat Pay.

// OrderState is a payment's order_state in get_order, in WeChat's numbering.
type OrderState int

// The states, with the names WeChat's reference gives them. The usual path
// is 1 → 2 → 3 → 6 → 4; a refund (5) can end it at any point.
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

// String is the state's snake_case name.
func (s OrderState) String() string {
	if n, ok := orderStateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("order_state_%d", int(s))
}

// Logistics types (logistics_type) and delivery modes (delivery_mode) of an upload.
const (
	LogisticsExpress  = 1 // 实体物流配送: a courier, with tracking numbers
	LogisticsSameCity = 2 // 同城配送
	LogisticsVirtual  = 3 // 虚拟商品: nothing to carry
	LogisticsPickup   = 4 // 用户自提

	DeliveryUnified = 1 // UNIFIED_DELIVERY: one parcel
	DeliverySplit   = 2 // SPLIT_DELIVERY: several parcels, express only
)

// How the buyer's receipt was confirmed (confirm_receive_method), as the
// reference numbers it. Developers report receiving the opposite numbers;
// the sandbox follows the reference.
const (
	ConfirmedAutomatically = 1 // 自动确认收货: WeChat confirmed when the buyer did not
	ConfirmedByBuyer       = 2 // 手动确认收货
)

// DefaultMchID is the merchant id of orders created without one.
const DefaultMchID = "1900000109"

// OrderKey names a payment the way the shipping APIs do: by WeChat Pay's
// transaction_id (order_number_type 2), or by the merchant id and the
// merchant's own order number (order_number_type 1).
type OrderKey struct {
	TransactionID string `json:"transaction_id,omitempty"`
	MchID         string `json:"mchid,omitempty"`
	OutTradeNo    string `json:"out_trade_no,omitempty"`
}

// describe names k in control errors. (Not String: Order embeds OrderKey,
// and would print as its key alone.)
func (k OrderKey) describe() string {
	if k.TransactionID != "" {
		return "transaction_id " + k.TransactionID
	}
	return "mchid " + k.MchID + " out_trade_no " + k.OutTradeNo
}

// NewOrder is a paid WeChat Pay order to create.
type NewOrder struct {
	// OpenID is the payer, a user of the app; required.
	OpenID string `json:"openid"`
	// TransactionID is WeChat Pay's order number; 28 digits are made up when empty.
	TransactionID string `json:"transaction_id"`
	// MchID is the merchant's id, DefaultMchID when empty; OutTradeNo the
	// merchant's order number, made up when empty.
	MchID      string `json:"mchid"`
	OutTradeNo string `json:"out_trade_no"`
	// Amount is what was paid, in fen; 1 when zero.
	Amount int64 `json:"amount"`
	// Description is the goods as the payment names them.
	Description string `json:"description"`
	// PaidAt is when the buyer paid; the sandbox's now when zero.
	PaidAt time.Time `json:"paid_at"`
	// HiddenFor keeps the payment out of the shipping APIs for this long
	// after PaidAt, as WeChat does while it files a fresh payment: they
	// answer 10060001 until then.
	HiddenFor Duration `json:"hidden_for"`
}

// Order is a payment as the sandbox holds it.
type Order struct {
	AppID string `json:"appid"`
	OrderKey
	OpenID      string     `json:"openid"`
	Amount      int64      `json:"amount"`
	Description string     `json:"description"`
	PaidAt      time.Time  `json:"paid_at"`
	VisibleAt   time.Time  `json:"visible_at"` // from then on the shipping APIs see the payment
	State       OrderState `json:"state"`
	StateName   string     `json:"state_name"`
	// Shipping is the shipping info last uploaded; nil before any.
	Shipping *Shipping `json:"shipping,omitempty"`
	// ShippedAt is when shipping last completed (the upload that set state
	// 2): the "ship time" a receipt reminder must come after.
	ShippedAt time.Time `json:"shipped_at,omitzero"`
	// Reshipped reports that the one change of shipping info WeChat allows
	// a completed shipping is used.
	Reshipped bool `json:"reshipped"`
	// RemindedAt and ReceivedTime are the receipt reminder's: when it was
	// sent, and the signing time it named (Unix seconds).
	RemindedAt    time.Time `json:"reminded_at,omitzero"`
	ReceivedTime  int64     `json:"received_time,omitempty"`
	ConfirmedAt   time.Time `json:"confirmed_at,omitzero"`
	ConfirmMethod int       `json:"confirm_receive_method,omitempty"`
	SettledAt     time.Time `json:"settled_at,omitzero"`
	RefundedAt    time.Time `json:"refunded_at,omitzero"`
	// BuyerMessages counts what WeChat sent the buyer about this order
	// (shipping notices and the receipt reminder), however many are kept.
	BuyerMessages int `json:"buyer_messages"`
}

// Shipping is one upload's shipping info as recorded.
type Shipping struct {
	LogisticsType int  `json:"logistics_type"`
	DeliveryMode  int  `json:"delivery_mode"`
	AllDelivered  bool `json:"all_delivered"`
	// FinishCount is finish_shipping_count: 0 before shipping completed, 1
	// after, 2 after a change of completed shipping.
	FinishCount int       `json:"finish_shipping_count"`
	Packages    []Package `json:"packages"`
	// UploadTime is the merchant's upload_time of the upload recorded.
	UploadTime time.Time `json:"upload_time"`
}

// Package is one parcel of an upload's shipping_list.
type Package struct {
	TrackingNo     string    `json:"tracking_no,omitempty"`
	ExpressCompany string    `json:"express_company,omitempty"`
	ItemDesc       string    `json:"item_desc"`
	Contact        *Contact  `json:"contact,omitempty"`
	UploadedAt     time.Time `json:"uploaded_at"`
}

// Contact is a parcel's masked phone numbers.
type Contact struct {
	ConsignorContact string `json:"consignor_contact,omitempty"`
	ReceiverContact  string `json:"receiver_contact,omitempty"`
}

// Kinds of OrderMessage.
const (
	// ShippedMessage is WeChat's notice to the buyer that the order shipped,
	// sent when an upload completes shipping.
	ShippedMessage = "shipped"
	// ShippingChangedMessage is the notice after the one allowed change of
	// completed shipping.
	ShippingChangedMessage = "shipping_changed"
	// ConfirmReminderMessage is notify_confirm_receive's reminder to confirm receipt.
	ConfirmReminderMessage = "confirm_reminder"
)

// OrderMessage is a message WeChat itself sent a buyer about an order: what
// the buyer's phone shows, as Message is for subscribe messages.
type OrderMessage struct {
	Kind          string    `json:"kind"`
	OpenID        string    `json:"openid"`
	TransactionID string    `json:"transaction_id"`
	OutTradeNo    string    `json:"out_trade_no"`
	Packages      []Package `json:"packages,omitempty"`      // shipping notices
	ReceivedTime  int64     `json:"received_time,omitempty"` // the reminder's signing time
	SentAt        time.Time `json:"sent_at"`
}

type merchantKey struct{ mchID, outTradeNo string }

// orderBook is one app's payments and the messages WeChat sent about them.
type orderBook struct {
	byTransaction map[string]*Order
	byMerchant    map[merchantKey]*Order
	messages      []OrderMessage // the newest MaxMessages
}

// lookupLocked finds the app's payment named by k, visible or not: by
// transaction_id when k has one, else by mchid and out_trade_no.
func (p *MiniProgram) lookupLocked(k OrderKey) *Order {
	if k.TransactionID != "" {
		return p.orders.byTransaction[k.TransactionID]
	}
	return p.orders.byMerchant[merchantKey{k.MchID, k.OutTradeNo}]
}

// visibleLocked finds the payment the shipping APIs see: nil for one not
// of this app, or not filed yet.
func (p *MiniProgram) visibleLocked(k OrderKey) *Order {
	o := p.lookupLocked(k)
	if o == nil || p.sb.now().Before(o.VisibleAt) {
		return nil
	}
	return o
}

// CreateOrder plays WeChat Pay: the buyer openid paid an order in this app.
// Transaction ids, and merchant order numbers within a merchant, are unique
// across the sandbox's apps, as WeChat Pay's are.
func (p *MiniProgram) CreateOrder(n NewOrder) (Order, error) {
	if n.OpenID == "" {
		return Order{}, errors.New("openid is empty: a payment has a payer")
	}
	if n.Amount < 0 {
		return Order{}, fmt.Errorf("amount %d is negative", n.Amount)
	}
	s := p.sb
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if n.TransactionID == "" {
		n.TransactionID = fmt.Sprintf("4200%06d%s%010d", s.rng.IntN(1e6), now.In(chinaTime).Format("20060102"), s.rng.Int64N(1e10))
	}
	if n.MchID == "" {
		n.MchID = DefaultMchID
	}
	if n.OutTradeNo == "" {
		n.OutTradeNo = "SB" + now.Format("20060102150405") + fmt.Sprintf("%06d", s.rng.IntN(1e6))
	}
	for _, id := range s.appIDs {
		other := s.apps[id]
		if other.orders.byTransaction[n.TransactionID] != nil {
			return Order{}, fmt.Errorf("transaction_id %s is already a payment of %s", n.TransactionID, id)
		}
		if other.orders.byMerchant[merchantKey{n.MchID, n.OutTradeNo}] != nil {
			return Order{}, fmt.Errorf("out_trade_no %s of mchid %s is already a payment of %s", n.OutTradeNo, n.MchID, id)
		}
	}
	if n.Amount == 0 {
		n.Amount = 1
	}
	if n.PaidAt.IsZero() {
		n.PaidAt = now
	}
	o := &Order{
		AppID: p.appID, OrderKey: OrderKey{n.TransactionID, n.MchID, n.OutTradeNo},
		OpenID: n.OpenID, Amount: n.Amount, Description: n.Description,
		PaidAt: n.PaidAt, VisibleAt: n.PaidAt.Add(time.Duration(n.HiddenFor)), State: OrderAwaitingShipment,
	}
	if p.orders.byTransaction == nil {
		p.orders.byTransaction, p.orders.byMerchant = map[string]*Order{}, map[merchantKey]*Order{}
	}
	p.orders.byTransaction[n.TransactionID] = o
	p.orders.byMerchant[merchantKey{n.MchID, n.OutTradeNo}] = o
	return o.view(), nil
}

// view is a copy of o safe to hand out.
func (o *Order) view() Order {
	v := *o
	v.StateName = o.State.String()
	if o.Shipping != nil {
		sh := *o.Shipping
		sh.Packages = slices.Clone(sh.Packages)
		v.Shipping = &sh
	}
	return v
}

// Order returns the app's payment named by k, whether the shipping APIs see
// it yet or not.
func (p *MiniProgram) Order(k OrderKey) (Order, bool) {
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	if o := p.lookupLocked(k); o != nil {
		return o.view(), true
	}
	return Order{}, false
}

// OrderMessages returns the messages WeChat sent the app's buyers about
// their orders (kept, oldest first), optionally only those to openid and/or
// about transactionID.
func (p *MiniProgram) OrderMessages(openid, transactionID string) []OrderMessage {
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	out := []OrderMessage{}
	for _, m := range p.orders.messages {
		if (openid == "" || m.OpenID == openid) && (transactionID == "" || m.TransactionID == transactionID) {
			out = append(out, m)
		}
	}
	return out
}

// messageBuyerLocked records what WeChat sends o's buyer.
func (p *MiniProgram) messageBuyerLocked(o *Order, m OrderMessage) {
	m.OpenID, m.TransactionID, m.OutTradeNo, m.SentAt = o.OpenID, o.TransactionID, o.OutTradeNo, p.sb.now()
	o.BuyerMessages++
	if len(p.orders.messages) >= p.sb.cfg.MaxMessages {
		p.orders.messages = slices.Delete(p.orders.messages, 0, len(p.orders.messages)/10+1)
	}
	p.orders.messages = append(p.orders.messages, m)
}

// change applies a control's change to the payment named by k: the
// buyer's or WeChat Pay's doing, not the merchant's, so no visibility
// delay applies.
func (p *MiniProgram) change(k OrderKey, f func(o *Order, now time.Time) error) (Order, error) {
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	o := p.lookupLocked(k)
	if o == nil {
		return Order{}, fmt.Errorf("no payment with %s in %s", k.describe(), p.appID)
	}
	if err := f(o, p.sb.now()); err != nil {
		return Order{}, fmt.Errorf("%s: %w", k.describe(), err)
	}
	return o.view(), nil
}

// ConfirmReceipt plays the buyer confirming receipt of a shipped order in
// WeChat: state 3.
func (p *MiniProgram) ConfirmReceipt(k OrderKey) (Order, error) {
	return p.change(k, func(o *Order, now time.Time) error {
		if o.State != OrderShipped {
			return fmt.Errorf("the order is %s; a buyer confirms receipt of a shipped order", o.State)
		}
		o.State, o.ConfirmedAt, o.ConfirmMethod = OrderReceiptConfirmed, now, ConfirmedByBuyer
		return nil
	})
}

// Settle plays WeChat settling the funds of a confirmed order: state 4 and
// a trade_manage_order_settlement push. A shipped order the buyer never
// confirmed is confirmed automatically first, as WeChat does when the
// buyer lets the time pass. pending stops at state 6 instead (资金待结算:
// confirmed, funds not settleable yet), without a push.
func (p *MiniProgram) Settle(k OrderKey, pending bool) (Order, error) {
	return p.change(k, func(o *Order, now time.Time) error {
		switch o.State {
		case OrderShipped:
			o.ConfirmedAt, o.ConfirmMethod = now, ConfirmedAutomatically
		case OrderReceiptConfirmed, OrderAwaitingSettlement:
		default:
			return fmt.Errorf("the order is %s; funds settle after shipping", o.State)
		}
		if pending {
			o.State = OrderAwaitingSettlement
			return nil
		}
		o.State, o.SettledAt = OrderCompleted, now
		p.pushSettlementLocked(o, tradeEvent{
			ConfirmReceiveMethod: o.ConfirmMethod, ConfirmReceiveTime: o.ConfirmedAt.Unix(), SettlementTime: now.Unix(),
		})
		return nil
	})
}

// Refund plays a full refund of the payment, at any point before it: state 5.
func (p *MiniProgram) Refund(k OrderKey) (Order, error) {
	return p.change(k, func(o *Order, now time.Time) error {
		if o.State == OrderRefunded {
			return errors.New("the order is already refunded")
		}
		o.State, o.RefundedAt = OrderRefunded, now
		return nil
	})
}

// RemindShipping plays WeChat reminding the merchant to ship a paid order
// (a trade_manage_remind_shipping push; WeChat sends it when an order of a
// mini program that has shipped before waits 48 hours). msg is the text.
func (p *MiniProgram) RemindShipping(k OrderKey, msg string) (Order, error) {
	return p.change(k, func(o *Order, _ time.Time) error {
		if o.State != OrderAwaitingShipment {
			return fmt.Errorf("the order is %s; WeChat reminds the merchant of unshipped orders", o.State)
		}
		if msg == "" {
			msg = "你有订单超过48小时未发货，请尽快发货"
		}
		p.pushTradeLocked(RemindShippingEventName, tradeEvent{
			TransactionID: o.TransactionID, MerchantID: o.MchID, MerchantTradeNo: o.OutTradeNo,
			PayTime: o.PaidAt.Unix(), Msg: msg,
		})
		return nil
	})
}

// RemindAccessAPI plays WeChat reminding the mini program to use the
// shipping APIs (a trade_manage_remind_access_api push: once a day to a
// mini program that trades but has never shipped). msg is the text.
func (p *MiniProgram) RemindAccessAPI(msg string) {
	if msg == "" {
		msg = "你的小程序已产生交易，请尽快接入发货信息管理服务API"
	}
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	p.pushTradeLocked(RemindAccessAPIEventName, tradeEvent{Msg: msg})
}

// pushSettlementLocked sends o's trade_manage_order_settlement push with
// the fields every such push has plus e's.
func (p *MiniProgram) pushSettlementLocked(o *Order, e tradeEvent) {
	e.TransactionID, e.MerchantID, e.MerchantTradeNo = o.TransactionID, o.MchID, o.OutTradeNo
	e.PayTime, e.ShippedTime = o.PaidAt.Unix(), o.ShippedAt.Unix()
	p.pushTradeLocked(OrderSettlementEventName, e)
}

// truncateDescription shortens a description the way get_order does: past
// 120 characters it is cut and ends in "...".
func truncateDescription(d string) string {
	r := []rune(d)
	if len(r) <= 120 {
		return d
	}
	return strings.TrimSpace(string(r[:117])) + "..."
}

// The primary app's order methods, kept on Sandbox like its other ones.

// CreateOrder is the primary app's MiniProgram.CreateOrder.
func (s *Sandbox) CreateOrder(n NewOrder) (Order, error) { return s.primary.CreateOrder(n) }

// Order is the primary app's MiniProgram.Order.
func (s *Sandbox) Order(k OrderKey) (Order, bool) { return s.primary.Order(k) }

// OrderMessages is the primary app's MiniProgram.OrderMessages.
func (s *Sandbox) OrderMessages(openid, transactionID string) []OrderMessage {
	return s.primary.OrderMessages(openid, transactionID)
}
