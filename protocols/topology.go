package protocols

import (
	"context"
	"log/slog"
	"time"

	"github.com/walnutproxy/walnut/distributions"
)

// A pool either lists its servers in its configuration, or finds them at
// run time from a system that knows them and may change them: a Redis
// Cluster's nodes and slot map, the masters Redis Sentinel names. The
// protocol does the finding (it speaks to those systems); the core runs
// the pool over whatever the protocol last found, as it runs a pool over
// a reloaded server list. The contract is below: ServerSource tells the
// configuration reader that a pool lists no servers; Discoverer and
// Discovery find them; View is what was found; Redirector lets a server
// send a request elsewhere; ReplicaGreeter sets up connections to
// replicas.

// ServerSource is implemented by a protocol's own options (Options.Own)
// when they can make a pool find its servers at run time.
type ServerSource interface {
	// Discovers reports whether this pool finds its servers at run time.
	// When it does, the pool lists none, and forbidden names the keys
	// every pool has that it must not set, each with the reason given to
	// a user who sets it ("the cluster places keys by CRC16 slot").
	Discovers() (ok bool, forbidden map[string]string)
}

// Discoverer is implemented by drivers whose pools may find their servers
// at run time.
type Discoverer interface {
	// NewDiscovery returns the finder of a pool whose own options
	// (DiscoveryOptions.Own) say it discovers its servers. It checks
	// what it can and touches no server: walnut -t builds every pool.
	NewDiscovery(o DiscoveryOptions) (Discovery, error)
}

// DiscoveryOptions are what a pool gives its finder.
type DiscoveryOptions struct {
	// Own are the pool's protocol options, as OptionsDecoder made them.
	Own any
	// Pool names the pool, for messages.
	Pool string
	// DialTimeout bounds a connection attempt, Timeout a reply.
	DialTimeout, Timeout time.Duration
	Log                  *slog.Logger
}

// Discovery finds a pool's servers and follows their changes.
type Discovery interface {
	// Start returns the first view, or an error that says why there is
	// none (every node it knows is down...): a pool does not start
	// without one. ctx bounds the attempt.
	Start(ctx context.Context) (*View, error)
	// Run follows the servers until ctx ends, calling publish with every
	// view that differs from the last one. It survives any of the nodes
	// it asks being down, at the start and later, and retries.
	Run(ctx context.Context, publish func(*View))
	// Refresh asks for a new view soon: the core calls it when a server
	// redirects a request (MOVED), when a server fails, and when a
	// request is redirected to an address the view does not have. It
	// returns at once, and calls in quick succession make one refresh.
	Refresh(reason string)
}

// View is what a Discovery found: every server the pool may send to,
// and, when the servers' own system decides where keys live, how.
type View struct {
	// Servers are the pool's servers. Masters take writes; a replica
	// serves reads of its master's keys when ReadFrom allows it.
	Servers []ViewServer
	// Hash and Table, when set, place keys instead of the pool's hash
	// and distribution: Table.Pick(Hash(key)) is the index in Servers of
	// the master that owns key, -1 if none does (Redis Cluster: the CRC16
	// slot of the key's hash tag, and the slot map). The pool's hash_tag
	// does not apply: Hash applies its own rule. When unset, the pool
	// places keys with its hash, hash_tag and distribution over the
	// masters, by their names (Sentinel's master names), so that a
	// changed address moves no key.
	Hash  distributions.HashFunc
	Table distributions.Table
	// SameHash requires the keys of one request to have the same Hash,
	// not only the same server (Redis Cluster refuses a request whose
	// keys are in different slots even on one node), and cuts Split
	// requests by Hash value rather than by server.
	SameHash bool
	// ReadFrom says where requests that a replica may serve go.
	ReadFrom ReadFrom
}

// ViewServer is one server of a View.
type ViewServer struct {
	// Name is what the pool calls the server in placement, stats and
	// messages (a Redis Cluster node's "host:port", a Sentinel master's
	// name); Addr is where to dial it now.
	Name, Addr string
	// Weight is at least 1; it matters to distributions only.
	Weight int
	// Master is -1 for a master, and for a replica the index in Servers
	// of its master.
	Master int
	// Healthy is false for a server that must not serve reads (a replica
	// loading its data, or failed); the core falls back to the master.
	Healthy bool
	// Slots is how many hash slots a master serves, for stats; 0 where
	// it means nothing.
	Slots int
}

// ReadFrom is where a pool sends the requests that a replica may serve
// (Request.ReadOnly).
type ReadFrom uint8

const (
	// ReadMaster: every request goes to the master.
	ReadMaster ReadFrom = iota
	// ReadReplica: reads go to a healthy replica of the key's master,
	// chosen at random, and to the master when it has none.
	ReadReplica
	// ReadPreferReplica: as ReadReplica; the master serves reads only
	// while none of its replicas is healthy.
	ReadPreferReplica
)

// Redirector is implemented by codecs whose servers may answer that a
// request belongs on another server (Redis Cluster's MOVED and ASK).
// The core sends the request there instead of answering the client, at
// most a few times for one request, and a server it has no connection
// to yet is dialed for it.
type Redirector interface {
	// Redirect reports whether resp, a whole response to req framed by
	// ParseResponse, sends the request elsewhere: to addr, for good
	// (MOVED: the pool's view is stale, and the core refreshes it) or
	// for this request only (ask, Redis' ASK, during a slot migration).
	// It must not allocate.
	Redirect(req *Request, resp []byte) (addr string, ask bool, ok bool)
	// AskingPrefix is the request sent just before one redirected with
	// ask (Redis' ASKING); it gets one reply, which the core discards.
	AskingPrefix() []byte
	// RetryLater reports whether resp says the request may succeed if
	// sent again shortly (Redis' TRYAGAIN while a slot migrates,
	// CLUSTERDOWN while a failover elects a master). The core sends it
	// again after a short pause, after refreshing the view, for as long
	// as the pool's timeout allows, and then answers the last response.
	// It must not allocate.
	RetryLater(req *Request, resp []byte) bool
}

// ReplicaGreeter is implemented by codecs whose connections to replicas
// need a setup of their own, after the Greeter's (Redis Cluster's
// READONLY).
type ReplicaGreeter interface {
	// ReplicaGreeting returns the requests and how many replies they
	// get; their replies are checked by GreetingReply, numbered after
	// the Greeter's.
	ReplicaGreeting() ([]byte, int)
}
