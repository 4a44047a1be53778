package keyword

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestTime(t *testing.T) {
	t.Parallel()
	const hint = `(use "15:01" or "2019年10月1日 15:01")`
	runCases(t, []checkCase{
		{"time3", "15:01", ""},
		{"time3", "2019年10月1日 15:01", ""},
		{"time3", "0:00", ""},
		{"time3", "9:05", ""},
		{"time3", "09:05", ""},
		{"time3", "23:59", ""},
		{"time3", "2019年01月01日 00:00", ""},
		{"time3", "2000年2月29日 12:00", ""},
		{"time3", "15:01~16:30", ""},
		{"time3", "22:00~02:00", ""},
		{"time3", "2019年10月1日 15:01~2019年10月2日 8:00", ""},
		{"time3", "2019年10月1日 15:01~16:00", ""},
		{"time3", "2019-10-01 15:01", `time3: "2019-10-01 15:01" is not a time ` + hint},
		{"time3", "2019/10/01 15:01", `time3: "2019/10/01 15:01" is not a time ` + hint},
		{"time3", "2019年10月1日", `time3: "2019年10月1日" is a date, not a time ` + hint},
		{"time3", "15:01~2019年10月2日", `time3: "2019年10月2日" is a date, not a time ` + hint},
		{"time3", "24:00", "time3: 24:00 is not a real time (00:00 to 23:59)"},
		{"time3", "15:60", "time3: 15:60 is not a real time (00:00 to 23:59)"},
		{"time3", "2019年2月30日 15:01", "time3: 2019年2月30日 is not a real date"},
		{"time3", "1900年2月29日 10:00", "time3: 1900年2月29日 is not a real date"},
		{"time3", "15:01 ~ 16:30", `time3: "15:01 ~ 16:30" is not a time range (use "15:01~16:30", no spaces around "~")`},
		{"time3", "15:01~", "*"},
		{"time3", "~15:01", "*"},
		{"time3", "~", "*"},
		{"time3", "15:01~16:00~17:00", "*"},
		{"time3", "15:01～16:30", "*"},
		{"time3", "15:1", "*"},
		{"time3", "15:001", "*"},
		{"time3", "15:01:30", "*"},
		{"time3", "015:01", "*"},
		{"time3", ":01", "*"},
		{"time3", "3pm", "*"},
		{"time3", "15：01", "*"},
		{"time3", "１５:01", "*"},
		{"time3", " 15:01", "*"},
		{"time3", "15:01 ", "*"},
		{"time3", "2019年10月1日15:01", "*"},
		{"time3", "2019年10月1日  15:01", "*"},
		{"time3", "19年10月1日 15:01", "*"},
		{"time3", "20190年10月1日 15:01", "*"},
		{"time3", "2019年10月1號 15:01", "*"},
		{"time3", "2019年100月1日 15:01", "*"},
		{"time3", "", "time3: empty"},
	})
}

func TestDate(t *testing.T) {
	t.Parallel()
	const hint = `(use "2019年10月1日" or "2019年10月1日 15:01")`
	runCases(t, []checkCase{
		{"date2", "2019年10月1日", ""},
		{"date2", "2019年10月1日 15:01", ""},
		{"date2", "2019年10月01日", ""},
		{"date2", "2019年12月31日", ""},
		{"date2", "2024年2月29日", ""},
		{"date2", "0001年1月1日", ""},
		{"date2", "9999年12月31日 23:59", ""},
		{"date2", "2019年10月1日~2019年10月7日", ""},
		{"date2", "2019年10月1日 8:00~2019年10月1日 18:00", ""},
		{"date2", "2019年2月30日", "date2: 2019年2月30日 is not a real date"},
		{"date2", "2023年2月29日", "date2: 2023年2月29日 is not a real date"},
		{"date2", "2019年4月31日", "*"},
		{"date2", "2019年13月1日", "*"},
		{"date2", "2019年0月1日", "*"},
		{"date2", "2019年10月0日", "*"},
		{"date2", "0000年1月1日", "date2: 0000年1月1日 is not a real date"},
		{"date2", "2019年10月1日~2019年10月32日", "date2: 2019年10月32日 is not a real date"},
		{"date2", "15:01", `date2: "15:01" is a time, not a date ` + hint},
		{"date2", "2019年10月1日~15:01", `date2: "15:01" is a time, not a date ` + hint},
		{"date2", "2019-10-01", `date2: "2019-10-01" is not a date ` + hint},
		{"date2", "2019年10月1日 24:00", "date2: 24:00 is not a real time (00:00 to 23:59)"},
		{"date2", "2019年10月1日 ~2019年10月2日", `date2: "2019年10月1日 ~2019年10月2日" is not a date range (use "2019年10月1日~2019年10月7日", no spaces around "~")`},
		{"date2", "2019年10月", "*"},
		{"date2", "10月1日", "*"},
		{"date2", "2019年10月1日 ", "*"},
		{"date2", "2019年10月1日 15", "*"},
		{"date2", "", "date2: empty"},
	})
}

// TestRealDate compares realDate with time.Date's normalisation.
func TestRealDate(t *testing.T) {
	t.Parallel()
	for _, y := range []int{1, 4, 100, 400, 1900, 1999, 2000, 2023, 2024, 2100, 9999} {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				want := m >= 1 && m <= 12 && d >= 1
				if want {
					tm := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
					want = tm.Day() == d
				}
				if got := realDate(y, m, d); got != want {
					t.Errorf("realDate(%d, %d, %d) = %v, want %v", y, m, d, got, want)
				}
				err := Check("date1", fmt.Sprintf("%04d年%d月%d日", y, m, d))
				if (err == nil) != want {
					t.Errorf("date %04d-%d-%d: %v, want valid=%v", y, m, d, err, want)
				}
			}
		}
	}
}

// TestFormatsPassCheck: every minute of a day, every day of 1900–2100 and
// random instants in years 1–9999 format into values Check accepts.
func TestFormatsPassCheck(t *testing.T) {
	t.Parallel()
	check := func(key, value string, tm time.Time) {
		t.Helper()
		if err := Check(key, value); err != nil {
			t.Fatalf("%v formatted as %q: %v", tm, value, err)
		}
	}
	all := func(tm time.Time) {
		t.Helper()
		clock, date, full := FormatClock(tm), FormatDate(tm), FormatTime(tm)
		check("time1", clock, tm)
		check("time1", full, tm)
		check("date1", date, tm)
		check("date1", full, tm)
		check("time1", full+"~"+clock, tm)
		check("date1", date+"~"+full, tm)
	}
	day := time.Date(2024, 2, 29, 0, 0, 0, 0, ChinaTime)
	for m := range 24 * 60 {
		all(day.Add(time.Duration(m) * time.Minute))
	}
	for tm := time.Date(1900, 1, 1, 13, 7, 0, 0, ChinaTime); tm.Year() <= 2100; tm = tm.AddDate(0, 0, 1) {
		all(tm)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).Unix()
	for range 20000 {
		tm := time.Unix(lo+rng.Int64N(hi-lo), 0)
		all(tm.In(ChinaTime))
		all(tm.UTC())
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	tm := time.Date(2019, 10, 1, 7, 1, 0, 0, time.UTC)
	for _, tc := range []struct{ got, want string }{
		{FormatTime(tm), "2019年10月1日 07:01"},
		{FormatClock(tm), "07:01"},
		{FormatDate(tm), "2019年10月1日"},
		{FormatTime(tm.In(ChinaTime)), "2019年10月1日 15:01"},
		{FormatDate(time.Date(2019, 9, 30, 20, 0, 0, 0, time.UTC).In(ChinaTime)), "2019年10月1日"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if _, off := tm.In(ChinaTime).Zone(); off != 8*60*60 {
		t.Errorf("ChinaTime offset %d", off)
	}
}
