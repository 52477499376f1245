// Package fidelity is walnut's differential test of its Redis pools
// against the Redis server itself: every command of walnut's command
// table, with valid and invalid arguments built from the server's own
// COMMAND DOCS, sent through a pool of one server and a pool of three
// and straight to a redis-server holding the same data, their replies
// compared. Where they differ, docs/redis.md must say so ("Differences
// from a redis-server"). The test is in fidelity_test.go.
package fidelity
