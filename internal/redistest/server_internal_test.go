package redistest

import (
	"errors"
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
