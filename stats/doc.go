// Package stats serves walnut's statistics the way nutcracker does: a
// TCP connection to the stats port receives one JSON document, with
// nutcracker 0.5's layout and field names, and is closed. Existing
// dashboards and scripts (nutcracker-web, the collectd and Datadog
// plugins) read it unchanged.
package stats
