// Command worker is wxnotify's delivery process: it takes notifications off
// the queue and sends each through WeChat's subscribeMessage.send, with the
// access token shared through Redis, and serves /healthz, /readyz and
// /metrics on WORKER_HTTP_ADDR. Configuration comes from the environment
// (see the README); "worker healthcheck" probes a running worker.
package main

import "wxnotify/internal/program"

func main() { program.Main("worker", program.Worker, "WORKER_HTTP_ADDR", ":9090") }
