package wechat

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Error is an answer from WeChat with a non-zero errcode.
type Error struct {
	// Endpoint is the API that answered (EndpointSend, …).
	Endpoint string
	// Code is WeChat's errcode, Msg its errmsg (which may end with a request id, "rid: …").
	Code int
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("wechat %s: errcode %d: %s", e.Endpoint, e.Code, e.Msg)
}

// ErrCode returns the WeChat errcode carried by err, or 0 when err is not a
// WeChat answer.
func ErrCode(err error) int {
	var we *Error
	if errors.As(err, &we) {
		return we.Code
	}
	return 0
}

// HTTPError is a non-2xx HTTP status from WeChat or a proxy in front of it.
type HTTPError struct {
	Endpoint string
	Status   int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("wechat %s: HTTP status %d", e.Endpoint, e.Status)
}

// NetError is a failure to get an answer at all: connection refused or
// reset, DNS, a timeout, a cancelled context.
type NetError struct {
	Endpoint string
	Err      error
	// Sent reports that the request had been written before the failure (the
	// body could not be read). Otherwise it is inferred from Err (see MayHaveArrived).
	Sent bool
}

func (e *NetError) Error() string { return fmt.Sprintf("wechat %s: %v", e.Endpoint, e.Err) }

func (e *NetError) Unwrap() error { return e.Err }

// MayHaveArrived reports whether WeChat may have received and acted on the
// request: true for everything but a failure to connect.
func (e *NetError) MayHaveArrived() bool {
	if e.Sent {
		return true
	}
	var op *net.OpError
	if errors.As(e.Err, &op) && op.Op == "dial" {
		return false
	}
	var dns *net.DNSError
	return !errors.As(e.Err, &dns)
}

// Timeout reports whether the failure was a deadline (ours or the transport's).
func (e *NetError) Timeout() bool {
	var ne net.Error
	if errors.As(e.Err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(e.Err, context.DeadlineExceeded)
}

// MalformedError is a 2xx answer whose body is not the JSON the endpoint returns.
type MalformedError struct {
	Endpoint string
	Reason   string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("wechat %s: malformed response: %s", e.Endpoint, e.Reason)
}
