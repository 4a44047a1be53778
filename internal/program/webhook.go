package program

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"

	"wxnotify/internal/config"
	"wxnotify/internal/delivery"
	"wxnotify/internal/record"
	"wxnotify/internal/webhook"
)

// webhooks is the worker's side of the apps' webhooks: the outbox and the
// relay of each app that has one, and the server that delivers their
// events, beside the one that sends.
type webhooks struct {
	outboxes map[string]*webhook.Outbox // by appid
	relays   []*webhook.Relay
	server   *webhook.Server
	queues   []string
	// cancel ends the relays; running waits for them.
	cancel  context.CancelFunc
	running sync.WaitGroup
}

// newWebhooks builds the webhooks of cfg's apps; nil if no app has one.
func newWebhooks(cfg config.Worker, rdb redis.UniversalClient, log *slog.Logger) *webhooks {
	apps := cfg.WebhookApps()
	if len(apps) == 0 {
		return nil
	}
	w := &webhooks{outboxes: map[string]*webhook.Outbox{}}
	endpoints := map[string]webhook.Endpoint{}
	for _, app := range apps {
		outbox := webhook.NewOutbox(rdb, app.AppID)
		w.outboxes[app.AppID] = outbox
		w.relays = append(w.relays, webhook.NewRelay(rdb, outbox, webhook.RelayConfig{
			App: app.Name, Records: record.NewStore(rdb, app.AppID, cfg.Retention), Logger: log.With(slog.String("app", app.Name)),
		}))
		q := webhook.Queue(app.AppID)
		endpoints[q] = webhook.Endpoint{App: app.Name, URL: app.WebhookURL, Secret: app.WebhookSecret.Reveal()}
		w.queues = append(w.queues, q)
	}
	w.server = webhook.NewServer(rdb, webhook.ServerOptions{
		Endpoints: endpoints, Concurrency: cfg.WebhookConcurrency,
		DelayedTaskCheckInterval: cfg.DelayedTaskCheckInterval, ShutdownTimeout: cfg.ShutdownTimeout,
		Logger: log, LogLevel: asynqLevel(cfg.Logging.Level),
	})
	return w
}

// outbox is app appid's outbox for its delivery handler, nil without a
// webhook (an interface holding a nil pointer would not be).
func (w *webhooks) outbox(appID string) delivery.Outbox {
	if w == nil || w.outboxes[appID] == nil {
		return nil
	}
	return w.outboxes[appID]
}

// start starts delivering and relaying. The relays outlive ctx until
// stopRelays: the sends that finish during a shutdown still have their
// events queued.
func (w *webhooks) start(ctx context.Context) error {
	if w == nil {
		return nil
	}
	if err := w.server.Start(); err != nil {
		return fmt.Errorf("start webhook server: %w", err)
	}
	var rctx context.Context
	rctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, r := range w.relays {
		w.running.Go(func() { r.Run(rctx) })
	}
	return nil
}

// shutdown lets the POSTs in flight finish (or requeues them after
// SHUTDOWN_TIMEOUT); the worker runs it beside the sends' server's.
func (w *webhooks) shutdown() {
	if w != nil {
		w.server.Shutdown()
	}
}

// stopRelays ends the relays, once the sends have stopped, and waits for
// them. An event left in an outbox goes with another worker's relay, or
// this one's at its next start.
func (w *webhooks) stopRelays() {
	if w != nil && w.cancel != nil {
		w.cancel()
		w.running.Wait()
	}
}

// queueNames are the webhook queues served, for the start-up line.
func (w *webhooks) queueNames() []string {
	if w == nil {
		return nil
	}
	return w.queues
}
