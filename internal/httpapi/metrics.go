package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the API's Prometheus series.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	enqueues *prometheus.CounterVec
}

// NewMetrics registers the API's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxnotify_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wxnotify_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		enqueues: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wxnotify_notifications_enqueued_total",
			Help: "POST /v1/notifications answers by app and template (each empty when the body names none served) and outcome: accepted, duplicate, invalid (refused: 400, 403, 413, 415), unavailable (503), error.",
		}, []string{"app", "template", "outcome"}),
	}
	reg.MustRegister(m.requests, m.latency, m.enqueues)
	return m
}
