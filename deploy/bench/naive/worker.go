package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hibiken/asynq"
	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/miniprogram"
	miniConfig "github.com/silenceper/wechat/v2/miniprogram/config"
	"github.com/silenceper/wechat/v2/miniprogram/subscribe"
	"github.com/silenceper/wechat/v2/util"
)

// orderArrivedTemplateID is the order_arrived template in the mini
// program's admin console (the sandbox's, as in wxnotify's registry).
const orderArrivedTemplateID = "Zx8qLtOrderArrived0000000000000000000000000"

// chinaTime is Beijing time, in which users read the arrival time.
var chinaTime = time.FixedZone("CST", 8*60*60)

// runWorker processes order_arrived tasks until ctx ends.
func runWorker(ctx context.Context, cfg config) error {
	if cfg.wechat != "" {
		to, err := url.Parse(cfg.wechat)
		if err != nil {
			return fmt.Errorf("-wechat: %w", err)
		}
		util.DefaultHTTPClient = &http.Client{Transport: redirect{to: to, next: http.DefaultTransport}}
	}
	// wechat.NewWechat().GetMiniProgram(cfg) does exactly this, and links
	// silenceper's payment, work and official-account packages too.
	mini := miniprogram.NewMiniProgram(&miniConfig.Config{
		AppID: cfg.appID, AppSecret: cfg.secret,
		Cache: cache.NewRedis(ctx, &cache.RedisOpts{Host: cfg.redis, Database: cfg.db}),
	})
	s := sender{sub: mini.GetSubscribe()}

	srv := asynq.NewServer(asynq.RedisClientOpt{Addr: cfg.redis, DB: cfg.db}, asynq.Config{
		Concurrency: cfg.concurrency, TaskCheckInterval: cfg.taskCheck,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(taskOrderArrived, s.handle)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	defer srv.Shutdown()
	if cfg.health != "" {
		stop, err := serveHealth(cfg.health)
		if err != nil {
			return err
		}
		defer stop()
	}
	slog.Info("naive worker running", "concurrency", cfg.concurrency)
	<-ctx.Done()
	return nil
}

// sender sends order_arrived messages.
type sender struct{ sub *subscribe.Subscribe }

// handle sends one task's message; any error is asynq's to retry.
func (s sender) handle(_ context.Context, t *asynq.Task) error {
	var p orderArrivedTask
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("decode payload: %v: %w", err, asynq.SkipRetry)
	}
	if err := s.sub.Send(orderArrivedMessage(p)); err != nil {
		slog.Warn("send failed", "type", t.Type(), "err", err)
		return fmt.Errorf("send order_arrived: %w", err)
	}
	return nil
}

// orderArrivedMessage fills the template's keywords the way its admin
// console page lists them.
func orderArrivedMessage(p orderArrivedTask) *subscribe.Message {
	remarks := p.Data.Remarks
	if remarks == "" {
		remarks = "请凭取件码取件"
	}
	return &subscribe.Message{
		ToUser:     p.OpenID,
		TemplateID: orderArrivedTemplateID,
		Page:       "pages/order/detail?id=" + url.QueryEscape(p.Data.OrderID),
		Data: map[string]*subscribe.DataItem{
			"thing1":            {Value: p.Data.ItemName},
			"character_string2": {Value: p.Data.OrderID},
			"time3":             {Value: p.Data.ArrivedAt.In(chinaTime).Format("2006年1月2日 15:04")},
			"thing4":            {Value: p.Data.PickupLocation},
			"thing5":            {Value: remarks},
		},
		MiniprogramState: "formal",
		Lang:             "zh_CN",
	}
}

// serveHealth answers GET /healthz on addr, for the bench to know the
// worker runs; the returned function stops it.
func serveHealth(addr string) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			slog.Error("health server", "err", err)
		}
	}()
	return func() { _ = srv.Close() }, nil
}
