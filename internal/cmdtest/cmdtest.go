// Package cmdtest runs a command's main in a child process of its own test
// binary, so that a test sees what a user would: the exit status and the
// output.
package cmdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// argsVar carries the child's arguments; its presence makes the test
// binary run main instead of the tests.
const argsVar = "WXNOTIFY_CMDTEST_ARGS"

// Main is a command's TestMain: in a child started by Run it runs main
// with Run's arguments (exiting 0 if main returns); otherwise the tests.
func Main(m *testing.M, main func()) {
	if v, ok := os.LookupEnv(argsVar); ok {
		var args []string
		if err := json.Unmarshal([]byte(v), &args); err != nil {
			panic(err)
		}
		os.Args = append(os.Args[:1], args...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Run runs the command's main with args in a child process and returns
// its exit code, stdout and stderr. It gives up after 30 seconds.
func Run(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	encoded, _ := json.Marshal(args)
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), argsVar+"="+string(encoded))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// CheckHelp checks a command's flags as a user meets them: -h and -help
// print the usage, naming flagName, on stdout and exit 0; an unknown flag
// exits non-zero.
func CheckHelp(t *testing.T, flagName string) {
	t.Helper()
	for _, arg := range []string{"-h", "-help"} {
		code, stdout, stderr := Run(t, arg)
		if code != 0 || !strings.Contains(stdout, "-"+flagName) || stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 0 and the usage on stdout", arg, code, stdout, stderr)
		}
	}
	if code, _, _ := Run(t, "-no-such-flag"); code == 0 {
		t.Error("-no-such-flag: exit 0; want a failure")
	}
}
