// Package move is the contract between walnut reshard (package reshard)
// and the protocols whose keys it moves. The engine decides everything
// that does not depend on the wire protocol: which pools, where each key
// goes (with the proxy's own router), how fast, and what the state file,
// the progress line and the report say. A protocol's mover only talks to
// servers: it lists the keys of one old server, asks the engine where
// they go, copies those that move and deletes them once copied. A
// protocol offers a mover by having its driver (protocols.Driver) also
// implement Resharder; walnut reshard refuses pools of other protocols.
//
// The contract has a package of its own, beside protocols, because
// neither of the obvious homes works. Package reshard imports core and
// config, and core imports every protocol's contract, so a protocol
// cannot import reshard. Package protocols could hold it, but it is what
// the proxy's request path is built on, and the mover is an offline
// tool's concern that the core never calls. Here it depends on the
// standard library alone, so that a protocol outside walnut's tree
// implements it as the builtin ones (protocols/redis, protocols/memcached)
// do.
package move

import (
	"context"
	"time"
)

// Resharder is implemented by the drivers of protocols whose pools walnut
// reshard can move.
type Resharder interface {
	// NewMover returns the mover of one pool's reshard. It checks that
	// the pool's options allow one and touches no server: walnut reshard
	// also makes movers only to check its plans.
	NewMover(p Pool) (Mover, error)
}

// Pool is one pool's reshard as its mover sees it.
type Pool struct {
	// Old and New are the pool's own options before and after the
	// reshard (protocols.Options.Own, as the driver's DecodeOptions made
	// them); nil stands for the protocol's defaults.
	Old, New any
	// NewServers are the addresses of the new placement's servers
	// ("host:port", or a unix socket's path), in the pool's order: the
	// destinations Job.Route returns are indices into it.
	NewServers []string
}

// Settings are how a run of walnut reshard moves keys, the same for
// every old server of the run. The engine has filled in its defaults:
// Batch, ScanCount and BytesSample are at least 1, Timeout is positive.
type Settings struct {
	// DryRun: read every key and count what would move (Job.Moved), and
	// copy and delete nothing. The state file is left alone (Job.Advance
	// records nothing, Job.Resume finds nothing).
	DryRun bool
	// Replace: the old server's copy replaces one the new server already
	// has. Without it a copy never replaces one: walnut serves the new
	// placement during the reshard, so the new server's copy is newer.
	Replace bool
	// Batch is the most keys to copy in one go (one Job.Wait each);
	// ScanCount the keys to ask an old server for at a time, where its
	// listing is paged.
	Batch, ScanCount int
	// BytesSample, in a dry run, is how many moving keys one measured
	// size stands for, where measuring costs a command per key: 1 is
	// every key.
	BytesSample int
	// Timeout bounds every command to a server.
	Timeout time.Duration
}

// Namespace is a part of a server's keyspace that keys move within, such
// as a Redis database: a key found in namespace Old of an old server
// moves to namespace New of its new server. A protocol without such
// parts has namespace 0 alone.
type Namespace struct{ Old, New int }

// Mover moves one pool's keys. Its methods are called concurrently:
// MoveServer runs for several old servers at once, once for each.
type Mover interface {
	// Home is the namespace the pool's keys are in when a client picks
	// none (Redis: redis_db before and after). The engine tells with it
	// what share of the keys the placements alone move, and writes it in
	// the state file's fingerprint, since a change of it moves every key.
	// The engine takes an old server whose Home is done as done, so
	// MoveServer moves its other namespaces first.
	Home() Namespace
	// ServerID names namespace ns of the server at addr, as the report
	// and the state file show it ("10.0.0.1:6379", "10.0.0.1:6379/db3").
	// Equal names are the same keyspace: a key stays where it is when
	// the name of its new server, in Namespace.New, is the one it is on.
	ServerID(addr string, ns int) string
	// MoveServer moves every key of one old server whose new server is
	// another: all of them, in every namespace that holds any. It
	// returns when it is done, when ctx ends (with ctx's error) or when
	// the server cannot be used any more; keys that fail one by one are
	// Job.Failed and do not stop it. A key is deleted from the old server
	// only once its copy is in place, so that an interruption at any
	// point loses nothing.
	MoveServer(ctx context.Context, job Job) error
}

// Job is one old server's share of a reshard: what the engine does for
// the mover. Its methods are safe for concurrent use.
type Job interface {
	// Server is the old server's address.
	Server() string
	// Settings are the run's.
	Settings() Settings
	// Resume says where earlier runs left namespace ns.Old of the old
	// server, as the state file recorded it: done, or a cursor to go on
	// from ("" to start at the beginning). A dry run resumes nothing.
	Resume(ns Namespace) (cursor string, done bool)
	// Route finds the new servers of keys found in namespace ns.Old of
	// the old server: dest[i] is the index in Pool.NewServers of key i's
	// server, or -1 when the key stays where it is. stray counts the keys
	// that move although the old placement does not put them on this
	// server either, for Scanned.
	Route(ns Namespace, keys [][]byte, dest []int) (stray int, err error)
	// Total counts keys the old server holds, for progress: each
	// namespace's count once, as the mover starts on it.
	Total(keys int64)
	// Scanned counts keys handled: those that stay as soon as Route says
	// so, those that move once their batch is done; stray from Route.
	Scanned(keys, stray int64)
	// Wait returns once the rate limit lets n more keys move, or with
	// ctx's error. A batch waits before its copies.
	Wait(ctx context.Context, n int) error
	// Moved counts what a batch did (in a dry run: would do) between
	// namespace ns of the old server and new server to.
	Moved(ns Namespace, to int, c Counts)
	// Failed counts n keys that could not be moved and stay where they
	// are, and why.
	Failed(n int64, err error)
	// Advance records in the state file that every key of namespace
	// ns.Old up to s.Cursor is handled, or all of them with s.Done. Its
	// error says where the state file failed; the mover returns it.
	Advance(ns Namespace, s Step) error
	// BatchDone tells the engine that a batch of copies and deletes is
	// over (Options.OnBatch: tests interrupt runs there).
	BatchDone()
	// Notef tells the user something worth knowing that is no error: a
	// fallback, a namespace left out.
	Notef(format string, args ...any)
}

// Counts are what a batch did with its keys.
type Counts struct {
	// Keys and Bytes: copied to the new server and deleted from the old
	// one. Bytes are what the protocol measures of a key (Redis' MEMORY
	// USAGE, memcached's item size).
	Keys, Bytes int64
	// Kept counts keys the new server had already: its copy was kept and
	// the old server's deleted.
	Kept int64
	// Vanished counts keys gone from the old server before the copy.
	Vanished int64
}

// Step is what a Job.Advance records.
type Step struct {
	// Cursor is where to resume the namespace's listing (Redis' SCAN
	// cursor); "" for a listing that cannot resume.
	Cursor string
	// Done: every key of the namespace is handled.
	Done bool
	// Scanned, Moved and Bytes count the keys handled, and the keys and
	// bytes moved, since the namespace's last Advance.
	Scanned, Moved, Bytes int64
}
