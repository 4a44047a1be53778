package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// comparisonReport prints wxnotify and the naive peer side by side with
// wxnotify's figure over the peer's, then the Redis commands of each side
// by command.
// floor is asynq's no-op rate earlier in the run, for context.
func comparisonReport(out io.Writer, c *Comparison, floor float64) {
	w, p := c.WX, c.Naive
	fmt.Fprintf(out, "\ncomparison: wxnotify vs the naive peer (gin ShouldBindJSON → asynq TaskID → silenceper), %d notifications a round,\n", c.Notifications)
	fmt.Fprintf(out, "%d granted (the rest answered 43101 by WeChat), %d workers × 50, median of %d alternating rounds each;\n", c.Granted, c.Workers, c.Rounds)
	fmt.Fprintf(out, "for context, asynq alone moved %.0f no-op tasks/s earlier in this run\n", floor)
	fmt.Fprintf(out, "%-40s %16s %16s %14s\n", "measure", "wxnotify", "naive", "wxnotify/naive")
	row := func(name, a, b string, ratio float64) {
		r := ""
		if ratio > 0 {
			r = fmt.Sprintf("%.2f×", ratio)
		}
		fmt.Fprintf(out, "%-40s %16s %16s %14s\n", name, a, b, r)
	}
	num := func(format string, a, b float64) (string, string, float64) {
		r := 0.0
		if b != 0 {
			r = a / b
		}
		return fmt.Sprintf(format, a), fmt.Sprintf(format, b), r
	}
	rowf := func(name, format string, a, b float64) {
		x, y, r := num(format, a, b)
		row(name, x, y, r)
	}
	rowf("delivered/s (first post → last delivered)", "%.0f", w.DeliveredPerSec, p.DeliveredPerSec)
	rowf("  posts accepted/s", "%.0f", w.AcceptedPerSec, p.AcceptedPerSec)
	row("  messages delivered (fewest in a round)", fmt.Sprint(w.Delivered), fmt.Sprint(p.Delivered), 0)
	for _, who := range []string{"api", "workers", "redis", "bench", "total"} {
		name := "  " + who
		switch who {
		case "api":
			name = "CPU ms per delivered: api"
		case "bench":
			name = "  bench (sandbox + load)"
		}
		rowf(name, "%.3f", w.CPUms[who], p.CPUms[who])
	}
	rowf("Redis bytes per notification (left)", "%.0f", w.RedisBytes, p.RedisBytes)
	for _, side := range []struct {
		name string
		keys []KeysPer
	}{{"wxnotify", w.RedisKeys}, {"naive", p.RedisKeys}} {
		for _, k := range side.keys {
			if k.Per >= 0.01 || k.Per <= -0.01 {
				fmt.Fprintf(out, "    %-8s %+.3f × %-44s %5.0f B each (MEMORY USAGE)\n", side.name, k.Per, k.Kind, k.Usage)
			}
		}
	}
	rowf("WeChat calls per delivered", "%.3f", w.WeChatCalls, p.WeChatCalls)
	rowf("  sends per delivered", "%.3f", w.SendsPerDelivered, p.SendsPerDelivered)
	row("  sends answered 43101 (first attempts)", fmt.Sprint(w.Sends43101), fmt.Sprint(p.Sends43101), 0)
	row("  token calls (most in a round)", fmt.Sprint(w.TokenCalls), fmt.Sprint(p.TokenCalls), 0)
	rowf("Redis commands per delivered", "%.2f", w.RedisCommands, p.RedisCommands)
	rowf("  of which Lua script calls", "%.2f", w.ScriptCalls, p.ScriptCalls)
	// post→send, not enqueue→send: asynq keeps no enqueue time once a task
	// is done, so the peer's can only be seen from outside.
	rowf(fmt.Sprintf("post→send p50 at %.0f/s, ms", c.LatencyRate), "%.1f", w.P50ms, p.P50ms)
	rowf("  p95, ms", "%.1f", w.P95ms, p.P95ms)
	rowf("  p99, ms", "%.1f", w.P99ms, p.P99ms)
	rowf("peak RSS: api, MiB", "%.1f", w.APIPeakRSSMiB, p.APIPeakRSSMiB)
	rowf("peak RSS: largest worker, MiB", "%.1f", w.WorkerPeakRSSMiB, p.WorkerPeakRSSMiB)

	fmt.Fprintf(out, "Redis commands per delivered by command (api alone, then workers alone; Lua's own commands counted too)\n")
	fmt.Fprintf(out, "%-28s %12s %12s %12s %12s\n", "command", "wx api", "wx workers", "naive api", "naive workers")
	cols := []map[string]float64{w.CommandsAPI, w.CommandsWorkers, p.CommandsAPI, p.CommandsWorkers}
	totals := make([]float64, len(cols))
	names := map[string]float64{}
	for i, col := range cols {
		for k, v := range col {
			names[k] += v
			totals[i] += v
		}
	}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return names[keys[i]] > names[keys[j]] || names[keys[i]] == names[keys[j]] && keys[i] < keys[j]
	})
	line := func(name string, vals []float64) {
		cells := make([]string, len(vals))
		for i, v := range vals {
			cells[i] = fmt.Sprintf("%12.3f", v)
			if v == 0 {
				cells[i] = fmt.Sprintf("%12s", "·")
			}
		}
		fmt.Fprintf(out, "%-28s %s\n", name, strings.Join(cells, " "))
	}
	for _, k := range keys {
		if names[k] < 0.005 {
			continue
		}
		vals := make([]float64, len(cols))
		for i, col := range cols {
			vals[i] = col[k]
		}
		line(k, vals)
	}
	line("total", totals)
}
