package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"wxnotify/internal/registry"
	"wxnotify/internal/sandbox"
)

// demoOpenID is the user the demo and the banner's walk-through play.
const demoOpenID = "o-demo-user-0000000000000000"

// runDemo drives the whole flow as the mini program, the user and the
// order service would, printing each step, once in each app; a failed step
// is named.
func runDemo(ctx context.Context, st *stack, out io.Writer) error {
	if st.sandbox == nil {
		return errors.New("-demo plays the WeChat user through the sandbox: unset WECHAT_BASE_URL")
	}
	for _, a := range st.apps {
		if len(st.apps) > 1 {
			fmt.Fprintf(out, "== mini program %s (%s)\n", a.name, a.appID)
		}
		mp, err := st.sandbox.App(a.appID)
		if err != nil {
			return err
		}
		if err := demoApp(ctx, st, a, mp, out); err != nil {
			return err
		}
	}
	return nil
}

// demoApp is the flow in one app: the login names the app's appid, the
// order service its name.
func demoApp(ctx context.Context, st *stack, app devApp, mp *sandbox.MiniProgram, out io.Writer) error {
	tmpl, _ := registry.Default().Lookup("order_arrived")
	key := strings.Split(st.env["API_KEYS"], ",")[0]
	step := 0
	say := func(format string, args ...any) {
		step++
		fmt.Fprintf(out, "%d. %s\n", step, fmt.Sprintf(format, args...))
	}
	fail := func(what string, err error) error {
		return fmt.Errorf("demo of %s, step %d (%s): %w", app.name, step, what, err)
	}

	say("the mini program calls wx.login (played by the sandbox) and posts the code to %s/v1/wx/login", st.apiURL)
	code, _ := mp.Login(demoOpenID, "", false)
	var login struct {
		SessionToken string `json:"session_token"`
		UserID       string `json:"user_id"`
	}
	if err := call(ctx, "POST", st.apiURL+"/v1/wx/login", "", map[string]string{"code": code, "appid": app.appID}, 200, &login); err != nil {
		return fail("login", err)
	}
	fmt.Fprintf(out, "   logged in as %s\n", login.UserID)

	say("the user taps accept in wx.requestSubscribeMessage; the mini program posts the result")
	if _, err := mp.Subscribe(demoOpenID, tmpl.TemplateID, sandbox.Accept, 1); err != nil {
		return fail("accept", err)
	}
	var grants map[string]any
	if err := call(ctx, "POST", st.apiURL+"/v1/subscriptions", login.SessionToken,
		map[string]string{tmpl.TemplateID: "accept", "errMsg": "requestSubscribeMessage:ok"}, 200, &grants); err != nil {
		return fail("subscriptions", err)
	}

	say("the order service posts an order_arrived notification")
	var queued struct{ ID, State string }
	body := map[string]any{
		"app": app.name, "template": "order_arrived", "user_id": login.UserID, "dedupe_key": fmt.Sprintf("demo-%d", time.Now().UnixNano()),
		"data": map[string]any{"item_name": "牛肉面 x2", "order_id": "TX20261124001", "arrived_at": time.Now().Format(time.RFC3339), "pickup_location": "3号楼前台"},
	}
	if err := call(ctx, "POST", st.apiURL+"/v1/notifications", key, body, 202, &queued); err != nil {
		return fail("notify", err)
	}
	fmt.Fprintf(out, "   queued as %s (%s)\n", queued.ID, queued.State)

	say("the worker delivers it; waiting for the status to say so")
	var status struct {
		State  string
		Result struct{ Status, MsgID, Reason string }
	}
	deadline := time.Now().Add(30 * time.Second)
	for status.State != "completed" && status.State != "archived" {
		if time.Now().After(deadline) {
			return fail("delivery", fmt.Errorf("still %q after 30s", status.State))
		}
		time.Sleep(50 * time.Millisecond)
		if err := call(ctx, "GET", st.apiURL+"/v1/notifications/"+queued.ID+"?app="+app.name, key, nil, 200, &status); err != nil {
			return fail("status", err)
		}
	}
	if status.Result.Status != "delivered" {
		return fail("delivery", fmt.Errorf("ended %s, %s %s", status.State, status.Result.Status, status.Result.Reason))
	}

	msgs := mp.Messages(demoOpenID, tmpl.TemplateID)
	if len(msgs) == 0 || msgs[len(msgs)-1].MsgID != status.Result.MsgID {
		return fail("inbox", fmt.Errorf("the sandbox holds no message with msgid %s", status.Result.MsgID))
	}
	m := msgs[len(msgs)-1]
	say("delivered — the message as WeChat received it:")
	shown, _ := json.MarshalIndent(map[string]any{"msgid": m.MsgID, "touser": m.OpenID, "template_id": m.TemplateID, "page": m.Page, "data": m.Data}, "   ", "  ")
	fmt.Fprintf(out, "   %s\n", shown)
	return nil
}

// call sends JSON and decodes the answer, which must have status want.
func call(ctx context.Context, method, url, bearer string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s answered %d: %s", method, url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}
