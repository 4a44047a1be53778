package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Faults make the sandbox misbehave the ways WeChat does. They can be set at
// start (Config.Faults) and changed at run time (SetFaults, PUT /sandbox/faults).
// Rates are probabilities per call, drawn in this order: hang, HTTP 500, -1, 45011.
type Faults struct {
	// BusyRate answers errcode -1 "system error".
	BusyRate float64 `json:"busy_rate"`
	// HTTP500Rate answers HTTP 500 with an HTML body.
	HTTP500Rate float64 `json:"http_500_rate"`
	// HangRate holds the request for HangFor (or until the client gives up)
	// before doing anything.
	HangRate float64 `json:"hang_rate"`
	// LostReplyRate does the work (a send is delivered, its grant spent; an
	// upload or a reminder recorded and the buyer messaged) and then hangs
	// instead of answering: the reply is lost, as when a timeout strikes
	// after WeChat acted.
	LostReplyRate float64 `json:"lost_reply_rate"`
	// RateLimitRate answers errcode 45011.
	RateLimitRate float64 `json:"rate_limit_rate"`
	// Latency is added to every WeChat call.
	Latency Duration `json:"latency"`
	// HangFor is how long a hang lasts; default 60 s, past any sane client timeout.
	HangFor Duration `json:"hang_for"`
	// Endpoints limits the rate faults and Latency to these endpoints
	// ("jscode2session", "stable_token", "token", "subscribe_send",
	// "upload_shipping_info", "notify_confirm_receive", "get_order"); all when empty.
	Endpoints []string `json:"endpoints,omitempty"`

	// SecretFrozen answers 40243 on the calls that carry the secret.
	SecretFrozen bool `json:"secret_frozen"`
	// IPWhitelist, when set, answers 40164 to token calls from other addresses.
	IPWhitelist []string `json:"ip_whitelist,omitempty"`
	// Unauthorized lists endpoints answering 48001 "api unauthorized".
	Unauthorized []string `json:"unauthorized,omitempty"`
	// Script lists answers given before anything else, each once, in order,
	// to the next call of its endpoint.
	Script []Scripted `json:"script,omitempty"`
}

// Scripted is one forced answer: an errcode, or an HTTP status when Status is set.
type Scripted struct {
	Endpoint string `json:"endpoint"`
	ErrCode  int    `json:"errcode,omitempty"`
	Status   int    `json:"status,omitempty"`
}

var endpoints = []string{EndpointCode2Session, EndpointStableToken, EndpointToken, EndpointSend,
	EndpointUploadShipping, EndpointNotifyConfirmReceive, EndpointGetOrder}

func (f Faults) validate() error {
	for name, r := range map[string]float64{"busy_rate": f.BusyRate, "http_500_rate": f.HTTP500Rate, "hang_rate": f.HangRate, "lost_reply_rate": f.LostReplyRate, "rate_limit_rate": f.RateLimitRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("sandbox faults: %s %v is not a probability in [0, 1]", name, r)
		}
	}
	if f.Latency < 0 || f.HangFor < 0 {
		return fmt.Errorf("sandbox faults: latency and hang_for must not be negative")
	}
	for _, e := range append(slices.Clone(f.Endpoints), f.Unauthorized...) {
		if !slices.Contains(endpoints, e) {
			return fmt.Errorf("sandbox faults: unknown endpoint %q (want one of %v)", e, endpoints)
		}
	}
	for _, sc := range f.Script {
		if !slices.Contains(endpoints, sc.Endpoint) {
			return fmt.Errorf("sandbox faults: script: unknown endpoint %q (want one of %v)", sc.Endpoint, endpoints)
		}
		if (sc.ErrCode == 0) == (sc.Status == 0) {
			return fmt.Errorf("sandbox faults: script entry for %s needs exactly one of errcode and status", sc.Endpoint)
		}
	}
	for _, ip := range f.IPWhitelist {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("sandbox faults: ip_whitelist entry %q is not an IP address", ip)
		}
	}
	return nil
}

// SetFaults replaces the faults in force.
func (s *Sandbox) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
	return nil
}

// Faults returns the faults in force (the script as it stands, consumed entries gone).
func (s *Sandbox) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	f.Script = slices.Clone(f.Script)
	return f
}

// fault is what one call draws.
type fault struct {
	latency   time.Duration
	hangFor   time.Duration
	hang      bool
	lostReply bool
	scripted  *Scripted
	status    int
	errcode   int
}

// draw decides the faults for one call of endpoint.
func (s *Sandbox) draw(endpoint string) fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &s.faults
	d := fault{hangFor: time.Duration(f.HangFor)}
	if d.hangFor == 0 {
		d.hangFor = 60 * time.Second
	}
	for i, sc := range f.Script {
		if sc.Endpoint == endpoint {
			d.scripted = &sc
			f.Script = slices.Delete(f.Script, i, i+1)
			return d
		}
	}
	if len(f.Endpoints) > 0 && !slices.Contains(f.Endpoints, endpoint) {
		return d
	}
	d.latency = time.Duration(f.Latency)
	switch {
	case s.chance(f.HangRate):
		d.hang = true
	case s.chance(f.HTTP500Rate):
		d.status = http.StatusInternalServerError
	case s.chance(f.BusyRate):
		d.errcode = -1
	case s.chance(f.RateLimitRate):
		d.errcode = 45011
	case s.chance(f.LostReplyRate):
		d.lostReply = true
	}
	return d
}

func (s *Sandbox) chance(p float64) bool { return p > 0 && s.rng.Float64() < p }

// wechat wraps one WeChat endpoint: counts the call, applies faults, writes
// the answer and logs it.
func (s *Sandbox) wechat(endpoint string, h func(*http.Request) reply) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Read the body first: until it is read, net/http cannot notice a
		// client that gives up, and a hang would outlive it.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			s.write(w, endpoint, failCode(47001))
			s.count(endpoint, "47001")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		d := s.draw(endpoint)
		outcome := s.serve(w, r, endpoint, d, h)
		s.count(endpoint, outcome)
		s.log.Debug("wechat call", "endpoint", endpoint, "outcome", outcome, "duration", time.Since(start))
	})
}

// serve applies d and answers; it returns the outcome's name for the call
// counts: the errcode ("0" for success), "http_500", "hang" or "lost_reply".
func (s *Sandbox) serve(w http.ResponseWriter, r *http.Request, endpoint string, d fault, h func(*http.Request) reply) string {
	ctx := r.Context()
	if d.latency > 0 && !sleep(ctx.Done(), d.latency) {
		return "client_gone"
	}
	if sc := d.scripted; sc != nil {
		if sc.Status != 0 {
			http.Error(w, http.StatusText(sc.Status), sc.Status)
			return "http_" + strconv.Itoa(sc.Status)
		}
		s.write(w, endpoint, failCode(sc.ErrCode))
		return strconv.Itoa(sc.ErrCode)
	}
	if d.hang && !sleep(ctx.Done(), d.hangFor) {
		return "hang"
	}
	if d.status != 0 {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(d.status)
		_, _ = w.Write([]byte("<html><body><h1>500 Internal Server Error</h1></body></html>"))
		return "http_500"
	}
	if d.errcode != 0 {
		s.write(w, endpoint, failCode(d.errcode))
		return strconv.Itoa(d.errcode)
	}
	rep := h(r)
	if d.lostReply {
		// The work is done (a send delivered, its grant spent); the answer
		// never comes, or comes empty if the client outwaits the hang.
		sleep(ctx.Done(), d.hangFor)
		return "lost_reply"
	}
	s.write(w, endpoint, rep)
	return strconv.Itoa(rep.code)
}

// sleep waits for d or until done closes; it reports whether d elapsed.
func sleep(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
