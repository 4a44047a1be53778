// Package registry names the WeChat subscribe-message templates wxnotify may
// send and turns a request's data into each template's keyword values.
//
// The order service asks for a template by name ("order_arrived") with a
// data object; the registry says which WeChat template id that is, which
// data field fills each keyword (thing1, time3, ...) and how to format it,
// so that every value sent passes [keyword.Spec.Check] and WeChat never
// answers 47003 for a value the registry produced.
//
// A registry is loaded once at start-up from YAML (or JSON) and validated
// strictly: a mistake in it stops the API rather than failing sends later.
package registry

import (
	_ "embed"
	"fmt"
	"os"
	"sync"

	"wxnotify/internal/keyword"
)

// Kind is how a user's consent to a template is spent.
type Kind string

// The subscription kinds WeChat defines.
const (
	OneTime  Kind = "one_time"  // each accept in the mini program allows one send
	LongTerm Kind = "long_term" // an accept allows repeated sends
)

// Registry is the set of templates the API may send, looked up by name or
// WeChat template id. It is not modified after loading and is safe for
// concurrent use.
type Registry struct {
	byName map[string]*Template
	byID   map[string]*Template
	sorted []*Template // by Name
}

// Template is one message kind the API may send: the WeChat template it
// uses and how the request's data fills it.
type Template struct {
	Name             string    // registry name, e.g. "order_arrived"
	TemplateID       string    // WeChat's template id
	Kind             Kind      // how the user's consent is spent
	Page             string    // page pattern as written, e.g. "pages/order/detail?id={order_id}"; "" for none
	ThingOverflow    string    // "shorten" or "reject": what Render does with a thing over 20 characters
	MiniprogramState string    // "" or developer|trial|formal
	Lang             string    // "" or zh_CN|en_US|zh_HK|zh_TW
	Keywords         []Keyword // sorted by Key

	page []pageSegment // Page parsed at load; nil when Page is "" or the Template was built by hand
}

// Keyword says how one WeChat keyword of a template is filled from the
// request's data.
type Keyword struct {
	Key     string       // WeChat keyword, e.g. "thing1"
	Spec    keyword.Spec // from keyword.Parse(Key); Values set for enum
	From    string       // field of the request's data
	Format  string       // "", "time", "date" or "amount"
	Default *string      // used as-is when the data field is absent or null; nil when none
	Values  []string     // enum only: the template's values
}

// Values of Template.ThingOverflow.
const (
	overflowShorten = "shorten"
	overflowReject  = "reject"
)

// Load parses and validates a registry written in YAML or JSON. Decoding is
// strict: unknown fields, duplicate keys and a second YAML document are
// errors. An error is one message naming the offending path, such as
// `templates.order_arrived.keywords.colour1: unknown type "colour"`.
func Load(data []byte) (*Registry, error) {
	var f fileDoc
	if err := decode(data, &f); err != nil {
		return nil, err
	}
	return build(&f)
}

// LoadFile reads and loads the registry at path; errors name the path.
func LoadFile(path string) (*Registry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r, err := Load(data)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", path, err)
	}
	return r, nil
}

//go:embed templates.yaml
var defaultYAML []byte

var loadDefault = sync.OnceValue(func() *Registry {
	r, err := Load(defaultYAML)
	if err != nil {
		panic("registry: embedded templates.yaml: " + err.Error())
	}
	return r
})

// Default returns the registry embedded in the binary (templates.yaml in
// this package). It is loaded once; an invalid file is a build defect, so
// Default panics, and the package tests catch it.
func Default() *Registry {
	return loadDefault()
}

// Lookup returns the template registered under name.
func (r *Registry) Lookup(name string) (*Template, bool) {
	t, ok := r.byName[name]
	return t, ok
}

// ByTemplateID returns the template using WeChat template id, for example
// to explain a WeChat callback or error about it.
func (r *Registry) ByTemplateID(id string) (*Template, bool) {
	t, ok := r.byID[id]
	return t, ok
}

// Templates returns every template, sorted by Name. The slice is the
// caller's; the templates are shared and must not be modified.
func (r *Registry) Templates() []*Template {
	return append([]*Template(nil), r.sorted...)
}
