package config

import (
	"reflect"
	"strings"
)

// Variable is one environment variable a program reads.
type Variable struct {
	Name     string
	Default  string
	Required bool
	// Secret marks values to keep out of ConfigMaps, logs and images.
	Secret bool
}

// APIVariables lists every variable the api program reads, in declaration order.
func APIVariables() []Variable { return variables(reflect.TypeFor[API]()) }

// WorkerVariables lists every variable the worker program reads.
func WorkerVariables() []Variable { return variables(reflect.TypeFor[Worker]()) }

var secretTypes = map[reflect.Type]bool{reflect.TypeFor[Secret](): true, reflect.TypeFor[[]Secret](): true}

func variables(t reflect.Type) []Variable {
	var out []Variable
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("env")
		if !ok {
			if f.Type.Kind() == reflect.Struct {
				out = append(out, variables(f.Type)...)
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		out = append(out, Variable{
			Name: name, Default: f.Tag.Get("envDefault"),
			Required: strings.Contains(opts, "required"), Secret: secretTypes[f.Type],
		})
	}
	return out
}
