package registry

import (
	"fmt"
	"net/url"
	"strings"
)

// pageSegment is a piece of a page pattern: literal text, or a {field}
// placeholder filled from the request's data.
type pageSegment struct {
	text  string // the literal text, or the data field name when field
	field bool
	query bool // the placeholder is after the first '?': query-escape its value
}

// parsePage splits a page pattern such as "pages/order/detail?id={order_id}"
// into segments. Braces must pair up around a data field name; the pattern
// is relative to the mini program's root, so it may not start with "/".
func parsePage(p string) ([]pageSegment, error) {
	if strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf(`%q starts with "/" (WeChat pages are relative, e.g. pages/order/detail)`, p)
	}
	q := strings.IndexByte(p, '?')
	var segs []pageSegment
	lit := 0 // start of the pending literal
	for i := 0; i < len(p); {
		switch p[i] {
		case '}':
			return nil, fmt.Errorf(`%q has an unbalanced "}" at byte %d`, p, i)
		case '{':
			end := strings.IndexAny(p[i+1:], "{}")
			if end < 0 || p[i+1+end] == '{' {
				return nil, fmt.Errorf(`%q has an unbalanced "{" at byte %d`, p, i)
			}
			name := p[i+1 : i+1+end]
			if name == "" {
				return nil, fmt.Errorf(`%q has an empty placeholder "{}" (want e.g. {order_id})`, p)
			}
			if !fieldNameRE.MatchString(name) {
				return nil, fmt.Errorf("%q: placeholder {%s} is not a data field name", p, name)
			}
			if lit < i {
				segs = append(segs, pageSegment{text: p[lit:i]})
			}
			segs = append(segs, pageSegment{text: name, field: true, query: q >= 0 && q < i})
			i += end + 2
			lit = i
		default:
			i++
		}
	}
	if lit < len(p) {
		segs = append(segs, pageSegment{text: p[lit:]})
	}
	return segs, nil
}

// renderPage fills the template's page pattern from data, escaping each
// value for where it stands: url.PathEscape before the first '?',
// url.QueryEscape after it.
func (t *Template) renderPage(data map[string]any) (string, *FieldError) {
	if t.Page == "" {
		return "", nil
	}
	segs := t.page
	if segs == nil { // a Template built by hand rather than by Load
		var err error
		if segs, err = parsePage(t.Page); err != nil {
			return "", &FieldError{Field: "page", Message: "template " + t.Name + " page: " + err.Error()}
		}
	}
	var b strings.Builder
	b.Grow(len(t.Page) + 16)
	for _, s := range segs {
		if !s.field {
			b.WriteString(s.text)
			continue
		}
		field := "data." + s.text
		v, ok := data[s.text]
		if !ok || v == nil {
			return "", &FieldError{Field: field, Message: field + " is required (page)"}
		}
		text, ok := valueText(v)
		if !ok {
			return "", &FieldError{Field: field, Message: field + " must be a string or a number (page)"}
		}
		if s.query {
			b.WriteString(url.QueryEscape(text))
		} else {
			b.WriteString(url.PathEscape(text))
		}
	}
	return b.String(), nil
}
