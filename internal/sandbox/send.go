package sandbox

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Message is one subscribe message the sandbox delivered: what the user's
// phone would show.
type Message struct {
	MsgID            string            `json:"msgid"`
	OpenID           string            `json:"openid"`
	TemplateID       string            `json:"template_id"`
	Data             map[string]string `json:"data"`
	Page             string            `json:"page,omitempty"`
	MiniprogramState string            `json:"miniprogram_state"`
	Lang             string            `json:"lang"`
	SentAt           time.Time         `json:"sent_at"`
}

// sendState is one app's deliveries.
type sendState struct {
	messages []Message // the newest MaxMessages
	total    int
	day      window
}

// firstMsgID is where the msgids start.
func firstMsgID(seed uint64) uint64 {
	// Start above 2^53 so that any float64 on the way loses digits and a
	// test catches it, and well below 2^63 so that ids stay int64-safe.
	r := rand.New(rand.NewPCG(seed, 1))
	return 1_900_000_000_000_000_000 + r.Uint64N(1<<40)
}

// sendRequest is the body of a subscribe send.
type sendRequest struct {
	ToUser           string                       `json:"touser"`
	TemplateID       string                       `json:"template_id"`
	Page             string                       `json:"page"`
	Data             map[string]map[string]string `json:"data"`
	MiniprogramState string                       `json:"miniprogram_state"`
	Lang             string                       `json:"lang"`
}

var (
	miniprogramStates = []string{"developer", "trial", "formal"}
	langs             = []string{"zh_CN", "en_US", "zh_HK", "zh_TW"}
)

// sendLocked is POST /cgi-bin/message/subscribe/send for a send whose
// token and shape passed (tokenAPI), checked in the order WeChat appears
// to: daily quota, receiver, template, data, page, grant. The app is the one that issued
// the token: a user of another app is as unknown as a made-up openid (40003).
func (p *MiniProgram) sendLocked(req sendRequest) reply {
	s := p.sb
	now := s.now()
	if !p.sends.day.take(now, true, s.cfg.Quotas.SendPerDay) {
		return failCode(45009)
	}
	u := p.users[req.ToUser]
	if u == nil {
		return failCode(40003)
	}
	t := p.templates[req.TemplateID]
	if t == nil {
		return failCode(40037)
	}
	if rep, bad := checkData(t, req.Data); bad {
		return rep
	}
	// Unconfirmed: which errcode WeChat gives for a bad miniprogram_state or
	// lang; 47003 with the field named is the closest documented one.
	state := req.MiniprogramState
	if state == "" {
		state = "formal"
	}
	if !slices.Contains(miniprogramStates, state) {
		return fail(47003, "argument invalid! miniprogram_state invalid")
	}
	lang := req.Lang
	if lang == "" {
		lang = "zh_CN"
	}
	if !slices.Contains(langs, lang) {
		return fail(47003, "argument invalid! lang invalid")
	}
	// Pages are checked against the released version only.
	if state == "formal" && req.Page != "" && !t.pageExists(req.Page) {
		return failCode(41030)
	}
	if t.Kind == LongTerm {
		if !u.longTerm[t.ID] {
			return failCode(43101)
		}
	} else {
		if u.grants[t.ID] <= 0 {
			return failCode(43101)
		}
		u.grants[t.ID]--
	}
	id := s.nextMsgID
	s.nextMsgID += 1 + uint64(s.rng.Uint32N(1000))
	msg := Message{
		MsgID: strconv.FormatUint(id, 10), OpenID: req.ToUser, TemplateID: t.ID,
		Data: make(map[string]string, len(t.Keywords)), Page: req.Page,
		MiniprogramState: state, Lang: lang, SentAt: now,
	}
	for _, k := range t.Keywords {
		msg.Data[k.Key] = req.Data[k.Key]["value"]
	}
	p.sends.total++
	if len(p.sends.messages) >= s.cfg.MaxMessages {
		p.sends.messages = slices.Delete(p.sends.messages, 0, len(p.sends.messages)/10+1)
	}
	p.sends.messages = append(p.sends.messages, msg)
	p.pushLocked(req.ToUser, SentEventName, pushItem{TemplateId: t.ID, MsgID: msg.MsgID, ErrorCode: "0", ErrorStatus: "success"})
	// The msgid goes out as a bare 64-bit integer, as WeChat sends it.
	return success(json.RawMessage(fmt.Sprintf(`{"errcode":0,"errmsg":"ok","msgid":%d}`, id)))
}

// checkData answers 47003 for the first keyword that is missing, empty or
// invalid for its type, naming it the way WeChat does.
func checkData(t *Template, data map[string]map[string]string) (reply, bool) {
	for _, spec := range t.specs {
		v, ok := data[spec.Key]["value"]
		if !ok || v == "" {
			return fail(47003, "argument invalid! data."+spec.Key+".value is empty"), true
		}
		if spec.Check(v) != nil {
			return fail(47003, "argument invalid! data."+spec.Key+".value invalid"), true
		}
	}
	return reply{}, false
}

// Subscription actions a user can take.
const (
	Accept      = "accept"      // the popup: one more send of a one-time template, or long-term consent
	Reject      = "reject"      // the popup: grants nothing, takes nothing
	Unsubscribe = "unsubscribe" // the settings page: no more sends of the template
)

// Subscribe plays what a user of the app does with one of its templates:
// accept it in wx.requestSubscribeMessage (count times), reject it there, or
// turn it off in settings. It returns the user's remaining one-time grants
// for the template.
func (p *MiniProgram) Subscribe(openid, templateID, action string, count int) (int, error) {
	if openid == "" {
		return 0, fmt.Errorf("openid is empty")
	}
	t := p.templates[templateID]
	if t == nil {
		return 0, fmt.Errorf("template %q is not defined in the sandbox", templateID)
	}
	if count <= 0 {
		count = 1
	}
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	u := p.userLocked(openid)
	switch action {
	case Accept:
		if t.Kind == LongTerm {
			u.longTerm[t.ID] = true
		} else {
			u.grants[t.ID] += count
		}
		for range count {
			p.pushLocked(openid, PopupEventName, pushItem{TemplateId: t.ID, SubscribeStatusString: Accept, PopupScene: "0"})
		}
	case Reject:
		p.pushLocked(openid, PopupEventName, pushItem{TemplateId: t.ID, SubscribeStatusString: Reject, PopupScene: "0"})
	case Unsubscribe:
		u.grants[t.ID] = 0
		u.longTerm[t.ID] = false
		p.pushLocked(openid, ChangeEventName, pushItem{TemplateId: t.ID, SubscribeStatusString: Reject})
	default:
		return 0, fmt.Errorf("action %q is not %s, %s or %s", action, Accept, Reject, Unsubscribe)
	}
	return u.grants[t.ID], nil
}

// Grants returns the user's remaining one-time grants for one of the app's templates.
func (p *MiniProgram) Grants(openid, templateID string) int {
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	if u := p.users[openid]; u != nil {
		return u.grants[templateID]
	}
	return 0
}

// Messages returns the app's delivered messages kept, oldest first,
// optionally only those to openid and/or of templateID.
func (p *MiniProgram) Messages(openid, templateID string) []Message {
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	out := make([]Message, 0, len(p.sends.messages))
	for _, m := range p.sends.messages {
		if (openid == "" || m.OpenID == openid) && (templateID == "" || m.TemplateID == templateID) {
			out = append(out, m)
		}
	}
	return out
}
