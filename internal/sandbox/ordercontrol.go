package sandbox

import (
	"net/http"
)

// The /sandbox/orders controls play WeChat Pay, the buyer and WeChat's own
// side of the order shipping service: a payment, the buyer confirming
// receipt, settlement, a refund, WeChat's reminders. They name the app as
// the other controls do ("appid" in a POST's body, ?appid= on a GET) and a
// payment by "transaction_id", or "mchid" and "out_trade_no".

// orderRef is the part of a control's body that names an app's payment.
type orderRef struct {
	AppID string `json:"appid"`
	OrderKey
}

// createOrderRequest is the body of POST /sandbox/orders {"appid"?,
// "openid", "transaction_id"?, "mchid"?, "out_trade_no"?, "amount"?,
// "description"?, "paid_at"?, "hidden_for"?}: the buyer paid → the order
// (state 1).
type createOrderRequest struct {
	AppID string `json:"appid"`
	NewOrder
}

func (r createOrderRequest) app() string { return r.AppID }

func createOrder(p *MiniProgram, req createOrderRequest) (Order, error) {
	return p.CreateOrder(req.NewOrder)
}

// handleGetOrder is GET /sandbox/orders?appid=&transaction_id= (or
// &mchid=&out_trade_no=) → the order as the sandbox holds it, whether the
// shipping APIs see it yet or not; 404 when there is none.
func (s *Sandbox) handleGetOrder(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ok := s.controlApp(w, q.Get("appid"))
	if !ok {
		return
	}
	k := OrderKey{TransactionID: q.Get("transaction_id"), MchID: q.Get("mchid"), OutTradeNo: q.Get("out_trade_no")}
	o, found := p.Order(k)
	if !found {
		controlError(w, http.StatusNotFound, "no payment with %s in %s", k.describe(), p.appID)
		return
	}
	writeControl(w, http.StatusOK, o)
}

// handleOrderMessages is GET /sandbox/orders/messages?appid=&openid=&transaction_id=
// → what WeChat sent the app's buyers about their orders (kept, oldest
// first) and how many of them match.
func (s *Sandbox) handleOrderMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ok := s.controlApp(w, q.Get("appid"))
	if !ok {
		return
	}
	msgs := p.OrderMessages(q.Get("openid"), q.Get("transaction_id"))
	writeControl(w, http.StatusOK, map[string]any{"count": len(msgs), "messages": msgs})
}

func (r orderRef) app() string { return r.AppID }

// orderControl serves a control that creates or changes one payment: its
// body, a T naming the app (and the payment), goes to change, which answers
// the payment after it, or an error that is a 400 saying why there is no
// such payment or why it cannot be done.
func orderControl[T interface{ app() string }](s *Sandbox, change func(*MiniProgram, T) (Order, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req T
		if !decodeControl(w, r, &req) {
			return
		}
		p, ok := s.controlApp(w, req.app())
		if !ok {
			return
		}
		o, err := change(p, req)
		if err != nil {
			controlError(w, http.StatusBadRequest, "%v", err)
			return
		}
		writeControl(w, http.StatusOK, o)
	}
}

// confirmReceipt is POST /sandbox/orders/confirm {"appid"?, payment}: the
// buyer confirms receipt of a shipped order → the order (state 3).
func confirmReceipt(p *MiniProgram, req orderRef) (Order, error) {
	return p.ConfirmReceipt(req.OrderKey)
}

// settleRequest is the body of POST /sandbox/orders/settle {"appid"?,
// payment, "pending"?}: the funds settle → the order (state 4, or 6 with
// pending), with a trade_manage_order_settlement push.
type settleRequest struct {
	orderRef
	Pending bool `json:"pending"`
}

func settle(p *MiniProgram, req settleRequest) (Order, error) {
	return p.Settle(req.OrderKey, req.Pending)
}

// refund is POST /sandbox/orders/refund {"appid"?, payment}: a full refund
// → the order (state 5).
func refund(p *MiniProgram, req orderRef) (Order, error) { return p.Refund(req.OrderKey) }

// remindShippingRequest is the body of POST /sandbox/orders/remind_shipping
// {"appid"?, payment, "msg"?}: WeChat reminds the merchant to ship an
// unshipped order (a trade_manage_remind_shipping push) → the order.
type remindShippingRequest struct {
	orderRef
	Msg string `json:"msg"`
}

func remindShipping(p *MiniProgram, req remindShippingRequest) (Order, error) {
	return p.RemindShipping(req.OrderKey, req.Msg)
}

// handleRemindAccessAPI is POST /sandbox/orders/remind_access_api {"appid"?,
// "msg"?}: WeChat reminds the mini program to use the shipping APIs (a
// trade_manage_remind_access_api push) → {"appid"}.
func (s *Sandbox) handleRemindAccessAPI(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID string `json:"appid"`
		Msg   string `json:"msg"`
	}
	if r.ContentLength != 0 && !decodeControl(w, r, &req) {
		return
	}
	p, ok := s.controlApp(w, req.AppID)
	if !ok {
		return
	}
	p.RemindAccessAPI(req.Msg)
	writeControl(w, http.StatusOK, map[string]string{"appid": p.appID})
}
