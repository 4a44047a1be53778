package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/record"
	"wxnotify/internal/sandbox"
	"wxnotify/internal/subscriber"
	"wxnotify/internal/task"
)

// popup is an app at WeChat whose users answer the subscription popup: the
// sandbox (its primary app) or one of its mini programs.
type popup interface {
	Subscribe(openid, templateID, action string, count int) (int, error)
}

// seedUsers seeds count users "<prefix>-<i>" bound to openids "o-<prefix>-<i>";
// the first `granted` of them hold one grant for the template, at WeChat
// (sandbox) and in wxnotify's state, as if they had tapped accept; the
// others tapped reject (seedSandbox).
func seedUsers(ctx context.Context, rdb redis.UniversalClient, sb popup, appID, tmpl, prefix string, count, granted int) error {
	keys := subscriber.NewKeys(appID)
	for start := 0; start < count; start += 1000 {
		_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+1000, count); i++ {
				user, openid := fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("o-%s-%d", prefix, i)
				p.HSet(ctx, keys.Binding(user), "openid", openid, "bound_at", time.Now().UTC().Format(time.RFC3339))
				if i < granted {
					p.HSet(ctx, keys.Grants(user), tmpl, 1)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed users: %w", err)
		}
	}
	return seedSandbox(sb, tmpl, prefix, count, granted)
}

// seedSandbox plays the subscription popup at WeChat for count users
// "o-<prefix>-<i>": the first `granted` accept the template once, the
// others reject it, so that WeChat knows them and answers a send to them
// with 43101.
func seedSandbox(sb popup, tmpl, prefix string, count, granted int) error {
	for i := range count {
		action := sandbox.Accept
		if i >= granted {
			action = sandbox.Reject
		}
		if _, err := sb.Subscribe(fmt.Sprintf("o-%s-%d", prefix, i), tmpl, action, 1); err != nil {
			return fmt.Errorf("seed the sandbox: %w", err)
		}
	}
	return nil
}

func notifyBody(user, dedupe string) []byte { return appNotifyBody("", user, dedupe) }

// orderData is the order_arrived template's data every notification carries.
func orderData() map[string]any {
	return map[string]any{"item_name": "牛肉面 x2", "order_id": "TX20261124001", "arrived_at": "2026-11-24T15:01:00+08:00", "pickup_location": "3号楼前台"}
}

// appNotifyBody is a notification for app (by name; "" leaves it to the
// api's single app).
func appNotifyBody(app, user, dedupe string) []byte {
	req := map[string]any{"template": "order_arrived", "user_id": user, "dedupe_key": dedupe, "data": orderData()}
	if app != "" {
		req["app"] = app
	}
	b, _ := json.Marshal(req)
	return b
}

// post sends one notification and fails on anything but 202.
func post(ctx context.Context, client *http.Client, api, key string, body []byte) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", api+"/v1/notifications", bytesReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body) // drained, so the connection is reused
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST /v1/notifications answered %d", resp.StatusCode)
	}
	return nil
}

// drain waits until asynq has processed n tasks of the single app's queue
// and holds none unfinished (finished tasks leave asynq at once: their
// records stay).
func drain(ctx context.Context, ins *asynq.Inspector, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		q, err := ins.GetQueueInfo(task.QueueName)
		if err == nil && q.Processed >= n && q.Pending+q.Active+q.Scheduled+q.Retry == 0 {
			if q.Archived > 0 {
				return fmt.Errorf("%d notifications archived", q.Archived)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queue not drained after %s: %+v", limit, q)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// pipelineRun posts n notifications (to users seeded under prefix) from
// conns goroutines and returns notifications/s from the first post to the
// last one finished, and the rate at which the posts alone were accepted.
func pipelineRun(ctx context.Context, ins *asynq.Inspector, api, key, prefix string, n, conns int) (float64, float64, error) {
	start := time.Now()
	err := postAll(ctx, api, key, n, conns, func(i int) []byte {
		return notifyBody(fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("%s-order-%d", prefix, i))
	})
	if err != nil {
		return 0, 0, err
	}
	ingest := float64(n) / time.Since(start).Seconds()
	if err := drain(ctx, ins, n, 5*time.Minute); err != nil {
		return 0, 0, err
	}
	return float64(n) / time.Since(start).Seconds(), ingest, nil
}

// latencyRun posts at rate per second for d to users seeded under prefix
// and returns enqueue-to-send latencies: from the task's created_at (set by
// the api just before enqueueing) to the sandbox receiving the send.
func latencyRun(ctx context.Context, ins *asynq.Inspector, q *record.Store, sb *sandbox.Sandbox, api, key, prefix string, rate float64, d time.Duration, done int) ([]time.Duration, error) {
	client := loadClient(64)
	n := int(rate * d.Seconds())
	err := paced(rate, n, func(i int) error {
		return post(ctx, client, api, key, notifyBody(fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("%s-order-%d", prefix, i)))
	})
	if err != nil {
		return nil, err
	}
	if err := drain(ctx, ins, done+n, time.Minute); err != nil {
		return nil, err
	}
	return sendLatencies(ctx, q, sb.Messages("", ""), prefix, n)
}

// paced calls post(i) for i from 0 to n-1, rate times a second, each in a
// goroutine of its own so that a slow answer does not hold up the next,
// and waits for them all: the first error is returned.
func paced(rate float64, n int, post func(i int) error) error {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		<-tick.C
		wg.Go(func() {
			if err := post(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// sendLatencies matches the n notifications "<prefix>-order-<i>" of q to
// the messages sent to "o-<prefix>-<i>" and returns, sorted, the time from
// each one's record created_at (set by the api just before enqueueing) to
// the sandbox receiving its send. Every one must have been sent.
func sendLatencies(ctx context.Context, q *record.Store, msgs []sandbox.Message, prefix string, n int) ([]time.Duration, error) {
	sends, err := matchSends(ctx, q, msgs, prefix, n)
	if err != nil {
		return nil, err
	}
	return latencies(sends, func(t sendTimes) time.Duration { return t.sent.Sub(t.created) }), nil
}

// latencies are d of each send, sorted.
func latencies(sends []sendTimes, d func(sendTimes) time.Duration) []time.Duration {
	out := make([]time.Duration, len(sends))
	for i, t := range sends {
		out[i] = d(t)
	}
	slices.Sort(out)
	return out
}

// sendTimes is one notification's id, when its record was created and
// when the sandbox received its send.
type sendTimes struct {
	id            string
	created, sent time.Time
}

// matchSends pairs each of the n notifications "<prefix>-order-<i>" of q
// with the message sent to "o-<prefix>-<i>"; every one must have been sent.
func matchSends(ctx context.Context, q *record.Store, msgs []sandbox.Message, prefix string, n int) ([]sendTimes, error) {
	sent := map[string]time.Time{}
	for _, m := range msgs {
		sent[m.OpenID] = m.SentAt
	}
	var out []sendTimes
	for i := range n {
		st, err := q.Lookup(ctx, "order_arrived", fmt.Sprintf("%s-order-%d", prefix, i))
		if err != nil {
			return nil, err
		}
		if at, ok := sent[fmt.Sprintf("o-%s-%d", prefix, i)]; ok {
			out = append(out, sendTimes{id: st.ID, created: st.CreatedAt, sent: at})
		}
	}
	if len(out) != n {
		return nil, fmt.Errorf("latency: %d of %d notifications matched to a send", len(out), n)
	}
	return out, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
