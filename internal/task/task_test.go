package task_test

import (
	"net/url"
	"strings"
	"testing"

	"wxnotify/internal/task"
)

func TestIDIsStableDistinctAndURLSafe(t *testing.T) {
	t.Parallel()
	a := task.ID("order_arrived", "order-1")
	if a != task.ID("order_arrived", "order-1") {
		t.Fatal("the same template and dedupe key gave two ids")
	}
	for _, other := range []string{
		task.ID("order_arrived", "order-2"),
		task.ID("transit_reminder", "order-1"),
		// No ambiguity from joining: ("a", "b\x00c") is not ("a\x00b", "c").
		task.ID("order_arrived\x00order", "-1"),
	} {
		if other == a {
			t.Fatalf("distinct notifications share id %s", a)
		}
	}
	weird := task.ID("order_arrived", "订单/../?#%20 42")
	if url.PathEscape(weird) != weird || !strings.HasPrefix(weird, "order_arrived-") || len(weird) != len("order_arrived-")+32 {
		t.Fatalf("id %q is not a URL-safe template-prefixed id", weird)
	}
}

// asynqmon shows a task id up to its first dash (its utils.ts uuidPrefix):
// the task id has none, so the dashboard shows it whole, and it maps back to
// the notification id — from task ids queued before the change too.
func TestTaskIDHasNoDashAndMapsBack(t *testing.T) {
	t.Parallel()
	id := task.ID("order_arrived", "order-1")
	tid := task.TaskID(id)
	if strings.Contains(tid, "-") || tid != "order_arrived."+strings.TrimPrefix(id, "order_arrived-") {
		t.Fatalf("TaskID(%s) = %s; want the id with a dot for its dash", id, tid)
	}
	if url.PathEscape(tid) != tid {
		t.Fatalf("task id %q is not URL-safe", tid)
	}
	if task.TaskID(task.ID("order_arrived", "order-2")) == tid {
		t.Fatal("two notifications share a task id")
	}
	for _, from := range []string{tid, id} { // id: a task queued before task ids were dotted
		if got := task.IDOfTask(from); got != id {
			t.Errorf("IDOfTask(%s) = %s; want %s", from, got, id)
		}
	}
}

func TestDecodeRefusesWhatTheWorkerCannotSend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ json, want string }{
		{`{`, "decode notification payload"},
		{`{"user_id":"u","data":{"thing1":"x"}}`, "no template_id"},
		{`{"template_id":"T","data":{"thing1":"x"}}`, "neither user_id nor openid"},
		{`{"template_id":"T","user_id":"u"}`, "no data"},
	} {
		if _, err := task.Decode([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%s): %v; want %q", tc.json, err, tc.want)
		}
	}
	p, err := task.Decode([]byte(`{"template":"order_arrived","template_id":"T","openid":"o","data":{"thing1":"x"},"long_term":true}`))
	if err != nil || !p.LongTerm || p.OpenID != "o" || p.Data["thing1"] != "x" {
		t.Fatalf("Decode = %+v, %v", p, err)
	}
}
