package console

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"wxnotify/internal/registry"
	"wxnotify/internal/task"
)

// What a notification sends lives in its task's payload, rendered by the
// api: the keywords' values, the page, WeChat's template id, the order
// channel's order. asynq holds the task while the notification is in
// flight — queued, scheduled, retrying, running, archived after failing —
// and deletes it once it completes; the record keeps how it ended, not the
// message. Keeping a copy would cost about as much again as the record (a
// rendered order_arrived is some 200 bytes) for every retained
// notification, past the budget of 400 bytes: so the page shows what is
// (or was to be) sent while asynq holds the task, and says so after,
// showing the template as the registry has it instead.

// sentView is what the notification page shows of its message.
type sentView struct {
	// Held: asynq holds the task, in State (pending, scheduled, retry,
	// active, archived), to run next at Next; TaskLink is its page in
	// asynqmon.
	Held     bool
	State    string
	Next     time.Time
	TaskLink string
	// Unreadable: asynq holds a payload the worker could not read either.
	Unreadable bool
	TemplateID string
	Page       string
	Keywords   []keywordRow
	Channel    task.Channel
	Order      *task.Order
	// Registered is the template as the registry has it now, when asynq no
	// longer holds the task (nil if it is not registered).
	Registered *registry.Template
}

// keywordRow is one keyword of the message: WeChat's key, the request
// field that fills it, and the rendered value ("" when not held).
type keywordRow struct{ Key, From, Value string }

// sent reads what notification id (of template) sends from its task.
func (c *Console) sent(ctx context.Context, v *view, id, template string) (sentView, error) {
	reg, registered := v.Registry.Lookup(template)
	info, err := v.TaskInfo(ctx, id)
	if errors.Is(err, asynq.ErrTaskNotFound) {
		s := sentView{}
		if registered {
			s.Registered = reg
			for _, k := range reg.Keywords {
				s.Keywords = append(s.Keywords, keywordRow{Key: k.Key, From: k.From})
			}
		}
		return s, nil
	}
	if err != nil {
		return sentView{}, err
	}
	s := sentView{Held: true, State: info.State.String(), Next: info.NextProcessAt,
		TaskLink: c.DashboardPath + "/queues/" + url.PathEscape(info.Queue) + "/tasks/" + url.PathEscape(info.ID)}
	p, err := task.Decode(info.Payload)
	s.Unreadable = err != nil
	// The openid and the user are the page's to show, masked: not here.
	s.TemplateID, s.Page, s.Channel, s.Order = p.TemplateID, p.Page, p.Channel, p.Order
	from := map[string]string{}
	if registered {
		for _, k := range reg.Keywords {
			from[k.Key] = k.From
		}
	}
	for key, value := range p.Data {
		s.Keywords = append(s.Keywords, keywordRow{Key: key, From: from[key], Value: value})
	}
	slices.SortFunc(s.Keywords, func(a, b keywordRow) int { return strings.Compare(a.Key, b.Key) })
	return s, nil
}
