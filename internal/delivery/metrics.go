package delivery

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"wxnotify/internal/wechat"
)

// Metrics are the worker's Prometheus series, every one labelled by app.
type Metrics struct {
	deliveries   *prometheus.CounterVec
	wechat       *prometheus.HistogramVec
	tokenFetches *prometheus.CounterVec
	limiterWaits *prometheus.CounterVec
	unrecorded   *prometheus.HistogramVec
}

// NewMetrics registers the worker's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxnotify_deliveries_total",
			Help: "Notification attempts by app, template and outcome: delivered, skipped_<reason>, retried_<class>, archived_<class>.",
		}, []string{"app", "template", "outcome"}),
		wechat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wxnotify_wechat_call_duration_seconds", Help: "WeChat API call latency by app, endpoint and errcode (or transport failure).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"app", "endpoint", "errcode"}),
		tokenFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxnotify_token_fetches_total", Help: "stable_token calls by app and result (ok, or the failure's reason).",
		}, []string{"app", "result"}),
		limiterWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxnotify_rate_limiter_waits_total", Help: "Times a send waited for its app's send rate limit.",
		}, []string{"app"}),
		unrecorded: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wxnotify_unrecorded_send_seconds",
			Help:    "From WeChat's answer to a delivered send until its record says so: the window in which a worker's death could let the notification be sent again.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"app"}),
	}
	reg.MustRegister(m.deliveries, m.wechat, m.tokenFetches, m.limiterWaits, m.unrecorded)
	return m
}

// AppMetrics are one app's series: what its Handler and client record into.
type AppMetrics struct {
	deliveries   *prometheus.CounterVec
	wechat       prometheus.ObserverVec
	tokenFetches *prometheus.CounterVec
	limiterWaits prometheus.Counter
	unrecorded   prometheus.Observer
}

// App returns the series of the app named name.
func (m *Metrics) App(name string) *AppMetrics {
	app := prometheus.Labels{"app": name}
	return &AppMetrics{
		deliveries:   m.deliveries.MustCurryWith(app),
		wechat:       m.wechat.MustCurryWith(app),
		tokenFetches: m.tokenFetches.MustCurryWith(app),
		limiterWaits: m.limiterWaits.With(app),
		unrecorded:   m.unrecorded.With(app),
	}
}

// InstrumentedClient is a WeChat client whose token fetches and sends are
// measured; it serves as the token cache's Fetcher and the Handler's Sender.
type InstrumentedClient struct {
	Client  *wechat.Client
	Metrics *AppMetrics
}

// StableToken fetches a token and records the call.
func (c InstrumentedClient) StableToken(ctx context.Context, force bool) (wechat.Token, error) {
	start := time.Now()
	tok, err := c.Client.StableToken(ctx, force)
	c.observe(wechat.EndpointStableToken, start, err)
	result := "ok"
	if err != nil {
		result = wechat.Classify(err).Reason
	}
	c.Metrics.tokenFetches.WithLabelValues(result).Inc()
	return tok, err
}

// SendSubscribe sends a message and records the call.
func (c InstrumentedClient) SendSubscribe(ctx context.Context, token string, msg wechat.Message) (string, error) {
	start := time.Now()
	id, err := c.Client.SendSubscribe(ctx, token, msg)
	c.observe(wechat.EndpointSend, start, err)
	return id, err
}

func (c InstrumentedClient) observe(endpoint string, start time.Time, err error) {
	label := "0"
	if err != nil {
		out := wechat.Classify(err)
		label = out.Reason
		if out.Code != 0 {
			label = strconv.Itoa(out.Code)
		}
	}
	c.Metrics.wechat.WithLabelValues(endpoint, label).Observe(time.Since(start).Seconds())
}

// UploadShippingInfo uploads an order's shipping and records the call.
func (c InstrumentedClient) UploadShippingInfo(ctx context.Context, token string, info wechat.ShippingInfo) error {
	start := time.Now()
	err := c.Client.UploadShippingInfo(ctx, token, info)
	c.observe(wechat.EndpointUploadShipping, start, err)
	return err
}

// NotifyConfirmReceive reminds the buyer to confirm receipt and records the call.
func (c InstrumentedClient) NotifyConfirmReceive(ctx context.Context, token string, order wechat.OrderKey, receivedAt time.Time) error {
	start := time.Now()
	err := c.Client.NotifyConfirmReceive(ctx, token, order, receivedAt)
	c.observe(wechat.EndpointNotifyConfirmReceive, start, err)
	return err
}

// GetOrder reads an order and records the call.
func (c InstrumentedClient) GetOrder(ctx context.Context, token string, order wechat.OrderKey) (wechat.Order, error) {
	start := time.Now()
	o, err := c.Client.GetOrder(ctx, token, order)
	c.observe(wechat.EndpointGetOrder, start, err)
	return o, err
}
