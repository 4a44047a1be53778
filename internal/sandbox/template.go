package sandbox

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"wxnotify/internal/keyword"
)

// Template is a subscribe-message template as WeChat knows it: its id, its
// keywords (whose names give their value types) and, optionally, the pages
// of the released mini program a message may open.
type Template struct {
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
	// Kind is "one_time" (each accept allows one send; the default) or
	// "long_term" (one accept allows repeated sends).
	Kind     string    `json:"kind,omitempty"`
	Keywords []Keyword `json:"keywords"`
	// Pages, when set, are the pages a formal-state message may open (41030 otherwise).
	Pages []string `json:"pages,omitempty"`

	specs []keyword.Spec
}

// Keyword is one field of a template ("thing1"), its label, and for an enum its values.
type Keyword struct {
	Key    string   `json:"key"`
	Label  string   `json:"label,omitempty"`
	Values []string `json:"values,omitempty"`
}

// Template kinds.
const (
	OneTime  = "one_time"
	LongTerm = "long_term"
)

func (t *Template) validate() error {
	if t.ID == "" {
		return fmt.Errorf("sandbox template: empty id")
	}
	switch t.Kind {
	case "":
		t.Kind = OneTime
	case OneTime, LongTerm:
	default:
		return fmt.Errorf("sandbox template %s: kind %q is neither %q nor %q", t.ID, t.Kind, OneTime, LongTerm)
	}
	if len(t.Keywords) == 0 {
		return fmt.Errorf("sandbox template %s: no keywords", t.ID)
	}
	t.specs = make([]keyword.Spec, len(t.Keywords))
	seen := make(map[string]bool)
	for i, k := range t.Keywords {
		spec, err := keyword.Parse(k.Key)
		if err != nil {
			return fmt.Errorf("sandbox template %s: %w", t.ID, err)
		}
		if seen[k.Key] {
			return fmt.Errorf("sandbox template %s: keyword %s appears twice", t.ID, k.Key)
		}
		seen[k.Key] = true
		if spec.Type == keyword.Enum && len(k.Values) == 0 {
			return fmt.Errorf("sandbox template %s: enum keyword %s has no values", t.ID, k.Key)
		}
		spec.Values = k.Values
		t.specs[i] = spec
	}
	for _, p := range t.Pages {
		if p == "" || strings.ContainsAny(p, "?#") || strings.HasPrefix(p, "/") {
			return fmt.Errorf("sandbox template %s: page %q is not a page path like pages/order/detail", t.ID, p)
		}
	}
	return nil
}

// pageExists reports whether page (which may carry a query) opens one of
// the template's pages; any page does when the template lists none.
func (t *Template) pageExists(page string) bool {
	if len(t.Pages) == 0 {
		return true
	}
	path, _, _ := strings.Cut(page, "?")
	path = strings.TrimPrefix(path, "/")
	for _, p := range t.Pages {
		if p == path {
			return true
		}
	}
	return false
}

// ParseTemplates reads template definitions from JSON: an array of Template.
func ParseTemplates(data []byte) ([]Template, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var ts []Template
	if err := dec.Decode(&ts); err != nil {
		return nil, fmt.Errorf("sandbox templates: %w", err)
	}
	for i := range ts {
		if err := ts[i].validate(); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

//go:embed templates.json
var defaultTemplates []byte

// DefaultTemplates are the templates the standalone sandbox and the dev
// stack start with: wxnotify's order_arrived template and a long-term one.
func DefaultTemplates() []Template {
	ts, err := ParseTemplates(defaultTemplates)
	if err != nil {
		panic("sandbox: embedded templates.json: " + err.Error()) // a build defect, caught by the tests
	}
	return ts
}
