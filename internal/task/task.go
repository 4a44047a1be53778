// Package task is the contract between the api and the worker: the asynq
// task that carries one notification, its payload and its id. The api
// builds it (package intake), the worker acts on it (package delivery);
// what happened to it is its record's to tell (package record).
package task

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Type is the asynq task type of a notification.
const Type = "notification:send"

// QueueName is the asynq queue of a single-app deployment's notifications;
// each app of APPS_FILE has its own (config.App.Queue).
const QueueName = "notifications"

// Payload is one notification, rendered and validated by the API: the
// worker sends it as it is.
type Payload struct {
	// Template is the registry name ("order_arrived"); TemplateID is WeChat's id.
	Template   string `json:"template"`
	TemplateID string `json:"template_id"`
	// LongTerm marks a long-term template: no one-time grant is spent.
	LongTerm bool `json:"long_term,omitempty"`
	// UserID is the receiver as the business names them; OpenID is set when
	// the order service named the openid directly. At least one is set.
	UserID    string            `json:"user_id,omitempty"`
	OpenID    string            `json:"openid,omitempty"`
	DedupeKey string            `json:"dedupe_key"`
	Page      string            `json:"page,omitempty"`
	Data      map[string]string `json:"data"`
	// MiniprogramState and Lang are passed to WeChat when set.
	MiniprogramState string     `json:"miniprogram_state,omitempty"`
	Lang             string     `json:"lang,omitempty"`
	CreatedAt        time.Time  `json:"created_at"`
	SendAt           *time.Time `json:"send_at,omitempty"`
	// Channel is how the notification reaches the buyer (ChannelSubscribe
	// when empty); Order is the WeChat Pay order the order channel acts on.
	Channel Channel `json:"channel,omitempty"`
	Order   *Order  `json:"order,omitempty"`
}

// Channel is a way to reach the buyer.
type Channel string

// The channels.
const (
	// ChannelSubscribe is a subscribe message (订阅消息): it needs the
	// user's grant.
	ChannelSubscribe Channel = "subscribe"
	// ChannelOrder is WeChat's order shipping service (发货信息管理) for an
	// order paid with WeChat Pay: on "shipped" the order's shipping is
	// uploaded and WeChat messages the buyer itself; on "arrived" WeChat
	// reminds the buyer to confirm receipt. No grant is needed.
	ChannelOrder Channel = "order"
	// ChannelAuto is a subscribe message when the user holds a grant for
	// its template, the order channel otherwise: never both look-alike
	// messages.
	ChannelAuto Channel = "auto"
)

// Order events.
const (
	OrderShipped = "shipped"
	OrderArrived = "arrived"
)

// Order is a WeChat Pay order as the order channel names it: by its
// transaction id, or by the merchant id and the merchant's trade number.
type Order struct {
	TransactionID string `json:"transaction_id,omitempty"`
	MchID         string `json:"mchid,omitempty"`
	OutTradeNo    string `json:"out_trade_no,omitempty"`
	// Event is OrderShipped or OrderArrived.
	Event string `json:"event"`
	// LogisticsType (1 express, 2 same-city delivery, 3 virtual goods, 4
	// picked up by the buyer), DeliveryMode (1 in one parcel, 2 split),
	// IsAllDelivered and Shipments are what "shipped" uploads.
	LogisticsType  int        `json:"logistics_type,omitempty"`
	DeliveryMode   int        `json:"delivery_mode,omitempty"`
	IsAllDelivered bool       `json:"is_all_delivered,omitempty"`
	Shipments      []Shipment `json:"shipments,omitempty"`
	// ReceivedAt is when an "arrived" order reached the buyer.
	ReceivedAt *time.Time `json:"received_at,omitempty"`
}

// Shipment is one parcel of a shipped order.
type Shipment struct {
	TrackingNo       string `json:"tracking_no,omitempty"`
	ExpressCompany   string `json:"express_company,omitempty"`
	ItemDesc         string `json:"item_desc"`
	ConsignorContact string `json:"consignor_contact,omitempty"`
	ReceiverContact  string `json:"receiver_contact,omitempty"`
}

// ID derives a notification's id from its template and dedupe key, so that
// the same notification posted twice has one id: the template, a dash and
// 32 hex digits of a hash ("order_arrived-3f2a…"). It is URL-safe, names the
// template for people reading it, and is what the API answers with.
func ID(template, dedupeKey string) string {
	sum := sha256.Sum256([]byte(template + "\x00" + dedupeKey))
	return template + "-" + hex.EncodeToString(sum[:16])
}

// TaskID is the asynq task id of notification id: the id with a dot for its
// dash ("order_arrived.3f2a…"). asynqmon shows a task id only up to its first
// dash — it expects UUIDs — so with the id itself every row of the dashboard
// read "order_arrived". Template names have no dash or dot (registry), nor
// does the hash, so the two forms map one to one.
func TaskID(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 {
		return id[:i] + "." + id[i+1:]
	}
	return id
}

// IDOfTask is the notification id of an asynq task id. Tasks queued before
// task ids took the dotted form carry the notification id itself; both are
// read.
func IDOfTask(taskID string) string {
	if i := strings.LastIndexByte(taskID, '.'); i >= 0 && !strings.Contains(taskID, "-") {
		return taskID[:i] + "-" + taskID[i+1:]
	}
	return taskID
}

// Encode serialises p for the task.
func (p Payload) Encode() ([]byte, error) { return json.Marshal(p) }

// Decode reads a task payload and checks that the worker can act on it.
func Decode(b []byte) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(b, &p); err != nil {
		return Payload{}, fmt.Errorf("decode notification payload: %w", err)
	}
	switch {
	case p.TemplateID == "":
		return p, errors.New("notification payload: no template_id")
	case p.UserID == "" && p.OpenID == "":
		return p, errors.New("notification payload: neither user_id nor openid")
	case len(p.Data) == 0 && p.Channel != ChannelOrder:
		return p, errors.New("notification payload: no data")
	case p.Channel != "" && p.Channel != ChannelSubscribe && p.Order == nil:
		return p, fmt.Errorf("notification payload: channel %s without an order", p.Channel)
	}
	return p, nil
}

// Receiver is who the notification is for, as its record files it: the
// user id, or the openid when the order service named only that.
func (p Payload) Receiver() string {
	if p.UserID != "" {
		return p.UserID
	}
	return p.OpenID
}

// IDOn is the id of notification (template, dedupeKey) on channel c: the
// order channel's is its own, so that an order service may post the same
// notification once as a subscribe message and once through the order
// channel; a subscribe message and an "auto" one are the same
// notification (the buyer gets one of the two look-alike messages).
func IDOn(c Channel, template, dedupeKey string) string {
	if c == ChannelOrder {
		return ID(template, dedupeKey+"\x00order")
	}
	return ID(template, dedupeKey)
}
