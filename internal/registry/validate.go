package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"

	"wxnotify/internal/keyword"
)

// fileDoc, rawTemplate and rawKeyword mirror the registry file. Pointers
// tell "absent or null" apart where it matters.
type fileDoc struct {
	Templates map[string]*rawTemplate `yaml:"templates"`
}

type rawTemplate struct {
	TemplateID       string                 `yaml:"template_id"`
	Kind             string                 `yaml:"kind"`
	Page             string                 `yaml:"page"`
	ThingOverflow    string                 `yaml:"thing_overflow"`
	MiniprogramState string                 `yaml:"miniprogram_state"`
	Lang             string                 `yaml:"lang"`
	Keywords         map[string]*rawKeyword `yaml:"keywords"`
}

type rawKeyword struct {
	From    string   `yaml:"from"`
	Format  string   `yaml:"format"`
	Default *string  `yaml:"default"`
	Values  []string `yaml:"values"`
}

var (
	templateNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	fieldNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Allowed values of the optional template fields, in the order messages list them.
var (
	overflows = []string{overflowShorten, overflowReject}
	states    = []string{"developer", "trial", "formal"}
	langs     = []string{"zh_CN", "en_US", "zh_HK", "zh_TW"}
)

// loadError is a registry defect at a path such as
// "templates.order_arrived.keywords.thing5"; err, when set, is the cause.
type loadError struct {
	path, msg string
	err       error
}

func (e *loadError) Error() string { return e.path + ": " + e.msg }
func (e *loadError) Unwrap() error { return e.err }

// errorf is a loadError at path with a formatted message.
func errorf(path, format string, args ...any) error {
	return &loadError{path: path, msg: fmt.Sprintf(format, args...)}
}

// decode reads exactly one strict YAML document into f.
func decode(data []byte, f *fileDoc) error {
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.Strict())
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		// FormatError without source gives one line such as `[5:5] unknown field "colour"`.
		return &loadError{path: "yaml", msg: yaml.FormatError(err, false, false), err: err}
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errorf("yaml", `more than one document (want a single document with "templates")`)
	}
	return nil
}

// build validates f and indexes its templates. Templates and keywords are
// checked in sorted order, so the error reported is deterministic.
func build(f *fileDoc) (*Registry, error) {
	if len(f.Templates) == 0 {
		return nil, errorf("templates", "none defined (want at least one template, e.g. order_arrived)")
	}
	r := &Registry{byName: map[string]*Template{}, byID: map[string]*Template{}}
	for _, name := range slices.Sorted(maps.Keys(f.Templates)) {
		t, err := buildTemplate(name, f.Templates[name])
		if err != nil {
			return nil, err
		}
		if other, dup := r.byID[t.TemplateID]; dup {
			return nil, errorf("templates."+name+".template_id", "%q is already used by templates.%s", t.TemplateID, other.Name)
		}
		r.byName[name], r.byID[t.TemplateID] = t, t
		r.sorted = append(r.sorted, t)
	}
	return r, nil
}

// buildTemplate validates one template and its keywords; name is its key
// under "templates".
func buildTemplate(name string, raw *rawTemplate) (*Template, error) {
	if !templateNameRE.MatchString(name) {
		return nil, errorf("templates", "template name %q must be lowercase letters, digits and _, starting with a letter, at most 64 characters", name)
	}
	path := "templates." + name
	if raw == nil {
		return nil, errorf(path, "empty (want template_id, kind and keywords)")
	}
	t := &Template{
		Name: name, TemplateID: raw.TemplateID, Kind: Kind(raw.Kind), Page: raw.Page,
		ThingOverflow: raw.ThingOverflow, MiniprogramState: raw.MiniprogramState, Lang: raw.Lang,
	}
	if t.TemplateID == "" {
		return nil, errorf(path+".template_id", "required (WeChat's template id)")
	}
	switch {
	case t.Kind == "":
		return nil, errorf(path+".kind", "required (one_time or long_term)")
	case t.Kind != OneTime && t.Kind != LongTerm:
		return nil, errorf(path+".kind", "%q is not one of one_time, long_term", t.Kind)
	}
	if t.ThingOverflow == "" {
		t.ThingOverflow = overflowShorten
	}
	for _, opt := range []struct {
		field, value string
		allowed      []string
	}{
		{"thing_overflow", t.ThingOverflow, overflows},
		{"miniprogram_state", t.MiniprogramState, states},
		{"lang", t.Lang, langs},
	} {
		if opt.value != "" && !slices.Contains(opt.allowed, opt.value) {
			return nil, errorf(path+"."+opt.field, "%q is not one of %s", opt.value, strings.Join(opt.allowed, ", "))
		}
	}
	if t.Page != "" {
		segs, err := parsePage(t.Page)
		if err != nil {
			return nil, &loadError{path: path + ".page", msg: err.Error(), err: err}
		}
		t.page = segs
	}
	if len(raw.Keywords) == 0 {
		return nil, errorf(path+".keywords", "none defined (want e.g. thing1: {from: item_name})")
	}
	for _, key := range slices.Sorted(maps.Keys(raw.Keywords)) {
		kw, err := buildKeyword(path+".keywords."+key, key, raw.Keywords[key])
		if err != nil {
			return nil, err
		}
		t.Keywords = append(t.Keywords, kw)
	}
	return t, nil
}

// buildKeyword validates the keyword key of a template; path is where it
// is in the file, for messages.
func buildKeyword(path, key string, raw *rawKeyword) (Keyword, error) {
	spec, err := keyword.Parse(key)
	if err != nil {
		// keyword.Parse's message starts by naming the key, which path already does.
		msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("keyword %q: ", key))
		return Keyword{}, &loadError{path: path, msg: msg, err: err}
	}
	if raw == nil || raw.From == "" {
		return Keyword{}, errorf(path, `no "from" field (which data field fills it?)`)
	}
	if !fieldNameRE.MatchString(raw.From) {
		return Keyword{}, errorf(path+".from", "%q is not a data field name (want letters, digits and _, not starting with a digit)", raw.From)
	}
	if err := checkFormat(path+".format", raw.Format, spec.Type); err != nil {
		return Keyword{}, err
	}
	switch {
	case spec.Type == keyword.Enum && len(raw.Values) == 0:
		return Keyword{}, errorf(path, `no "values" (an enum keyword needs the values the template defines)`)
	case spec.Type != keyword.Enum && len(raw.Values) > 0:
		return Keyword{}, errorf(path+".values", "only an enum keyword takes values, not %s", spec.Type)
	}
	for i, v := range raw.Values {
		if v == "" {
			return Keyword{}, errorf(fmt.Sprintf("%s.values[%d]", path, i), "empty")
		}
		if slices.Contains(raw.Values[:i], v) {
			return Keyword{}, errorf(fmt.Sprintf("%s.values[%d]", path, i), "%q is listed twice", v)
		}
	}
	spec.Values = raw.Values
	if raw.Default != nil {
		if err := spec.Check(*raw.Default); err != nil {
			msg := err.Error()
			if ve, ok := errors.AsType[*keyword.ValueError](err); ok {
				msg = ve.Problem
			}
			return Keyword{}, &loadError{path: path + ".default", msg: msg, err: err}
		}
	}
	return Keyword{Key: key, Spec: spec, From: raw.From, Format: raw.Format, Default: raw.Default, Values: raw.Values}, nil
}

// checkFormat reports a format that is unknown or that cannot produce a
// value the keyword's type accepts.
func checkFormat(path, format string, typ keyword.Type) error {
	switch format {
	case "":
		return nil
	case "time":
		if typ != keyword.Time && typ != keyword.Date {
			return errorf(path, `"time" needs a time or date keyword, not %s`, typ)
		}
	case "date":
		if typ == keyword.Time {
			return errorf(path, `"date" gives no clock, which a time keyword needs (use format "time")`)
		}
		if typ != keyword.Date {
			return errorf(path, `"date" needs a date keyword, not %s`, typ)
		}
	case "amount":
		if typ != keyword.Amount {
			return errorf(path, `"amount" needs an amount keyword, not %s`, typ)
		}
	default:
		return errorf(path, "%q is not one of time, date, amount", format)
	}
	return nil
}
