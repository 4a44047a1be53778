package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// notifyRequest is the order service's call, the same body wxnotify takes,
// bound the way gin's documentation shows.
type notifyRequest struct {
	Template  string           `json:"template" binding:"required,eq=order_arrived"`
	UserID    string           `json:"user_id" binding:"required"`
	DedupeKey string           `json:"dedupe_key" binding:"required"`
	Data      orderArrivedData `json:"data" binding:"required"`
}

// orderArrivedData is the order_arrived message's fields.
type orderArrivedData struct {
	ItemName       string    `json:"item_name" binding:"required"`
	OrderID        string    `json:"order_id" binding:"required"`
	ArrivedAt      time.Time `json:"arrived_at" binding:"required"`
	PickupLocation string    `json:"pickup_location" binding:"required"`
	Remarks        string    `json:"remarks"`
}

// orderArrivedTask is the task's payload: the data and its receiver.
type orderArrivedTask struct {
	OpenID string           `json:"openid"`
	Data   orderArrivedData `json:"data"`
}

// taskOrderArrived is the asynq task type.
const taskOrderArrived = "notify:order_arrived"

// openIDKey is where login stored the user's openid.
func openIDKey(userID string) string { return "user:" + userID + ":openid" }

// server is the api's state.
type server struct {
	rdb   *redis.Client
	queue *asynq.Client
}

// runAPI serves POST /v1/notifications and /healthz until ctx ends.
func runAPI(ctx context.Context, cfg config) error {
	rdb := redis.NewClient(&redis.Options{Addr: cfg.redis, DB: cfg.db})
	defer rdb.Close()
	queue := asynq.NewClient(asynq.RedisClientOpt{Addr: cfg.redis, DB: cfg.db})
	defer queue.Close()
	s := &server{rdb: rdb, queue: queue}

	gin.SetMode(gin.ReleaseMode)
	r := gin.Default()
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.POST("/v1/notifications", bearer(cfg.apiKey), s.notify)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.addr, err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("naive api listening", "addr", cfg.addr)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// bearer lets through requests carrying the order service's key.
func bearer(key string) gin.HandlerFunc {
	want := "Bearer " + key
	return func(c *gin.Context) {
		if c.GetHeader("Authorization") != want {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "unauthorized"})
			return
		}
		c.Next()
	}
}

// notify queues one notification: 202 with the task id, 200 when a task
// with this dedupe key is still in asynq.
func (s *server) notify(c *gin.Context) {
	var req notifyRequest
	if err := c.ShouldBindJSON(&req); err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
		return
	}
	ctx := c.Request.Context()
	openid, err := s.rdb.Get(ctx, openIDKey(req.UserID)).Result()
	if errors.Is(err, redis.Nil) {
		c.JSON(http.StatusNotFound, gin.H{"error": "user has not logged in"})
		return
	}
	if err != nil {
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
		return
	}
	payload, err := json.Marshal(orderArrivedTask{OpenID: openid, Data: req.Data})
	if err != nil {
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
		return
	}
	info, err := s.queue.EnqueueContext(ctx, asynq.NewTask(taskOrderArrived, payload), asynq.TaskID(req.DedupeKey))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		c.JSON(http.StatusOK, gin.H{"id": req.DedupeKey, "duplicate": true})
		return
	}
	if err != nil {
		c.JSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"id": info.ID})
}
