package registry

import (
	"unicode/utf8"

	"wxnotify/internal/keyword"
)

// maxThingRunes is WeChat's limit on a thing value, in characters (runes).
const maxThingRunes = 20

// Rendered is what Render makes of a request: the keyword values to send
// and the page the message opens.
type Rendered struct {
	Data map[string]string // WeChat keyword → value, e.g. "thing1" → "牛肉面 x2"
	Page string            // the page with placeholders filled; "" when the template has none
}

// FieldError is a problem with the request's data, for an HTTP 400 that
// names the field.
type FieldError struct {
	Field   string // the request field at fault, e.g. "data.item_name"
	Keyword string // the WeChat keyword it fills, e.g. "thing1"; "" for a page placeholder
	Message string // the whole explanation, e.g. "data.item_name is required (thing1)"
}

// Error returns the Message.
func (e *FieldError) Error() string { return e.Message }

// Render turns the request's data into WeChat's keyword values and the page
// to open. data is a decoded JSON object: values are strings or numbers
// (json.Number, float64 or an integer type). Keywords are rendered in Key
// order and the first problem is returned, always as a *FieldError; on
// success every value passes its keyword's Spec.Check.
func (t *Template) Render(data map[string]any) (Rendered, error) {
	out := Rendered{Data: make(map[string]string, len(t.Keywords))}
	for i := range t.Keywords {
		kw := &t.Keywords[i]
		value, ferr := t.renderKeyword(kw, data)
		if ferr != nil {
			return Rendered{}, ferr
		}
		out.Data[kw.Key] = value
	}
	page, ferr := t.renderPage(data)
	if ferr != nil {
		return Rendered{}, ferr
	}
	out.Page = page
	return out, nil
}

// renderKeyword finds, converts, fits and checks one keyword's value.
// Error text is built only on failure, so success does not allocate here.
func (t *Template) renderKeyword(kw *Keyword, data map[string]any) (string, *FieldError) {
	var value string
	if v, ok := data[kw.From]; !ok || v == nil {
		if kw.Default == nil {
			return "", kw.fieldError(" is required (" + kw.Key + ")")
		}
		value = *kw.Default
	} else {
		text, ok := valueText(v)
		if !ok {
			return "", kw.fieldError(" must be a string or a number (" + kw.Key + ")")
		}
		var problem string
		if value, problem = formatValue(kw.Format, text); problem != "" {
			return "", kw.fieldError(": " + problem + " (" + kw.Key + ")")
		}
	}
	if kw.Spec.Type == keyword.Thing && t.ThingOverflow != overflowReject &&
		utf8.RuneCountInString(value) > maxThingRunes {
		value = keyword.ShortenThing(value)
	}
	if err := kw.Spec.Check(value); err != nil {
		// The *keyword.ValueError text names keyword and problem; keep it intact.
		return "", kw.fieldError(" → " + err.Error())
	}
	return value, nil
}

// fieldError is a FieldError for kw's data field; its Message is
// "data.<From>" followed by rest.
func (kw *Keyword) fieldError(rest string) *FieldError {
	field := "data." + kw.From
	return &FieldError{Field: field, Keyword: kw.Key, Message: field + rest}
}
