package main

import (
	"fmt"
	"strings"

	"wxnotify/internal/sandbox"
)

// appsUsage is the help of -apps.
const appsUsage = "more mini programs to play besides -appid: comma-separated appid:secret[:push-token[:push-aes-key]], " +
	"their push token and key defaulting to -push-token and -push-aes-key; repeatable; " +
	"each has its own users, codes, tokens, grants and messages and shares -templates (SANDBOX_APPS)"

// appIDPlaceholder in -push-url stands for the appid of the app pushing.
const appIDPlaceholder = "{appid}"

// pushURLFor is where the app with appid pushes.
func pushURLFor(url, appid string) string { return strings.ReplaceAll(url, appIDPlaceholder, appid) }

// parseApps reads the -apps values (or SANDBOX_APPS): entries of
// appid:secret[:push-token[:push-aes-key]]; push is the primary app's push
// settings, which an entry's own token and key override. An error names
// an entry by its place and appid, never by its secret.
func parseApps(lists []string, push sandbox.Push) ([]sandbox.App, error) {
	var apps []sandbox.App
	for _, list := range lists {
		for entry := range strings.SplitSeq(list, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			parts := strings.Split(entry, ":")
			if len(parts) < 2 || len(parts) > 4 || parts[0] == "" || parts[1] == "" {
				return nil, fmt.Errorf("-apps / SANDBOX_APPS: entry %d is not appid:secret[:push-token[:push-aes-key]]", len(apps)+1)
			}
			p := push
			p.URL = pushURLFor(push.URL, parts[0])
			if len(parts) > 2 && parts[2] != "" {
				p.Token = parts[2]
			}
			if len(parts) > 3 && parts[3] != "" {
				p.AESKey = parts[3]
			}
			apps = append(apps, sandbox.App{AppID: parts[0], AppSecret: parts[1], Push: p})
		}
	}
	return apps, nil
}
