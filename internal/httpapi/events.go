package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/record"
	"wxnotify/internal/registry"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/wechat"
	"wxnotify/internal/wxevent"
)

// pushParams are the query parameters WeChat signs a push with.
func pushParams(c *gin.Context) wxevent.Params {
	return wxevent.Params{
		Signature: c.Query("signature"), Timestamp: c.Query("timestamp"),
		Nonce: c.Query("nonce"), MsgSignature: c.Query("msg_signature"),
	}
}

// pushApp resolves the app whose push URL was called: /v1/wx/events/<name>
// or /v1/wx/events/<appid> (what the sandbox's {appid} placeholder makes,
// and what a mini program's console shows beside the URL), or
// /v1/wx/events for the first app. Each app's pushes are verified with its
// own token and key only, whichever way the URL names it.
func (h *handlers) pushApp(c *gin.Context) {
	app := h.apps[0]
	if name := c.Param("app"); name != "" {
		var ok bool
		if app, ok = h.apps.byName(name); !ok {
			fail(c, http.StatusNotFound, "not_found", "no mini program named "+name+" is served here", "app")
			return
		}
	}
	if app.Events == nil {
		fail(c, http.StatusNotFound, "not_configured", "WeChat message push is off for app "+app.Name+": set its push token", "")
		return
	}
	c.Set(appKey, app)
	c.Next()
}

// verifyPushURL is GET /v1/wx/events[/<app>]: WeChat's URL verification,
// answered with echostr when the signature is right.
func (h *handlers) verifyPushURL(c *gin.Context) {
	p := pushParams(c)
	if !appOf(c).Events.Check(p.Signature, p.Timestamp, p.Nonce) {
		fail(c, http.StatusUnauthorized, "bad_signature", "signature does not match the push token", "signature")
		return
	}
	c.String(http.StatusOK, c.Query("echostr"))
}

// receivePush is POST /v1/wx/events[/<app>]: check the signature, decode,
// answer "success" at once (WeChat waits 5 s, then retries), and apply after.
func (h *handlers) receivePush(c *gin.Context) {
	app := appOf(c)
	body, err := io.ReadAll(c.Request.Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		fail(c, http.StatusRequestEntityTooLarge, "body_too_large", "push body too large", "")
		return
	case err != nil:
		// A body cut off mid-way is not a push: WeChat sends it again.
		fail(c, http.StatusBadRequest, "invalid_push", "push body could not be read: "+err.Error(), "")
		return
	}
	push, err := app.Events.Open(pushParams(c), body)
	switch {
	case errors.Is(err, wxevent.ErrSignature):
		fail(c, http.StatusUnauthorized, "bad_signature", "signature does not match the push token", "signature")
		return
	case err != nil:
		fail(c, http.StatusBadRequest, "invalid_push", err.Error(), "")
		return
	}
	switch push.Event {
	case wxevent.PopupEvent, wxevent.ChangeEvent, wxevent.SentEvent:
	case wxevent.SettlementEvent, wxevent.RemindShippingEvent:
		// Recording an order's state is idempotent (once per state, only
		// forward) and quick: done before answering, as a sent event is.
		if err := h.recordTrade(c, push); err != nil {
			h.storeDown(c, "record trade event", err)
			return
		}
		c.String(http.StatusOK, "success")
		return
	default:
		c.String(http.StatusOK, "success") // not ours to act on
		return
	}
	if push.Event == wxevent.SentEvent {
		// Recording WeChat's status is idempotent and quick, so it is done
		// before answering: if Redis fails, WeChat's retry brings it again.
		if err := h.recordSent(c, push); err != nil {
			h.storeDown(c, "record sent event", err)
			return
		}
		c.String(http.StatusOK, "success")
		return
	}
	first, err := app.Users.FirstPush(c.Request.Context(), push.ID())
	if err != nil {
		h.storeDown(c, "remember push", err) // 503: WeChat will retry
		return
	}
	logWith(c, slog.String("event", push.Event), slog.String("openid", wechat.MaskOpenID(push.FromUserName)), slog.Bool("retry", !first))
	c.String(http.StatusOK, "success")
	if !first {
		return
	}
	// The answer is sent; the work has its own deadline.
	go h.applyPush(context.WithoutCancel(c.Request.Context()), app, push)
}

// recordSent keeps WeChat's final status of each message in a sent event,
// by msgid, whether or not the worker has recorded that msgid yet.
func (h *handlers) recordSent(c *gin.Context, p *wxevent.Push) error {
	for _, r := range p.Results {
		err := appOf(c).Records.RecordWeChatResult(c.Request.Context(), r.MsgID, record.WeChatResult{
			ErrorCode: r.ErrorCode, ErrorStatus: r.ErrorStatus, At: time.Unix(p.CreateTime, 0),
		})
		if err != nil {
			return err
		}
		logWith(c, slog.String("event", p.Event), slog.String("msgid", r.MsgID), slog.Int("errcode", r.ErrorCode))
	}
	return nil
}

// recordTrade puts the order state a trade event tells on the
// notifications delivered through the order channel for its order.
// WeChat pushes trade_manage_order_settlement when shipping completes
// (the order is shipped) and again when the funds settle (the buyer
// confirmed receipt, or the time ran out: completed), and
// trade_manage_remind_shipping while the order waits to be shipped.
func (h *handlers) recordTrade(c *gin.Context, p *wxevent.Push) error {
	t := p.Trade
	type step struct {
		state int
		at    int64
	}
	steps := []step{{2, p.CreateTime}}
	switch {
	case p.Event == wxevent.RemindShippingEvent:
		steps = []step{{1, p.CreateTime}}
	case t.SettlementTime > 0:
		steps = []step{{3, t.ConfirmReceiveTime}, {4, t.SettlementTime}}
	}
	for _, s := range steps {
		if s.at == 0 {
			continue
		}
		n, err := appOf(c).Records.ApplyTrade(c.Request.Context(), record.Trade{TransactionID: t.TransactionID, MchID: t.MerchantID,
			OutTradeNo: t.MerchantTradeNo, State: s.state, At: time.Unix(s.at, 0)})
		if err != nil {
			return err
		}
		logWith(c, slog.String("event", p.Event), slog.String("transaction_id", t.TransactionID), slog.Int("order_state", s.state), slog.Int("notifications", n))
	}
	return nil
}

// applyPush records what a push says.
func (h *handlers) applyPush(ctx context.Context, app *App, p *wxevent.Push) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	log := h.Logger.With(slog.String("app", app.Name), slog.String("event", p.Event), slog.String("openid", wechat.MaskOpenID(p.FromUserName)))
	userID, bound, err := app.Users.UserOf(ctx, p.FromUserName)
	if err != nil {
		log.Error("push not applied", slog.Any("error", err))
		return
	}
	if !bound {
		userID = p.FromUserName // without the business's JWT the openid is the user id
	}
	var choices []subscriber.Choice
	for _, ch := range p.Choices {
		t, known := app.Registry.ByTemplateID(ch.TemplateID)
		if !known || (ch.Status != subscriber.Accept && ch.Status != subscriber.Reject) {
			continue
		}
		choices = append(choices, subscriber.Choice{TemplateID: ch.TemplateID, LongTerm: t.Kind == registry.LongTerm, Result: ch.Status})
	}
	settings := p.Event == wxevent.ChangeEvent
	if err := app.Users.ApplyPush(ctx, userID, choices, h.GrantSource == "events" && !settings, settings); err != nil {
		log.Error("push not applied", slog.Any("error", err))
		return
	}
	log.Info("subscription push applied", slog.Int("choices", len(choices)))
}
