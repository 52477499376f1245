//go:build linux

package core

import (
	"fmt"
	"sync/atomic"

	"github.com/walnutproxy/walnut/protocols"
)

// Dedicated server connections: a client's own connection to a server,
// for what the shared pipelined connections cannot carry (see
// protocols.Conn). The codec asks for one per request; the core leases
// it, sends on it, and ends the lease:
//
//   - Once (a blocking command): a connection for one request, taken
//     from the loop's idle set or dialed, and put back once answered, so
//     that a command that waits at the server never stalls the requests
//     of other clients queued behind it on a shared connection;
//   - Pinned (a transaction): the connection the client holds from its
//     first Pinned request to one with Release, to the server of the
//     first keys; requests whose keys live elsewhere are refused;
//   - Subscribed (pub/sub): at most one connection per server, on which
//     the server also sends values nobody asked for, relayed to the
//     client; they are closed, not reused, when the lease ends.
//
// A request with ReleaseAll (Redis' RESET) ends them all at once: the
// pinned connection after the request left it clean, the subscriptions
// closed.
//
// A dedicated connection is a serverConn with a dedConn attached: it is
// dialed and set up (AUTH, SELECT) like a shared one, lives in its
// loop's list of server connections (so that timeouts, reloads and
// shutdown see it), and counts against the pool's max_dedicated, idle
// ones included. It is never shared by two clients at once, and it is
// reused only when nothing can be left on it: after a blocking command's
// reply, or after the reply to the request that ended a transaction
// (EXEC, DISCARD, UNWATCH leave no state behind). A connection that
// fails, or whose client goes away while it holds state, is closed.
//
// A client never has requests on two connections at once, but for the
// one per server of a subscription: parse cuts its rounds where the
// kind of connection changes, after a request that ends a lease (the
// next lease may be another connection), and around a Once request,
// which is alone in its round (see roundOf). So a client's requests
// keep their order across connections, as on one Redis connection.

// leaseKind is what a dedicated connection is used for.
type leaseKind uint8

const (
	leaseOnce leaseKind = iota + 1
	leasePin
	leaseSub
)

// dedConn is what makes a serverConn dedicated.
type dedConn struct {
	owner *client // nil while idle
	kind  leaseKind
	// ended: the lease is over; the connection goes back to the idle
	// set (or is closed, for leaseSub) once its queue is empty. A Once
	// lease ends as it starts: only the request in flight holds it.
	ended bool
	idle  bool // in its loop's idle set
	// held: reading stops while the owner's output is over
	// max_client_output, so that a subscriber that does not read slows
	// its server down instead of growing walnut's memory.
	held bool
	gone bool // closed and uncounted
}

// leases are a client's dedicated connections.
type leases struct {
	// pinned: a Pinned lease is on, with or without a connection yet (a
	// transaction that has not named a key).
	pinned bool
	pin    *serverConn
	once   *serverConn   // the Once connection of the request in flight
	subs   []*serverConn // at most one per server
	// pushes are values relayed during a round, written after its
	// replies: a reply the round is waiting for came before them.
	pushes []byte
	conns  []*serverConn // scratch: the connection of each part
}

// loopDed is a loop's idle dedicated connections, by server.
type loopDed struct {
	idle map[*backend][]*serverConn
}

// dedCounters are a pool's dedicated connection statistics.
type dedCounters struct {
	open    atomic.Int64  // open now, idle ones included
	leases  atomic.Uint64 // connections handed to a client
	refused atomic.Uint64 // requests refused at max_dedicated
	pushes  atomic.Uint64 // values relayed from servers unasked (pub/sub messages)
}

// maxIdleDedicated bounds the idle dedicated connections a loop keeps
// to one server; past it, one that comes back is closed.
const maxIdleDedicated = 8

// Round kinds: which connections a request uses.
const (
	roundLocal uint8 = iota // answered by walnut
	roundShared
	roundOnce
	roundPinned
	roundSubscribed
)

// roundOf returns the connections req uses, for parse to cut rounds.
func roundOf(req *protocols.Request) uint8 {
	if req.Kind == protocols.Local {
		return roundLocal
	}
	return roundShared + uint8(req.Conn)
}

// cuts reports whether a request of kind k cannot join a round of
// kind round: a round uses one kind of connection, and a Once request
// is alone.
func cuts(round, k uint8) bool {
	return round != roundLocal && (k != round || k == roundOnce)
}

// uncarry makes the request parse held back for the next round (slot
// carry-1) that round's first slot. Its bytes are still in the read
// buffer: nothing is read between two rounds.
func (c *client) uncarry() uint8 {
	i := c.carry - 1
	c.carry = 0
	c.slots[0], c.slots[i] = c.slots[i], c.slots[0]
	return roundOf(&c.slots[0].req)
}

func (c *client) leases() *leases {
	if c.ded == nil {
		c.ded = &leases{}
	}
	return c.ded
}

// dispatchDedicated sends a request that asked for a dedicated
// connection, or answers it with a failed part saying why it could not.
func (c *client) dispatchDedicated(s *slot) {
	req := &s.req
	d := c.leases()
	if req.Kind == protocols.Local {
		// A lease that starts or ends without a server: MULTI, an EXEC
		// with nothing queued.
		if req.Conn == protocols.Pinned {
			d.pinned = true
			if req.Release {
				c.unpin()
			}
		}
		if req.ReleaseAll {
			c.releaseAll()
		}
		return
	}
	err := s.err
	s.err = nil
	if err == nil {
		switch req.Conn {
		case protocols.Once:
			err = c.sendOnce(s)
		case protocols.Pinned:
			err = c.sendPinned(s)
		case protocols.Subscribed:
			err = c.sendSubscribed(s)
		}
	}
	if err != nil {
		s.parts = s.parts[:0]
		s.addPart(0)
		s.parts[0].Keys = nil
		s.parts[0].Err = err
		if l, ok := c.st.codec.(protocols.Leaser); ok {
			l.Refused(req, err)
		}
		if req.Conn == protocols.Subscribed && !c.closed {
			// The codec already counts the subscriptions as made: rather
			// than a client that believes it is subscribed and is not,
			// one that reconnects.
			c.closing = true
		}
	}
	if req.Release {
		switch req.Conn {
		case protocols.Pinned:
			if sc := d.pin; sc != nil && err != nil {
				// What would have left it clean (EXEC, DISCARD, UNWATCH)
				// was not sent: it must not go back to the idle set.
				d.pin = nil
				sc.ded.owner = nil
				sc.shutdown()
			}
			c.unpin()
		case protocols.Subscribed:
			c.unsubscribeAll()
		}
	}
	if req.ReleaseAll {
		c.releaseAll()
	}
}

// route1 returns the server of all of s's keys, or why there is none.
func (c *client) route1(s *slot, t *table) (*backend, error) {
	srv := s.route(t, 0)
	for i := 1; i < len(s.req.Keys); i++ {
		if s.route(t, i) != srv {
			return nil, &protocols.ElsewhereError{Key: i}
		}
	}
	if srv < 0 {
		return nil, c.noRoute(srv)
	}
	return t.backends[srv], nil
}

func (c *client) sendOnce(s *slot) error {
	if fansOut(s.req.Kind) {
		return c.sendOnceFanOut(s)
	}
	if len(s.req.Keys) == 0 {
		return errNoKey
	}
	b, err := c.route1(s, c.p.table.Load())
	if err != nil {
		return err
	}
	sc, err := c.lease(b, leaseOnce)
	if err != nil {
		return err
	}
	c.ded.once = sc
	c.sendOn(s, sc)
	return nil
}

func (c *client) sendPinned(s *slot) error {
	d := c.ded
	d.pinned = true
	if len(s.req.Keys) == 0 {
		if d.pin == nil {
			return protocols.ErrNoLease
		}
		c.sendOn(s, d.pin)
		return nil
	}
	b, err := c.route1(s, c.p.table.Load())
	if err != nil {
		return err
	}
	if d.pin == nil {
		if d.pin, err = c.lease(b, leasePin); err != nil {
			return err
		}
	} else if d.pin.b != b {
		return &protocols.ElsewhereError{Key: 0, Held: true}
	}
	c.sendOn(s, d.pin)
	return nil
}

// sendSubscribed sends one part per server: the keys that live there,
// or the whole request to every server (or every one the client holds a
// connection to).
func (c *client) sendSubscribed(s *slot) error {
	d := c.ded
	req := &s.req
	t := c.p.table.Load()
	conns := d.conns[:0]
	defer func() {
		clear(conns)
		d.conns = conns[:0]
	}()
	s.parts = s.parts[:0]
	switch {
	case len(req.Keys) > 0:
		for i := range req.Keys {
			srv := s.route(t, i)
			if srv < 0 {
				return c.noRoute(srv)
			}
			b := t.backends[srv]
			j := -1
			for k, sc := range conns {
				if sc.b == b {
					j = k
					break
				}
			}
			if j < 0 {
				sc := d.sub(b)
				if sc == nil && req.Held {
					continue
				}
				if sc == nil {
					var err error
					if sc, err = c.leaseSub(b); err != nil {
						return err
					}
				}
				j = s.addPart(srv)
				conns = append(conns, sc)
			}
			s.parts[j].Keys = append(s.parts[j].Keys, int32(i))
		}
		for j := range s.parts {
			s.keyBufs[j] = s.parts[j].Keys[:0]
		}
		if len(s.parts) == 1 && len(s.parts[0].Keys) == len(req.Keys) {
			s.parts[0].Keys = nil // all on one server: the request as it came
		}
	case req.Held:
		for _, sc := range d.subs {
			s.parts[s.addPart(0)].Keys = nil
			conns = append(conns, sc)
		}
	default:
		for srv, b := range t.backends {
			if b.isEjected() {
				continue
			}
			sc := d.sub(b)
			if sc == nil {
				var err error
				if sc, err = c.leaseSub(b); err != nil {
					return err
				}
			}
			s.parts[s.addPart(srv)].Keys = nil
			conns = append(conns, sc)
		}
		if len(conns) == 0 {
			return c.st.noServer
		}
	}
	for i, sc := range conns {
		f := &s.frags[i]
		*f = fragment{c: c, slot: s, part: i}
		c.pending++
		sc.send(f)
	}
	return nil
}

func (c *client) leaseSub(b *backend) (*serverConn, error) {
	sc, err := c.lease(b, leaseSub)
	if err == nil {
		c.ded.subs = append(c.ded.subs, sc)
	}
	return sc, err
}

// sub returns the client's subscription connection to b, or nil.
func (d *leases) sub(b *backend) *serverConn {
	for _, sc := range d.subs {
		if sc.b == b {
			return sc
		}
	}
	return nil
}

// sendOn sends the whole of s on sc.
func (c *client) sendOn(s *slot, sc *serverConn) {
	s.parts = s.parts[:0]
	s.addPart(0)
	s.parts[0].Keys = nil
	f := &s.frags[0]
	*f = fragment{c: c, slot: s, part: 0}
	c.pending++
	sc.send(f)
}

// ErrTooManyDedicated refuses a request that needs a dedicated connection
// when the pool has max_dedicated of them and none idle.
type ErrTooManyDedicated struct {
	Pool string
	Max  int
}

func (e *ErrTooManyDedicated) Error() string {
	return fmt.Sprintf("pool %s: too many dedicated server connections (max_dedicated %d)", e.Pool, e.Max)
}

// lease hands the client a dedicated connection to b: an idle one of the
// loop, or a new one (dialed by its first send).
func (c *client) lease(b *backend, kind leaseKind) (*serverConn, error) {
	l, p := c.l, c.p
	sc := l.ded.takeIdle(b)
	if sc == nil {
		max := int64(c.st.cfg.MaxDedicated)
		for p.ded.open.Add(1) > max {
			p.ded.open.Add(-1)
			if !l.ded.evictIdle() {
				p.ded.refused.Add(1)
				return nil, &ErrTooManyDedicated{Pool: p.name, Max: int(max)}
			}
		}
		sc = &serverConn{l: l, b: b, fd: -1, ded: &dedConn{}}
		l.servers = append(l.servers, sc)
	}
	*sc.ded = dedConn{owner: c, kind: kind, ended: kind == leaseOnce}
	p.ded.leases.Add(1)
	return sc, nil
}

// unpin ends the client's Pinned lease; its connection goes back to the
// idle set once what was sent on it is answered.
func (c *client) unpin() {
	d := c.ded
	d.pinned = false
	if sc := d.pin; sc != nil {
		d.pin = nil
		sc.ded.ended = true
		if sc.q.len() == 0 {
			sc.dedDrained()
		}
	}
}

// unsubscribeAll ends the client's Subscribed lease: each connection is
// closed once what was sent on it is answered.
func (c *client) unsubscribeAll() {
	d := c.ded
	subs := d.subs
	d.subs = d.subs[:0]
	for i, sc := range subs {
		subs[i] = nil
		sc.ded.ended = true
		if sc.q.len() == 0 {
			sc.dedDrained()
		}
	}
}

// releaseAll ends every lease of the client (Request.ReleaseAll), after
// what the request's own Release did: a pinned connection still held is
// closed, since nothing sent on it is known to have left it clean, and
// the subscription connections are closed once answered.
func (c *client) releaseAll() {
	d := c.ded
	if sc := d.pin; sc != nil {
		d.pin = nil
		sc.ded.owner = nil
		sc.shutdown()
	}
	d.pinned = false
	c.unsubscribeAll()
}

// dropLeases closes the connections a closing client holds: a
// transaction's or subscriptions' state must not outlive it, and a
// blocking command it waited for must not take data nobody will read.
// A connection whose lease ended already finishes what it was sent.
func (c *client) dropLeases() {
	d := c.ded
	var drop []*serverConn
	if d.pin != nil {
		drop = append(drop, d.pin)
	}
	if d.once != nil {
		drop = append(drop, d.once)
	}
	drop = append(drop, d.subs...)
	d.pin, d.once, d.pinned = nil, nil, false
	d.subs = d.subs[:0]
	d.pushes = nil
	for _, sc := range drop {
		sc.ded.owner = nil
		sc.shutdown()
	}
}

// holding reports whether the client has state on dedicated connections
// (or a transaction begun), which a hand-off to a new process would lose.
func (d *leases) holding() bool {
	return d.pinned || d.pin != nil || d.once != nil || len(d.subs) > 0
}

// peerGone closes a client that went away while blocked at a server, as
// Redis does: its blocking command could otherwise wait for ever, and
// take data nobody would read.
func (c *client) peerGone() {
	if c.ded.once != nil {
		c.eof = true
		c.close()
	}
}

// abandonBlocked fails the blocking command the client waits for, when
// walnut drains: the client is answered an error and the drain does not
// wait for a command that may never return.
func (c *client) abandonBlocked() {
	if sc := c.ded.once; sc != nil {
		sc.shutdown()
	}
}

// push relays a value a server sent unasked to the client: after the
// round's replies if it is in one, else at once.
func (c *client) push(b []byte) {
	if c.inRound {
		c.ded.pushes = append(c.ded.pushes, b...)
		return
	}
	c.out = append(c.out, b...)
	if !c.dirty {
		c.dirty = true
		c.l.dirtyClients = append(c.l.dirtyClients, c)
	}
}

// flushPushes appends the values relayed during the round, after its
// replies.
func (c *client) flushPushes() {
	if d := c.ded; len(d.pushes) > 0 {
		c.out = append(c.out, d.pushes...)
		d.pushes = d.pushes[:0]
		if cap(d.pushes) > maxKeptClient {
			d.pushes = nil
		}
	}
}

// resumePushes reads on from the subscription connections that stopped
// while the client's output was full; writeOut calls it once the output
// is written.
func (c *client) resumePushes() {
	for _, sc := range c.ded.subs {
		if sc.ded.held && !c.closed {
			sc.ded.held = false
			sc.readIn(false)
		}
	}
}

// relayPush hands a value that came on a dedicated connection with no
// request waiting to the codec's Pusher, and relays it to the client
// that holds the connection. It returns the value's length (0: not all
// there yet). Only subscription connections may get such values.
func (sc *serverConn) relayPush(buf []byte) (int, error) {
	pu, ok := sc.b.pool.settings().codec.(protocols.Pusher)
	if !ok || sc.ded.kind != leaseSub {
		return 0, errUnexpectedData
	}
	n, err := pu.PushLen(buf)
	if n == 0 || err != nil {
		return 0, err
	}
	c := sc.ded.owner
	if c == nil || sc.ded.ended || c.closed {
		return n, nil // unsubscribing: nobody wants it
	}
	sc.b.pool.ded.pushes.Add(1)
	c.push(buf[:n])
	if len(c.out)-c.outPos+len(c.ded.pushes) > c.st.cfg.MaxClientOutput {
		sc.ded.held = true
	}
	return n, nil
}

// dedDrained runs when a dedicated connection's queue empties: one
// whose lease ended goes back to the idle set, or is closed.
func (sc *serverConn) dedDrained() {
	d := sc.ded
	if !d.ended || d.gone || d.idle {
		return
	}
	if c := d.owner; c != nil && c.ded != nil && c.ded.once == sc {
		c.ded.once = nil
	}
	d.owner = nil
	if d.kind == leaseSub || sc.retiring || sc.closed || sc.state == stIdle {
		sc.shutdown()
		return
	}
	sc.l.ded.putIdle(sc)
}

// dedFailed runs first when a dedicated connection fails or is closed:
// it is never used again. A client that held state on it (a transaction,
// subscriptions) is closed once the replies it has are written: what it
// believes the server holds for it is gone.
func (sc *serverConn) dedFailed() {
	d := sc.ded
	if d.gone {
		return
	}
	d.gone = true
	sc.gen++ // a dial under way is for nobody now
	sc.b.pool.ded.open.Add(-1)
	sc.l.ded.removeIdle(sc)
	sc.l.forget(sc)
	c := d.owner
	d.owner = nil
	if c == nil || c.ded == nil {
		return
	}
	cd := c.ded
	if cd.once == sc {
		cd.once = nil
	}
	if d.ended {
		return
	}
	if cd.pin == sc {
		cd.pin = nil
	}
	for i, x := range cd.subs {
		if x == sc {
			cd.subs = append(cd.subs[:i], cd.subs[i+1:]...)
			break
		}
	}
	if c.closed {
		return
	}
	c.closing = true
	if !c.dirty {
		// writeOut, at the end of the iteration, closes it once its
		// output is written.
		c.dirty = true
		c.l.dirtyClients = append(c.l.dirtyClients, c)
	}
}

func (ld *loopDed) takeIdle(b *backend) *serverConn {
	list := ld.idle[b]
	for len(list) > 0 {
		sc := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		ld.idle[b] = list
		sc.ded.idle = false
		if !sc.closed && !sc.retiring && !sc.ded.gone {
			return sc
		}
	}
	return nil
}

func (ld *loopDed) putIdle(sc *serverConn) {
	if ld.idle == nil {
		ld.idle = map[*backend][]*serverConn{}
	}
	if len(ld.idle[sc.b]) >= maxIdleDedicated {
		sc.shutdown()
		return
	}
	sc.ded.idle = true
	ld.idle[sc.b] = append(ld.idle[sc.b], sc)
}

func (ld *loopDed) removeIdle(sc *serverConn) {
	if !sc.ded.idle {
		return
	}
	sc.ded.idle = false
	list := ld.idle[sc.b]
	for i, x := range list {
		if x == sc {
			ld.idle[sc.b] = append(list[:i], list[i+1:]...)
			list[len(list)-1] = nil
			return
		}
	}
}

// evictIdle closes one idle connection of the loop, to make room under
// max_dedicated; it reports false if there is none.
func (ld *loopDed) evictIdle() bool {
	for _, list := range ld.idle {
		if len(list) > 0 {
			list[0].shutdown()
			return true
		}
	}
	return false
}

// retireDedicated closes the loop's dedicated connections to b, a server
// a reload removed: idle ones now, the others once answered (their
// clients, which hold state there, are then closed).
func (l *loop) retireDedicated(b *backend) {
	for _, sc := range append([]*serverConn(nil), l.servers...) {
		if sc.ded != nil && sc.b == b {
			sc.retire()
		}
	}
}
