package sandbox

import (
	"encoding/json"
	"math"
	"net"
	"net/http"
	"slices"
	"time"
)

// issuedToken is one access_token the sandbox handed out.
type issuedToken struct {
	expires time.Time
	retired bool // invalidated early: force_refresh or RetireTokens
	// supersededAt is when a later legacy call's overlap ends; from then on
	// the token is "not latest" (40001), not merely expired.
	supersededAt time.Time
}

// tokenState holds both token families; WeChat keeps them independent.
type tokenState struct {
	issued map[string]*issuedToken
	// stable is the current stable_token, previous the one it replaced in a
	// roll (still valid until its own expiry).
	stable, previous string
	// legacy is the current /cgi-bin/token token.
	legacy string

	stableMinute, stableDay, legacyDay, forceDay window
	lastForce                                    time.Time
}

// window counts calls in a fixed period (a clock minute, a Beijing-time day).
type window struct {
	start time.Time
	n     int
}

// chinaTime is UTC+8, where WeChat's daily quotas reset at midnight.
var chinaTime = time.FixedZone("CST", 8*60*60)

// take counts one call in the period containing now and reports whether it
// stays within limit.
func (w *window) take(now time.Time, day bool, limit int) bool {
	start := now.Truncate(time.Minute)
	if day {
		y, m, d := now.In(chinaTime).Date()
		start = time.Date(y, m, d, 0, 0, 0, 0, chinaTime)
	}
	if !w.start.Equal(start) {
		*w = window{start: start}
	}
	w.n++
	return w.n <= limit
}

// mintLocked issues a new token of this app, of full lifetime; sb.mu must be held.
func (p *MiniProgram) mintLocked(now time.Time) string {
	v := "sb_" + randomString(96) // 131 characters of [A-Za-z0-9_-], like WeChat's
	p.tokens.issued[v] = &issuedToken{expires: now.Add(p.sb.cfg.TokenLifetime)}
	// Forget tokens long dead so that a long run does not grow without bound;
	// a forgotten token answers 40001 like any unknown one.
	if len(p.tokens.issued) > 4096 {
		for k, t := range p.tokens.issued {
			if now.Sub(t.expires) > time.Hour {
				delete(p.tokens.issued, k)
			}
		}
	}
	return v
}

// tokenReply is WeChat's success answer for both token endpoints (no errcode).
type tokenReply struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (p *MiniProgram) tokenReplyLocked(v string, now time.Time) reply {
	left := p.tokens.issued[v].expires.Sub(now)
	return success(tokenReply{v, int64(math.Ceil(left.Seconds()))})
}

// stableToken is POST /cgi-bin/stable_token; the appid names the app.
func (s *Sandbox) stableToken(r *http.Request) reply {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return failCode(47001)
	}
	if req.GrantType != "client_credential" {
		return fail(40002, "invalid grant_type")
	}
	p := s.apps[req.AppID]
	if p == nil {
		return failCode(40013)
	}
	if req.Secret != p.secret {
		return failCode(40125)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rep, bad := s.accountChecksLocked(r, EndpointStableToken); bad {
		return rep
	}
	return p.stableTokenLocked(req.ForceRefresh)
}

// stableTokenLocked answers a stable_token call that passed the checks.
func (p *MiniProgram) stableTokenLocked(forceRefresh bool) reply {
	now, t, q := p.sb.now(), &p.tokens, p.sb.cfg.Quotas
	if !t.stableMinute.take(now, false, q.StableTokenPerMinute) {
		return failCode(45011)
	}
	if !t.stableDay.take(now, true, q.StableTokenPerDay) {
		return failCode(45009)
	}
	if forceRefresh {
		if !t.lastForce.IsZero() && now.Sub(t.lastForce) < q.ForceRefreshInterval {
			return failCode(45011)
		}
		if !t.forceDay.take(now, true, q.ForceRefreshPerDay) {
			return failCode(45009)
		}
		t.lastForce = now
		// force_refresh invalidates the old token at once, without overlap.
		p.retireLocked(t.stable)
		p.retireLocked(t.previous)
		t.stable, t.previous = p.mintLocked(now), ""
		return p.tokenReplyLocked(t.stable, now)
	}
	cur := t.issued[t.stable]
	switch {
	case cur == nil || cur.retired || !now.Before(cur.expires):
		t.stable, t.previous = p.mintLocked(now), ""
	case !now.Before(cur.expires.Add(-p.sb.cfg.TokenOverlap)):
		// Within the last TokenOverlap of its life the token rolls: a new one
		// is issued and the old keeps working until it expires.
		t.previous, t.stable = t.stable, p.mintLocked(now)
	}
	return p.tokenReplyLocked(t.stable, now)
}

// legacyToken is GET /cgi-bin/token: every call issues a new token and
// leaves the previous one only TokenOverlap to live — the behaviour that
// makes services with several instances knock each other's tokens out.
func (s *Sandbox) legacyToken(r *http.Request) reply {
	q := r.URL.Query()
	if q.Get("grant_type") != "client_credential" {
		return fail(40002, "invalid grant_type")
	}
	p := s.apps[q.Get("appid")]
	if p == nil {
		return failCode(40013)
	}
	if q.Get("secret") != p.secret {
		return fail(40001, "invalid credential, appsecret is wrong")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rep, bad := s.accountChecksLocked(r, EndpointToken); bad {
		return rep
	}
	now, t := s.now(), &p.tokens
	if !t.legacyDay.take(now, true, s.cfg.Quotas.LegacyTokenPerDay) {
		return failCode(45009)
	}
	if old := t.issued[t.legacy]; old != nil {
		old.supersededAt = now.Add(s.cfg.TokenOverlap)
	}
	t.legacy = p.mintLocked(now)
	return p.tokenReplyLocked(t.legacy, now)
}

// accountChecksLocked answers the account-level refusals: a frozen secret,
// a caller outside the IP whitelist, an API not granted.
func (s *Sandbox) accountChecksLocked(r *http.Request, endpoint string) (reply, bool) {
	f := &s.faults
	if f.SecretFrozen {
		return failCode(40243), true
	}
	if len(f.IPWhitelist) > 0 {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if !slices.Contains(f.IPWhitelist, host) {
			return fail(40164, "invalid ip "+host+", not in whitelist"), true
		}
	}
	if s.unauthorizedLocked(endpoint) {
		return failCode(48001), true
	}
	return reply{}, false
}

func (s *Sandbox) unauthorizedLocked(endpoint string) bool {
	return slices.Contains(s.faults.Unauthorized, endpoint)
}

func (p *MiniProgram) retireLocked(v string) {
	if t := p.tokens.issued[v]; t != nil {
		t.retired = true
	}
}

// RetireTokens invalidates every current token of the app now, as a leak
// response in the admin console would: sends with them answer 40001 and the
// next token call issues a new one. It returns how many were retired.
func (p *MiniProgram) RetireTokens() int {
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	n, now := 0, p.sb.now()
	for _, t := range p.tokens.issued {
		if !t.retired && now.Before(t.expires) {
			t.retired = true
			n++
		}
	}
	return n
}

// tokenAPI serves a WeChat API that takes an access_token and a JSON body
// of type T (faults, call counts and logs as s.wechat gives every API),
// checked in the order WeChat appears to: the token (which names the app),
// whether the API is granted (48001), whether the body is the JSON the API
// takes (47001). h runs with sb.mu held, in the token's app.
func tokenAPI[T any](s *Sandbox, endpoint string, h func(*MiniProgram, T) reply) http.Handler {
	return s.wechat(endpoint, func(r *http.Request) reply {
		token := r.URL.Query().Get("access_token")
		var req T
		decodeErr := json.NewDecoder(r.Body).Decode(&req)

		s.mu.Lock()
		defer s.mu.Unlock()
		p := s.tokenOwnerLocked(token)
		if rep, bad := p.checkTokenLocked(token); bad {
			return rep
		}
		if s.unauthorizedLocked(endpoint) {
			return failCode(48001)
		}
		if decodeErr != nil {
			return failCode(47001)
		}
		return h(p, req)
	})
}

// tokenOwnerLocked is the app that issued the access_token v; the primary
// app when none did, which refuses it.
func (s *Sandbox) tokenOwnerLocked(v string) *MiniProgram {
	for _, p := range s.apps {
		if p.tokens.issued[v] != nil {
			return p
		}
	}
	return s.primary
}

// checkTokenLocked says why a send's access_token is refused, if it is.
func (p *MiniProgram) checkTokenLocked(v string) (reply, bool) {
	switch {
	case v == "":
		return failCode(41001), true
	case !tokenShaped(v):
		return failCode(40014), true
	}
	t, now := p.tokens.issued[v], p.sb.now()
	switch {
	case t == nil || t.retired:
		return failCode(40001), true
	case !t.supersededAt.IsZero() && !now.Before(t.supersededAt) && now.Before(t.expires):
		return failCode(40001), true
	case !now.Before(t.expires):
		return failCode(42001), true
	}
	return reply{}, false
}

// tokenShaped reports whether v looks like an access_token at all; WeChat
// answers 40014 for one that does not and 40001 for a well-formed unknown one.
func tokenShaped(v string) bool {
	if len(v) < 32 || len(v) > 512 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
