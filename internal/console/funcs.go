package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"wxnotify/internal/record"
)

// funcs are the pages' formatting helpers.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	"whenp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	"dur": func(d time.Duration) string {
		if d <= 0 {
			return "0s"
		}
		if d >= time.Second {
			return d.Truncate(time.Second).String()
		}
		return d.Round(time.Millisecond).String()
	},
	"pct": func(f float64) string { return fmt.Sprintf("%.0f %%", f*100) },
	"label": func(class record.Class) string {
		if l, ok := classLabels[class]; ok {
			return l
		}
		return string(class)
	},
	"get": func(m map[record.Class]int64, k record.Class) int64 { return m[k] },
	// said is an outcome in plain words (words.go); byWeChat marks the
	// history's entries that are WeChat's word on an order, not attempts.
	"said":     said,
	"byWeChat": func(outcome string) bool { return strings.HasPrefix(outcome, "order_") },
}

var classLabels = map[record.Class]string{
	record.ClassDelivered: "delivered", record.ClassSkippedNoGrant: "skipped: no grant", record.ClassSkippedUnbound: "skipped: not bound",
	record.ClassSkippedOther: "skipped: other", record.ClassRetrying: "retrying", record.ClassArchived: "archived",
}
