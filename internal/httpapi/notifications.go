package httpapi

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/record"
	"wxnotify/internal/registry"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
)

type notifyRequest struct {
	// App names the mini program (its name or appid); optional when the key
	// acts as one app, or one is served.
	App       string         `json:"app"`
	Template  string         `json:"template"`
	UserID    string         `json:"user_id"`
	OpenID    string         `json:"openid"`
	DedupeKey string         `json:"dedupe_key"`
	Data      map[string]any `json:"data"`
	SendAt    string         `json:"send_at"`
	// Channel and Order: the order channel for a WeChat Pay order (order.go).
	Channel string        `json:"channel"`
	Order   *orderRequest `json:"order"`
}

type notifyResponse struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	Duplicate bool   `json:"duplicate"`
}

// maxSchedule bounds send_at: a message for a finished order a month later
// is a mistake, and asynq holds scheduled tasks in Redis meanwhile.
const maxSchedule = 30 * 24 * time.Hour

// notify is POST /v1/notifications: validate and render now, enqueue once.
// Every answer counts once in wxnotify_notifications_enqueued_total, by
// its status, under the template the body named when the registry has it
// (an empty template label otherwise: the name is the client's to choose).
func (h *handlers) notify(c *gin.Context) {
	var req notifyRequest
	app := h.enqueue(c, &req)
	if app == nil { // refused before its app was resolved: label it as well as the body allows
		if a, ok := h.apps.byName(req.App); ok {
			app = a
		} else if req.App == "" && len(h.apps) == 1 {
			app = h.apps[0]
		}
	}
	template, name := "", ""
	if app != nil {
		name = app.Name
		if t, ok := app.Registry.Lookup(req.Template); ok {
			template = t.Name
		}
	}
	h.Metrics.enqueues.WithLabelValues(name, template, enqueueOutcome(c.Writer.Status())).Inc()
}

// enqueueOutcome names a POST /v1/notifications answer for the metrics.
func enqueueOutcome(status int) string {
	switch {
	case status == http.StatusAccepted:
		return "accepted"
	case status == http.StatusOK:
		return "duplicate"
	case status == http.StatusServiceUnavailable:
		return "unavailable"
	case status >= 400 && status < 500:
		return "invalid" // the request was refused: 400, 413, 415
	}
	return "error"
}

// enqueue answers POST /v1/notifications, and returns the app it was
// resolved to (nil if none).
func (h *handlers) enqueue(c *gin.Context, req *notifyRequest) *App {
	if !decodeJSON(c, req) {
		return nil
	}
	app, ok := h.requestApp(c, req.App)
	if !ok {
		return nil
	}
	tmpl, ok := h.checkNotify(c, app, req)
	if !ok {
		return app
	}
	channel, msg, ok := channelOf(req.Channel, req.Order != nil, cmp.Or(app.DefaultChannel, task.ChannelAuto))
	if !ok {
		fail(c, http.StatusBadRequest, "invalid_field", msg, "channel")
		return app
	}
	order, field, msg := checkOrder(channel, req.Order, time.Now())
	if field != "" {
		fail(c, http.StatusBadRequest, "invalid_field", msg, field)
		return app
	}
	if req.Data == nil && channel != task.ChannelOrder {
		fail(c, http.StatusBadRequest, "invalid_field", "data is required: the template's fields, e.g. {\"item_name\": \"…\"}", "data")
		return app
	}
	var rendered registry.Rendered // none on the order channel without data: WeChat writes the buyer's message itself
	var err error
	if req.Data != nil || channel != task.ChannelOrder {
		rendered, err = tmpl.Render(req.Data)
	}
	if err != nil {
		var fe *registry.FieldError
		if errors.As(err, &fe) {
			fail(c, http.StatusBadRequest, "invalid_value", fe.Message, fe.Field)
			return app
		}
		fail(c, http.StatusBadRequest, "invalid_value", err.Error(), "data")
		return app
	}
	p := task.Payload{
		Template: tmpl.Name, TemplateID: tmpl.TemplateID, LongTerm: tmpl.Kind == registry.LongTerm,
		UserID: req.UserID, OpenID: req.OpenID, DedupeKey: req.DedupeKey,
		Page: rendered.Page, Data: rendered.Data,
		MiniprogramState: tmpl.MiniprogramState, Lang: tmpl.Lang,
		CreatedAt: time.Now().UTC(), Order: order,
	}
	if channel != task.ChannelSubscribe {
		p.Channel = channel
	}
	if req.SendAt != "" {
		at, _ := time.Parse(time.RFC3339, req.SendAt) // checked in checkNotify
		// asynq schedules in whole Unix seconds, truncating: round up so
		// that the message never goes out before the time asked.
		if at.Truncate(time.Second) != at {
			at = at.Truncate(time.Second).Add(time.Second)
		}
		p.SendAt = &at
	}
	ctx := c.Request.Context()
	if p.UserID == "" {
		// Grants are kept per user: find who holds this openid. Without the
		// business's JWT the openid is the user id, bound or not.
		userID, bound, err := app.Users.UserOf(ctx, p.OpenID)
		if err != nil {
			h.storeDown(c, "resolve openid", err)
			return app
		}
		p.UserID = p.OpenID
		if bound {
			p.UserID = userID
		}
	}
	res, err := app.Intake.Enqueue(ctx, p)
	if err != nil {
		h.storeDown(c, "enqueue notification", err)
		return app
	}
	status, outcome := http.StatusAccepted, "accepted"
	if res.Duplicate {
		status, outcome = http.StatusOK, "duplicate"
	}
	logWith(c, slog.String("app", app.Name), slog.String("task_id", res.ID), slog.String("template", tmpl.Name), slog.String("dedupe_key", p.DedupeKey), slog.String("outcome", outcome))
	c.JSON(status, notifyResponse{ID: res.ID, State: string(res.State), Duplicate: res.Duplicate})
	return app
}

// checkNotify validates everything but the data, answering 400 on the first problem.
func (h *handlers) checkNotify(c *gin.Context, app *App, req *notifyRequest) (*registry.Template, bool) {
	bad := func(field, format string, args ...any) (*registry.Template, bool) {
		fail(c, http.StatusBadRequest, "invalid_field", fmt.Sprintf(format, args...), field)
		return nil, false
	}
	if req.Template == "" {
		return bad("template", "template is required (e.g. order_arrived)")
	}
	tmpl, ok := app.Registry.Lookup(req.Template)
	if !ok {
		fail(c, http.StatusBadRequest, "unknown_template", fmt.Sprintf("template %q is not in the registry", req.Template), "template")
		return nil, false
	}
	switch {
	case req.UserID == "" && req.OpenID == "":
		return bad("user_id", "name the receiver with user_id or openid")
	case req.UserID != "" && req.OpenID != "":
		return bad("openid", "give user_id or openid, not both")
	case req.UserID != "" && !subscriber.ValidUserID(req.UserID):
		return bad("user_id", "%v", subscriber.ErrInvalidUserID)
	case req.OpenID != "" && !validOpenID(req.OpenID):
		return bad("openid", "openid must be 1 to 64 letters, digits, - or _")
	}
	if req.DedupeKey == "" || len(req.DedupeKey) > 256 || strings.ContainsFunc(req.DedupeKey, unicode.IsControl) {
		return bad("dedupe_key", "dedupe_key is required: 1 to 256 characters identifying this notification (e.g. the order id)")
	}
	if req.SendAt != "" {
		at, err := time.Parse(time.RFC3339, req.SendAt)
		if err != nil {
			return bad("send_at", "send_at %q is not an RFC 3339 time such as 2026-11-24T18:00:00+08:00", req.SendAt)
		}
		if time.Until(at) > maxSchedule {
			return bad("send_at", "send_at is more than %d days ahead", int(maxSchedule.Hours()/24))
		}
	}
	return tmpl, true
}

func validOpenID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)))
	})
}

// statusResponse is GET /v1/notifications/{id}.
type statusResponse struct {
	ID            string         `json:"id"`
	Template      string         `json:"template"`
	DedupeKey     string         `json:"dedupe_key"`
	State         string         `json:"state"`
	Attempts      int            `json:"attempts"`
	MaxRetry      int            `json:"max_retry"`
	LastError     string         `json:"last_error,omitempty"`
	LastFailedAt  *time.Time     `json:"last_failed_at,omitempty"`
	NextProcessAt *time.Time     `json:"next_process_at,omitempty"`
	CompletedAt   *time.Time     `json:"completed_at,omitempty"`
	CreatedAt     *time.Time     `json:"created_at,omitempty"`
	SendAt        *time.Time     `json:"send_at,omitempty"`
	Result        *record.Result `json:"result,omitempty"`
	// WeChat is WeChat's final delivery status (subscribe_msg_sent_event).
	WeChat *record.WeChatResult `json:"wechat,omitempty"`
	// History is the last attempts, oldest first.
	History []record.Attempt `json:"history"`
	// OrderState is the WeChat Pay order's state as WeChat last reported
	// it, for a notification on the order channel.
	OrderState string `json:"order_state,omitempty"`
}

// notificationStatus is GET /v1/notifications/{id}.
func (h *handlers) notificationStatus(c *gin.Context) {
	id := c.Param("id")
	if id == "" || len(id) > 128 {
		fail(c, http.StatusNotFound, "not_found", "no notification with this id", "id")
		return
	}
	st, err := appOf(c).Records.Status(c.Request.Context(), id)
	h.answerStatus(c, st, err)
}

// lookupNotification is GET /v1/notifications?template=…&dedupe_key=…: the
// status of the notification the order service posted with those.
func (h *handlers) lookupNotification(c *gin.Context) {
	template, key := c.Query("template"), c.Query("dedupe_key")
	switch {
	case template == "":
		fail(c, http.StatusBadRequest, "invalid_field", "template is required (e.g. order_arrived)", "template")
		return
	case key == "":
		fail(c, http.StatusBadRequest, "invalid_field", "dedupe_key is required: the key the notification was posted with", "dedupe_key")
		return
	}
	channel, msg, ok := channelOf(c.Query("channel"), false, "")
	if !ok {
		fail(c, http.StatusBadRequest, "invalid_field", msg, "channel")
		return
	}
	st, err := appOf(c).Records.LookupOn(c.Request.Context(), channel, template, key)
	h.answerStatus(c, st, err)
}

func (h *handlers) answerStatus(c *gin.Context, st record.Status, err error) {
	if errors.Is(err, record.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found", "no such notification (unknown, or past its retention)", "id")
		return
	}
	if err != nil {
		h.storeDown(c, "read notification", err)
		return
	}
	c.JSON(http.StatusOK, statusOf(st))
}

func statusOf(st record.Status) statusResponse {
	history := st.History
	if history == nil {
		history = []record.Attempt{}
	}
	return statusResponse{
		ID: st.ID, Template: st.Template, DedupeKey: st.DedupeKey, State: string(st.State),
		Attempts: st.Attempts, MaxRetry: st.MaxRetry, LastError: st.LastError,
		LastFailedAt: timeOrNil(st.LastFailedAt), NextProcessAt: timeOrNil(st.NextProcessAt),
		CompletedAt: timeOrNil(st.CompletedAt), CreatedAt: timeOrNil(st.CreatedAt), SendAt: st.SendAt,
		Result: st.Result, WeChat: st.WeChat, History: history, OrderState: record.OrderStates[st.OrderState],
	}
}

// userPage is GET /v1/users/{user_id}/notifications.
type userPage struct {
	Notifications []statusResponse `json:"notifications"`
	// Next is the cursor of the following (older) page; absent on the last.
	Next string `json:"next,omitempty"`
}

// maxPage bounds a page of a user's notifications.
const maxPage = 100

// userNotifications lists a user's recent notifications, newest first.
func (h *handlers) userNotifications(c *gin.Context) {
	user := c.Param("user_id")
	if !subscriber.ValidUserID(user) {
		fail(c, http.StatusBadRequest, "invalid_field", subscriber.ErrInvalidUserID.Error(), "user_id")
		return
	}
	limit := 20
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			fail(c, http.StatusBadRequest, "invalid_field", fmt.Sprintf("limit must be 1 to %d", maxPage), "limit")
			return
		}
		limit = n
	}
	list, next, err := appOf(c).Records.UserNotifications(c.Request.Context(), user, c.Query("cursor"), limit)
	if errors.Is(err, record.ErrBadCursor) {
		fail(c, http.StatusBadRequest, "invalid_field", "cursor is not one this API gave (use next from the previous page)", "cursor")
		return
	}
	if err != nil {
		h.storeDown(c, "list notifications", err)
		return
	}
	page := userPage{Notifications: make([]statusResponse, 0, len(list))}
	for _, st := range list {
		page.Notifications = append(page.Notifications, statusOf(st))
	}
	page.Next = next
	c.JSON(http.StatusOK, page)
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
