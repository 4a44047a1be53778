package record

import (
	"strings"
	"time"

	"wxnotify/internal/subscriber"
)

// Keys names the Redis keys of the notifications of one mini program:
// wxnotify:<appid>:n:…, :msg:…, :outcomes:…, :order:… and the feed's keys
// are this package's. A
// record's key carries no hash tag, so records spread over every slot of a
// Redis Cluster.
type Keys struct {
	appID string
	users subscriber.Keys
}

// NewKeys returns the key names for appid.
func NewKeys(appID string) Keys { return Keys{appID: appID, users: subscriber.NewKeys(appID)} }

// Record holds notification id's record. The key carries the id's hash
// only: the template is in the record.
func (k Keys) Record(id string) string { return "wxnotify:" + k.appID + ":n:" + idHash(id) }

// UserList is where a user's recent notifications are listed, one field
// each (listField): the user's binding hash, which package subscriber
// names and owns. The fields "n:…" are this package's. A hash of up to 128
// small fields stays listpack-encoded, so an entry costs about 35 bytes
// there, where a key of its own would cost about 180 bytes for a user who
// gets one notification.
func (k Keys) UserList(userID string) string { return k.users.Binding(userID) }

// Msg is where a delivered message's msgid meets WeChat's sent event for it:
// whichever of the worker (with the notification id) and the push (with
// WeChat's status) comes second finds the other's half, applies the status
// to the record and deletes the key.
func (k Keys) Msg(msgid string) string { return "wxnotify:" + k.appID + ":msg:" + msgid }

// Outcomes is the hash counting the worker's outcomes of the hour that
// contains at (UTC), one field per template and outcome class
// (OutcomeField). It carries no hash tag: one key an hour, on one slot.
func (k Keys) Outcomes(at time.Time) string {
	return "wxnotify:" + k.appID + ":outcomes:" + at.UTC().Format("2006010215")
}

// FeedInFlight is the feed's sorted set of in-flight state f (FeedPending
// or FeedRetrying, feed.go). Both carry the hash tag {<appid>:feed}: one
// script moves an entry from one to the other, so they share a Cluster
// slot.
func (k Keys) FeedInFlight(f FeedState) string { return "wxnotify:{" + k.appID + ":feed}:" + string(f) }

// FeedLog is the feed's log of finished state f (delivered, skipped or
// archived) for the hour that contains at (UTC). No hash tag: each hour's
// log lands on its own slot of a Cluster, as records do.
func (k Keys) FeedLog(f FeedState, at time.Time) string {
	return "wxnotify:" + k.appID + ":feed:" + string(f) + ":" + at.UTC().Format("2006010215")
}

// Order lists the notifications delivered through WeChat's order channel
// for one WeChat Pay order, named by its transaction id, or by its
// merchant id and the merchant's trade number (OrderName).
func (k Keys) Order(name string) string { return "wxnotify:" + k.appID + ":order:" + name }

// OrderName names a WeChat Pay order in its key: "t:<transaction id>", or
// "m:<mchid>:<out_trade_no>" when it has none.
func OrderName(transactionID, mchID, outTradeNo string) string {
	if transactionID != "" {
		return "t:" + transactionID
	}
	return "m:" + mchID + ":" + outTradeNo
}

// idHash is the hash part of a notification id (task.ID): what follows the
// template and its dash.
func idHash(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 {
		return id[i+1:]
	}
	return id
}
