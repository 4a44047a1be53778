package console

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"

	"wxnotify/internal/accesstoken"
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
	InUse     float64
	Booked    int
	QueueName string
	// QueueLink is the queue in asynqmon.
	QueueLink  string
	Queue      *asynq.QueueInfo
	NoQueueYet bool
}

func (c *Console) health(ctx *gin.Context, v *view) {
	rctx := ctx.Request.Context()
	p := healthPage{QueueName: v.Queue, QueueLink: c.DashboardPath + "/queues/" + url.PathEscape(v.Queue)}
	var err error
	if p.SendRate, err = v.SendRate(rctx); err != nil {
		c.unavailable(ctx, v, "read send rate", err)
		return
	}
	if p.Token, err = v.Token(rctx); err != nil {
		c.unavailable(ctx, v, "read token health", err)
		return
	}
	if !p.Token.FetchedAt.IsZero() {
		p.TokenAge = c.Now().Sub(p.Token.FetchedAt).Truncate(time.Second)
	}
	if p.Backlog, err = v.SendBacklog(rctx); err != nil {
		c.unavailable(ctx, v, "read send rate", err)
		return
	}
	if p.SendRate > 0 {
		// The burst is one second's worth (program.Worker's limiter).
		p.InUse = min(1, p.Backlog.Seconds())
		p.Booked = int(p.Backlog.Seconds() * float64(p.SendRate))
	}
	p.Queue, err = v.QueueInfo(rctx)
	switch {
	case errors.Is(err, asynq.ErrQueueNotFound):
		p.NoQueueYet = true
	case err != nil:
		c.unavailable(ctx, v, "read queue", err)
		return
	}
	c.render(ctx, v, http.StatusOK, "health", "Health", p)
}
