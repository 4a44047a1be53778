package redisconn_test

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"wxnotify/internal/redisconn"
	"wxnotify/internal/redistest"
)

// A command with a deadline waits for a Redis that went away and comes back
// within it; a command without a deadline fails at once, as before.
func TestRideOutOutages(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t, redistest.Config{})
	target, err := redisconn.Parse(srv.URL(0), 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	rdb := target.Client()
	defer rdb.Close()
	redisconn.RideOutOutages(rdb, time.Second)
	if err := rdb.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Get(context.Background(), "k").Err(); !redisconn.Unavailable(err) {
		t.Fatalf("without a deadline: %v; want an immediate connection error", err)
	}
	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := rdb.Get(short, "k").Err(); err == nil {
		t.Fatal("a command succeeded with Redis down")
	}

	back := make(chan error, 1)
	go func() {
		time.Sleep(500 * time.Millisecond) // the command below is waiting by then
		back <- srv.Restart()
	}()
	// The deadline only bounds a broken hook: Redis is back after 0.5 s.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := rdb.Set(ctx, "k", "again", 0).Err(); err != nil {
		t.Fatalf("with a deadline, across a restart: %v", err)
	}
	if err := <-back; err != nil {
		t.Fatal(err)
	}
	t.Logf("the write waited %s for Redis to come back", time.Since(start).Round(time.Millisecond))
	if got := rdb.Get(t.Context(), "k").Val(); got != "again" {
		t.Fatalf("k = %q; want again", got)
	}
}

func TestUnavailableIsNotAnAnswer(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t, redistest.Config{})
	target, _ := redisconn.Parse(srv.URL(0), time.Second)
	rdb := target.Client()
	defer rdb.Close()
	rdb.Set(t.Context(), "s", "x", 0)
	// A wrong type is Redis's answer, not an outage: never waited out.
	if err := rdb.HGet(t.Context(), "s", "f").Err(); err == nil || redisconn.Unavailable(err) {
		t.Fatalf("WRONGTYPE: %v, Unavailable=%v", err, redisconn.Unavailable(err))
	}
	if redisconn.Unavailable(context.Canceled) || redisconn.Unavailable(nil) {
		t.Fatal("a cancelled caller or no error counted as an outage")
	}
}

// A connection that stops answering without closing holds one try, not the
// caller's whole deadline: the next try takes a fresh connection. The proxy
// in front of Redis swallows everything sent on its first connection.
func TestRideOutASilentConnection(t *testing.T) {
	t.Parallel()
	srv := redistest.StartServer(t, redistest.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if accepted.Add(1) == 1 {
				defer c.Close() // silent until the test ends
				continue
			}
			r, err := net.Dial("unix", srv.Socket)
			if err != nil {
				c.Close()
				continue
			}
			go func() { _, _ = io.Copy(r, c); r.Close() }()
			go func() { _, _ = io.Copy(c, r); c.Close() }()
		}
	}()
	target, err := redisconn.Parse("redis://"+ln.Addr().String()+"/0", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	rdb := target.Client()
	defer rdb.Close()
	redisconn.RideOutOutages(rdb, 300*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("a write whose first connection went silent: %v; want it made on a fresh connection", err)
	}
	if accepted.Load() < 2 {
		t.Fatalf("%d connections; the first was silent, so the write needed a second", accepted.Load())
	}
}
