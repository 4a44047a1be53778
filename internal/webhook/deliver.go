package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"wxnotify/internal/logging"
)

// The retry schedule: a failed try is tried again Base·2ⁿ later, at most
// Cap, plus up to 20 % (never less, so that the span below holds whatever
// the draw; the spread keeps the events of a receiver that was down from
// all coming back in one second). MaxRetry retries then span
// 10 s·(2⁹−1) + 23 h = 24.4 h at least (TestScheduleSpansADay): a receiver
// down for a day still gets every event.
const (
	DefaultBase = 10 * time.Second
	DefaultCap  = time.Hour
	MaxRetry    = 32
)

// Schedule is the back-off of failed tries.
type Schedule struct{ Base, Cap time.Duration }

// DefaultSchedule is the production schedule.
var DefaultSchedule = Schedule{Base: DefaultBase, Cap: DefaultCap}

// Delay is the wait after failed try n+1 (n retries so far).
func (s Schedule) Delay(n int) time.Duration {
	d := s.Cap
	if n < 40 && s.Base<<n > 0 && s.Base<<n < s.Cap {
		d = s.Base << n
	}
	return d + time.Duration(0.2*rand.Float64()*float64(d))
}

// retryDelay is the webhook server's asynq.RetryDelayFunc: the schedule,
// for a receiver's failure and a worker that died mid-try alike.
func (s Schedule) retryDelay(n int, _ error, _ *asynq.Task) time.Duration { return s.Delay(n) }

// requestTimeout bounds one POST: a receiver that takes longer has failed
// this try, and holds one of the webhook server's slots until then, never a
// send's.
const requestTimeout = 10 * time.Second

// Endpoint is where one app's events go.
type Endpoint struct {
	// App names the app in logs.
	App    string
	URL    string
	Secret string
}

// sender POSTs the events of every app's webhook queue: an asynq.Handler.
type sender struct {
	endpoints map[string]Endpoint // by queue
	client    *http.Client
	log       *slog.Logger
}

// ProcessTask delivers one event: nil once the receiver answered 2xx; an
// error (a retry on the schedule, or the dead list after the last) for any
// other answer, a redirect included, and for no answer within
// requestTimeout.
func (s *sender) ProcessTask(ctx context.Context, t *asynq.Task) error {
	q, _ := asynq.GetQueueName(ctx)
	ep, ok := s.endpoints[q]
	if !ok {
		// The server takes only the endpoints' queues: a wiring bug.
		return fmt.Errorf("no webhook is served from queue %q", q)
	}
	var ev Event
	if err := json.Unmarshal(t.Payload(), &ev); err != nil || ev.ID == "" {
		return fmt.Errorf("malformed webhook event (%v): %w", err, asynq.SkipRetry)
	}
	retried, _ := asynq.GetRetryCount(ctx)
	log := s.log.With(slog.String("app", ep.App), slog.String("event_id", ev.ID), slog.String("notification", ev.Notification.ID), slog.Int("attempt", retried+1))
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, ep.URL, bytes.NewReader(t.Payload()))
	if err != nil {
		return fmt.Errorf("webhook request: %w", asynq.SkipRetry) // the URL was checked at start
	}
	now := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wxnotify-webhook/1")
	req.Header.Set(HeaderEventID, ev.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(ep.Secret, now, t.Payload()))
	resp, err := s.client.Do(req)
	if err != nil {
		err = fmt.Errorf("POST to the webhook: %w", withoutURL(err))
		log.Warn("webhook not delivered", slog.Any("error", err))
		return err
	}
	defer resp.Body.Close()
	// The answer's body is read, to keep the connection, not kept: a few
	// bytes of it go into the error the dead list shows.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		log.Info("webhook delivered", slog.Int("status", resp.StatusCode), slog.Duration("took", time.Since(now)))
		return nil
	}
	err = fmt.Errorf("the receiver answered %d %s", resp.StatusCode, snippet(answer))
	log.Warn("webhook not delivered", slog.Any("error", err))
	return err
}

// withoutURL drops the request's URL from a transport error: its path or
// query may hold a token of the receiver's.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// snippet is the start of a receiver's answer, on one line, for the error.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "")), " ")
	if len(s) > 120 {
		s = strings.ToValidUTF8(s[:120], "") + "…"
	}
	return s
}

// ServerOptions configure the webhook server.
type ServerOptions struct {
	// Endpoints are the apps' webhooks, by their queue (Queue).
	Endpoints map[string]Endpoint
	// Concurrency is how many POSTs the server makes at once.
	Concurrency int
	// Schedule is the retry back-off (DefaultSchedule if zero).
	Schedule Schedule
	// DelayedTaskCheckInterval is how late a retry may run; ShutdownTimeout
	// how long a stop waits for POSTs in flight.
	DelayedTaskCheckInterval, ShutdownTimeout time.Duration
	Logger                                    *slog.Logger
	LogLevel                                  asynq.LogLevel
}

// taskCheckInterval is how long the idle webhook server waits before it
// looks for events again: events are told within about a second, and a
// shorter wait would cost an idle worker Redis commands for nothing (the
// sends' 10 ms costs about 290 a second).
const taskCheckInterval = 200 * time.Millisecond

// Server is the worker's webhook server: an asynq server of its own,
// beside the one that sends, taking only the webhook queues with slots of
// its own, so that a receiver taking seconds to answer holds webhook slots
// and never a send's.
type Server struct {
	srv *asynq.Server
	mux *asynq.ServeMux
}

// Start starts delivering.
func (s *Server) Start() error { return s.srv.Start(s.mux) }

// Shutdown lets the POSTs in flight finish within the shutdown timeout and
// puts the rest back in their queues.
func (s *Server) Shutdown() { s.srv.Shutdown() }

// NewServer is the webhook server of o's endpoints on the process's
// go-redis client.
func NewServer(rdb redis.UniversalClient, o ServerOptions) *Server {
	if o.Schedule == (Schedule{}) {
		o.Schedule = DefaultSchedule
	}
	queues := make(map[string]int, len(o.Endpoints))
	for q := range o.Endpoints {
		queues[q] = 1
	}
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              o.Concurrency,
		Queues:                   queues,
		TaskCheckInterval:        taskCheckInterval,
		DelayedTaskCheckInterval: o.DelayedTaskCheckInterval,
		ShutdownTimeout:          o.ShutdownTimeout,
		RetryDelayFunc:           o.Schedule.retryDelay,
		Logger:                   logging.Asynq{L: o.Logger},
		LogLevel:                 o.LogLevel,
	})
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = o.Concurrency // one receiver takes every slot's POST
	mux := asynq.NewServeMux()
	mux.Handle(TaskType, &sender{
		endpoints: o.Endpoints, log: o.Logger,
		client: &http.Client{
			Transport: transport,
			// A redirect is not followed: the event goes to the URL
			// configured, and a 3xx is a failed try like any other answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	})
	return &Server{srv: srv, mux: mux}
}
