// Package keyword validates the values of WeChat subscribe-message template
// keywords before they are sent.
//
// A subscribe message carries data such as
//
//	{"thing1":{"value":"牛肉面 x2"},"time2":{"value":"15:01"}}
//
// and WeChat checks each value by the type its key names: "thing1" is a
// thing, "time12" a time. An invalid value makes WeChat answer errcode 47003
// without saying much, so callers run [Check] first and get a precise error.
//
// Characters are counted as Unicode code points (runes); the official text
// does not define "character". Where the official rule is vague this package
// takes the stricter (safe) reading, and says so at the rule.
package keyword

import (
	"fmt"
	"slices"
)

// Type is a keyword's value type, named by the key ("thing1" → Thing).
type Type string

// The keyword value types WeChat defines for subscribe messages.
const (
	Thing           Type = "thing"
	Number          Type = "number"
	Letter          Type = "letter"
	Symbol          Type = "symbol"
	CharacterString Type = "character_string"
	Time            Type = "time"
	Date            Type = "date"
	Amount          Type = "amount"
	PhoneNumber     Type = "phone_number"
	CarNumber       Type = "car_number"
	Name            Type = "name"
	Phrase          Type = "phrase"
	Enum            Type = "enum"
)

// Rule returns a one-line human description of the values t accepts, for
// documentation and error pages. An unknown type yields "unknown type".
func (t Type) Rule() string {
	switch t {
	case Thing:
		return "1 to 20 characters: Chinese, letters, digits, symbols; spaces only inside"
	case Number:
		return "at most 32 characters: digits with at most one decimal point"
	case Letter:
		return "at most 32 ASCII letters"
	case Symbol:
		return "at most 5 symbols"
	case CharacterString:
		return "at most 32 characters: ASCII letters, digits and symbols"
	case Time:
		return `24-hour time "15:01", optionally after a date "2019年10月1日 15:01"; ranges joined by "~"`
	case Date:
		return `date "2019年10月1日", optionally with a 24-hour time "2019年10月1日 15:01"; ranges joined by "~"`
	case Amount:
		return "optional currency symbol, at most 10 digits with optional decimals, optional 元 at the end"
	case PhoneNumber:
		return "at most 17 characters: digits and symbols"
	case CarNumber:
		return "at most 8 characters: letters and digits, the first and last may be Chinese"
	case Name:
		return "at most 10 characters with Chinese, else at most 20 letters, symbols and spaces; no digits"
	case Phrase:
		return "at most 5 Chinese characters"
	case Enum:
		return "one of the values the template defines"
	}
	return "unknown type"
}

// TypeOf returns the type a keyword key names: the key is a type name
// followed by one or more ASCII digits ("thing12" → Thing). Keys are
// case-sensitive, as WeChat sends them.
func TypeOf(key string) (Type, error) {
	i := len(key)
	for i > 0 && isDigit(key[i-1]) {
		i--
	}
	if i == len(key) {
		return "", fmt.Errorf("keyword %q: no number after the type name (want e.g. \"thing1\")", key)
	}
	name := key[:i]
	switch t := Type(name); t {
	case Thing, Number, Letter, Symbol, CharacterString, Time, Date,
		Amount, PhoneNumber, CarNumber, Name, Phrase, Enum:
		return t, nil
	}
	if name == "" {
		return "", fmt.Errorf("keyword %q: no type name before the number (want e.g. \"thing1\")", key)
	}
	return "", fmt.Errorf("keyword %q: unknown type %q", key, name)
}

// Spec describes one keyword of a template: its key, the type the key
// names and, for Enum only, the values the template allows.
type Spec struct {
	Key    string
	Type   Type
	Values []string // allowed values; used only when Type is Enum
}

// Parse returns the Spec for a key, typed by [TypeOf]. An Enum spec from
// Parse has no Values; set them from the template before checking.
func Parse(key string) (Spec, error) {
	t, err := TypeOf(key)
	if err != nil {
		return Spec{}, err
	}
	return Spec{Key: key, Type: t}, nil
}

// Check reports whether value is acceptable for the keyword: nil, or a
// *ValueError saying what is wrong.
func (s Spec) Check(value string) error {
	var problem string
	switch s.Type {
	case Thing:
		problem = checkThing(value)
	case Number:
		problem = checkNumber(value)
	case Letter:
		problem = checkLetter(value)
	case Symbol:
		problem = checkSymbol(value)
	case CharacterString:
		problem = checkCharacterString(value)
	case Time:
		problem = checkDateTime(value, false)
	case Date:
		problem = checkDateTime(value, true)
	case Amount:
		problem = checkAmount(value)
	case PhoneNumber:
		problem = checkPhoneNumber(value)
	case CarNumber:
		problem = checkCarNumber(value)
	case Name:
		problem = checkName(value)
	case Phrase:
		problem = checkPhrase(value)
	case Enum:
		problem = checkEnum(value, s.Values)
	default:
		problem = fmt.Sprintf("unknown type %q", string(s.Type))
	}
	if problem == "" {
		return nil
	}
	return &ValueError{Key: s.Key, Type: s.Type, Value: value, Problem: problem}
}

// Check validates value for the keyword key: [Parse] then [Spec.Check].
// A key that names no type gives Parse's error (not a *ValueError); an enum
// key always fails here, since the allowed values come from the template.
func Check(key, value string) error {
	s, err := Parse(key)
	if err != nil {
		return err
	}
	return s.Check(value)
}

// ValueError is a value WeChat would reject (errcode 47003) for its keyword.
type ValueError struct {
	Key     string // the keyword, e.g. "thing1"
	Type    Type   // the type the key names
	Value   string // the rejected value
	Problem string // what is wrong, without the key, e.g. "23 characters, at most 20"
}

// Error returns "<key>: <problem>".
func (e *ValueError) Error() string {
	return e.Key + ": " + e.Problem
}

// checkEnum accepts a non-empty value listed in values.
func checkEnum(v string, values []string) string {
	if len(values) == 0 {
		return "the template defines no values for this enum"
	}
	if v == "" {
		return "empty"
	}
	if !slices.Contains(values, v) {
		return fmt.Sprintf("%q is not one of the template's values", v)
	}
	return ""
}
