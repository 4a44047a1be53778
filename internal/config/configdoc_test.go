package config_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"wxnotify/internal/config"
)

// docs/configuration.md's table lists every variable each program reads,
// with the default the code has, and nothing else.
func TestConfigurationDocTable(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, found := strings.Cut(string(doc), "<!-- configuration -->")
	if !found {
		t.Fatal("docs/configuration.md has no <!-- configuration --> table")
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z0-9_]+)` \\| ([^|]*) \\| ([^|]*) \\|")
	type entry struct{ def, by string }
	rows := map[string][]entry{}
	for _, m := range row.FindAllStringSubmatch(table[:strings.Index(table, "\n\n")], -1) {
		rows[m[1]] = append(rows[m[1]], entry{strings.TrimSpace(m[2]), strings.TrimSpace(m[3])})
	}
	documented := func(program string, v config.Variable) {
		want := "`" + v.Default + "`"
		if v.Required {
			want = "required"
		}
		for _, e := range rows[v.Name] {
			if !strings.Contains(e.by, program) {
				continue
			}
			if v.Default == "" && !v.Required {
				return // "–", "none", "built-in": the code has no default
			}
			if e.def != want {
				t.Errorf("docs/configuration.md: %s for %s has default %s; the code says %s", v.Name, program, e.def, want)
			}
			return
		}
		t.Errorf("docs/configuration.md's table lacks %s (read by %s)", v.Name, program)
	}
	known := map[string]bool{}
	for _, v := range config.APIVariables() {
		documented("api", v)
		known[v.Name] = true
	}
	for _, v := range config.WorkerVariables() {
		documented("worker", v)
		known[v.Name] = true
	}
	for name := range rows {
		if !known[name] {
			t.Errorf("docs/configuration.md documents %s, which no program reads", name)
		}
	}
}
