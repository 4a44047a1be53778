package main

import (
	"fmt"
	"io"
	"strings"
	"text/template"

	"wxnotify/internal/registry"
)

// banner is what the dev stack prints at start: where everything is, and
// the whole flow as copy-paste curl lines (the README shows the same).
var banner = template.Must(template.New("banner").Option("missingkey=zero").Parse(`
wxnotify dev stack
  API             {{.API}}   (order service key: {{.Key}})
  OpenAPI         {{.API}}/openapi.yaml
  Console         {{.API}}/admin/   login {{.AdminUser}} / {{.AdminPassword}}
  Dashboard       {{.API}}/admin/asynq/   (the same login)
  Worker metrics  {{.Worker}}/metrics
  WeChat          {{if .Sandbox}}sandbox {{.Sandbox}}   inbox: {{.Sandbox}}/sandbox/messages{{else}}{{.WeChat}}{{end}}
  Redis           {{.Redis}}
{{- if .Apps}}
  Mini programs   {{.Apps}}   (the login names its appid, the order service its app)
{{- end}}
{{if .Sandbox}}
The whole flow (bash; needs curl and sed):

API={{.API}} SANDBOX={{.Sandbox}} KEY={{.Key}} JSON='Content-Type: application/json'
# 1. the mini program logs in: the sandbox plays wx.login, the API binds the openid
CODE=$(curl -s -XPOST $SANDBOX/sandbox/login -H "$JSON" -d '{"openid":"{{.OpenID}}"}' | sed -E 's/.*"code":"([^"]+)".*/\1/')
TOKEN=$(curl -s -XPOST $API/v1/wx/login -H "$JSON" -d "{\"code\":\"$CODE\"{{.LoginAppID}}}" | sed -E 's/.*"session_token":"([^"]+)".*/\1/')
# 2. the user taps accept: WeChat records it (sandbox), the mini program reports the raw result
curl -s -w '\n' -XPOST $SANDBOX/sandbox/subscriptions -H "$JSON" -d '{"openid":"{{.OpenID}}","template_id":"{{.TemplateID}}","action":"accept"}'
curl -s -w '\n' -XPOST $API/v1/subscriptions -H "Authorization: Bearer $TOKEN" -H "$JSON" -d '{"{{.TemplateID}}":"accept","errMsg":"requestSubscribeMessage:ok"}'
# 3. the order service posts the notification
ID=$(curl -s -XPOST $API/v1/notifications -H "Authorization: Bearer $KEY" -H "$JSON" -d '{{"{"}}{{.NotifyApp}}"template":"order_arrived","openid":"{{.OpenID}}","dedupe_key":"order-42","data":{"item_name":"牛肉面 x2","order_id":"TX20261124001","arrived_at":"2026-11-24T15:01:00+08:00","pickup_location":"3号楼前台"}}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
# 4. its status (repeat until "completed"), and the message on the phone
sleep 1; curl -s -w '\n' $API/v1/notifications/$ID{{.StatusApp}} -H "Authorization: Bearer $KEY"
curl -s -w '\n' "$SANDBOX/sandbox/messages?openid={{.OpenID}}"
{{end}}
Ctrl-C stops everything.
`))

func printBanner(out io.Writer, st *stack) {
	tmpl, _ := registry.Default().Lookup("order_arrived")
	fields := map[string]string{
		"API": st.apiURL, "Worker": st.workerURL, "Sandbox": st.sandboxURL, "WeChat": st.env["WECHAT_BASE_URL"],
		"Redis": st.redis, "Key": strings.Split(st.env["API_KEYS"], ",")[0],
		"AdminUser": st.env["ADMIN_USER"], "AdminPassword": st.env["ADMIN_PASSWORD"],
		"OpenID": demoOpenID, "TemplateID": tmpl.TemplateID,
	}
	if len(st.apps) > 1 { // the walk-through plays the first app, naming it
		var apps []string
		for _, a := range st.apps {
			apps = append(apps, a.name+" "+a.appID)
		}
		fields["Apps"] = strings.Join(apps, ", ")
		fields["LoginAppID"] = `,\"appid\":\"` + st.apps[0].appID + `\"`
		fields["NotifyApp"], fields["StatusApp"] = `"app":"`+st.apps[0].name+`",`, "?app="+st.apps[0].name
	}
	_ = banner.Execute(out, fields)
	fmt.Fprintln(out)
}
