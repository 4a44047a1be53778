package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// webhookReport prints the webhook phase: each setting's medians side by
// side with the ratios to no webhook, each round's values where their
// spread matters, then what each receiver got in each round.
func webhookReport(out io.Writer, w *Webhooks) {
	none, fast, slow := w.Settings[hookNone], w.Settings[hookFast], w.Settings[hookSlow]
	slowName := fmt.Sprintf("receiver %s", fmtSeconds(w.SlowDelayS))
	fmt.Fprintf(out, "\nwebhook: the sends with no webhook, a receiver answering at once and one answering after %s (the bench's, verifying\n", fmtSeconds(w.SlowDelayS))
	fmt.Fprintf(out, "each signature); %d workers × %d webhook slots (WEBHOOK_CONCURRENCY) beside their sends' 50; %d notifications a round\n", w.Workers, w.Concurrency, w.Notifications)
	fmt.Fprintf(out, "(%d granted), then %d posted at %.0f/s for latency; median of %d alternating rounds per setting\n", w.Granted, w.LatencyN, w.LatencyRate, w.Rounds)
	fmt.Fprintf(out, "%-36s %20s %20s %20s %12s %12s\n", "measure", "no webhook", "receiver at once", slowName, "at once/none", "slow/none")
	line := func(name string, cells ...string) {
		fmt.Fprintf(out, "%-36s %20s %20s %20s %12s %12s\n", append([]any{name}, anys(cells)...)...)
	}
	ratio := func(key string) string { return fmt.Sprintf("%.2f×", w.Ratio[key]) }
	medians := func(name, format, key string, v func(f *HookFigures) float64) {
		line(name, fmt.Sprintf(format, v(none)), fmt.Sprintf(format, v(fast)), fmt.Sprintf(format, v(slow)), ratio("fast_"+key), ratio("slow_"+key))
	}
	// rounds prints each round's values, in the setting's column while
	// they fit, else a line per setting below the measure's name.
	rounds := func(name, format string, v func(r HookRound) float64) {
		cells, fit := []string{}, true
		for _, f := range []*HookFigures{none, fast, slow} {
			vals := make([]string, len(f.Rounds))
			for i, r := range f.Rounds {
				vals[i] = fmt.Sprintf(format, v(r))
			}
			cells = append(cells, strings.Join(vals, " · "))
			fit = fit && utf8.RuneCountInString(cells[len(cells)-1]) <= 20
		}
		if fit {
			line(name, append(cells, "", "")...)
			return
		}
		fmt.Fprintln(out, name)
		for i, setting := range []string{"no webhook", "receiver at once", slowName} {
			fmt.Fprintf(out, "    %-32s %s\n", setting, cells[i])
		}
	}
	medians("delivered/s (first post → last send)", "%.0f", "delivered_per_s", func(f *HookFigures) float64 { return f.DeliveredPerSec })
	rounds("  each round", "%.0f", func(r HookRound) float64 { return r.DeliveredPerSec })
	medians("  posts accepted/s", "%.0f", "accepted_per_s", func(f *HookFigures) float64 { return f.AcceptedPerSec })
	medians(fmt.Sprintf("enqueue→send p50 at %.0f/s, ms", w.LatencyRate), "%.1f", "p50", func(f *HookFigures) float64 { return f.P50ms })
	medians("  p95, ms", "%.1f", "p95", func(f *HookFigures) float64 { return f.P95ms })
	medians("  p99, ms", "%.1f", "p99", func(f *HookFigures) float64 { return f.P99ms })
	rounds("  p99 each round", "%.1f", func(r HookRound) float64 { return r.P99ms })
	for _, who := range cpuParties {
		name := "  " + who
		switch who {
		case "api":
			name = "CPU ms per notification: api"
		case "bench":
			name = "  bench (sandbox, load, receiver)"
		}
		medians(name, "%.3f", "cpu_"+who, func(f *HookFigures) float64 { return f.CPUms[who] })
	}
	rounds("  total, each round", "%.3f", func(r HookRound) float64 { return r.CPUms["total"] })
	medians("Redis commands per notification", "%.2f", "redis_commands", func(f *HookFigures) float64 { return f.RedisCommands })
	line("  of which Lua script calls", fmt.Sprintf("%.2f", none.ScriptCalls), fmt.Sprintf("%.2f", fast.ScriptCalls), fmt.Sprintf("%.2f", slow.ScriptCalls), "", "")
	rounds("cores busy: machine, each round", "%.2f", func(r HookRound) float64 { return r.MachineCores })
	rounds("  this run, each round", "%.2f", func(r HookRound) float64 { return r.RunCores })
	rounds("  its threads waiting for a CPU", "%.2f", func(r HookRound) float64 { return r.WaitCores })
	rounds("  redis-server waiting for a CPU", "%.2f", func(r HookRound) float64 { return r.RedisWaitCores })
	rounds("  redis-server busy", "%.2f", func(r HookRound) float64 { return r.RedisCores })
	fmt.Fprintf(out, "  %s against the receiver at once: delivered/s %.2f×, enqueue→send p50 %.2f×, p99 %.2f×\n", slowName,
		w.Ratio["slow_to_fast_delivered_per_s"], w.Ratio["slow_to_fast_p50"], w.Ratio["slow_to_fast_p99"])
	fmt.Fprintf(out, "  paired by round (a round's settings run back to back):\n")
	for _, p := range []struct{ key, name string }{{"fast_to_none", "at once/none"}, {"slow_to_none", "slow/none"}, {"slow_to_fast", "slow/at once"}} {
		cells := []string{}
		for _, m := range []string{"delivered_per_s", "p50", "p99"} {
			vals := []string{}
			for _, v := range w.Paired[p.key+"_"+m] {
				vals = append(vals, fmt.Sprintf("%.2f", v))
			}
			cells = append(cells, strings.Join(vals, " · "))
		}
		fmt.Fprintf(out, "    %-13s delivered/s %s; p50 %s; p99 %s\n", p.name, cells[0], cells[1], cells[2])
	}
	for _, s := range []struct {
		name string
		f    *HookFigures
	}{{"receiver at once", fast}, {slowName, slow}} {
		for i, r := range s.f.Rounds {
			fmt.Fprintf(out, "  %s, round %d: %s\n", s.name, i+1, eventsLine(r, w))
		}
	}
}

// eventsLine tells what the receiver got in round r: by the last send, by
// the end, each once after dedupe or how many are missing, and why.
func eventsLine(r HookRound, w *Webhooks) string {
	e := r.End
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d events by the last send, %d by the end of the round", r.AtLastSend, r.Events, e.Accepted)
	if r.WaitedS > 0 {
		fmt.Fprintf(&b, " (waited %.1f s of %.0f s allowed)", r.WaitedS, r.NeededS)
	}
	if r.EveryOnce {
		b.WriteString("; every event once after dedupe")
	} else {
		fmt.Fprintf(&b, "; %d not delivered (%d still queued", r.Events-e.Accepted, r.LeftQueued)
		if r.WaitedS == 0 {
			fmt.Fprintf(&b, "; %d slots would need ≈ %.0f s more, over -webhook-wait %.0f s", w.Workers*w.Concurrency, r.NeededS, w.WaitLimitS)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "; %d tries, %d duplicates dropped by event_id, %d cut off by the sender, %d refused, %d stray", e.Tries, e.Duplicates, e.Abandoned, e.Refused, e.Stray)
	return b.String()
}

// fmtSeconds is s seconds as a Go duration prints it ("5s", "500ms").
func fmtSeconds(s float64) string { return time.Duration(s * float64(time.Second)).String() }

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
