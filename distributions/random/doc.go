// Package random is nutcracker's random distribution: every request goes
// to a live server chosen uniformly, whatever its key or weight, which
// suits read-only pools of identical replicas.
package random
