// Package integration holds walnut's end-to-end tests: real
// redis-servers (and nutcracker as the compatibility oracle) started by
// internal/testbed, walnut running in the test process so that the race
// detector watches it, and real clients (go-redis, redis-cli, raw
// sockets) talking to it.
package integration
