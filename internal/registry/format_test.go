package registry

import (
	"encoding/json"
	"math"
	"testing"
)

func TestValueText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want string
		ok   bool
	}{
		{"a b", "a b", true},
		{json.Number("1e3"), "1e3", true},
		{18.5, "18.5", true},
		{1e21, "1000000000000000000000", true},
		{float32(0.1), "0.1", true},
		{math.Inf(1), "+Inf", true},
		{42, "42", true},
		{int64(-7), "-7", true},
		{int32(5), "5", true},
		{uint(6), "6", true},
		{uint64(8), "8", true},
		{uint32(9), "9", true},
		{true, "", false},
		{nil, "", false},
		{[]any{}, "", false},
		{map[string]any{}, "", false},
	}
	for _, tt := range tests {
		got, ok := valueText(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("valueText(%#v) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFormatValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format, in, want string
		fails            bool
	}{
		{"", " as is ", " as is ", false},
		{"time", "2026-11-24T07:01:00Z", "2026年11月24日 15:01", false},
		{"time", "2026-11-24T07:01:59.999999999Z", "2026年11月24日 15:01", false},
		{"time", "2026-01-01T00:05:00+09:00", "2025年12月31日 23:05", false},
		{"time", "2026-11-24", "", true},
		{"time", "2026-11-24 15:01:00+08:00", "", true},
		{"time", "0001-01-01T00:00:00+08:00", "0001年1月1日 00:00", false},
		{"date", "2026-02-28", "2026年2月28日", false},
		{"date", "2026-02-30", "", true},
		{"date", "2026-11-24T16:00:00Z", "2026年11月25日", false},
		{"date", "", "", true},
		{"amount", "0", "¥0.00", false},
		{"amount", "00", "¥0.00", false},
		{"amount", "0.5", "¥0.50", false},
		{"amount", "10.05", "¥10.05", false},
		{"amount", "3.000", "¥3.00", false},
		{"amount", "3.001", "", true},
		{"amount", "", "", true},
		{"amount", ".5", "", true},
		{"amount", "5.", "", true},
		{"amount", "+5", "", true},
		{"amount", "1.2.3", "", true},
		{"amount", "¥5", "", true},
		{"amount", " 5", "", true},
		{"amount", "NaN", "", true},
		{"amount", "-0", "", true},
	}
	for _, tt := range tests {
		got, problem := formatValue(tt.format, tt.in)
		if got != tt.want || (problem != "") != tt.fails {
			t.Errorf("formatValue(%q, %q) = %q, problem %q; want %q, fails %v", tt.format, tt.in, got, problem, tt.want, tt.fails)
		}
	}
}
