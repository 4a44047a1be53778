package httpapi

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// logRequests writes one line per request: method, route, status, latency.
// It never logs headers or bodies (tokens, codes and keys travel there).
func logRequests(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		status := c.Writer.Status()
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelWarn
		case quietRoutes[c.FullPath()]:
			level = slog.LevelDebug // probes and scrapes every few seconds
		}
		attrs := []slog.Attr{
			slog.String("method", c.Request.Method),
			slog.String("route", routeOf(c)),
			slog.Int("status", status),
			slog.Duration("latency", time.Since(start)),
			slog.String("client_ip", c.ClientIP()),
		}
		if extra, ok := c.Get(logAttrsKey); ok {
			attrs = append(attrs, extra.([]slog.Attr)...)
		}
		log.LogAttrs(c.Request.Context(), level, "http request", attrs...)
	}
}

const logAttrsKey = "wxnotify.log_attrs"

// quietRoutes are polled by machines; their successes are logged at debug.
var quietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// logWith adds attributes to the request's one log line, so that a handler
// says what it did (task id, template) without a second line per request.
func logWith(c *gin.Context, attrs ...slog.Attr) {
	if prev, ok := c.Get(logAttrsKey); ok {
		attrs = append(prev.([]slog.Attr), attrs...)
	}
	c.Set(logAttrsKey, attrs)
}

// recoverPanics turns a panic into a logged 500 with the usual error body.
func recoverPanics(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				log.Error("panic in handler", slog.Any("panic", v), slog.String("route", routeOf(c)), slog.String("stack", string(debug.Stack())))
				fail(c, http.StatusInternalServerError, "internal", "internal error", "")
			}
		}()
		c.Next()
	}
}

// limitBody caps every request body; handlers answer 413 past it.
func limitBody(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}

// instrument records each request in the metrics by route and status.
func instrument(m *Metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := routeOf(c)
		m.requests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
		m.latency.WithLabelValues(route, c.Request.Method).Observe(time.Since(start).Seconds())
	}
}

// routeOf is the route pattern, not the path, so that ids do not explode
// metric labels; "unmatched" for 404s.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}
