package config

import (
	"time"
)

// Config is a whole walnut configuration, validated and with every
// default filled in.
type Config struct {
	// Path is the file it was read from, for messages.
	Path string
	// Workers is the number of event loops; 0 picks a default.
	Workers int
	// ShutdownTimeout bounds how long a stopping walnut waits for
	// requests in flight before closing what is left.
	ShutdownTimeout time.Duration
	Stats           Stats
	Log             Log
	// Plugins are external hash functions and distributions, by name.
	Plugins []Plugin
	// Pools in the order the file lists them.
	Pools []*Pool
	// Warnings name what the file says that walnut ignores, each as
	// "FILE: key: why"; walnut -t prints them and walnut logs them.
	Warnings []string
}

// Stats configures the statistics endpoints.
type Stats struct {
	// Listen is host:port for nutcracker-style stats; empty: off.
	Listen string
	// MetricsListen is host:port for Prometheus metrics over HTTP
	// (/metrics, /healthz, /readyz); empty: off.
	MetricsListen string
	// Pprof serves /debug/pprof on the metrics endpoint.
	Pprof bool
}

// Plugin is an external plugin: an executable that walnut starts and
// talks to through hashicorp/go-plugin. Pools name it in hash or
// distribution.
type Plugin struct {
	Name string
	Path string
	Args []string
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is text or json.
	Format string
}

// Pool is one listening endpoint and the servers it shards over.
type Pool struct {
	Name string
	// Listen is host:port, or a unix socket path (starts with '/'),
	// optionally followed by the socket's permissions in octal, as
	// nutcracker writes it: "/var/run/walnut.sock 0666".
	Listen string
	// ListenMode is the unix socket's permissions, 0 to leave the default.
	ListenMode uint32
	// Protocol names a registered protocol ("redis", ...), and Options
	// are its own keys of the pool, as its driver decoded them (see
	// protocols.OptionsDecoder); nil when it has none.
	Protocol string
	Options  any
	// Hash names a registered hash function; Distribution a registered
	// distribution.
	Hash         string
	Distribution string
	// HashTag is empty or exactly two bytes: only the part of a key
	// between the first Tag[0] and the next Tag[1] is hashed, when that
	// part is not empty.
	HashTag string
	// Timeout bounds the wait for one server response; 0 means none.
	Timeout time.Duration
	// ServerConnections is the number of connections to each server,
	// shared by all the pool's clients.
	ServerConnections int
	// MaxRequestSize bounds a single client request in bytes, and
	// MaxValueSize a single value in a request or a response.
	MaxRequestSize int
	MaxValueSize   int
	// MaxPipeline bounds the requests of one client in flight at once;
	// reading from that client pauses at the bound.
	MaxPipeline int
	// MaxClientOutput bounds the replies waiting for a client that does
	// not read them; past it walnut stops reading that client.
	MaxClientOutput int
	// ClientConnections bounds the pool's clients; one more is told so
	// and closed.
	ClientConnections int
	// ClientTimeout closes clients idle that long; 0: never.
	ClientTimeout time.Duration
	// MaxDedicated bounds the pool's dedicated server connections
	// (transactions, blocking commands, pub/sub), idle ones included.
	MaxDedicated int

	// Server failure handling, with nutcracker's names and meaning:
	// after ServerFailureLimit consecutive failures an AutoEjectHosts
	// pool routes around a server for ServerRetryTimeout, then tries it
	// again.
	AutoEjectHosts     bool
	ServerFailureLimit int
	ServerRetryTimeout time.Duration
	// Preconnect dials every server at start instead of at first use.
	Preconnect bool
	// DialTimeout bounds a connection attempt to a server.
	DialTimeout time.Duration
	// HealthCheckInterval, when not 0, probes every server that often
	// (PING, version) so that a dead one is ejected before requests fail
	// on it and a recovered one returns without a request to try it.
	HealthCheckInterval time.Duration
	// Backlog is the listen queue length.
	Backlog int
	// TCPKeepalive turns on TCP keepalive on the pool's client
	// connections (nutcracker's tcpkeepalive), so that clients that
	// vanished without a FIN are found and closed.
	TCPKeepalive bool
	// Servers in nutcracker's order (see SortServers), which is the order
	// distributions see them in.
	Servers []Server
	// Migration, when set, is where the pool's keys were before a
	// reshard: reads that miss ask there (see Migration).
	Migration *Migration
}

// Server is one backend of a pool.
type Server struct {
	// Spec is the entry as written ("127.0.0.1:6379:1 redis-a").
	Spec string
	// Addr is what to dial: host:port, or a unix socket path.
	Addr string
	// Name is what placement hashes: the configured name, or the address
	// as nutcracker derives it.
	Name   string
	Weight int
}

// Defaults, chosen where nutcracker has one to match it.
const (
	DefaultHash              = "fnv1a_64"
	DefaultDistribution      = "ketama"
	DefaultProtocol          = "redis"
	DefaultServerConnections = 1
	// nutcracker waits forever by default; a proxy that hangs with its
	// server helps nobody, so walnut gives up after 10s unless told.
	DefaultTimeout        = 10 * time.Second
	DefaultMaxRequestSize = 64 << 20
	// A client that pipelines and never reads holds at most one round of
	// replies past max_client_output: max_pipeline of them.
	DefaultMaxPipeline        = 256
	DefaultMaxClientOutput    = 4 << 20
	DefaultClientConnections  = 16384
	DefaultServerFailureLimit = 2
	DefaultServerRetryTimeout = 30 * time.Second
	DefaultDialTimeout        = time.Second
	DefaultBacklog            = 512
	DefaultShutdownTimeout    = 10 * time.Second
)

// DefaultMaxDedicated bounds a pool's dedicated server connections: each
// is a connection to a server, held by a blocked client, a transaction,
// or a subscriber (one per server its channels live on).
const DefaultMaxDedicated = 1024
