// Package wxevent reads WeChat's message pushes to the mini program's
// server: it checks their signatures, decrypts safe-mode (AES) bodies,
// and decodes the subscription events — popup choices, settings changes
// and send results — from JSON or XML.
package wxevent

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Event names of the subscription pushes.
const (
	PopupEvent  = "subscribe_msg_popup_event"  // the user acted on the popup
	ChangeEvent = "subscribe_msg_change_event" // the user changed a subscription in settings
	SentEvent   = "subscribe_msg_sent_event"   // the outcome of a send

	// The order shipping service's trade events: an order's funds will
	// settle or have settled (the buyer confirmed receipt, or the time
	// ran out); WeChat reminding the merchant to ship an order.
	SettlementEvent     = "trade_manage_order_settlement"
	RemindShippingEvent = "trade_manage_remind_shipping"
)

// Push is one decoded push.
type Push struct {
	ToUserName   string
	FromUserName string // the user's openid
	CreateTime   int64
	MsgType      string
	Event        string
	// Choices are the popup's or the settings page's items (PopupEvent, ChangeEvent).
	Choices []Choice
	// Results are the send outcomes (SentEvent).
	Results []Result
	// Trade is the order a trade event is about (SettlementEvent,
	// RemindShippingEvent).
	Trade *Trade
}

// Trade is what a trade event says of a WeChat Pay order. Times are Unix
// seconds, 0 when the event does not carry them.
type Trade struct {
	TransactionID   string
	MerchantID      string
	MerchantTradeNo string
	PayTime         int64
	ShippedTime     int64
	// ConfirmReceiveTime and SettlementTime come when the funds settled.
	ConfirmReceiveTime int64
	SettlementTime     int64
	Msg                string
}

// Choice is a user's decision on one template.
type Choice struct {
	TemplateID string
	Status     string // "accept" or "reject"
	PopupScene string // where the popup was shown (popup events only)
}

// Result is WeChat's final word on one sent message.
type Result struct {
	TemplateID  string
	MsgID       string // 64-bit, kept exact
	ErrorCode   int
	ErrorStatus string
}

// ID identifies a push for deduplication: WeChat retries a push it got no
// answer to, and a retry carries the same sender, time, event and items
// (in safe mode only the ciphertext differs), while two real pushes in the
// same second differ in their items.
func (p *Push) ID() string {
	sum := sha1.Sum(fmt.Appendf(nil, "%v|%v|%v", p.Choices, p.Results, p.Trade))
	return fmt.Sprintf("%s:%d:%s:%s", p.FromUserName, p.CreateTime, p.Event, hex.EncodeToString(sum[:8]))
}

// Verifier checks and opens pushes for one mini program.
type Verifier struct {
	token string
	key   []byte // AES-256 key of safe mode; nil without EncodingAESKey
	appID string
}

// Errors a push handler answers 401 (signature) or 400 (body) for.
var (
	ErrSignature = errors.New("push signature does not match")
	ErrBody      = errors.New("push body is not a WeChat push")
)

// NewVerifier takes the push token and, for safe mode, the 43-character
// EncodingAESKey and the appid (which the encrypted body must name).
func NewVerifier(token, encodingAESKey, appID string) (*Verifier, error) {
	if token == "" {
		return nil, errors.New("wxevent: empty push token")
	}
	v := &Verifier{token: token, appID: appID}
	if encodingAESKey != "" {
		if len(encodingAESKey) != 43 {
			return nil, fmt.Errorf("wxevent: EncodingAESKey is %d characters; WeChat's are 43", len(encodingAESKey))
		}
		key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
		if err != nil || len(key) != 32 {
			return nil, errors.New("wxevent: EncodingAESKey is not base64 for a 32-byte key")
		}
		v.key = key
	}
	return v, nil
}

// Sign is WeChat's signature: the SHA-1, in hex, of the sorted and joined parts.
func Sign(parts ...string) string {
	sorted := append([]string(nil), parts...)
	sort.Strings(sorted)
	sum := sha1.Sum([]byte(strings.Join(sorted, "")))
	return hex.EncodeToString(sum[:])
}

// Check reports whether signature signs timestamp and nonce with the token
// (URL verification and plain-mode pushes).
func (v *Verifier) Check(signature, timestamp, nonce string) bool {
	return equal(signature, Sign(v.token, timestamp, nonce))
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
