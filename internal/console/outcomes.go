package console

import (
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/record"
	"wxnotify/internal/registry"
)

// outcomesPage is the outcome counts per template: a stacked bar per hour
// for the last day, and totals for the last hour and the last day.
type outcomesPage struct {
	Classes   []record.Class
	Templates []templateOutcomes
	Hours     int
	// Feed is the feed page, for the text.
	Feed string
}

type templateOutcomes struct {
	Template string
	LastHour map[record.Class]int64
	LastDay  map[record.Class]int64
	HourSum  int64
	DaySum   int64
	Chart    chart
}

// chart is an SVG stacked bar chart laid out here, so that the page needs
// no script: the template only writes the rectangles.
type chart struct {
	Width, Height int
	Bars          []bar
	Ticks         []tick
	Max           int64
	// Baseline is the y of the x axis; Top the y of the tallest bar.
	Baseline, Top, Left, Right int
}

type bar struct {
	Hour     time.Time
	Label    string // the hour, for the bar's tooltip
	Total    int64
	Segments []segment
}

// segment is one class's part of a bar; Href is its feed (feedOfClass).
type segment struct {
	Class      record.Class
	Count      int64
	X, Y, W, H int
	Href       string
}

type tick struct {
	X     int
	Label string
}

// Chart geometry, in SVG user units.
const (
	chartHours = 24
	barWidth   = 22
	barGap     = 4
	chartLeft  = 44
	chartTop   = 12
	plotHeight = 140
)

func (c *Console) outcomes(ctx *gin.Context, v *view) {
	hours, err := v.Notifications.OutcomeCounts(ctx.Request.Context(), c.Now(), chartHours)
	if err != nil {
		c.unavailable(ctx, v, "read outcome counts", err)
		return
	}
	p := outcomesOf(v.Registry, hours)
	p.Feed = v.link("/admin/feed")
	for _, t := range p.Templates {
		for _, b := range t.Chart.Bars {
			for i, seg := range b.Segments {
				b.Segments[i].Href = v.feedLink(feedOfClass(seg.Class, t.Template, b.Hour))
			}
		}
	}
	c.render(ctx, v, http.StatusOK, "outcomes", "Outcomes", p)
}

// outcomesOf lays out the page for hours (oldest first): every registered
// template, and any other that has counts.
func outcomesOf(reg *registry.Registry, hours []record.HourCounts) outcomesPage {
	p := outcomesPage{Classes: record.OutcomeClasses, Hours: len(hours)}
	names := map[string]bool{}
	for _, t := range reg.Templates() {
		names[t.Name] = true
	}
	for _, h := range hours {
		for name := range h.Counts {
			names[name] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	slices.Sort(sorted)
	for _, name := range sorted {
		t := templateOutcomes{Template: name, LastHour: map[record.Class]int64{}, LastDay: map[record.Class]int64{}}
		for i, h := range hours {
			for class, n := range h.Counts[name] {
				t.LastDay[class] += n
				t.DaySum += n
				if i == len(hours)-1 {
					t.LastHour[class] += n
					t.HourSum += n
				}
			}
		}
		t.Chart = layoutChart(hours, name)
		p.Templates = append(p.Templates, t)
	}
	return p
}

// layoutChart stacks each hour's classes into one bar, scaled to the
// busiest hour.
func layoutChart(hours []record.HourCounts, template string) chart {
	ch := chart{Left: chartLeft, Top: chartTop, Baseline: chartTop + plotHeight}
	ch.Width = chartLeft + len(hours)*(barWidth+barGap) + 8
	ch.Height = ch.Baseline + 24
	ch.Right = ch.Width - 8
	for _, h := range hours {
		var total int64
		for _, n := range h.Counts[template] {
			total += n
		}
		ch.Max = max(ch.Max, total)
	}
	for i, h := range hours {
		x := chartLeft + i*(barWidth+barGap) + barGap/2
		b := bar{Hour: h.Hour, Label: h.Hour.Format("2006-01-02 15:00") + " UTC"}
		y := ch.Baseline
		for _, class := range record.OutcomeClasses {
			n := h.Counts[template][class]
			if n == 0 {
				continue
			}
			b.Total += n
			height := int(n * plotHeight / max(ch.Max, 1))
			height = max(height, 1) // a count is never invisible
			y -= height
			b.Segments = append(b.Segments, segment{Class: class, Count: n, X: x, Y: y, W: barWidth, H: height})
		}
		ch.Bars = append(ch.Bars, b)
		if i%6 == 0 || i == len(hours)-1 {
			ch.Ticks = append(ch.Ticks, tick{X: x + barWidth/2, Label: h.Hour.Format("15:00")})
		}
	}
	return ch
}
