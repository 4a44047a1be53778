package wechat

// Explain is what WeChat's errcode means, in a few words for the operator
// console, which shows them beside the code; "" for a code Classify does
// not know either. The words follow Classify's tables (classify.go): a
// code there has words here, which a test holds to.
func Explain(code int) string {
	if w, ok := errcodeWords[code]; ok {
		return w
	}
	for _, table := range byEndpoint {
		if r, ok := table[code]; ok && r.reason == "invalid_request" {
			return "WeChat refused the request as not valid"
		}
	}
	if code >= 45000 && code < 46000 {
		return "WeChat's frequency limit reached"
	}
	return ""
}

// errcodeWords are the errcodes' words; the order shipping service's many
// "request not valid" codes share theirs (Explain).
var errcodeWords = map[int]string{
	-1:       "WeChat busy",
	40001:    "the access token (or, fetching one, the app secret) was refused",
	40003:    "not an openid of this mini program",
	40013:    "the appid is not valid",
	40014:    "the access token is not valid",
	40029:    "the login code is not valid",
	40037:    "the template id is not valid",
	40125:    "the app secret is not valid",
	40163:    "the login code was used already",
	40164:    "this server's IP is not on the mini program's whitelist",
	40226:    "the user is blocked",
	40243:    "the app secret is frozen",
	41001:    "no access token was sent",
	41008:    "no login code was sent",
	41030:    "the page is not in the published mini program",
	42001:    "the access token expired",
	43101:    "the user has no grant left for this template",
	43104:    "the openid belongs to another mini program",
	43108:    "another send to this user was in progress at WeChat",
	45009:    "WeChat's daily quota reached",
	45011:    "WeChat's minute quota reached",
	47003:    "the data does not fit the template's keywords",
	48001:    "this mini program may not call the API",
	10060001: "WeChat has not filed the payment yet",
	10060002: "the shipping is completed and cannot be continued",
	10060003: "the completed shipping was changed once already",
	10060004: "the order is confirmed, settled or refunded: its shipping is final",
	10060012: "WeChat busy",
	10060019: "WeChat busy",
	10060023: "the same shipping was uploaded already",
	10060028: "the order is not shipped (or no longer)",
	10060029: "the time of receipt is not valid",
	10060030: "the order's receipt reminder went out already",
	10060031: "the payer is not the order's",
	10060032: "the order is not delivered by express",
}
