package notification

import (
	"encoding/json"

	"github.com/hibiken/asynq"
)

func statusOf(info *asynq.TaskInfo) Status {
	st := Status{
		ID: info.ID, State: info.State.String(), MaxRetry: info.MaxRetry,
		LastError: info.LastErr, LastFailedAt: info.LastFailedAt,
		NextProcessAt: info.NextProcessAt, CompletedAt: info.CompletedAt,
		Attempts: info.Retried,
	}
	// Retried counts failures; the attempt under way or the one that ended
	// the task counts too.
	switch info.State {
	case asynq.TaskStateActive, asynq.TaskStateCompleted, asynq.TaskStateArchived:
		st.Attempts++
	}
	var p Payload
	if json.Unmarshal(info.Payload, &p) == nil {
		st.Template, st.DedupeKey, st.CreatedAt, st.SendAt = p.Template, p.DedupeKey, p.CreatedAt, p.SendAt
	}
	if len(info.Result) > 0 {
		var r Result
		if json.Unmarshal(info.Result, &r) == nil {
			st.Result = &r
		}
	}
	return st
}
