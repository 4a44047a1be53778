package config

import "log/slog"

// Secret is a configuration value that must never be printed: it formats,
// logs and marshals as "[redacted]" (or "" when unset). Reveal gives the value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret itself, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

// String keeps the secret out of fmt output.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// LogValue keeps the secret out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps the secret out of JSON and YAML dumps.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
