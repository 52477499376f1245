package protocols

// Through says how a request for a key is served while a pool's keys
// move from the servers of an old placement to those of a new one (a
// pool with a migration, during walnut reshard). Only requests for a
// single key whose server changed are concerned.
type Through uint8

const (
	// ThroughNone: served by the key's new server alone.
	ThroughNone Through = iota
	// ThroughRead: a read. If the new server's answer is a miss, the
	// old server is asked; if it misses too, the new server again (the
	// key may have moved in between). The first hit is the answer.
	ThroughRead
	// ThroughDelete: a delete. It is sent to the new server, the old
	// one, then the new one again, so that a copy the mover makes in
	// between does not bring the key back. The first answer that is not
	// a miss is the answer, else the last.
	ThroughDelete
)

// ReadThrough is implemented by codecs whose pools can serve during a
// reshard (see Through).
type ReadThrough interface {
	// Through classifies req, a request the codec parsed. It is asked
	// only when the pool has a migration, for requests walnut sends to
	// the servers of their keys on the pool's shared connections (Conn
	// Shared): those on a dedicated connection are served by the key's
	// new server alone, Broadcast and Targeted ones by the pool's (new)
	// servers. Every step runs in the request's ConnState.
	Through(req *Request) Through
	// Missed reports whether resp, a server's complete response to req
	// carrying one key (the whole request, or a part of it with one key),
	// says the key was not there: a nil, an empty collection, a count
	// of 0, NOT_FOUND, EN...
	Missed(req *Request, resp []byte) bool
}
