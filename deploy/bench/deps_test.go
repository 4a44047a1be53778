package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The naive peer's WeChat SDK is a comparison, never a dependency of the
// programs wxnotify ships (.ci/run checks the same).
func TestProgramsDoNotLinkSilenceper(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "./api", "./worker")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/silenceper/") {
			t.Errorf("the api or worker links %s", pkg)
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
