// Package reshard moves a pool's keys to the servers a new configuration
// places them on: walnut reshard. It builds the old and the new
// placement with the proxy's own routing code (core.Router: hash tag,
// hash, distribution, plugins included), and hands every old server to
// the mover that the pool's protocol provides through its driver (the
// contract is package protocols/move; a protocol without a mover cannot
// be resharded). The mover reads every key of the server (Redis: SCAN in
// each database that holds keys; memcached: lru_crawler metadump), asks
// the engine which of them move and where, copies those (Redis: MIGRATE
// ... COPY, or DUMP and RESTORE where MIGRATE cannot reach the target;
// memcached: mg and ms) and deletes each from the old server once its
// copy is in place. The engine keeps everything that does not depend on
// the protocol: the plans, where keys go, the rate, the state file,
// progress and the report. Of a protocol's namespaces (Redis' databases)
// it knows only the numbers and the server names the mover gives it.
//
// A copy never replaces a key the new server already holds (unless
// Options.Replace): walnut serves the new placement during the reshard,
// so what the new server has was written there since and is newer. A
// key is deleted from its old server only after its copy succeeded, so
// an interruption at any point loses nothing, and running again redoes
// at most the batch that was under way: its copies find the key already
// there and keep it, its deletes find it already gone. A state file
// records, per old server and namespace, the mover's cursor (Redis:
// SCAN's) up to which every key is done, so that a new run resumes
// there.
//
// See docs/resharding.md for the procedure and its guarantees.
package reshard
