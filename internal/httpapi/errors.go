package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// apiError is the body of every error answer:
// {"error": {"code": "...", "message": "...", "field": "..."}}. Field is
// always present (empty when the error is not about one field), as the
// README and openapi.yaml promise, so a client can read it unconditionally.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

// fail answers with an error and stops the handler chain.
func fail(c *gin.Context, status int, code, message, field string) {
	c.AbortWithStatusJSON(status, gin.H{"error": apiError{Code: code, Message: message, Field: field}})
}

// unavailable answers 503 with Retry-After: a dependency (Redis, WeChat) is
// down or busy and the same request may succeed later.
func unavailable(c *gin.Context, code, message string, retryAfter time.Duration) {
	c.Header("Retry-After", retryAfterSeconds(retryAfter))
	fail(c, http.StatusServiceUnavailable, code, message, "")
}

// decodeJSON reads the body into v strictly: one JSON object and nothing
// after it, valid UTF-8, field names exactly as documented (encoding/json
// alone would match them case-insensitively and let a duplicate win
// silently), no unknown fields, numbers kept exact. On failure it answers
// 400 (or 413) naming what is wrong and returns false.
func decodeJSON(c *gin.Context, v any) bool {
	t := reflect.TypeOf(v).Elem()
	fields, ok := fieldCache.Load(t)
	if !ok {
		fields, _ = fieldCache.LoadOrStore(t, jsonFields(t))
	}
	return decodeObject(c, v, fields.(map[string]bool))
}

// fieldCache holds jsonFields per request type.
var fieldCache sync.Map

// decodeObject decodes the body, which must be one JSON object, into v;
// with fields set, every key must be one of them, exactly.
func decodeObject(c *gin.Context, v any, fields map[string]bool) bool {
	if ct := c.GetHeader("Content-Type"); !jsonContentType(ct) {
		fail(c, http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type is %q; send the JSON body with Content-Type: application/json", ct), "")
		return false
	}
	body, ok := readBody(c)
	if !ok {
		return false
	}
	if !utf8.Valid(body) {
		fail(c, http.StatusBadRequest, "invalid_json", "body is not valid UTF-8", "")
		return false
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		fail(c, http.StatusBadRequest, "invalid_json", "body must be a JSON object", "")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if fields != nil {
		dec.DisallowUnknownFields()
	}
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		badJSON(c, err)
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		fail(c, http.StatusBadRequest, "invalid_json", "body has more after the JSON object", "")
		return false
	}
	seen := make(map[string]bool, 8)
	for _, k := range topLevelKeys(body) {
		if seen[k] {
			fail(c, http.StatusBadRequest, "duplicate_field", k+" appears twice", k)
			return false
		}
		seen[k] = true
		if fields != nil && !fields[k] {
			fail(c, http.StatusBadRequest, "unknown_field", fmt.Sprintf("%s is not a field of this request (names are case-sensitive)", k), k)
			return false
		}
	}
	return true
}

// jsonContentType reports whether a request labelled ct may carry a JSON
// body: application/json, with any parameters, or no label at all. A body
// labelled as something else — a form, as curl -d sends it without -H — is
// refused rather than read as JSON, so the client's mistake shows at once.
func jsonContentType(ct string) bool {
	if ct == "" {
		return true
	}
	mediaType, _, err := mime.ParseMediaType(ct)
	return err == nil && mediaType == "application/json"
}

// topLevelKeys lists the keys of a JSON object that has already been
// decoded (so it is valid), in one pass over its bytes.
func topLevelKeys(obj []byte) []string {
	var keys []string
	depth := 0
	for i := 0; i < len(obj); i++ {
		switch obj[i] {
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return keys
			}
		case '"':
			j := i + 1
			for ; j < len(obj) && obj[j] != '"'; j++ {
				if obj[j] == '\\' {
					j++
				}
			}
			if depth == 1 && nextByte(obj, j+1) == ':' {
				keys = append(keys, unquote(obj[i:j+1]))
			}
			i = j
		}
	}
	return keys
}

func nextByte(b []byte, i int) byte {
	for ; i < len(b); i++ {
		if c := b[i]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c
		}
	}
	return 0
}

// unquote decodes a JSON string literal, the rare escaped one included.
func unquote(lit []byte) string {
	if !bytes.ContainsRune(lit, '\\') {
		return string(lit[1 : len(lit)-1])
	}
	var s string
	_ = json.Unmarshal(lit, &s)
	return s
}

// jsonFields are the JSON names of a struct's fields.
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// readBody reads the whole body, answering 413 past the size cap and 400
// for an empty one.
func readBody(c *gin.Context) ([]byte, bool) {
	body, err := io.ReadAll(c.Request.Body)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		fail(c, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("body is over %d bytes", tooBig.Limit), "")
		return nil, false
	case err != nil:
		fail(c, http.StatusBadRequest, "invalid_json", "body could not be read", "")
		return nil, false
	case len(bytes.TrimSpace(body)) == 0:
		fail(c, http.StatusBadRequest, "invalid_json", "body is empty; send a JSON object", "")
		return nil, false
	}
	return body, true
}

func badJSON(c *gin.Context, err error) {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		fail(c, http.StatusBadRequest, "invalid_json", fmt.Sprintf("body is not valid JSON (at byte %d)", syntax.Offset), "")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			fail(c, http.StatusBadRequest, "invalid_json", "body must be a JSON object", "")
			return
		}
		fail(c, http.StatusBadRequest, "invalid_field", fmt.Sprintf("%s must be a %s", field, jsonKind(typ.Type.Kind().String())), field)
	case errors.Is(err, io.ErrUnexpectedEOF):
		fail(c, http.StatusBadRequest, "invalid_json", "body is truncated JSON", "")
	default:
		// encoding/json reports unknown fields as `json: unknown field "x"`.
		var name string
		if _, scanErr := fmt.Sscanf(err.Error(), "json: unknown field %q", &name); scanErr == nil {
			fail(c, http.StatusBadRequest, "unknown_field", fmt.Sprintf("%s is not a field of this request", name), name)
			return
		}
		fail(c, http.StatusBadRequest, "invalid_json", "body is not the expected JSON object", "")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "map", "struct":
		return "JSON object"
	case "slice", "array":
		return "JSON array"
	case "bool":
		return "boolean"
	}
	return "number"
}

// retryAfterSeconds is a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}
