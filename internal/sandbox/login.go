package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"
)

// user is one WeChat user of this mini program, as far as the sandbox knows.
type user struct {
	unionID string
	blocked bool
	// grants counts the remaining one-time sends per template.
	grants map[string]int
	// longTerm marks long-term templates the user accepted.
	longTerm map[string]bool
}

type loginCode struct {
	openID  string
	expires time.Time
	used    bool
}

// userLocked returns the user with openid, creating it; s.mu must be held.
func (s *Sandbox) userLocked(openid string) *user {
	u := s.users[openid]
	if u == nil {
		u = &user{grants: make(map[string]int), longTerm: make(map[string]bool)}
		s.users[openid] = u
	}
	return u
}

// Login plays wx.login for a user: it returns a code the mini program would
// send to its server. An empty openid makes up a new user. A blocked user's
// code is refused with 40226 (high-risk user).
func (s *Sandbox) Login(openid, unionid string, blocked bool) (code, openID string) {
	if openid == "" {
		openid = "o" + randomString(20) // 28 characters, like WeChat's openids
	}
	code = randomString(24) // 32 characters, like wx.login's codes
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(openid)
	if unionid != "" {
		u.unionID = unionid
	}
	u.blocked = blocked
	now := s.now()
	s.codes[code] = &loginCode{openID: openid, expires: now.Add(s.cfg.CodeLifetime)}
	s.minted++
	if s.minted >= 1024 {
		s.minted = 0
		for c, lc := range s.codes {
			// Keep used codes as long as unexpired ones so that a reuse answers 40163.
			if now.After(lc.expires) {
				delete(s.codes, c)
			}
		}
	}
	return code, openid
}

// code2Session is GET /sns/jscode2session.
func (s *Sandbox) code2Session(r *http.Request) reply {
	q := r.URL.Query()
	if q.Get("appid") != s.cfg.AppID {
		return failCode(40013)
	}
	if q.Get("secret") != s.cfg.AppSecret {
		return failCode(40125)
	}
	if q.Get("grant_type") != "authorization_code" {
		return fail(40002, "invalid grant_type")
	}
	code := q.Get("js_code")
	if code == "" {
		return failCode(41008)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.SecretFrozen {
		return failCode(40243)
	}
	if s.unauthorizedLocked(EndpointCode2Session) {
		return failCode(48001)
	}
	lc := s.codes[code]
	switch {
	case lc == nil || s.now().After(lc.expires):
		return failCode(40029)
	case lc.used:
		return failCode(40163)
	}
	lc.used = true
	u := s.users[lc.openID]
	if u.blocked {
		return failCode(40226)
	}
	key := base64.StdEncoding.EncodeToString([]byte(randomString(12)))
	if len(s.sessionKeys) < 10_000 {
		s.sessionKeys = append(s.sessionKeys, key)
	}
	// WeChat's success has no errcode at all.
	return success(struct {
		OpenID     string `json:"openid"`
		SessionKey string `json:"session_key"`
		UnionID    string `json:"unionid,omitempty"`
	}{lc.openID, key, u.unionID})
}

// randomString returns n random bytes as unpadded base64url (4/3 n characters).
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Secrets returns every access_token and session_key the sandbox issued
// (the first 10,000 session keys), for tests that search logs for leaks.
func (s *Sandbox) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.sessionKeys...)
	for tok := range s.tokens.issued {
		out = append(out, tok)
	}
	return out
}
