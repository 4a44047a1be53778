package redistest

import (
	"errors"
	"net"
	"strings"
	"testing"
)

func TestMissingBinarySaysHowToInstall(t *testing.T) {
	t.Parallel()
	notFound := func(string) (string, error) { return "", errors.New("not found") }
	_, err := findBinary(func(string) string { return "" }, notFound)
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y redis-server") || !strings.Contains(err.Error(), "REDIS_SERVER") {
		t.Fatalf("error %v; want install instructions and the REDIS_SERVER override", err)
	}
	got, err := findBinary(func(k string) string { return map[string]string{"REDIS_SERVER": "/opt/redis/bin/redis-server"}[k] }, notFound)
	if err != nil || got != "/opt/redis/bin/redis-server" {
		t.Fatalf("REDIS_SERVER set: %q, %v", got, err)
	}
}

// A port taken by another process is reported as such, so that the
// topologies pick another rather than fail.
func TestTakenPortIsRecognised(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := Start(Config{Port: l.Addr().(*net.TCPAddr).Port})
	if err == nil {
		s.Stop()
		t.Fatal("started on a port already listened on")
	}
	if !errors.Is(err, errPortInUse) {
		t.Fatalf("error %v; want errPortInUse", err)
	}
}
