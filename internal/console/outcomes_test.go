package console

import (
	"testing"
	"time"

	"wxnotify/internal/record"
)

// The busiest hour fills the plot; each bar stacks its classes in the
// legend's order, bottom up, without gaps; an hour without outcomes has
// no rectangle.
func TestLayoutChart(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	hours := make([]record.HourCounts, 24)
	for i := range hours {
		hours[i] = record.HourCounts{Hour: start.Add(time.Duration(i) * time.Hour), Counts: map[string]map[record.Class]int64{}}
	}
	hours[3].Counts["t"] = map[record.Class]int64{record.ClassArchived: 1, record.ClassDelivered: 3}
	hours[23].Counts["t"] = map[record.Class]int64{record.ClassDelivered: 1}
	ch := layoutChart(hours, "t")
	if ch.Max != 4 || len(ch.Bars) != 24 {
		t.Fatalf("max %d, %d bars", ch.Max, len(ch.Bars))
	}
	b := ch.Bars[3]
	if len(b.Segments) != 2 || b.Segments[0].Class != "delivered" || b.Segments[1].Class != "archived" {
		t.Fatalf("hour 3: %+v", b.Segments)
	}
	d, a := b.Segments[0], b.Segments[1]
	if d.Y+d.H != ch.Baseline || a.Y+a.H != d.Y || a.Y != ch.Top || d.H != 3*a.H {
		t.Errorf("hour 3 not stacked to the top in proportion: %+v %+v (top %d, baseline %d)", d, a, ch.Top, ch.Baseline)
	}
	if len(ch.Bars[0].Segments) != 0 || ch.Bars[23].Total != 1 || ch.Bars[23].Segments[0].H != plotHeight/4 {
		t.Errorf("empty hour %+v, last hour %+v", ch.Bars[0], ch.Bars[23])
	}
	if ch.Bars[23].Segments[0].X+barWidth > ch.Right {
		t.Errorf("the last bar ends at %d, past the plot's right edge %d", ch.Bars[23].Segments[0].X+barWidth, ch.Right)
	}
}
