package notification

// Keys names the Redis keys of notifications of one mini program. A
// record's key carries no hash tag, so records spread over every slot of a
// Redis Cluster; a user's list shares the user's tag with the rest of the
// user's state.
type Keys struct{ appID string }

// NewKeys returns the key names for appid.
func NewKeys(appID string) Keys { return Keys{appID: appID} }

// Record holds notification id's record (record.go).
func (k Keys) Record(id string) string { return "wxnotify:" + k.appID + ":n:" + id }

// UserList is the sorted set of a user's recent notification ids, scored by
// acceptance time in microseconds.
func (k Keys) UserList(userID string) string {
	return "wxnotify:{" + k.appID + ":u:" + userID + "}:notifications"
}

// Msg is where a delivered message's msgid meets WeChat's sent event for it:
// whichever of the worker (with the notification id) and the push (with
// WeChat's status) comes second finds the other's half, applies the status
// to the record and deletes the key.
func (k Keys) Msg(msgid string) string { return "wxnotify:" + k.appID + ":msg:" + msgid }
