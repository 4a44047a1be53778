// Package delivery is the worker's task handler: it turns one queued
// notification into at most one subscribeMessage.send, retries what can
// succeed later and archives what cannot.
//
// One attempt reads top to bottom in this file. ProcessTask runs decide,
// whose steps — read the task, begin the record and claim a grant, take a
// rate slot and a token, send — each either go on or end the attempt with
// a typed outcome (outcome.go). act then carries the outcome out, in one
// place: the grant (kept, given back or zeroed), the record, the count,
// the log line, the metric, and the error asynq gets.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
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
	rdb      redis.UniversalClient
	records  *record.Store
	grants   *subscriber.Claims
	appID    string
	tokens   Tokens
	sender   Sender
	shipper  Shipper
	limiter  Limiter
	base, up time.Duration // the back-off's base and cap
	// sentEvents: link delivered msgids for WeChat's sent events.
	sentEvents bool
	log        *slog.Logger
	metrics    *AppMetrics
	outbox     Outbox // nil without a webhook
}

// Deps are the Handler's collaborators.
type Deps struct {
	Redis  redis.UniversalClient
	AppID  string
	Tokens Tokens
	Sender Sender
	// Shipper serves the order channel; nil archives its notifications.
	Shipper Shipper
	Limiter Limiter
	// Retention is how long a finished notification's record is kept.
	Retention time.Duration
	// RetryBase and RetryCap shape the back-off of transient failures.
	RetryBase, RetryCap time.Duration
	// SentEvents links each delivered msgid for WeChat's
	// subscribe_msg_sent_event (the api receives it when message push is on).
	SentEvents bool
	Logger     *slog.Logger
	// Metrics are the app's series (Metrics.App).
	Metrics *AppMetrics
	// Outbox, when the app has a webhook, is where its final writes put
	// the notification for the order service (outbox.go).
	Outbox Outbox
}

// New returns a Handler.
func New(d Deps) *Handler {
	return &Handler{
		rdb: d.Redis, records: record.NewStore(d.Redis, d.AppID, d.Retention), grants: subscriber.NewClaims(d.Redis, d.AppID),
		appID: d.AppID, tokens: d.Tokens, sender: d.Sender, shipper: d.Shipper, limiter: d.Limiter, base: d.RetryBase, up: d.RetryCap,
		sentEvents: d.SentEvents, log: d.Logger, metrics: d.Metrics, outbox: d.Outbox,
	}
}

// attempt is one run of one task: what the steps learn on the way.
type attempt struct {
	task *asynq.Task
	// id is the notification's id (not its asynq task id): the record,
	// the claim and the log lines go by it.
	id       string
	retried  int
	maxRetry int
	// run names this run in the claim it takes; deadline is when it must
	// have finished, recording included (the task's asynq deadline).
	run      string
	deadline time.Time

	p      task.Payload
	openid string
	// claimed: this run holds a claim on one of the user's grants;
	// ambiguous: an earlier attempt may have reached WeChat.
	claimed, ambiguous bool
}

// ProcessTask delivers one notification.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	taskID, _ := asynq.GetTaskID(ctx)
	a := &attempt{task: t, id: task.IDOfTask(taskID)}
	a.retried, _ = asynq.GetRetryCount(ctx)
	a.maxRetry, _ = asynq.GetMaxRetry(ctx)
	return h.process(ctx, a)
}

// process runs attempt a: decide, then act.
func (h *Handler) process(ctx context.Context, a *attempt) error {
	a.run = strconv.FormatUint(rand.Uint64(), 36)
	var bounded bool
	if a.deadline, bounded = ctx.Deadline(); !bounded {
		a.deadline = time.Now().Add(time.Minute)
	}
	return h.act(ctx, a, h.decide(ctx, a))
}

// decide runs the attempt's steps until one of them decides its outcome.
func (h *Handler) decide(ctx context.Context, a *attempt) outcome {
	p, err := task.Decode(a.task.Payload())
	if err != nil {
		return archiveFor("malformed", 0, err)
	}
	a.p = p
	if p.Channel != "" && p.Channel != task.ChannelSubscribe && h.shipper == nil {
		return archiveFor("no_order_channel", 0, errNoOrderChannel)
	}
	o, done := h.begin(ctx, a)
	if done && p.Channel == task.ChannelAuto && o.verdict == skipped &&
		(o.reason == record.ReasonNoGrant || o.reason == record.ReasonUnsubscribed) {
		// "auto": no grant for a subscribe message, so the order channel.
		if o, done = h.claimGrantFree(ctx, a); !done {
			return h.ship(ctx, a)
		}
	}
	if done {
		return o
	}
	if p.Channel == task.ChannelOrder {
		return h.ship(ctx, a)
	}
	if o, done := h.takeRateSlot(ctx); done {
		return o
	}
	o = h.send(ctx, a)
	if p.Channel == task.ChannelAuto && o.verdict == skipped && o.reason == record.ReasonNoGrant {
		// WeChat says the user has no grant left (43101): nothing was
		// sent, so the order channel goes instead, and the grant count
		// is zeroed all the same.
		ship := h.ship(ctx, a)
		ship.zeroGrant = true
		return ship
	}
	return o
}

// begin starts the attempt in the record and claims a grant, in one round
// trip: they live in different slots, and the claim is almost always
// wanted. When it is not — the notification completed already, or the
// record could not be read — act undoes the claim.
func (h *Handler) begin(ctx context.Context, a *attempt) (outcome, bool) {
	begin := h.records.BeginCall(a.id, record.From(a.p, a.maxRetry))
	claim := h.grants.ClaimCall(subscriber.ClaimRequest{
		User: a.p.Receiver(), Notification: a.id, OpenID: a.p.OpenID, TemplateID: a.p.TemplateID,
		LongTerm: a.p.LongTerm, GrantFree: a.p.Channel == task.ChannelOrder, Run: a.run, Until: a.deadline,
	})
	if err := redisconn.RunScripts(ctx, h.rdb, begin.Call, claim.Call); err != nil {
		// On a Cluster the claim may have run though the begin failed
		// (on one node neither ran): a claim taken is undone.
		c, cerr := claim.Result()
		a.claimed = cerr == nil && c.State == subscriber.Claimed
		o := retryFor("redis", 0, 0, err)
		o.grantBack = !c.TookOver // a dead run's claim: it may have spent its grant
		return o, true
	}
	c, err := claim.Result()
	if err != nil {
		return retryFor("redis", 0, 0, err), true
	}
	if c.State == subscriber.Claimed {
		a.claimed, a.ambiguous = true, c.Ambiguous
	}
	done, res, err := begin.Done()
	switch {
	case err != nil:
		return retryFor("redis", 0, 0, err), true
	case done:
		return outcome{verdict: alreadyFinished, result: res, grantBack: !c.TookOver, level: slog.LevelInfo}, true
	}
	a.openid = c.OpenID
	switch c.State {
	case subscriber.Busy:
		return outcome{verdict: claimHeld, wait: c.HeldFor + time.Second, err: errClaimHeld, level: slog.LevelWarn}, true
	case subscriber.UserBusy:
		// One send at a time per user: WeChat refuses concurrent sends
		// to one openid (43108). Back when the other send has ended.
		return deferFor("user_busy", 0, userBusyWait(c.HeldFor), errUserBusy), true
	case subscriber.NotBound:
		return skippedFor(record.ReasonNotBound, 0), true
	case subscriber.Unsubscribed:
		return skippedFor(record.ReasonUnsubscribed, 0), true
	case subscriber.NoGrant:
		if c.Ambiguous {
			return skippedFor(record.ReasonProbablyDelivered, 0), true
		}
		return skippedFor(record.ReasonNoGrant, 0), true
	}
	return outcome{}, false
}

// errClaimHeld: another run of the same task holds its claim.
var errClaimHeld = errors.New("another run of this notification holds its claim")

// errUserBusy: another notification's run is sending to the same user.
var errUserBusy = errors.New("another notification is being sent to this user")

// userBusyWait is how long a notification waits for another one's send to
// the same user: a send and its record take milliseconds, so a short wait
// with jitter (several may wait for one user), never past the holder's
// deadline.
func userBusyWait(held time.Duration) time.Duration {
	wait := 200*time.Millisecond + rand.N(300*time.Millisecond)
	return min(wait, max(held, 50*time.Millisecond))
}

// takeRateSlot waits briefly in place for the appid's send rate; a longer
// wait defers the task instead of holding a worker slot.
func (h *Handler) takeRateSlot(ctx context.Context) (outcome, bool) {
	const maxInPlace = 250 * time.Millisecond
	limited := errors.New("send rate limit")
	for range 4 {
		wait, ok, err := h.limiter.Allow(ctx, h.appID)
		if err != nil {
			return retryFor("redis", 0, 0, fmt.Errorf("send rate: %w", err)), true
		}
		if ok {
			return outcome{}, false
		}
		h.metrics.limiterWaits.Inc()
		if wait > maxInPlace {
			return deferFor("rate_limited", 0, wait, limited), true
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return retryFor("timeout", 0, 0, ctx.Err()), true
		}
	}
	return deferFor("rate_limited", 0, maxInPlace, limited), true
}

// send sends the subscribe message, and reads WeChat's answer.
func (h *Handler) send(ctx context.Context, a *attempt) outcome {
	msg := wechat.Message{
		ToUser: a.openid, TemplateID: a.p.TemplateID, Page: a.p.Page, Data: wechat.Values(a.p.Data),
		MiniprogramState: a.p.MiniprogramState, Lang: a.p.Lang,
	}
	return h.withToken(ctx, a, func(token string) (outcome, error) {
		msgid, err := h.sender.SendSubscribe(ctx, token, msg)
		if err != nil {
			return outcome{}, err
		}
		return deliveredAs(msgid), nil
	}, func(err error) outcome { return sendFailed(a, err) })
}

// sendFailed is the outcome of a refused or failed subscribe send.
func sendFailed(a *attempt, err error) outcome {
	out := wechat.Classify(err)
	switch out.Class {
	case wechat.NoGrant:
		// The user has no subscription left at WeChat. After an ambiguous
		// earlier attempt, that attempt probably delivered.
		reason := record.ReasonNoGrant
		if a.ambiguous {
			reason = record.ReasonProbablyDelivered
		}
		o := skippedFor(reason, out.Code)
		o.zeroGrant = true
		return o
	case wechat.RateLimited:
		return deferFor("rate_limited", out.Code, out.Wait, err)
	case wechat.Transient:
		o := retryFor(out.Reason, out.Code, max(out.Wait, 0), err)
		o.ambiguous = out.Ambiguous
		return o
	}
	return archiveFor(out.Class.String(), out.Code, err)
}

// withToken makes call with the shared access_token. A token WeChat
// refuses is dropped (only if it is still the cached one), a fresh one
// fetched, and call made once more now: no retry of the task is spent on
// it. failed turns any other error of call into the outcome.
func (h *Handler) withToken(ctx context.Context, a *attempt, call func(token string) (outcome, error), failed func(error) outcome) outcome {
	token, err := h.tokens.Get(ctx)
	if err != nil {
		return tokenFailed(err)
	}
	o, err := call(token)
	if out := wechat.Classify(err); err != nil && out.Class == wechat.TokenProblem {
		h.log.Info("access_token refused: refetching", slog.String("task_id", a.id), slog.Int("errcode", out.Code))
		if ierr := h.tokens.Invalidate(ctx, token); ierr != nil {
			h.log.Warn("invalidate access_token", slog.Any("error", ierr))
		}
		if token, err = h.tokens.Get(ctx); err != nil {
			return tokenFailed(err)
		}
		o, err = call(token)
		if again := wechat.Classify(err); err != nil && again.Class == wechat.TokenProblem {
			if again.Code == 41001 {
				return archiveFor("token", again.Code, err)
			}
			return retryFor("token", again.Code, 0, err)
		}
	}
	if err != nil {
		return failed(err)
	}
	return o
}

// tokenFailed is the outcome of a failure to get a token. A transient one
// (busy, 5xx, timeout) backs off like any transient failure. WeChat
// refusing our secret (bad, frozen, IP not whitelisted) is not the
// notification's fault: it is deferred at least a minute for the
// configuration to be fixed, a wait that spends no retry — counted, every
// queued notification would end archived after MAX_RETRY refusals, though
// nothing was wrong with it.
func tokenFailed(err error) outcome {
	out := wechat.Classify(err)
	switch out.Class {
	case wechat.RateLimited:
		return deferFor("token_quota", out.Code, out.Wait, err)
	case wechat.Transient:
		return retryFor("token_"+out.Reason, out.Code, max(out.Wait, 0), err)
	}
	o := deferFor("token_refused", out.Code, max(out.Wait, time.Minute), err)
	o.level = slog.LevelError
	return o
}

// act carries out the attempt's outcome and returns what asynq is told:
// nil (done), a retry after the delay written into the record, or
// SkipRetry (archived).
func (h *Handler) act(ctx context.Context, a *attempt, o outcome) error {
	if (o.verdict == retrying || o.verdict == deferred) && a.retried >= a.maxRetry {
		o = o.exhausted()
	}
	h.report(ctx, a, o)
	switch o.verdict {
	case claimHeld:
		return &retryAfter{delay: o.wait, err: o.err} // the record is the holder's to write
	case alreadyFinished:
		if a.claimed {
			h.release(ctx, a, o)
		}
		return nil
	case delivered, skipped:
		return h.complete(ctx, a, o)
	}
	// retrying, deferred, archived: the grant goes back, and the record,
	// the count and the feed take the outcome, in one round trip.
	var delay time.Duration
	switch o.verdict {
	case retrying:
		delay = max(backoff(h.base, h.up, a.retried), o.wait)
	case deferred:
		delay = o.wait
	}
	step := record.Step{Outcome: o.name(), ErrCode: o.errcode, Error: o.err.Error()}
	now := time.Now()
	writes := []*redisconn.ScriptCall{h.records.RetryCall(a.id, step, now.Add(delay), o.verdict == retrying)}
	feed := h.records.RetryFeedCalls(a.id, now)
	if o.verdict == archived {
		writes = h.finalWrite(a.id, h.records.FinishCall(a.id, record.From(a.p, a.maxRetry), record.Archived, record.Result{}, step))
		feed = h.records.FinishFeedCalls(a.id, record.Archived, record.Result{}, now)
	}
	wctx, cancel := h.writeContext(ctx, a)
	defer cancel()
	if a.claimed {
		h.release(wctx, a, o)
	}
	// The feed last: it is an index, and on one node a call that fails
	// stops those after it.
	writes = append(writes, h.records.CountCall(a.p.Template, o.class(), now))
	if err := redisconn.RunScripts(wctx, h.rdb, append(writes, feed...)...); err != nil {
		h.log.Error("outcome not recorded", slog.String("task_id", a.id), slog.String("outcome", o.name()), slog.Any("error", err))
	}
	if o.verdict == archived {
		h.told()
		return fmt.Errorf("%w: %w", o.err, asynq.SkipRetry)
	}
	return &retryAfter{delay: delay, failure: o.verdict == retrying, err: o.err}
}

// release gives a claimed grant back (WeChat spends one only on success),
// unless the outcome keeps it, and marks the notification ambiguous if
// WeChat may have acted. A failure leaves the claim marker: the next run
// takes it over at this run's deadline and finds its grant.
func (h *Handler) release(ctx context.Context, a *attempt, o outcome) {
	rctx, cancel := untilDeadline(ctx, 5*time.Second)
	defer cancel()
	mine, err := h.grants.Release(rctx, subscriber.ReleaseRequest{
		User: a.p.Receiver(), Notification: a.id, TemplateID: a.p.TemplateID,
		GiveBack: o.grantBack && !a.p.LongTerm, Ambiguous: o.ambiguous, Run: a.run,
	})
	switch {
	case err != nil:
		h.log.Error("grant not given back", slog.String("task_id", a.id), slog.Any("error", err))
	case !mine:
		h.log.Warn("claim taken over by a later run: grant left to it", slog.String("task_id", a.id))
	}
}

// complete records that the notification completed. Until the record says
// so, a later run of this task could send again: the worker's client waits
// out a Redis outage until the run's deadline (deadline.go), and until then
// no other run may send (the claim).
//
// After the record, and only once it is written: the claim and any
// ambiguity end with the notification, a 43101 zeroes the grant, a
// delivered msgid is linked for WeChat's sent event, the outcome is
// counted, and the feed files the notification under how it ended. On one Redis node all of it is one script, the record first
// (redisconn.RunScripts stops at a failure); on a Cluster the record and
// the markers live on different slots, so the rest follows in a second
// round trip. A webhook's outbox entry goes with the record (finalWrite).
func (h *Handler) complete(ctx context.Context, a *attempt, o outcome) error {
	wctx, cancel := h.writeContext(ctx, a)
	defer cancel()
	finish := h.records.FinishCall(a.id, record.From(a.p, a.maxRetry), record.Completed, o.result,
		record.Step{Outcome: o.name(), ErrCode: o.errcode})
	var after []*redisconn.ScriptCall
	user := a.p.Receiver()
	if a.claimed || a.ambiguous || o.zeroGrant {
		after = append(after, h.grants.EndCall(user, a.id, a.p.TemplateID, a.run, o.zeroGrant))
	}
	var link record.Link
	if o.verdict == delivered && o.result.MsgID != "" && h.sentEvents {
		link = h.records.LinkCall(a.id, o.result.MsgID)
		after = append(after, link.Call)
	}
	// The count and the feed, last: on a Cluster they wait for the record
	// like the markers, and on one node a call that fails stops those
	// after it.
	now := time.Now()
	after = append(after, h.records.CountCall(a.p.Template, o.class(), now))
	after = append(after, h.records.FinishFeedCalls(a.id, record.Completed, o.result, now)...)

	calls := h.finalWrite(a.id, finish)
	if redisconn.OneNode(h.rdb) {
		calls, after = append(calls, after...), nil
	}
	if err := redisconn.RunScripts(wctx, h.rdb, calls...); err != nil && finish.Cmd.Err() != nil {
		// Redis stayed away for the rest of the run's time. The claim
		// stays: the next run takes it over as ambiguous (a 43101 then
		// ends it probably_delivered; a second grant at WeChat would let
		// it send again — the one duplicate window besides a crash).
		h.log.Error("outcome not recorded: Redis did not answer before the run's deadline", slog.String("task_id", a.id),
			slog.String("outcome", o.name()), slog.Any("error", err))
		return fmt.Errorf("outcome %s not recorded: %w", o.name(), err)
	} else if err != nil {
		h.log.Warn("after the outcome: webhook outbox, markers, msgid link or count not written (markers expire)", slog.String("task_id", a.id), slog.Any("error", err))
	}
	h.told()
	if !o.answered.IsZero() {
		h.metrics.unrecorded.Observe(time.Since(o.answered).Seconds())
	}
	if len(after) > 0 {
		if err := redisconn.RunScripts(wctx, h.rdb, after...); err != nil {
			h.log.Warn("after the outcome: markers, msgid link or count not written (markers expire)", slog.String("task_id", a.id), slog.Any("error", err))
		}
	}
	if link.Call != nil && link.Call.Cmd != nil {
		if err := h.records.Apply(wctx, link); err != nil {
			h.log.Warn("msgid not linked for WeChat's sent event", slog.String("task_id", a.id), slog.Any("error", err))
		}
	}
	return nil
}

// writeContext is the context of the attempt's writes: the attempt's own
// may be what just ran out. Past the deadline of a run that claimed a
// grant, another run may take the claim over and send: its outcome must
// be written before then, or not at all.
func (h *Handler) writeContext(ctx context.Context, a *attempt) (context.Context, context.CancelFunc) {
	if a.claimed {
		return context.WithDeadline(context.WithoutCancel(ctx), a.deadline)
	}
	return untilDeadline(ctx, time.Minute)
}

// report writes the one log line and the metric of the attempt.
func (h *Handler) report(ctx context.Context, a *attempt, o outcome) {
	name := o.name()
	h.metrics.deliveries.WithLabelValues(a.p.Template, name).Inc()
	if !h.log.Enabled(ctx, o.level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("task_id", a.id), slog.String("template", a.p.Template), slog.String("dedupe_key", a.p.DedupeKey),
		slog.Int("attempt", a.retried+1), slog.String("openid", wechat.MaskOpenID(a.openid)),
	}
	if o.errcode != 0 {
		attrs = append(attrs, slog.Int("errcode", o.errcode))
	}
	if o.result.MsgID != "" {
		attrs = append(attrs, slog.String("msgid", o.result.MsgID))
	}
	if o.err != nil {
		attrs = append(attrs, slog.String("error", o.err.Error()))
	}
	h.log.LogAttrs(ctx, o.level, "notification "+name, attrs...)
}
