// Package sdkcheck holds no code, only tests: they hold the WeChat sandbox
// (wxnotify/internal/sandbox) to github.com/silenceper/wechat/v2, a widely
// used Go SDK we did not write. The sandbox signs and encrypts its message
// pushes with wxnotify's own wxevent, which the api reads them with, so the
// service's tests show only that the two agree; these show that what the
// sandbox sends is what a third party's WeChat receiver accepts. They live
// in the bench's module, with the naive peer, so that the SDK stays out of
// the service's go.mod:
//
//	go -C deploy/bench test ./sdkcheck
package sdkcheck
