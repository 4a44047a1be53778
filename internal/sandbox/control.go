package sandbox

import (
	"encoding/json"
	"net/http"
)

// The /sandbox/ control endpoints play the user's side and inspect what
// WeChat would have done. They are for tests and the dev stack only.
//
// Those about one app name it: "appid" in a POST's JSON body, ?appid= on a
// GET; absent means the primary app, an appid the sandbox does not play is
// a 400. Faults and call counts are the sandbox's, for every app.

func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		controlError(w, http.StatusBadRequest, "request body: %v", err)
		return false
	}
	return true
}

// handleMintCode is POST /sandbox/login {"appid"?, "openid"?, "unionid"?, "blocked"?}:
// wx.login in that app for that user (a new one when openid is empty) →
// {"code", "openid"}.
func (s *Sandbox) handleMintCode(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID   string `json:"appid"`
		OpenID  string `json:"openid"`
		UnionID string `json:"unionid"`
		Blocked bool   `json:"blocked"`
	}
	if r.ContentLength != 0 && !decodeControl(w, r, &req) {
		return
	}
	p, ok := s.controlApp(w, req.AppID)
	if !ok {
		return
	}
	code, openid := p.Login(req.OpenID, req.UnionID, req.Blocked)
	writeControl(w, http.StatusOK, map[string]string{"code": code, "openid": openid})
}

// handleSubscribe is POST /sandbox/subscriptions
// {"appid"?, "openid", "template_id", "action": "accept"|"reject"|"unsubscribe", "count"?}
// → {"openid", "template_id", "grants"}.
func (s *Sandbox) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID      string `json:"appid"`
		OpenID     string `json:"openid"`
		TemplateID string `json:"template_id"`
		Action     string `json:"action"`
		Count      int    `json:"count"`
	}
	if !decodeControl(w, r, &req) {
		return
	}
	if req.Action == "" {
		req.Action = Accept
	}
	p, ok := s.controlApp(w, req.AppID)
	if !ok {
		return
	}
	n, err := p.Subscribe(req.OpenID, req.TemplateID, req.Action, req.Count)
	if err != nil {
		controlError(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeControl(w, http.StatusOK, map[string]any{"openid": req.OpenID, "template_id": req.TemplateID, "grants": n})
}

// handleMessages is GET /sandbox/messages?appid=&openid=&template_id= → the
// app's delivered messages kept (oldest first) and how many it delivered in all.
func (s *Sandbox) handleMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ok := s.controlApp(w, q.Get("appid"))
	if !ok {
		return
	}
	msgs := p.Messages(q.Get("openid"), q.Get("template_id"))
	s.mu.Lock()
	total := p.sends.total
	s.mu.Unlock()
	writeControl(w, http.StatusOK, map[string]any{"delivered": total, "messages": msgs})
}

// handleCalls is GET /sandbox/calls → call counts per endpoint.
func (s *Sandbox) handleCalls(w http.ResponseWriter, _ *http.Request) {
	writeControl(w, http.StatusOK, s.Calls())
}

// handleGetFaults is GET /sandbox/faults → the faults in force.
func (s *Sandbox) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeControl(w, http.StatusOK, s.Faults())
}

// handlePutFaults is PUT /sandbox/faults with a Faults object, replacing the faults in force.
func (s *Sandbox) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if !decodeControl(w, r, &f) {
		return
	}
	if err := s.SetFaults(f); err != nil {
		controlError(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeControl(w, http.StatusOK, s.Faults())
}

// handleRetire is POST /sandbox/token/retire {"appid"?}: invalidate every
// current token of the app now → {"retired"}.
func (s *Sandbox) handleRetire(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID string `json:"appid"`
	}
	if r.ContentLength != 0 && !decodeControl(w, r, &req) {
		return
	}
	p, ok := s.controlApp(w, req.AppID)
	if !ok {
		return
	}
	writeControl(w, http.StatusOK, map[string]int{"retired": p.RetireTokens()})
}
