package console

import (
	"fmt"
	"html/template"
	"time"
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
	"label": func(class string) string {
		if l, ok := classLabels[class]; ok {
			return l
		}
		return class
	},
	"get": func(m map[string]int64, k string) int64 { return m[k] },
}

var classLabels = map[string]string{
	"delivered": "delivered", "skipped_no_grant": "skipped: no grant", "skipped_not_bound": "skipped: not bound",
	"skipped_other": "skipped: other", "retrying": "retrying", "archived": "archived",
}
