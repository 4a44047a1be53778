package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// App is a mini program the sandbox plays besides the primary one
// (Config.AppID): one more appid with its own secret, templates, users,
// login codes, tokens, quotas, grants, messages, orders and pushes. As in WeChat, a
// code minted for one app is refused with another's credentials, a token
// of one app sends only that app's templates to that app's users.
type App struct {
	AppID     string
	AppSecret string
	// Templates are the app's; empty means the primary app's definitions
	// (same ids, but grants and messages stay the app's own).
	Templates []Template
	// Push starts the app's pushes, as MiniProgram.SetPush would; none when URL is empty.
	Push Push
}

// MiniProgram is one app the sandbox plays: the primary one (whose methods
// Sandbox also has: Login, Subscribe, Grants, Messages, SetPush,
// RetireTokens) or one of Config.Apps. Reach it with Sandbox.App.
//
// The apps share the sandbox's clock, lifetimes and quota figures (each app
// has its own quota counters), its faults and its call counts.
type MiniProgram struct {
	sb        *Sandbox
	appID     string
	secret    string
	templates map[string]*Template

	// The rest is guarded by sb.mu.
	users  map[string]*user
	codes  map[string]*loginCode
	tokens tokenState
	sends  sendState
	minted int // codes minted since the last sweep of expired ones
	// sessionKeys are the session keys issued, for leak tests.
	sessionKeys []string
	push        pushState
	// orders are the app's WeChat Pay payments, for the shipping APIs.
	orders orderBook
}

// newMiniProgram checks one app's settings; inherit, when not nil, stands
// for the templates of an app that defines none.
func newMiniProgram(sb *Sandbox, appID, secret string, templates []Template, inherit map[string]*Template) (*MiniProgram, error) {
	if appID == "" || secret == "" {
		return nil, errors.New("sandbox: AppID and AppSecret are required")
	}
	p := &MiniProgram{
		sb: sb, appID: appID, secret: secret, templates: inherit,
		users:  make(map[string]*user),
		codes:  make(map[string]*loginCode),
		tokens: tokenState{issued: make(map[string]*issuedToken)},
	}
	if len(templates) == 0 {
		if inherit == nil {
			return nil, errors.New("sandbox: at least one template is required")
		}
		return p, nil
	}
	p.templates = make(map[string]*Template, len(templates))
	for i := range templates {
		t := &templates[i]
		if err := t.validate(); err != nil {
			return nil, err
		}
		if p.templates[t.ID] != nil {
			return nil, fmt.Errorf("sandbox: template id %q is defined twice", t.ID)
		}
		p.templates[t.ID] = t
	}
	return p, nil
}

// addApps sets up Config.Apps after the primary app.
func (s *Sandbox) addApps(apps []App) error {
	for i, a := range apps {
		p, err := newMiniProgram(s, a.AppID, a.AppSecret, a.Templates, s.primary.templates)
		if err != nil {
			return fmt.Errorf("Config.Apps[%d] %s: %w", i, a.AppID, err)
		}
		if s.apps[a.AppID] != nil {
			return fmt.Errorf("sandbox: Config.Apps[%d]: appid %s is already one of the sandbox's apps", i, a.AppID)
		}
		if a.Push.URL != "" {
			if err := p.SetPush(a.Push); err != nil {
				return fmt.Errorf("Config.Apps[%d] %s: %w", i, a.AppID, err)
			}
		}
		s.apps[a.AppID] = p
		s.appIDs = append(s.appIDs, a.AppID)
	}
	return nil
}

// App returns the app with appid; an empty appid is the primary app.
func (s *Sandbox) App(appid string) (*MiniProgram, error) {
	if appid == "" {
		return s.primary, nil
	}
	if p := s.apps[appid]; p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("appid %q is not one of the sandbox's apps (%s)", appid, strings.Join(s.appIDs, ", "))
}

// AppIDs returns the appids the sandbox plays, the primary one first.
func (s *Sandbox) AppIDs() []string { return append([]string(nil), s.appIDs...) }

// AppID is the app's appid.
func (p *MiniProgram) AppID() string { return p.appID }

// controlApp finds the app a control call names, answering 400 when it is
// none of the sandbox's.
func (s *Sandbox) controlApp(w http.ResponseWriter, appid string) (*MiniProgram, bool) {
	p, err := s.App(appid)
	if err != nil {
		controlError(w, http.StatusBadRequest, "%v", err)
		return nil, false
	}
	return p, true
}

// The primary app's methods, kept on Sandbox for the callers of a
// one-app sandbox.

// Login is the primary app's MiniProgram.Login.
func (s *Sandbox) Login(openid, unionid string, blocked bool) (code, openID string) {
	return s.primary.Login(openid, unionid, blocked)
}

// Subscribe is the primary app's MiniProgram.Subscribe.
func (s *Sandbox) Subscribe(openid, templateID, action string, count int) (int, error) {
	return s.primary.Subscribe(openid, templateID, action, count)
}

// Grants is the primary app's MiniProgram.Grants.
func (s *Sandbox) Grants(openid, templateID string) int { return s.primary.Grants(openid, templateID) }

// Messages is the primary app's MiniProgram.Messages.
func (s *Sandbox) Messages(openid, templateID string) []Message {
	return s.primary.Messages(openid, templateID)
}

// SetPush is the primary app's MiniProgram.SetPush.
func (s *Sandbox) SetPush(p Push) error { return s.primary.SetPush(p) }

// RetireTokens is the primary app's MiniProgram.RetireTokens.
func (s *Sandbox) RetireTokens() int { return s.primary.RetireTokens() }
