package console

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"

	"wxnotify/internal/accesstoken"
	"wxnotify/internal/notification"
)

// healthPage is the token, the send rate and the queue at a glance.
type healthPage struct {
	Token accesstoken.Health
	// TokenAge is how long ago the current token was fetched.
	TokenAge time.Duration
	SendRate int
	Backlog  time.Duration
	// InUse is the share of the send rate's burst booked (0–1), when the
	// rate is known.
	InUse      float64
	Booked     int
	QueueName  string
	Queue      *asynq.QueueInfo
	NoQueueYet bool
}

func (c *Console) health(ctx *gin.Context) {
	rctx := ctx.Request.Context()
	p := healthPage{QueueName: notification.QueueName}
	var err error
	if p.SendRate, err = c.SendRate(rctx); err != nil {
		c.unavailable(ctx, "read send rate", err)
		return
	}
	if p.Token, err = c.Token(rctx); err != nil {
		c.unavailable(ctx, "read token health", err)
		return
	}
	if !p.Token.FetchedAt.IsZero() {
		p.TokenAge = c.Now().Sub(p.Token.FetchedAt).Truncate(time.Second)
	}
	if p.Backlog, err = c.SendBacklog(rctx); err != nil {
		c.unavailable(ctx, "read send rate", err)
		return
	}
	if p.SendRate > 0 {
		// The burst is one second's worth (program.Worker's limiter).
		p.InUse = min(1, p.Backlog.Seconds())
		p.Booked = int(p.Backlog.Seconds() * float64(p.SendRate))
	}
	p.Queue, err = c.Notifications.QueueInfo(rctx)
	switch {
	case errors.Is(err, asynq.ErrQueueNotFound):
		p.NoQueueYet = true
	case err != nil:
		c.unavailable(ctx, "read queue", err)
		return
	}
	c.render(ctx, http.StatusOK, "health", "Health", p)
}
