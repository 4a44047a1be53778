package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a webhook request besides its JSON body.
const (
	// HeaderEventID repeats the body's event_id, for a receiver that
	// dedupes before it parses.
	HeaderEventID = "Wxnotify-Event-Id"
	// HeaderTimestamp is when this try was sent, in Unix seconds: signed
	// with the body, so that a request recorded once cannot be replayed
	// later than the receiver's tolerance.
	HeaderTimestamp = "Wxnotify-Timestamp"
	// HeaderSignature is "v1=" and the hex HMAC-SHA256, keyed by the app's
	// webhook secret, of the timestamp, a dot and the body. A receiver
	// accepts any of several comma-separated values, so that a secret can
	// be rotated with both signatures sent for a while.
	HeaderSignature = "Wxnotify-Signature"
)

// Sign is the value of HeaderSignature for body sent at ts.
func Sign(secret string, ts time.Time, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("webhook: no " + HeaderTimestamp + " or no v1 " + HeaderSignature)
	ErrBadSignature = errors.New("webhook: signature does not match the body and timestamp")
	ErrStale        = errors.New("webhook: timestamp outside the tolerance")
)

// Verify checks a webhook request as its receiver should, before it acts
// on the body: the signature over the timestamp and the exact bytes of
// the body, compared in constant time, and a timestamp within tolerance of
// the receiver's clock (5 minutes is usual: a retry is signed afresh).
// header is the request's; body is read whole, unparsed.
func Verify(secret string, header http.Header, body []byte, tolerance time.Duration) error {
	return verify(secret, header, body, tolerance, time.Now())
}

func verify(secret string, header http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	ts := header.Get(HeaderTimestamp)
	sent, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrNoSignature
	}
	want := mac(secret, ts, body)
	found := false
	for _, v := range strings.Split(header.Get(HeaderSignature), ",") {
		sig, ok := strings.CutPrefix(strings.TrimSpace(v), "v1=")
		if !ok {
			continue
		}
		found = true
		if got, err := hex.DecodeString(sig); err == nil && hmac.Equal(got, want) {
			if off := now.Sub(time.Unix(sent, 0)).Abs(); off > tolerance {
				return fmt.Errorf("%w: %s off this clock, tolerance %s", ErrStale, off, tolerance)
			}
			return nil
		}
	}
	if !found {
		return ErrNoSignature
	}
	return ErrBadSignature
}
