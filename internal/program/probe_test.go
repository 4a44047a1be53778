package program

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	if err := probe(context.Background(), ":"+port, "/readyz"); err != nil {
		t.Fatalf("probe of a ready server: %v", err)
	}
	if err := probe(context.Background(), addr, "/other"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("probe of a 503: %v", err)
	}
	if got := probeAddr(func(string) string { return "" }, "HTTP_ADDR", ":8080"); got != ":8080" {
		t.Fatalf("ProbeAddr default = %q", got)
	}
}
