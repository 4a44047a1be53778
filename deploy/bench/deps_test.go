package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The naive peer's WeChat SDK is a comparison, never a dependency of the
// programs wxnotify ships (.ci/run checks the same).
func TestProgramsDoNotLinkSilenceper(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./api", "./worker")
	cmd.Dir = moduleRoot()
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
