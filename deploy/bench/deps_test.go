package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The naive peer's WeChat SDK is a comparison, never a dependency of the
// programs wxnotify ships: it is required by this module (deploy/bench)
// alone, and the service's module does not mention it, so the api and the
// worker cannot link it (.ci/run checks the same).
func TestServiceModuleDoesNotRequireSilenceper(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "github.com/silenceper/") {
			t.Errorf("the service's %s mentions github.com/silenceper/", name)
		}
	}
}

// The bench finds the repository root from inside its own module, whose
// go.mod it must not mistake for the service's.
func TestRepoRoot(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Dir(filepath.Dir(wd)); root != want {
		t.Errorf("repoRoot %s; want %s (two levels above deploy/bench)", root, want)
	}
	if modulePath([]byte("// c\nmodule \"wxnotify\" // x\n")) != "wxnotify" {
		t.Error("modulePath does not read a quoted module path")
	}
}
