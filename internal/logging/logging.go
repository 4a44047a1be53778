// Package logging builds the programs' slog loggers and adapts the
// libraries that log their own way (asynq, go-redis) to them.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// New returns a logger writing format ("json" or "text") at level ("debug",
// "info", "warn", "error") to w.
func New(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config; "" is info
	opts := &slog.HandlerOptions{Level: l}
	if strings.EqualFold(format, "text") {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Asynq adapts a slog logger to asynq's printf-style Logger.
type Asynq struct{ L *slog.Logger }

func (a Asynq) log(level slog.Level, args ...any) {
	a.L.Log(context.Background(), level, fmt.Sprint(args...), slog.String("component", "asynq"))
}

// Debug logs at debug level.
func (a Asynq) Debug(args ...any) { a.log(slog.LevelDebug, args...) }

// Info logs at info level.
func (a Asynq) Info(args ...any) { a.log(slog.LevelInfo, args...) }

// Warn logs at warn level.
func (a Asynq) Warn(args ...any) { a.log(slog.LevelWarn, args...) }

// Error logs at error level.
func (a Asynq) Error(args ...any) { a.log(slog.LevelError, args...) }

// Fatal logs at error level; asynq exits the process after it.
func (a Asynq) Fatal(args ...any) { a.log(slog.LevelError, args...) }

// Redis adapts a slog logger to go-redis's internal logger (redis.SetLogger).
type Redis struct{ L *slog.Logger }

// Printf logs go-redis's internal messages (pool and dial trouble) as warnings.
func (r Redis) Printf(ctx context.Context, format string, v ...any) {
	r.L.Log(ctx, slog.LevelWarn, fmt.Sprintf(format, v...), slog.String("component", "go-redis"))
}
