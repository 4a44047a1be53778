// Package subscriber keeps what wxnotify knows about each user of a mini
// program: which openid their user id is bound to, their login sessions,
// and how many messages of each template they have allowed.
package subscriber

import (
	"errors"
	"strings"
	"unicode"
)

// Keys names the Redis keys of one mini program. Everything about one user
// shares the hash tag {<appid>:u:<user id>}, so that the worker's one Lua
// step over binding, grants and claim markers also runs on Redis Cluster.
type Keys struct{ appID string }

// NewKeys returns the key names for appid.
func NewKeys(appID string) Keys { return Keys{appID: appID} }

func (k Keys) user(userID string) string { return "wxnotify:{" + k.appID + ":u:" + userID + "}" }

// Binding is the hash {openid, unionid, bound_at} of a user. It also lists
// the user's recent notifications, in fields of record.Keys.UserList.
func (k Keys) Binding(userID string) string { return k.user(userID) + ":binding" }

// Grants is the hash template_id → remaining one-time sends (or 1 for a
// long-term template the user accepted).
func (k Keys) Grants(userID string) string { return k.user(userID) + ":grants" }

// Claim marks the grant a notification has taken, so that a run
// of the task after a crash finds its grant instead of spending another or
// finding none.
func (k Keys) Claim(userID, notificationID string) string {
	return k.user(userID) + ":claim:" + notificationID
}

// Ambiguous marks a notification of the user whose earlier attempt
// ended without knowing whether WeChat delivered it (a timeout, a lost
// connection): a later 43101 then means "probably delivered".
func (k Keys) Ambiguous(userID, notificationID string) string {
	return k.user(userID) + ":ambiguous:" + notificationID
}

// Sending names the run that is sending to the user now: WeChat refuses
// concurrent sends to one openid (43108), so a user gets one at a time.
// It expires at that run's deadline.
func (k Keys) Sending(userID string) string { return k.user(userID) + ":sending" }

// Unsubscribed is the hash template_id → when the user turned the template
// off in WeChat's settings (subscribe_msg_change_event).
func (k Keys) Unsubscribed(userID string) string { return k.user(userID) + ":unsubscribed" }

// Push marks a WeChat push (its ID) as applied, so WeChat's retries are not.
func (k Keys) Push(id string) string { return "wxnotify:" + k.appID + ":push:" + id }

// OpenID maps an openid back to the user bound to it.
func (k Keys) OpenID(openid string) string { return "wxnotify:" + k.appID + ":openid:" + openid }

// Session maps the SHA-256 of a session token to its user.
func (k Keys) Session(tokenHash string) string {
	return "wxnotify:" + k.appID + ":session:" + tokenHash
}

// ErrInvalidUserID is returned for a user id that cannot be stored.
var ErrInvalidUserID = errors.New("user id must be 1 to 128 printable characters without spaces or braces")

// ValidUserID reports whether id can name a user: printable, no spaces,
// no braces (they would end the key's hash tag), at most 128 bytes.
func ValidUserID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool {
		return r == '{' || r == '}' || unicode.IsSpace(r) || !unicode.IsPrint(r)
	})
}
