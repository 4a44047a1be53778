package httpapi

import (
	"bytes"
	"context"
	_ "embed"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// healthz is GET (or HEAD) /healthz: the process is alive.
func (h *handlers) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz is GET (or HEAD) /readyz: Redis answers, so requests can be served.
func (h *handlers) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
	defer cancel()
	if err := h.Ready(ctx); err != nil {
		unavailable(c, "unavailable", "redis does not answer", time.Second)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

//go:embed openapi.yaml
var openAPI []byte

// serveOpenAPI is GET /openapi.yaml.
func serveOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/yaml", openAPI)
}

// OpenAPI returns a copy of the document served at /openapi.yaml, for the
// tests that hold the API to it.
func OpenAPI() []byte {
	return bytes.Clone(openAPI)
}
