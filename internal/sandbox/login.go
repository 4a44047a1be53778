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

// userLocked returns the user with openid, creating it; sb.mu must be held.
func (p *MiniProgram) userLocked(openid string) *user {
	u := p.users[openid]
	if u == nil {
		u = &user{grants: make(map[string]int), longTerm: make(map[string]bool)}
		p.users[openid] = u
	}
	return u
}

// Login plays wx.login for a user of this app: it returns a code the mini
// program would send to its server, good with this app's credentials only.
// An empty openid makes up a new user. A blocked user's code is refused
// with 40226 (high-risk user).
func (p *MiniProgram) Login(openid, unionid string, blocked bool) (code, openID string) {
	if openid == "" {
		openid = "o" + randomString(20) // 28 characters, like WeChat's openids
	}
	code = randomString(24) // 32 characters, like wx.login's codes
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	u := p.userLocked(openid)
	if unionid != "" {
		u.unionID = unionid
	}
	u.blocked = blocked
	now := p.sb.now()
	p.codes[code] = &loginCode{openID: openid, expires: now.Add(p.sb.cfg.CodeLifetime)}
	p.minted++
	if p.minted >= 1024 {
		p.minted = 0
		for c, lc := range p.codes {
			// Keep used codes as long as unexpired ones so that a reuse answers 40163.
			if now.After(lc.expires) {
				delete(p.codes, c)
			}
		}
	}
	return code, openid
}

// code2Session is GET /sns/jscode2session; the appid names the app.
func (s *Sandbox) code2Session(r *http.Request) reply {
	q := r.URL.Query()
	p := s.apps[q.Get("appid")]
	if p == nil {
		return failCode(40013)
	}
	if q.Get("secret") != p.secret {
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
	return p.sessionLocked(code)
}

// sessionLocked exchanges one of this app's codes; a code of another app
// is as unknown as a made-up one (40029).
func (p *MiniProgram) sessionLocked(code string) reply {
	lc := p.codes[code]
	switch {
	case lc == nil || p.sb.now().After(lc.expires):
		return failCode(40029)
	case lc.used:
		return failCode(40163)
	}
	lc.used = true
	u := p.users[lc.openID]
	if u.blocked {
		return failCode(40226)
	}
	key := base64.StdEncoding.EncodeToString([]byte(randomString(12)))
	if len(p.sessionKeys) < 10_000 {
		p.sessionKeys = append(p.sessionKeys, key)
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

// Secrets returns, for every app, its app secret, push token and AES key,
// and every access_token and session_key issued (the first 10,000 session
// keys of each app), for tests that search logs for leaks.
func (s *Sandbox) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range s.appIDs {
		p := s.apps[id]
		out = append(out, p.secret)
		for _, v := range []string{p.push.cfg.Token, p.push.cfg.AESKey} {
			if v != "" {
				out = append(out, v)
			}
		}
		out = append(out, p.sessionKeys...)
		for tok := range p.tokens.issued {
			out = append(out, tok)
		}
	}
	return out
}
