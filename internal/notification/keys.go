package notification

import (
	"strings"
	"time"
)

// Keys names the Redis keys of notifications of one mini program. A
// record's key carries no hash tag, so records spread over every slot of a
// Redis Cluster; a user's list shares the user's tag with the rest of the
// user's state.
type Keys struct{ appID string }

// NewKeys returns the key names for appid.
func NewKeys(appID string) Keys { return Keys{appID: appID} }

// Record holds notification id's record (record.go). The key carries the
// id's hash only: the template is in the record.
func (k Keys) Record(id string) string { return "wxnotify:" + k.appID + ":n:" + idHash(id) }

// UserList is the hash where a user's recent notifications are listed, one
// field each (listField). It is the user's binding hash (subscriber.Keys
// Binding), on purpose: a hash of up to 128 small fields stays
// listpack-encoded, so an entry costs about 35 bytes there, where a key of
// its own would cost about 180 bytes for a user who gets one notification.
func (k Keys) UserList(userID string) string {
	return "wxnotify:{" + k.appID + ":u:" + userID + "}:binding"
}

// Msg is where a delivered message's msgid meets WeChat's sent event for it:
// whichever of the worker (with the notification id) and the push (with
// WeChat's status) comes second finds the other's half, applies the status
// to the record and deletes the key.
func (k Keys) Msg(msgid string) string { return "wxnotify:" + k.appID + ":msg:" + msgid }

// idHash is the hash part of a notification id (ID): what follows the
// template and its dash.
func idHash(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// Outcomes is the hash counting the worker's outcomes of the hour that
// contains at (UTC), one field per template and outcome class
// (OutcomeField). It carries no hash tag: one key an hour, on one slot.
func (k Keys) Outcomes(at time.Time) string {
	return "wxnotify:" + k.appID + ":outcomes:" + at.UTC().Format("2006010215")
}
