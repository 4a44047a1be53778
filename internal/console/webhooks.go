package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/webhook"
)

// webhooksPage is the app's dead webhook events: those the order service's
// receiver never accepted within the retries (package webhook).
type webhooksPage struct {
	Queue string
	Dead  []deadRow
	Page  int
	// Prev and Next are the neighbouring pages' links ("" if none).
	Prev, Next string
	// RerunLink is the dead list in asynqmon, where an event is re-run.
	RerunLink string
	MaxRetry  int
}

// deadRow is one dead event, with its notification's page.
type deadRow struct {
	webhook.Dead
	NotificationLink string
}

// webhooks lists the app's dead webhook events, the latest failure first.
func (c *Console) webhooks(ctx *gin.Context, v *view) {
	page := 1
	if p, given := ctx.GetQuery("page"); given {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 10_000 {
			c.problem(ctx, v, http.StatusBadRequest, "Not a page number: a whole number from 1.")
			return
		}
		page = n
	}
	dead, err := v.DeadWebhooks(ctx.Request.Context(), page)
	if err != nil {
		c.unavailable(ctx, v, "read dead webhook events", err)
		return
	}
	p := webhooksPage{Queue: v.WebhookQueue, Page: page, MaxRetry: webhook.MaxRetry,
		RerunLink: c.DashboardPath + "/queues/" + url.PathEscape(v.WebhookQueue) + "?status=archived"}
	for _, d := range dead {
		row := deadRow{Dead: d}
		if idPattern.MatchString(d.Event.Notification.ID) {
			row.NotificationLink = v.link("/admin/notifications/" + url.PathEscape(d.Event.Notification.ID))
		}
		p.Dead = append(p.Dead, row)
	}
	if page > 1 {
		p.Prev = pageLink(v, page-1)
	}
	if len(dead) == webhook.DeadPageSize {
		p.Next = pageLink(v, page+1)
	}
	c.render(ctx, v, http.StatusOK, "webhooks", "Dead webhook events", p)
}

// pageLink is page n of the app's dead webhook events.
func pageLink(v *view, n int) string {
	l := v.link("/admin/webhooks")
	sep := "?"
	if strings.Contains(l, "?") {
		sep = "&"
	}
	return l + sep + "page=" + strconv.Itoa(n)
}
