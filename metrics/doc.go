// Package metrics serves walnut's statistics to Prometheus over HTTP:
// /metrics (the nutcracker counters as labelled metrics, latency
// histograms per pool, server and command, and the Go runtime's own),
// /healthz and /readyz for orchestrators, and /debug/pprof when enabled.
// Metrics are built from a snapshot at scrape time, so the request path
// never touches the Prometheus client.
package metrics
