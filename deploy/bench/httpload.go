package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// serveBareGin is the comparison server for the HTTP phase: gin with the
// api's http.Server settings and a handler that reads the body and answers
// 202, nothing else. The benchmark runs it as a child process (-bare-gin).
func serveBareGin(addr string) error {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/healthz", func(c *gin.Context) { c.JSON(200, gin.H{"status": "ok"}) })
	r.POST("/v1/notifications", func(c *gin.Context) {
		_, _ = io.Copy(io.Discard, c.Request.Body)
		c.JSON(http.StatusAccepted, gin.H{"id": "order_arrived-0", "state": "pending", "duplicate": false})
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	return srv.Serve(ln)
}

// loadClient is an HTTP client keeping a connection per worker goroutine.
func loadClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = conns*2, conns*2
	return &http.Client{Transport: t, Timeout: 10 * time.Second}
}

// hammer posts bodies from conns goroutines for d and returns requests/s;
// any non-2xx answer is an error.
func hammer(ctx context.Context, url, key string, conns int, d time.Duration, body func(i int64) []byte) (float64, error) {
	client := loadClient(conns)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n, seq atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body(seq.Add(1))))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s answered %d", url, resp.StatusCode))
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}
