// Command api is wxnotify's HTTP service: login binding and subscription
// grants for the mini program, notification intake and status for the
// order service, health, metrics and the queue dashboard. Configuration
// comes from the environment (see the README); "api healthcheck" probes a
// running api.
package main

import "wxnotify/internal/program"

func main() { program.Main("api", program.API, "HTTP_ADDR", ":8080") }
