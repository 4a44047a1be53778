package redisconn

import "context"

// Inspect runs a call of asynq's Inspector, which takes no context, within
// ctx: a request's deadline bounds its wait for the answer, and the call
// itself is bounded by the client's timeouts.
func Inspect[T any](ctx context.Context, call func() (T, error)) (T, error) {
	type res struct {
		info T
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		info, err := call()
		ch <- res{info, err}
	}()
	select {
	case r := <-ch:
		return r.info, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
