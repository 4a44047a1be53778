// Package delivery is the worker's task handler: it turns one queued
// notification into at most one subscribeMessage.send, retries what can
// succeed later and archives what cannot.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/notification"
	"wxnotify/internal/redisconn"
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
	records   *notification.Records
	delay     asynq.RetryDelayFunc
	keys      subscriber.Keys
	appID     string
	tokens    Tokens
	sender    Sender
	limiter   Limiter
	retention time.Duration
	// sentEvents: link delivered msgids for WeChat's sent events.
	sentEvents bool
	log        *slog.Logger
	metrics    *AppMetrics
}

// Deps are the Handler's collaborators.
type Deps struct {
	Redis   redis.UniversalClient
	AppID   string
	Tokens  Tokens
	Sender  Sender
	Limiter Limiter
	// Retention is how long a finished notification's record is kept.
	Retention time.Duration
	// RetryBase and RetryCap shape the back-off of transient failures (RetryDelay).
	RetryBase, RetryCap time.Duration
	// SentEvents links each delivered msgid for WeChat's
	// subscribe_msg_sent_event (the api receives it when message push is on).
	SentEvents bool
	Logger     *slog.Logger
	// Metrics are the app's series (Metrics.App).
	Metrics *AppMetrics
}

// New returns a Handler.
func New(d Deps) *Handler {
	return &Handler{
		rdb: d.Redis, records: notification.NewRecords(d.Redis, d.AppID, d.Retention), delay: RetryDelay(d.RetryBase, d.RetryCap),
		keys: subscriber.NewKeys(d.AppID), appID: d.AppID, tokens: d.Tokens, sender: d.Sender,
		limiter: d.Limiter, retention: d.Retention, sentEvents: d.SentEvents, log: d.Logger, metrics: d.Metrics,
	}
}

// attempt is one run of one task, carried through the steps for logging.
type attempt struct {
	// id is the notification's id (not its asynq task id): the record,
	// the claim and the log lines go by it.
	id       string
	number   int
	retried  int
	maxRetry int
	// outcome and errcode are what the attempt ended with, for the record's history.
	outcome   string
	errcode   int
	p         notification.Payload
	userID    string
	openid    string
	task      *asynq.Task
	claimed   bool
	ambiguous bool
	// run names this run in the claim it takes; deadline is when it must
	// have finished, recording included (the task's asynq deadline).
	run      string
	deadline time.Time
	// answered is when WeChat answered a delivered send.
	answered time.Time
}

// ProcessTask delivers one notification.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	a := &attempt{task: t}
	taskID, _ := asynq.GetTaskID(ctx)
	a.id = notification.IDOfTask(taskID)
	a.retried, _ = asynq.GetRetryCount(ctx)
	a.maxRetry, _ = asynq.GetMaxRetry(ctx)
	return h.process(ctx, a)
}

// process runs attempt a of its task: what ProcessTask does once it has
// read the task's id and retry counts from asynq's context.
func (h *Handler) process(ctx context.Context, a *attempt) error {
	t := a.task
	a.number = a.retried + 1
	a.run = strconv.FormatUint(rand.Uint64(), 36)
	var bounded bool
	if a.deadline, bounded = ctx.Deadline(); !bounded {
		a.deadline = time.Now().Add(time.Minute)
	}
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
	// The record's start and the claim in one round trip: they live in
	// different slots, and the claim is almost always wanted. When it is
	// not — the record says the notification completed already, or could not
	// be read — the claim is undone.
	begin, grant := h.records.BeginCall(a.id, p, a.maxRetry), h.claimCall(a)
	_ = redisconn.RunScripts(ctx, h.rdb, begin, grant)
	done, res, err := notification.BeginResult(begin)
	c, cerr := readClaim(grant)
	if (err != nil || done) && cerr == nil && c.state == "claimed" {
		h.undoClaim(ctx, a, c.tookOver)
	}
	if errors.Is(err, notification.ErrRecordOnItsWay) {
		h.outcome(ctx, a, "retried_record_not_yet", slog.LevelInfo)
		return &deferred{wait: time.Second, err: err}
	}
	if err != nil {
		h.outcome(ctx, a, "retried_redis", slog.LevelWarn, slog.String("error", err.Error()))
		return err
	}
	if done {
		// Redelivered after a crash or a lost completion write: it finished already.
		h.outcome(ctx, a, "skipped_already_finished", slog.LevelInfo, slog.String("msgid", res.MsgID))
		return nil
	}
	if cerr != nil {
		h.outcome(ctx, a, "retried_redis", slog.LevelWarn, slog.String("error", cerr.Error()))
		return fmt.Errorf("claim grant: %w", cerr)
	}
	res, err = h.attempt(ctx, a, c)
	if errors.Is(err, errClaimHeld) {
		return err // the record is the holding run's to write
	}
	return h.settle(ctx, a, res, err)
}

// errClaimHeld: another run of the same task holds its claim.
var errClaimHeld = errors.New("another run of this notification holds its claim")

// claimCall is the claim script's call for this run: binding, grant and
// claim in one step on the user's slot.
func (h *Handler) claimCall(a *attempt) *redisconn.ScriptCall {
	return &redisconn.ScriptCall{Script: claim,
		Keys: []string{h.keys.Binding(a.userID), h.keys.Grants(a.userID), h.keys.Ambiguous(a.userID, a.id), h.keys.Claim(a.userID, a.id), h.keys.Unsubscribed(a.userID)},
		Args: []any{a.p.OpenID, a.p.TemplateID, flag(a.p.LongTerm), int(markerTTL.Seconds()), a.run, time.Until(a.deadline).Milliseconds()}}
}

// claimAnswer is the claim script's answer.
type claimAnswer struct {
	state  string // claimed, busy, not_bound, no_grant or unsubscribed
	openid string
	// ambiguous is 1 if an earlier attempt may have delivered; for busy,
	// the milliseconds the holding run has left.
	ambiguous int64
	tookOver  bool // the claim was a dead run's
}

func readClaim(call *redisconn.ScriptCall) (claimAnswer, error) {
	v, err := call.Cmd.Slice()
	if err != nil {
		return claimAnswer{}, err
	}
	if len(v) != 4 {
		return claimAnswer{}, fmt.Errorf("claim: %d values in the answer, want 4", len(v))
	}
	var c claimAnswer
	c.state, _ = v[0].(string)
	c.openid, _ = v[1].(string)
	c.ambiguous, _ = v[2].(int64)
	took, _ := v[3].(int64)
	c.tookOver = took == 1
	return c, nil
}

// undoClaim drops a claim this run took but must not use. A fresh claim's
// grant goes back; a claim taken over keeps no grant of its own (its run
// spent one), so only the marker goes.
func (h *Handler) undoClaim(ctx context.Context, a *attempt, tookOver bool) {
	rctx, cancel := untilDeadline(ctx, 5*time.Second)
	defer cancel()
	// release gives nothing back for a long-term template: that flag stands
	// for "no grant to return" here too.
	if err := release.Run(rctx, h.rdb, []string{h.keys.Grants(a.userID), h.keys.Ambiguous(a.userID, a.id), h.keys.Claim(a.userID, a.id)},
		a.p.TemplateID, flag(a.p.LongTerm || tookOver), "0", int(markerTTL.Seconds()), a.run).Err(); err != nil {
		h.log.Warn("claim not undone (the next run takes it over at this run's deadline)", slog.String("task_id", a.id), slog.Any("error", err))
	}
}

// attempt runs the steps of one delivery attempt after the claim: token,
// rate slot, send. It returns how the notification ended, or the error
// asynq acts on.
func (h *Handler) attempt(ctx context.Context, a *attempt, c claimAnswer) (notification.Result, error) {
	state, value, ambiguous := c.state, c.openid, c.ambiguous
	switch state {
	case "busy":
		// Another run of this task holds the claim and may be sending now:
		// come back when it has finished or run out of time.
		h.outcome(ctx, a, "retried_claim_held", slog.LevelWarn)
		return notification.Result{}, &deferred{wait: time.Duration(ambiguous)*time.Millisecond + time.Second, err: errClaimHeld}
	case "not_bound":
		h.outcome(ctx, a, "skipped_not_bound", slog.LevelInfo)
		return notification.Result{Status: notification.Skipped, Reason: notification.ReasonNotBound}, nil
	case "unsubscribed":
		a.openid = value
		h.outcome(ctx, a, "skipped_unsubscribed", slog.LevelInfo)
		return notification.Result{Status: notification.Skipped, Reason: notification.ReasonUnsubscribed}, nil
	case "no_grant":
		a.openid = value
		reason := notification.ReasonNoGrant
		if ambiguous == 1 {
			reason = notification.ReasonProbablyDelivered
		}
		h.outcome(ctx, a, "skipped_"+reason, slog.LevelDebug)
		return notification.Result{Status: notification.Skipped, Reason: reason}, nil
	}
	a.openid, a.claimed, a.ambiguous = value, true, ambiguous == 1
	return h.send(ctx, a, a.ambiguous)
}

// send takes a token and a rate slot, sends, and acts on the outcome.
func (h *Handler) send(ctx context.Context, a *attempt, wasAmbiguous bool) (notification.Result, error) {
	if err := h.takeRateSlot(ctx); err != nil {
		var d *deferred
		if errors.As(err, &d) {
			return notification.Result{}, h.giveBack(ctx, a, err, false, "retried_rate_limited", slog.LevelInfo)
		}
		return notification.Result{}, h.giveBack(ctx, a, err, false, "retried_redis", slog.LevelWarn, slog.String("error", err.Error()))
	}
	msg := wechat.Message{
		ToUser: a.openid, TemplateID: a.p.TemplateID, Page: a.p.Page, Data: wechat.Values(a.p.Data),
		MiniprogramState: a.p.MiniprogramState, Lang: a.p.Lang,
	}
	token, err := h.tokens.Get(ctx)
	if err != nil {
		return notification.Result{}, h.tokenFailed(ctx, a, err)
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
			return notification.Result{}, h.tokenFailed(ctx, a, gerr)
		}
		msgid, err = h.sender.SendSubscribe(ctx, fresh, msg)
		if again := wechat.Classify(err); again.Class == wechat.TokenProblem {
			if again.Code == 41001 {
				return notification.Result{}, h.giveBack(ctx, a, fmt.Errorf("%w: %w", err, asynq.SkipRetry), false, "archived_token", slog.LevelError)
			}
			return notification.Result{}, h.giveBack(ctx, a, err, false, "retried_token", slog.LevelWarn)
		}
	}
	if err == nil {
		return h.delivered(ctx, a, msgid)
	}
	out := wechat.Classify(err)
	if out.Class == wechat.NoGrant {
		return h.noGrant(ctx, a, wasAmbiguous, out)
	}
	return notification.Result{}, h.failed(ctx, a, err)
}

// delivered is WeChat's success. settle records it: the record is what
// tells a later run of the task that it went out.
func (h *Handler) delivered(ctx context.Context, a *attempt, msgid string) (notification.Result, error) {
	a.answered = time.Now()
	h.outcome(ctx, a, "delivered", slog.LevelInfo, slog.String("msgid", msgid))
	return notification.Result{Status: notification.Delivered, MsgID: msgid}, nil
}

// noGrant handles 43101: the user has no subscription left at WeChat.
// After an ambiguous earlier attempt, that attempt probably delivered.
func (h *Handler) noGrant(ctx context.Context, a *attempt, wasAmbiguous bool, out wechat.Outcome) (notification.Result, error) {
	if err := h.rdb.HSet(ctx, h.keys.Grants(a.userID), a.p.TemplateID, 0).Err(); err != nil {
		h.log.Warn("zero grant", slog.String("task_id", a.id), slog.Any("error", err))
	}
	reason := notification.ReasonNoGrant
	if wasAmbiguous {
		reason = notification.ReasonProbablyDelivered
	}
	h.outcome(ctx, a, "skipped_"+reason, slog.LevelDebug, slog.Int("errcode", out.Code))
	return notification.Result{Status: notification.Skipped, Reason: reason}, nil
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
// 5xx, timeout) backs off like any transient failure. WeChat refusing our
// secret (bad, frozen, IP not whitelisted) is not the notification's fault:
// it is deferred at least a minute for the configuration to be fixed, a
// wait that spends no retry and is no failure in asynq's counts — counted,
// every queued notification would read as failing and end archived after
// MAX_RETRY refusals, though nothing was wrong with it.
func (h *Handler) tokenFailed(ctx context.Context, a *attempt, err error) error {
	out := wechat.Classify(err)
	attrs := []slog.Attr{slog.Int("errcode", out.Code), slog.String("reason", out.Reason), slog.String("error", err.Error())}
	switch out.Class {
	case wechat.RateLimited:
		return h.giveBack(ctx, a, &deferred{wait: out.Wait, err: err}, false, "retried_token_quota", slog.LevelWarn, attrs...)
	case wechat.Transient:
		return h.giveBack(ctx, a, &atLeast{wait: out.Wait, err: err}, false, "retried_token_"+out.Reason, slog.LevelWarn, attrs...)
	}
	return h.giveBack(ctx, a, &deferred{wait: max(out.Wait, time.Minute), err: err}, false, "retried_token_refused", slog.LevelError, attrs...)
}

// giveBack returns a claimed grant (WeChat spends one only on success),
// marks the notification ambiguous if WeChat may have acted, logs and
// returns err for asynq.
func (h *Handler) giveBack(ctx context.Context, a *attempt, err error, ambiguous bool, outcome string, level slog.Level, attrs ...slog.Attr) error {
	if a.claimed {
		rctx, cancel := untilDeadline(ctx, 5*time.Second)
		defer cancel()
		mine, rerr := release.Run(rctx, h.rdb, []string{h.keys.Grants(a.userID), h.keys.Ambiguous(a.userID, a.id), h.keys.Claim(a.userID, a.id)},
			a.p.TemplateID, flag(a.p.LongTerm), flag(ambiguous), int(markerTTL.Seconds()), a.run).Int()
		switch {
		case rerr != nil:
			// The claim marker stays: the next run finds its grant.
			h.log.Error("grant not given back", slog.String("task_id", a.id), slog.Any("error", rerr))
		case mine == 0:
			h.log.Warn("claim taken over by a later run: grant left to it", slog.String("task_id", a.id))
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

// markerTTL bounds the life of a task's claim and ambiguity markers, which
// are deleted when the notification finishes: past any retry schedule.
const markerTTL = 72 * time.Hour

// settle writes how the attempt ended into the notification's record and
// returns what asynq acts on: nil (done), or the error with the retry's
// delay planned here so that the record shows when it will run.
func (h *Handler) settle(ctx context.Context, a *attempt, res notification.Result, err error) error {
	// A context of its own: the attempt's may be what just ran out.
	wctx, cancel := untilDeadline(ctx, time.Minute)
	if a.claimed {
		// Past the run's deadline another run may take the claim over and
		// send: the outcome must be written before it, or not at all.
		cancel()
		wctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), a.deadline)
	}
	defer cancel()
	// The outcome's count (the operator console's chart) rides in a round
	// trip the outcome makes anyway: the record's own write, or on a
	// Cluster the batch after a completion when there is one.
	archived := err != nil && (errors.Is(err, asynq.SkipRetry) || a.retried >= a.maxRetry)
	counted := a.outcome
	if archived && !strings.HasPrefix(counted, "archived_") {
		counted = "archived_" + counted // its retries are used up: it ends archived
	}
	count := h.records.CountCall(a.p.Template, counted, time.Now())
	if err == nil {
		return h.complete(wctx, a, res, count)
	}
	var withRecord []*redisconn.ScriptCall
	if count != nil {
		withRecord = append(withRecord, count)
	}
	if archived {
		if werr := h.records.Finish(wctx, a.id, a.p, a.maxRetry, notification.StateArchived, notification.Result{}, err.Error(), a.outcome, a.errcode, withRecord...); werr != nil {
			h.log.Error("outcome not recorded", slog.String("task_id", a.id), slog.Any("error", werr))
		}
		return err
	}
	delay := h.delay(a.retried, err, a.task)
	if werr := h.records.Retry(wctx, a.id, err.Error(), time.Now().Add(delay), a.outcome, a.errcode, IsFailure(err), withRecord...); werr != nil {
		h.log.Error("retry not recorded", slog.String("task_id", a.id), slog.Any("error", werr))
	}
	return &planned{delay: delay, err: err}
}

// complete records that the notification completed with res. Until the
// record says so, a later run of this task could send again: the worker's
// client waits out a Redis outage until wctx's deadline (deadline.go), and
// until then no other run may send (the claim).
//
// After the record, and only once it is written: the grant's claim and any
// ambiguity end with the notification, a delivered msgid is linked for
// WeChat's sent event, and the outcome is counted. On one Redis node all of
// it is one script, the record first (redisconn.RunScripts stops at a
// failure); on a Cluster the record and the markers live on different
// slots, so the rest follows in a second round trip.
func (h *Handler) complete(wctx context.Context, a *attempt, res notification.Result, count *redisconn.ScriptCall) error {
	var after []*redisconn.ScriptCall
	var drop, link *redisconn.ScriptCall
	if a.claimed || a.ambiguous {
		drop = &redisconn.ScriptCall{Script: dropMarkers, Keys: []string{h.keys.Claim(a.userID, a.id), h.keys.Ambiguous(a.userID, a.id)}}
		after = append(after, drop)
	}
	if res.Status == notification.Delivered && h.sentEvents {
		link = h.records.DeliveredCall(a.id, res.MsgID)
		after = append(after, link)
	}
	if count != nil {
		after = append(after, count)
	}
	var withRecord []*redisconn.ScriptCall
	if redisconn.OneNode(h.rdb) || len(after) == 1 && count != nil {
		withRecord, after = after, nil
	}
	if werr := h.records.Finish(wctx, a.id, a.p, a.maxRetry, notification.StateCompleted, res, "", a.outcome, a.errcode, withRecord...); werr != nil {
		// Redis stayed away for the rest of the run's time. The claim
		// stays: the next run takes it over as ambiguous (a 43101 then
		// ends it probably_delivered; a second grant at WeChat would let
		// it send again — the one duplicate window besides a crash).
		h.log.Error("outcome not recorded: Redis did not answer before the run's deadline", slog.String("task_id", a.id),
			slog.String("outcome", a.outcome), slog.Any("error", werr))
		return fmt.Errorf("outcome %s not recorded: %w", a.outcome, werr)
	}
	if !a.answered.IsZero() {
		h.metrics.unrecorded.Observe(time.Since(a.answered).Seconds())
	}
	if len(after) > 0 {
		_ = redisconn.RunScripts(wctx, h.rdb, after...)
	}
	if drop != nil && drop.Cmd.Err() != nil {
		h.log.Warn("markers not deleted (they expire)", slog.String("task_id", a.id), slog.Any("error", drop.Cmd.Err()))
	}
	if link != nil {
		if lerr := h.records.DeliveredResult(wctx, a.id, link); lerr != nil {
			h.log.Warn("msgid not linked for WeChat's sent event", slog.String("task_id", a.id), slog.Any("error", lerr))
		}
	}
	return nil
}

// outcome writes the one log line and the metric of a finished attempt.
func (h *Handler) outcome(ctx context.Context, a *attempt, outcome string, level slog.Level, attrs ...slog.Attr) {
	a.outcome = outcome
	for _, at := range attrs {
		if at.Key == "errcode" {
			a.errcode = int(at.Value.Int64())
		}
	}
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
