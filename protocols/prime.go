package protocols

// Primer is implemented by codecs whose pools keep state that every
// server must hold, beside the keys, and that a server loses when it
// restarts (Redis' function libraries and scripts): the core lets the
// codec bring a server up to date whenever it may have fallen behind.
//
// The core primes a shared connection when it dials it, and every shared
// connection that is up when its server comes back into the routing
// table (after an ejection) or when the codec asks (Options.Reprime).
// Dedicated connections are not primed: the server they go to is primed
// by the pool's shared connections.
//
// Priming never holds or fails what clients send: its requests go out
// after the connection's greeting and before what was queued behind it,
// pipelined with it, so that the server runs them first; their replies
// go to PrimeReply, whatever they say, and the connection carries on.
// They go in whatever state the connection is in (StateSwitcher), with
// no switch ahead of them: a Redis connection that a RESP3 client's
// requests left in RESP3 answers them in RESP3.
type Primer interface {
	// Prime returns the requests that bring server (named as in
	// Part.Name) up to date and how many replies they get; nil and 0 for
	// none. It is called on the connection's loop and must not block.
	Prime(server string) ([]byte, int)
	// PrimeReply takes the reply to the i-th request (from 0) of a
	// priming of server, framed by ParseResponse. resp is the
	// connection's read buffer: the codec copies what it keeps. It is
	// also what the codec learns from, such as libraries a server had
	// before walnut started.
	PrimeReply(server string, i int, resp []byte)
}

// Heir is implemented by codecs that keep state about the pool's servers
// across a reload of the configuration, which builds a new codec for
// every pool: the core hands the new codec of a pool the one it
// replaces, before the new one serves anything.
type Heir interface {
	Inherit(prev Codec)
}

// AnyState, as Request.ConnState, sends a request on its connection in
// whatever state the connection is in, with no switch ahead of it: for a
// request that acts alike in every state and must not wait for a switch
// (Redis' SCRIPT KILL, which reaches a server busy with a script, where
// SELECT is refused).
const AnyState = -1
