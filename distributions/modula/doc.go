// Package modula is nutcracker's modulo distribution: hash modulo the
// total weight of the live servers. It reshuffles almost every key when a
// server comes or goes; pools choose it for compatibility with clients
// that shard the same way.
package modula
