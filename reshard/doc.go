// Package reshard moves a pool's keys to the servers a new configuration
// places them on: walnut reshard. It builds the old and the new
// placement with the proxy's own routing code (core.Router: hash tag,
// hash, distribution, plugins included), reads every key of every old
// server (Redis SCAN in each database that holds keys, memcached's
// lru_crawler metadump), and moves each
// key whose server changed: Redis with MIGRATE ... COPY, or DUMP and
// RESTORE where MIGRATE cannot reach the target, memcached with mg and
// ms, then deletes it from the old server once the copy is in place.
//
// A copy never replaces a key the new server already holds (unless
// Options.Replace): walnut serves the new placement during the reshard,
// so what the new server has was written there since and is newer. A
// key is deleted from its old server only after its copy succeeded, so
// an interruption at any point loses nothing, and running again redoes
// at most the batch that was under way: its copies find the key already
// there and keep it, its deletes find it already gone. A state file
// records, per old server, the SCAN cursor up to which every key is
// done, so that a new run resumes there.
//
// See docs/resharding.md for the procedure and its guarantees.
package reshard
