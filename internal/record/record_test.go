package record_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/record"
	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
)

func TestMain(m *testing.M) { redistest.Main(m) }

const appID = "wxappid0000000001"

func setup(t *testing.T) (*record.Store, *redis.Client) {
	t.Helper()
	rdb := redistest.Lend(t).Client(t)
	return record.NewStore(rdb, appID, time.Hour), rdb
}

func payload(user, dedupe string) task.Payload {
	return task.Payload{
		Template: "order_arrived", TemplateID: "T", UserID: user, DedupeKey: dedupe,
		Data: map[string]string{"thing1": "x"}, CreatedAt: time.Now().UTC(),
	}
}

// create stores p's record as the api does, and returns its id.
func create(t *testing.T, s *record.Store, p task.Payload) string {
	t.Helper()
	id := task.ID(p.Template, p.DedupeKey)
	if _, _, err := s.Create(t.Context(), id, record.From(p, 3)); err != nil {
		t.Fatal(err)
	}
	return id
}

// run makes calls as the worker does, and fails the test on an error.
func run(t *testing.T, rdb redis.UniversalClient, calls ...*redisconn.ScriptCall) {
	t.Helper()
	if err := redisconn.RunScripts(t.Context(), rdb, calls...); err != nil {
		t.Fatal(err)
	}
}

func deliveredIn(s *record.Store, id string, p task.Payload, msgid string) *redisconn.ScriptCall {
	return s.FinishCall(id, record.From(p, 3), record.Completed, record.Result{Status: record.Delivered, MsgID: msgid}, record.Step{Outcome: "delivered"})
}

// The Lua scripts read fields by the names the Go constants give them: a
// record written by the scripts reads back field by field.
func TestScriptsAndGoAgreeOnTheFields(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-fields", "order-fields")
	id := create(t, s, p)
	next := time.Now().Add(time.Minute).Truncate(time.Second).UTC()
	// The scripts take the time from the worker's clock, in seconds.
	now := func(t0 time.Time) bool {
		return !t0.Before(time.Now().Add(-5*time.Second).Truncate(time.Second)) && !t0.After(time.Now())
	}
	run(t, rdb, s.BeginCall(id, record.From(p, 3)).Call)
	run(t, rdb, s.RetryCall(id, record.Step{Outcome: "retried_busy", ErrCode: -1, Error: "system busy"}, next, true))
	st, err := s.Status(ctx, id)
	if err != nil || st.State != record.Retry || st.Attempts != 1 || st.LastError != "system busy" || !st.NextProcessAt.Equal(next) ||
		!now(st.LastFailedAt) || st.UserID != "u-fields" || st.Template != "order_arrived" || st.DedupeKey != "order-fields" || st.MaxRetry != 3 ||
		len(st.History) != 1 || st.History[0].Outcome != "retried_busy" || st.History[0].ErrCode != -1 || !now(st.History[0].At) {
		t.Fatalf("after a retry: %+v, %v", st, err)
	}
	run(t, rdb, deliveredIn(s, id, p, "42"))
	st, err = s.Status(ctx, id)
	if err != nil || st.State != record.Completed || st.Attempts != 2 || st.Result == nil || st.Result.MsgID != "42" ||
		!st.NextProcessAt.IsZero() || !now(st.CompletedAt) || len(st.History) != 2 || !now(st.History[1].At) {
		t.Fatalf("after delivery: %+v, %v", st, err)
	}

	// A scheduled record's send_at, to the second, is its next try.
	later := payload("u-fields", "order-later")
	at := time.Now().Add(29 * 24 * time.Hour).Truncate(time.Second).UTC()
	later.SendAt = &at
	st, err = s.Status(ctx, create(t, s, later))
	if err != nil || st.State != record.Scheduled || st.SendAt == nil || !st.SendAt.Equal(at) || !st.NextProcessAt.Equal(at) {
		t.Fatalf("scheduled: %+v, %v; want send_at and next try %s", st, err, at)
	}
}

// Records written before times were stored relative to the acceptance hold
// Unix seconds: they read as they were, and what the scripts add to them
// reads right beside it.
func TestRecordsOfAbsoluteTimesStillRead(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-old", "order-old")
	id := task.ID(p.Template, p.DedupeKey)
	created := time.Date(2026, 11, 30, 8, 0, 0, 500e6, time.UTC)
	failed, next := created.Add(2*time.Second).Truncate(time.Second), created.Add(time.Minute).Truncate(time.Second)
	unix := func(t time.Time) string { return fmt.Sprint(t.Unix()) }
	// The 18 fields as the build before wrote a record retried once.
	old := strings.Join([]string{"1", "retry", "u-old", "order_arrived", "order-old", fmt.Sprint(created.UnixMilli()), "", "3", "1", "", "", "",
		"system busy", unix(failed), unix(next), "", "", unix(failed) + ",retried_busy,-1"}, "\x1f")
	if err := rdb.Set(ctx, s.Keys().Record(id), old, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx, id)
	if err != nil || !st.CreatedAt.Equal(created.Truncate(time.Millisecond)) || !st.LastFailedAt.Equal(failed) || !st.NextProcessAt.Equal(next) ||
		len(st.History) != 1 || !st.History[0].At.Equal(failed) {
		t.Fatalf("a record of Unix times: %+v, %v", st, err)
	}
	// The build before's WeChat half of a msgid meeting: status and Unix time.
	if err := rdb.HSet(ctx, s.Keys().Msg("7"), "event", "0,success,"+unix(next)).Err(); err != nil {
		t.Fatal(err)
	}
	link := s.LinkCall(id, "7")
	run(t, rdb, deliveredIn(s, id, p, "7"), link.Call)
	if err := s.Apply(ctx, link); err != nil {
		t.Fatal(err)
	}
	st, err = s.Status(ctx, id)
	if err != nil || st.State != record.Completed || !st.LastFailedAt.Equal(failed) || len(st.History) != 2 || !st.History[0].At.Equal(failed) ||
		st.History[1].At.Before(time.Now().Add(-5*time.Second)) || st.CompletedAt.Before(time.Now().Add(-5*time.Second)) ||
		st.WeChat == nil || st.WeChat.ErrorStatus != "success" || !st.WeChat.At.Equal(next) {
		t.Fatalf("after delivery: %+v (WeChat %+v), %v", st, st.WeChat, err)
	}
}

// WeChat gives no ordering between its answer to a send and its
// subscribe_msg_sent_event push: the status shows WeChat's word whichever
// came first, and the meeting key is gone once both sides have come.
func TestWeChatResultShowsWhicheverArrivesFirst(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := t.Context()
	at := time.Date(2026, 11, 24, 7, 1, 0, 0, time.UTC)
	delivered := func(p task.Payload, id, msgid string) {
		t.Helper()
		link := s.LinkCall(id, msgid)
		run(t, rdb, deliveredIn(s, id, p, msgid), link.Call)
		if err := s.Apply(ctx, link); err != nil {
			t.Fatal(err)
		}
	}
	pushFirst, answerFirst := payload("u-1", "push-first"), payload("u-1", "answer-first")
	early, late := create(t, s, pushFirst), create(t, s, answerFirst)

	if err := s.RecordWeChatResult(ctx, "1988810812324364291", record.WeChatResult{ErrorStatus: "success", At: at}); err != nil {
		t.Fatal(err)
	}
	delivered(pushFirst, early, "1988810812324364291")
	delivered(answerFirst, late, "1988810812324364292")
	if err := s.RecordWeChatResult(ctx, "1988810812324364292", record.WeChatResult{ErrorCode: 10002, ErrorStatus: "failed:user refuse to accept the msg", At: at}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{early: "success", late: "failed:user refuse to accept the msg"} {
		st, err := s.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != record.Completed || st.Result == nil || st.Result.Status != record.Delivered {
			t.Fatalf("%s: %+v; want completed, delivered", id, st)
		}
		if st.WeChat == nil || st.WeChat.ErrorStatus != want || !st.WeChat.At.Equal(at) {
			t.Fatalf("%s: WeChat's status %+v; want %q at %s", id, st.WeChat, want, at)
		}
	}
	if n := rdb.Exists(ctx, s.Keys().Msg("1988810812324364291"), s.Keys().Msg("1988810812324364292")).Val(); n != 0 {
		t.Fatalf("%d msgid meeting keys left after both sides came; want 0", n)
	}
}

// A user's notifications, newest first, a page at a time.
func TestUserNotificationsPages(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	ctx := t.Context()
	base := time.Now().UTC()
	for i := range 5 {
		p := payload("u-list", fmt.Sprintf("order-%d", i))
		p.CreatedAt = base.Add(time.Duration(i) * time.Millisecond)
		create(t, s, p)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		list, next, err := s.UserNotifications(ctx, "u-list", cursor, 2)
		if err != nil || pages > 5 {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, st := range list {
			got = append(got, st.DedupeKey)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := "[order-4 order-3 order-2 order-1 order-0]"
	if fmt.Sprint(got) != want {
		t.Fatalf("pages gave %v; want %s", got, want)
	}
	if _, _, err := s.UserNotifications(ctx, "u-list", "12.xyz", 2); !errors.Is(err, record.ErrBadCursor) {
		t.Fatalf("a made-up cursor: %v; want ErrBadCursor", err)
	}
}

// A retry written after another run of the task completed it (a run that
// came back late) leaves the record completed.
func TestRetryDoesNotReopenACompletedRecord(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	p := payload("u-late", "order-late")
	id := create(t, s, p)
	run(t, rdb, deliveredIn(s, id, p, "1"))
	run(t, rdb, s.RetryCall(id, record.Step{Outcome: "retried_busy", ErrCode: -1, Error: "busy"}, time.Now().Add(time.Minute), true))
	if st, err := s.Status(t.Context(), id); err != nil || st.State != record.Completed || st.Attempts != 1 {
		t.Fatalf("after a late retry: %+v, %v; want completed after 1 attempt", st, err)
	}
}

// A repeat lists nothing new: the same user keeps one entry at the first
// acceptance time, and a repeat that names another user shows that user
// nothing (the notification is the first user's).
func TestRepeatsListNothingNew(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := t.Context()
	first := payload("u-owner", "order-r")
	create(t, s, first)
	again := first
	again.CreatedAt = first.CreatedAt.Add(time.Second)
	other := first
	other.UserID = "u-other"
	for _, p := range []task.Payload{again, other} {
		if created, _, err := s.Create(ctx, task.ID(p.Template, p.DedupeKey), record.From(p, 3)); err != nil || created {
			t.Fatalf("repeat: created %v, %v; want a duplicate", created, err)
		}
	}
	list, _, err := s.UserNotifications(ctx, "u-owner", "", 10)
	if err != nil || len(list) != 1 || !list[0].CreatedAt.Equal(first.CreatedAt.Truncate(time.Millisecond)) {
		t.Fatalf("owner's list %+v, %v; want the one notification, accepted first", list, err)
	}
	if list, _, err := s.UserNotifications(ctx, "u-other", "", 10); err != nil || len(list) != 0 {
		t.Fatalf("the other user's list %+v, %v; want empty", list, err)
	}
	// A server that lost its scripts (restarted, or a promoted replica)
	// still takes notifications: the pipelined EVALSHA falls back to EVAL.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if created, _, err := s.Create(ctx, task.ID("order_arrived", "order-after-flush"), record.From(payload("u-owner", "order-after-flush"), 3)); err != nil || !created {
		t.Fatalf("after SCRIPT FLUSH: created %v, %v; want accepted", created, err)
	}
	if list, _, _ := s.UserNotifications(ctx, "u-owner", "", 10); len(list) != 2 {
		t.Fatalf("owner's list after the flush: %d entries; want 2", len(list))
	}
}

// A user's list keeps the newest 100 and lives in the user's binding hash,
// which stays a compact listpack and keeps the binding readable.
func TestUserListIsBoundedAndCompact(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := t.Context()
	rdb.HSet(ctx, subscriber.NewKeys(appID).Binding("u-many"), "openid", "o-many", "unionid", "", "bound_at", "2026-11-24T00:00:00Z")
	base := time.Now().UTC()
	for i := range 130 {
		p := payload("u-many", fmt.Sprintf("order-%03d", i))
		p.CreatedAt = base.Add(time.Duration(i) * time.Millisecond)
		create(t, s, p)
	}
	list, _, err := s.UserNotifications(ctx, "u-many", "", 100)
	if err != nil || len(list) != 100 || list[0].DedupeKey != "order-129" || list[99].DedupeKey != "order-030" {
		t.Fatalf("list of %d (%v): want the newest 100, order-129 … order-030", len(list), err)
	}
	key := subscriber.NewKeys(appID).Binding("u-many")
	if enc := rdb.ObjectEncoding(ctx, key).Val(); enc != "listpack" {
		t.Fatalf("the user's hash is %s; want listpack", enc)
	}
	b, ok, err := subscriber.New(rdb, appID, time.Hour).Lookup(ctx, "u-many")
	if err != nil || !ok || b.OpenID != "o-many" {
		t.Fatalf("binding after listing: %+v %v %v", b, ok, err)
	}
}

// The record of a delivered notification stays small: the figure that
// decides Redis's size at WeChat's daily quota.
func TestRecordIsCompact(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := t.Context()
	p := payload("oAbCdEfGhIjKlMnOpQrStUvWxYz01", "order-TX20261124001")
	id := create(t, s, p)
	link := s.LinkCall(id, "1988810812324364291")
	run(t, rdb, deliveredIn(s, id, p, "1988810812324364291"), link.Call)
	_ = s.RecordWeChatResult(ctx, "1988810812324364291", record.WeChatResult{ErrorStatus: "success", At: time.Now()})
	key := s.Keys().Record(id)
	val := rdb.Get(ctx, key).Val()
	usage := rdb.MemoryUsage(ctx, key).Val()
	t.Logf("record %d bytes, %d with its key in Redis", len(val), usage)
	// For a 28-character openid and a 19-character dedupe key: a string of
	// at most 156 bytes is an allocation of jemalloc's 160-byte class (3
	// bytes of header and a NUL). Its times are seconds after its
	// acceptance and WeChat's "success" is left out; stored as Unix
	// seconds, with the status, it took 183 bytes, the 192-byte class.
	if len(val) > 156 || usage > 280 {
		t.Fatalf("a delivered record is %d bytes and takes %d of Redis; want at most 156 and 280", len(val), usage)
	}
	if st, err := s.Status(ctx, id); err != nil || st.WeChat == nil || st.WeChat.ErrorStatus != "success" || st.WeChat.ErrorCode != 0 {
		t.Fatalf("WeChat's word on a delivered record: %+v, %v; want errcode 0, success", st.WeChat, err)
	}
	if ttl := rdb.TTL(ctx, key).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("finished record TTL %s; want the retention (1h)", ttl)
	}
}

// An attempt shows the notification active, through a retry and a second
// attempt, and a run after it completed learns how, sending nothing; a run
// whose record is gone writes it again from the task.
func TestBeginShowsActiveUntilCompleted(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-begin", "order-begin")
	id := create(t, s, p)
	state := func(want record.State) {
		t.Helper()
		if st, err := s.Status(ctx, id); err != nil || st.State != want || st.UserID != "u-begin" || st.DedupeKey != "order-begin" {
			t.Fatalf("status %+v, %v; want %s with its user and dedupe key", st, err, want)
		}
	}
	begin := func() (bool, record.Result) {
		t.Helper()
		b := s.BeginCall(id, record.From(p, 3))
		run(t, rdb, b.Call)
		done, res, err := b.Done()
		if err != nil {
			t.Fatal(err)
		}
		return done, res
	}
	state(record.Pending)
	if done, _ := begin(); done {
		t.Fatal("a pending notification begins as done")
	}
	state(record.Active)
	if done, _ := begin(); done { // asynq ran it twice: still active
		t.Fatal("an active notification begins as done")
	}
	state(record.Active)
	run(t, rdb, s.RetryCall(id, record.Step{Outcome: "retried_busy", ErrCode: -1, Error: "busy"}, time.Now().Add(time.Minute), true))
	state(record.Retry)
	begin()
	state(record.Active)
	run(t, rdb, deliveredIn(s, id, p, "42"))
	if done, got := begin(); !done || got != (record.Result{Status: record.Delivered, MsgID: "42"}) {
		t.Fatalf("after completion: done %v, %+v; want done with msgid 42", done, got)
	}
	state(record.Completed)

	if err := rdb.Del(ctx, s.Keys().Record(id)).Err(); err != nil {
		t.Fatal(err)
	}
	if done, _ := begin(); done {
		t.Fatal("a lost record begins as done")
	}
	state(record.Active)
}

// Counts land in the hour they happened, expire after about a day, and
// read back per template and class, oldest hour first.
func TestOutcomeCounts(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := context.Background()
	now := time.Now().UTC()
	earlier := now.Add(-3 * time.Hour)
	var calls []*redisconn.ScriptCall
	for _, c := range []struct {
		template string
		class    record.Class
		at       time.Time
	}{
		{"order_arrived", record.ClassDelivered, now}, {"order_arrived", record.ClassDelivered, now}, {"order_arrived", record.ClassRetrying, now},
		{"order_arrived", record.ClassSkippedNoGrant, earlier}, {"refund", record.ClassArchived, earlier},
	} {
		calls = append(calls, s.CountCall(c.template, c.class, c.at))
	}
	run(t, rdb, calls...)
	ttl := rdb.TTL(ctx, s.Keys().Outcomes(now)).Val()
	if ttl < 25*time.Hour || ttl > 26*time.Hour {
		t.Errorf("TTL %v, want about 26 h", ttl)
	}
	hours, err := s.OutcomeCounts(ctx, now, 24)
	if err != nil {
		t.Fatal(err)
	}
	if len(hours) != 24 || !hours[23].Hour.Equal(now.Truncate(time.Hour)) {
		t.Fatalf("%d hours ending %v", len(hours), hours[len(hours)-1].Hour)
	}
	if got := hours[23].Counts["order_arrived"]; got[record.ClassDelivered] != 2 || got[record.ClassRetrying] != 1 {
		t.Errorf("this hour: %v", got)
	}
	if got := hours[20].Counts; got["order_arrived"][record.ClassSkippedNoGrant] != 1 || got["refund"][record.ClassArchived] != 1 {
		t.Errorf("three hours ago: %v", got)
	}
}

// A record written before version 2 (18 fields) reads, and the scripts
// bring it to this version's form as they change it.
func TestVersionOneRecordsStillWork(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-v1", "order-v1")
	id := task.ID(p.Template, p.DedupeKey)
	v1 := strings.Join([]string{"1", "pending", "u-v1", "order_arrived", "order-v1", "1764000000000", "", "3", "0",
		"", "", "", "", "", "", "", "", ""}, "\x1f")
	if err := rdb.Set(ctx, s.Keys().Record(id), v1, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Status(ctx, id); err != nil || st.State != record.Pending || st.UserID != "u-v1" || st.OrderState != 0 {
		t.Fatalf("a version 1 record: %+v, %v", st, err)
	}
	run(t, rdb, s.BeginCall(id, record.From(p, 3)).Call, deliveredIn(s, id, p, "9"), s.OrderStateCall(id, 2, time.Now()))
	st, err := s.Status(ctx, id)
	if err != nil || st.State != record.Completed || st.Result.MsgID != "9" || st.OrderState != 2 || st.DedupeKey != "order-v1" {
		t.Fatalf("after the scripts: %+v, %v", st, err)
	}
	if v := rdb.Get(ctx, s.Keys().Record(id)).Val(); !strings.HasPrefix(v, "2\x1f") || strings.Count(v, "\x1f") != 19 {
		t.Fatalf("the stored record is %q; want version 2, 20 fields", v)
	}
}

// WeChat's reports on a WeChat Pay order land in the record once each, and
// only forward: a repeated push, or one that comes after a later state's,
// changes nothing.
func TestOrderStatesRecordedOnce(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := t.Context()
	p := payload("u-order", "order-states")
	id := create(t, s, p)
	at := time.Now()
	for _, state := range []int{2, 2, 3, 1, 4, 3} {
		run(t, rdb, s.OrderStateCall(id, state, at))
	}
	st, err := s.Status(ctx, id)
	if err != nil || st.OrderState != 4 {
		t.Fatalf("order state %d, %v; want 4", st.OrderState, err)
	}
	var seen []string
	for _, h := range st.History {
		seen = append(seen, h.Outcome)
	}
	if got := strings.Join(seen, ","); got != "order_shipped,order_receipt_confirmed,order_completed" {
		t.Fatalf("history %s; want each state once", got)
	}
}

// A trade event, which names only the order, reaches every notification
// delivered through the order channel for it, by either of its names.
func TestTradeEventsFindTheirNotifications(t *testing.T) {
	t.Parallel()
	s, rdb := setup(t)
	ctx := t.Context()
	byTxn, byTrade := create(t, s, payload("u-t", "ship-1")), create(t, s, payload("u-t", "arrive-1"))
	other := create(t, s, payload("u-t", "other"))
	run(t, rdb, s.IndexOrderCall(byTxn, record.OrderName("4200000001", "", "")),
		s.IndexOrderCall(byTrade, record.OrderName("", "1230000109", "TX-1")),
		s.IndexOrderCall(other, record.OrderName("4200000002", "", "")))
	n, err := s.ApplyTrade(ctx, record.Trade{TransactionID: "4200000001", MchID: "1230000109", OutTradeNo: "TX-1", State: 4, At: time.Now()})
	if err != nil || n != 2 {
		t.Fatalf("applied to %d, %v; want the order's 2 notifications", n, err)
	}
	for id, want := range map[string]int{byTxn: 4, byTrade: 4, other: 0} {
		if st, err := s.Status(ctx, id); err != nil || st.OrderState != want {
			t.Fatalf("%s: order state %d, %v; want %d", id, st.OrderState, err, want)
		}
	}
	if n, err := s.ApplyTrade(ctx, record.Trade{TransactionID: "4200009999", State: 2, At: time.Now()}); err != nil || n != 0 {
		t.Fatalf("an unknown order: %d, %v", n, err)
	}
}
