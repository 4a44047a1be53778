package program

import (
	"context"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"wxnotify/internal/record"
	"wxnotify/internal/sandbox/sandboxtest"
)

// The worker counts each outcome by template and class for the operator
// console, in round trips it makes anyway: a delivery in the batch after its
// record, a skip with the record's write.
func TestE2EOutcomesAreCounted(t *testing.T) {
	t.Parallel()
	s := newStackEnv(t, 1, map[string]string{"ADMIN_USER": "ops", "ADMIN_PASSWORD": "console-password-1"})
	s.waitState(s.notify(s.user(1, 1), "count-delivered", nil), "completed", 10*time.Second)
	s.waitState(s.notify(s.user(1, 0), "count-no-grant", nil), "completed", 10*time.Second)
	s.waitState(s.notify("never-logged-in", "count-not-bound", nil), "completed", 10*time.Second)
	want := map[string]int64{"delivered": 1, "skipped_no_grant": 1, "skipped_not_bound": 1}
	records := record.NewStore(s.rdb, sandboxtest.AppID, time.Hour)
	// The delivery's count follows its record in a second round trip.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := map[string]int64{}
		hours, err := records.OutcomeCounts(context.Background(), time.Now(), 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hours {
			for class, n := range h.Counts["order_arrived"] {
				got[string(class)] += n
			}
		}
		if maps.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts %v; want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The api's console shows them, and the rate the worker announced.
	for path, wants := range map[string][]string{
		"/admin/outcomes": {`<th>last day</th><td class="num">1</td><td class="num">1</td><td class="num">1</td>`},
		"/admin/health":   {"500 sends/s", "ago; WeChat gave it"},
	} {
		req, _ := http.NewRequest("GET", s.api.addr+path, nil)
		req.SetBasicAuth("ops", "console-password-1")
		resp, err := s.apiClient(0).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range wants {
			if resp.StatusCode != 200 || !strings.Contains(string(b), w) {
				t.Errorf("GET %s: %d, lacks %q", path, resp.StatusCode, w)
			}
		}
	}
}
