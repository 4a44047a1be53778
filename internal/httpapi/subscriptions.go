package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	"github.com/gin-gonic/gin"

	"wxnotify/internal/registry"
	"wxnotify/internal/subscriber"
)

// grantView is one template's standing for the user.
type grantView struct {
	Template   string `json:"template"`
	TemplateID string `json:"template_id"`
	Kind       string `json:"kind"`
	// Remaining counts one-time sends left; Subscribed tells a long-term consent.
	Remaining  *int  `json:"remaining,omitempty"`
	Subscribed *bool `json:"subscribed,omitempty"`
}

type grantsResponse struct {
	UserID string      `json:"user_id"`
	Grants []grantView `json:"grants"`
}

const subscribeOK = "requestSubscribeMessage:ok"

// subscribe is POST /v1/subscriptions: the wx.requestSubscribeMessage
// success object, exactly as the mini program got it.
func (h *handlers) subscribe(c *gin.Context) {
	var raw map[string]json.RawMessage
	if !decodeObject(c, &raw, nil) {
		return
	}
	var errMsg string
	if json.Unmarshal(raw["errMsg"], &errMsg) != nil || errMsg != subscribeOK {
		fail(c, http.StatusBadRequest, "invalid_field", `errMsg must be "requestSubscribeMessage:ok": send only the success result`, "errMsg")
		return
	}
	delete(raw, "errMsg")
	delete(raw, "errCode") // some clients report errCode 0 beside errMsg on success
	if len(raw) == 0 || len(raw) > 20 {
		fail(c, http.StatusBadRequest, "invalid_field", fmt.Sprintf("%d template results; want 1 to 20", len(raw)), "")
		return
	}
	ids := make([]string, 0, len(raw))
	for id := range raw {
		ids = append(ids, id)
	}
	sort.Strings(ids) // deterministic: the first bad field is always the same
	choices := make([]subscriber.Choice, 0, len(ids))
	for _, id := range ids {
		var result string
		if json.Unmarshal(raw[id], &result) != nil {
			fail(c, http.StatusBadRequest, "invalid_field", id+" must be accept, reject, ban or filter", id)
			return
		}
		switch result {
		case subscriber.Accept, subscriber.Reject, subscriber.Ban, subscriber.Filter:
		default:
			fail(c, http.StatusBadRequest, "invalid_field", fmt.Sprintf("%s is %q; want accept, reject, ban or filter", id, result), id)
			return
		}
		t, known := appOf(c).Registry.ByTemplateID(id)
		if !known {
			fail(c, http.StatusBadRequest, "unknown_template", id+" is not a template this service sends", id)
			return
		}
		choices = append(choices, subscriber.Choice{TemplateID: id, LongTerm: t.Kind == registry.LongTerm, Result: result})
	}
	userID := c.GetString(userKey)
	if h.GrantSource == "events" {
		// WeChat's pushes count the grants; this report must not count them twice.
		h.listSubscriptions(c)
		return
	}
	grants, err := appOf(c).Users.Apply(c.Request.Context(), userID, choices)
	if err != nil {
		h.storeDown(c, "apply subscription choices", err)
		return
	}
	c.JSON(http.StatusOK, grantsView(appOf(c).Registry, userID, grants))
}

// listSubscriptions is GET /v1/subscriptions: the user's grants.
func (h *handlers) listSubscriptions(c *gin.Context) {
	userID := c.GetString(userKey)
	grants, err := appOf(c).Users.Grants(c.Request.Context(), userID)
	if err != nil {
		h.storeDown(c, "read grants", err)
		return
	}
	c.JSON(http.StatusOK, grantsView(appOf(c).Registry, userID, grants))
}

// grantsView lists every registry template with the user's standing.
func grantsView(reg *registry.Registry, userID string, grants map[string]int) grantsResponse {
	out := grantsResponse{UserID: userID, Grants: []grantView{}}
	for _, t := range reg.Templates() {
		v := grantView{Template: t.Name, TemplateID: t.TemplateID, Kind: string(t.Kind)}
		n := grants[t.TemplateID]
		if t.Kind == registry.LongTerm {
			sub := n > 0
			v.Subscribed = &sub
		} else {
			v.Remaining = &n
		}
		out.Grants = append(out.Grants, v)
	}
	return out
}
