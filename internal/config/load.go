// Package config reads wxnotify's settings from the environment and checks
// them at start, with errors that name the variable to fix.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// load fills a T from the variables getenv knows: caarlos0/env reads a map,
// so the map is built from the variable names T declares. Tests pass a
// map's lookup as getenv and never touch the process environment.
func load[T any](getenv func(string) string) (T, error) {
	var zero T
	params, err := env.GetFieldParams(&zero)
	if err != nil {
		return zero, fmt.Errorf("config: %w", err)
	}
	vars := make(map[string]string, len(params))
	for _, p := range params {
		if v := getenv(p.Key); v != "" {
			vars[p.Key] = v
		}
	}
	cfg, err := env.ParseAsWithOptions[T](env.Options{Environment: vars})
	if err != nil {
		return zero, fmt.Errorf("config: %w", nameVariables(err, reflect.TypeFor[T](), vars))
	}
	return cfg, nil
}

// nameVariables rewrites caarlos0/env's parse errors, which name the Go
// field ("Timeout"), to name the variable to fix ("REDIS_TIMEOUT: …").
func nameVariables(err error, t reflect.Type, vars map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	keys := map[string][]string{}
	fieldKeys(t, keys)
	out := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			out = append(out, e)
			continue
		}
		var set []string // the failing variable is one that was set: defaults parse
		for _, k := range keys[pe.Name] {
			if vars[k] != "" {
				set = append(set, k)
			}
		}
		out = append(out, fmt.Errorf("%s: %q is not a valid %s: %w", strings.Join(set, " or "), vars[firstOr(set)], pe.Type, pe.Err))
	}
	return errors.Join(out...)
}

// fieldKeys maps each field name of struct t (nested structs included) to
// the variables of its env tags.
func fieldKeys(t reflect.Type, keys map[string][]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, ok := f.Tag.Lookup("env"); ok {
			name, _, _ := strings.Cut(tag, ",")
			keys[f.Name] = append(keys[f.Name], name)
		} else if f.Type.Kind() == reflect.Struct {
			fieldKeys(f.Type, keys)
		}
	}
}

func firstOr(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// problems collects validation failures so that one start reports them all.
type problems []error

func (p *problems) add(variable, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", variable, fmt.Sprintf(format, args...)))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("config: %w", errors.Join(p...))
}

// checkAddr checks a listen address like ":8080" or "127.0.0.1:8080".
func (p *problems) checkAddr(variable, addr string) {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		p.add(variable, "%q is not a listen address like :8080 or 127.0.0.1:8080", addr)
	}
}

// checkHTTPURL checks a base URL.
func (p *problems) checkHTTPURL(variable, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(variable, "%q is not an http(s) URL", raw)
	}
}

// checkPositive checks that a duration is above zero.
func (p *problems) checkPositive(variable string, d time.Duration) {
	if d <= 0 {
		p.add(variable, "%s must be above zero", d)
	}
}

// checkLogLevel checks LOG_LEVEL.
func (p *problems) checkLogLevel(level string) {
	switch strings.ToLower(level) {
	case "debug", "info", "warn", "error":
	default:
		p.add("LOG_LEVEL", "%q is not debug, info, warn or error", level)
	}
}
