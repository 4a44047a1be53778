// Package delivery is the worker's task handler: it turns one queued
// notification into at most one subscribeMessage.send, retries what can
// succeed later and archives what cannot.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/notification"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/wechat"
)

// Tokens hands out the shared access_token; *accesstoken.Cache is one.
type Tokens interface {
	Get(ctx context.Context) (string, error)
	Invalidate(ctx context.Context, failed string) error
}

// Sender sends one subscribe message; *wechat.Client is one.
type Sender interface {
	SendSubscribe(ctx context.Context, token string, msg wechat.Message) (string, error)
}

// Limiter bounds sends per appid across every worker; *ratelimit.Limiter is one.
type Limiter interface {
	Allow(ctx context.Context, key string) (retryAfter time.Duration, ok bool, err error)
}

// Handler delivers notification tasks. It is an asynq.Handler.
type Handler struct {
	rdb       redis.UniversalClient
	keys      subscriber.Keys
	appID     string
	tokens    Tokens
	sender    Sender
	limiter   Limiter
	retention time.Duration
	log       *slog.Logger
	metrics   *Metrics
}

// Deps are the Handler's collaborators.
type Deps struct {
	Redis   redis.UniversalClient
	AppID   string
	Tokens  Tokens
	Sender  Sender
	Limiter Limiter
	// Retention is how long the sent and ambiguous markers live.
	Retention time.Duration
	Logger    *slog.Logger
	Metrics   *Metrics
}

// New returns a Handler.
func New(d Deps) *Handler {
	return &Handler{
		rdb: d.Redis, keys: subscriber.NewKeys(d.AppID), appID: d.AppID, tokens: d.Tokens, sender: d.Sender,
		limiter: d.Limiter, retention: d.Retention, log: d.Logger, metrics: d.Metrics,
	}
}

// attempt is one run of one task, carried through the steps for logging.
type attempt struct {
	id      string
	number  int
	p       notification.Payload
	userID  string
	openid  string
	task    *asynq.Task
	claimed bool
}

// ProcessTask delivers one notification.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	a := &attempt{task: t}
	a.id, _ = asynq.GetTaskID(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	a.number = retried + 1
	if h.log.Enabled(ctx, slog.LevelDebug) {
		h.log.Debug("notification attempt started", slog.String("task_id", a.id), slog.Int("attempt", a.number))
	}

	p, err := notification.Decode(t.Payload())
	if err != nil {
		h.outcome(ctx, a, "archived_malformed", slog.LevelError, slog.String("error", err.Error()))
		return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
	}
	a.p = p
	a.userID = p.UserID
	if a.userID == "" {
		a.userID = p.OpenID
	}

	// Sent marker, binding and grant in one round trip.
	res, err := claim.Run(ctx, h.rdb,
		[]string{h.keys.Binding(a.userID), h.keys.Grants(a.userID), h.keys.Sent(a.userID, a.id), h.keys.Ambiguous(a.userID, a.id), h.keys.Claim(a.userID, a.id), h.keys.Unsubscribed(a.userID)},
		p.OpenID, p.TemplateID, flag(p.LongTerm), int(h.retention.Seconds())).Slice()
	if err != nil {
		h.outcome(ctx, a, "retried_redis", slog.LevelWarn, slog.String("error", err.Error()))
		return fmt.Errorf("claim grant: %w", err)
	}
	state, _ := res[0].(string)
	value, _ := res[1].(string)
	ambiguous, _ := res[2].(int64)
	switch state {
	case "sent":
		// Redelivered after a crash or lease expiry: it went out already.
		h.outcome(ctx, a, "skipped_already_sent", slog.LevelInfo, slog.String("msgid", value))
		return h.result(ctx, a, notification.Result{Status: notification.Delivered, MsgID: value})
	case "not_bound":
		h.outcome(ctx, a, "skipped_not_bound", slog.LevelInfo)
		return h.result(ctx, a, notification.Result{Status: notification.Skipped, Reason: notification.ReasonNotBound})
	case "unsubscribed":
		a.openid = value
		h.outcome(ctx, a, "skipped_unsubscribed", slog.LevelInfo)
		return h.result(ctx, a, notification.Result{Status: notification.Skipped, Reason: notification.ReasonUnsubscribed})
	case "no_grant":
		a.openid = value
		reason := notification.ReasonNoGrant
		if ambiguous == 1 {
			reason = notification.ReasonProbablyDelivered
		}
		h.outcome(ctx, a, "skipped_"+reason, slog.LevelDebug)
		return h.result(ctx, a, notification.Result{Status: notification.Skipped, Reason: reason})
	}
	a.openid, a.claimed = value, true
	return h.send(ctx, a, ambiguous == 1)
}

// send takes a token and a rate slot, sends, and acts on the outcome.
func (h *Handler) send(ctx context.Context, a *attempt, wasAmbiguous bool) error {
	if err := h.takeRateSlot(ctx); err != nil {
		var d *deferred
		if errors.As(err, &d) {
			return h.giveBack(ctx, a, err, false, "retried_rate_limited", slog.LevelInfo)
		}
		return h.giveBack(ctx, a, err, false, "retried_redis", slog.LevelWarn, slog.String("error", err.Error()))
	}
	msg := wechat.Message{
		ToUser: a.openid, TemplateID: a.p.TemplateID, Page: a.p.Page, Data: wechat.Values(a.p.Data),
		MiniprogramState: a.p.MiniprogramState, Lang: a.p.Lang,
	}
	token, err := h.tokens.Get(ctx)
	if err != nil {
		return h.tokenFailed(ctx, a, err)
	}
	msgid, err := h.sender.SendSubscribe(ctx, token, msg)
	if out := wechat.Classify(err); out.Class == wechat.TokenProblem {
		// Drop this token only if it is still the cached one, fetch, and
		// retry once now: no retry of the task is spent on it.
		h.log.Info("access_token refused: refetching", slog.String("task_id", a.id), slog.Int("errcode", out.Code))
		if ierr := h.tokens.Invalidate(ctx, token); ierr != nil {
			h.log.Warn("invalidate access_token", slog.Any("error", ierr))
		}
		fresh, gerr := h.tokens.Get(ctx)
		if gerr != nil {
			return h.tokenFailed(ctx, a, gerr)
		}
		msgid, err = h.sender.SendSubscribe(ctx, fresh, msg)
		if again := wechat.Classify(err); again.Class == wechat.TokenProblem {
			if again.Code == 41001 {
				return h.giveBack(ctx, a, fmt.Errorf("%w: %w", err, asynq.SkipRetry), false, "archived_token", slog.LevelError)
			}
			return h.giveBack(ctx, a, err, false, "retried_token", slog.LevelWarn)
		}
	}
	if err == nil {
		return h.delivered(ctx, a, msgid, wasAmbiguous)
	}
	out := wechat.Classify(err)
	if out.Class == wechat.NoGrant {
		return h.noGrant(ctx, a, wasAmbiguous, out)
	}
	return h.failed(ctx, a, err)
}

// delivered records the sent marker right after WeChat's success. Until it
// is written, a later run of this task could send again, so it is written
// whatever Redis does while this attempt may still run.
func (h *Handler) delivered(ctx context.Context, a *attempt, msgid string, wasAmbiguous bool) error {
	wctx, cancel := untilDeadline(ctx, time.Minute)
	defer cancel()
	// One round trip: the sent marker and the ambiguity cleared if there was one.
	err := h.persist(wctx, a.id, "sent marker", func(ctx context.Context) error {
		_, err := h.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, h.keys.Sent(a.userID, a.id), msgid, h.retention)
			if wasAmbiguous {
				p.Del(ctx, h.keys.Ambiguous(a.userID, a.id))
			}
			return nil
		})
		return err
	})
	if err != nil {
		// Delivered all the same: the result below still records it.
		h.log.Error("sent marker not written", slog.String("task_id", a.id), slog.Any("error", err))
	}
	h.outcome(ctx, a, "delivered", slog.LevelInfo, slog.String("msgid", msgid))
	return h.result(ctx, a, notification.Result{Status: notification.Delivered, MsgID: msgid})
}

// noGrant handles 43101: the user has no subscription left at WeChat.
// After an ambiguous earlier attempt, that attempt probably delivered.
func (h *Handler) noGrant(ctx context.Context, a *attempt, wasAmbiguous bool, out wechat.Outcome) error {
	if err := h.persist(ctx, a.id, "zeroed grant", func(ctx context.Context) error {
		return h.rdb.HSet(ctx, h.keys.Grants(a.userID), a.p.TemplateID, 0).Err()
	}); err != nil {
		h.log.Warn("zero grant", slog.String("task_id", a.id), slog.Any("error", err))
	}
	reason := notification.ReasonNoGrant
	if wasAmbiguous {
		reason = notification.ReasonProbablyDelivered
	}
	h.outcome(ctx, a, "skipped_"+reason, slog.LevelDebug, slog.Int("errcode", out.Code))
	return h.result(ctx, a, notification.Result{Status: notification.Skipped, Reason: reason})
}

// failed acts on a failure by its class: quotas defer without spending a
// retry, transient failures retry with back-off, the rest is archived.
func (h *Handler) failed(ctx context.Context, a *attempt, err error) error {
	out := wechat.Classify(err)
	attrs := []slog.Attr{slog.Int("errcode", out.Code), slog.String("reason", out.Reason), slog.String("error", err.Error())}
	switch out.Class {
	case wechat.RateLimited:
		return h.giveBack(ctx, a, &deferred{wait: out.Wait, err: err}, false, "retried_rate_limited", slog.LevelWarn, attrs...)
	case wechat.Transient:
		return h.giveBack(ctx, a, &atLeast{wait: out.Wait, err: err}, out.Ambiguous, "retried_"+out.Reason, slog.LevelWarn, attrs...)
	default:
		return h.giveBack(ctx, a, fmt.Errorf("%w: %w", err, asynq.SkipRetry), false, "archived_"+out.Class.String(), slog.LevelError, attrs...)
	}
}

// tokenFailed handles a failure to get a token. A transient one (busy,
// 5xx, timeout) backs off like any transient failure. Even WeChat refusing
// our secret is not the notification's fault: it waits at least a minute
// for the configuration to be fixed instead of being archived.
func (h *Handler) tokenFailed(ctx context.Context, a *attempt, err error) error {
	out := wechat.Classify(err)
	attrs := []slog.Attr{slog.Int("errcode", out.Code), slog.String("reason", out.Reason), slog.String("error", err.Error())}
	switch out.Class {
	case wechat.RateLimited:
		return h.giveBack(ctx, a, &deferred{wait: out.Wait, err: err}, false, "retried_token_quota", slog.LevelWarn, attrs...)
	case wechat.Transient:
		return h.giveBack(ctx, a, &atLeast{wait: out.Wait, err: err}, false, "retried_token_"+out.Reason, slog.LevelWarn, attrs...)
	}
	return h.giveBack(ctx, a, &atLeast{wait: max(out.Wait, time.Minute), err: err}, false, "retried_token_refused", slog.LevelError, attrs...)
}

// giveBack returns a claimed grant (WeChat spends one only on success),
// marks the notification ambiguous if WeChat may have acted, logs and
// returns err for asynq.
func (h *Handler) giveBack(ctx context.Context, a *attempt, err error, ambiguous bool, outcome string, level slog.Level, attrs ...slog.Attr) error {
	if a.claimed {
		rctx, cancel := untilDeadline(ctx, 5*time.Second)
		defer cancel()
		if rerr := h.persist(rctx, a.id, "grant given back", func(ctx context.Context) error {
			return release.Run(ctx, h.rdb, []string{h.keys.Grants(a.userID), h.keys.Ambiguous(a.userID, a.id), h.keys.Claim(a.userID, a.id)},
				a.p.TemplateID, flag(a.p.LongTerm), flag(ambiguous), int(h.retention.Seconds())).Err()
		}); rerr != nil {
			// The claim marker stays: the next run finds its grant.
			h.log.Error("grant not given back", slog.String("task_id", a.id), slog.Any("error", rerr))
		}
	}
	h.outcome(ctx, a, outcome, level, attrs...)
	return err
}

// takeRateSlot waits briefly in place for the appid's send rate; a longer
// wait defers the task instead of holding a worker slot.
func (h *Handler) takeRateSlot(ctx context.Context) error {
	const maxInPlace = 250 * time.Millisecond
	for range 4 {
		wait, ok, err := h.limiter.Allow(ctx, h.appID)
		if err != nil {
			return err // Redis trouble: retried as transient by the caller's class
		}
		if ok {
			return nil
		}
		h.metrics.limiterWaits.Inc()
		if wait > maxInPlace {
			return &deferred{wait: wait, err: errors.New("send rate limit")}
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return &deferred{wait: maxInPlace, err: errors.New("send rate limit")}
}

// result records how the notification ended, on asynq's task. A failed
// write is retried until Redis answers; asynq's writer works only within the
// attempt's context, so that bounds it (a later run then finds the sent
// marker). Retrying the task instead would re-run a finished send.
func (h *Handler) result(ctx context.Context, a *attempt, r notification.Result) error {
	b, _ := json.Marshal(r)
	if err := h.persist(ctx, a.id, "result", func(context.Context) error {
		_, err := a.task.ResultWriter().Write(b)
		return err
	}); err != nil {
		h.log.Error("result not recorded", slog.String("task_id", a.id), slog.Any("error", err))
	}
	return nil
}

// outcome writes the one log line and the metric of a finished attempt.
func (h *Handler) outcome(ctx context.Context, a *attempt, outcome string, level slog.Level, attrs ...slog.Attr) {
	h.metrics.deliveries.WithLabelValues(a.p.Template, outcome).Inc()
	base := []slog.Attr{
		slog.String("task_id", a.id), slog.String("template", a.p.Template), slog.String("dedupe_key", a.p.DedupeKey),
		slog.Int("attempt", a.number), slog.String("openid", wechat.MaskOpenID(a.openid)),
	}
	h.log.LogAttrs(ctx, level, "notification "+outcome, append(base, attrs...)...)
}

// flag is a boolean as the scripts read it.
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
