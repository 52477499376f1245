//go:build linux

package core

import "github.com/walnutproxy/walnut/protocols"

// Request states: a request may need its server connection in a state
// of its own (Redis: the database its client selected, and the protocol
// version it asked for). The pool's shared connections carry requests of
// every state; when a request's state is not the one its connection is
// in, the codec's switch (SELECT, HELLO) goes out first, each of its
// replies taken by a fragment of no client.
// A connection starts in state 0, which its greeting sets up, and is
// back in it after a reconnect.
//
// One set of connections for every state keeps a client's requests in
// order whatever their state, and measured as fast as connections per
// state or faster with several states at once (BenchmarkSelect): one
// write and one read per server and loop iteration, where connections
// per state need one per state, while a switch costs the server little.
//
// A server may refuse a switch (a database it does not have). Requests
// written behind a refused switch would run in the state the connection
// is still in, so the first switch to each state on a connection is
// held as the greeting is (see serverConn.holds): nothing after it is
// written until the server has taken it. Once it has, switches to that
// state are pipelined like any request, until the connection is lost.

// switchReq stands for the request of a switch's fragment when the
// codec frames its reply.
var switchReq protocols.Request

// switchState queues the switch of sc to state: the codec's requests,
// each with a fragment of no client that takes its reply.
func (sc *serverConn) switchState(state int) {
	sw := sc.b.pool.settings().switcher
	if sw == nil {
		return
	}
	from, n0 := sc.connState, len(sc.out)
	var replies int
	sc.out, replies = sw.SwitchState(sc.out, from, state)
	sc.b.counters[sc.l.id].inQueueBytes.Add(int64(len(sc.out) - n0))
	hold := false
	if replies > 0 && state != 0 && !sc.visited.has(state) {
		// The first switch to state since the connection was made. A
		// second one queued before its replies needs no hold: if the
		// server refuses the first, the connection fails before the
		// second is written. State 0 needs none: the connection was in
		// it, and a switch back to it follows one the server took (or
		// fails with it). A switch whose requests depend on where it
		// starts sends nothing the connection has not taken before
		// when its state was visited: each request of a switch (a
		// SELECT of a database, a HELLO of a protocol) was in the
		// first switch to a state that needed it, and held there.
		sc.visited.add(state)
		sc.holds = append(sc.holds, len(sc.out))
		hold = true
	}
	for i := range replies {
		f := sc.switchFragment()
		// The last reply releases the hold: what follows waits for all.
		*f.sw = stateSwitch{from: from, to: state, i: i, holds: hold && i == replies-1}
		f.start = sc.l.now
		sc.q.push(f)
		sc.l.inflight++
	}
	sc.connState = state
}

// switchFragment returns a fragment for a switch, or a priming's reply.
func (sc *serverConn) switchFragment() *fragment {
	if n := len(sc.freeSwitch); n > 0 {
		f := sc.freeSwitch[n-1]
		sc.freeSwitch = sc.freeSwitch[:n-1]
		return f
	}
	return &fragment{sw: &stateSwitch{}}
}

// release lets go what the first hold kept back: its reply is in.
func (sc *serverConn) release() {
	if len(sc.holds) == 0 {
		return
	}
	sc.holds = sc.holds[:copy(sc.holds, sc.holds[1:])]
	if sc.outPos < len(sc.out) {
		sc.markDirty()
	}
}

// switched checks the reply to a switch: if the server refused it, the
// connection fails, and with it the requests queued after the switch,
// none of which was written if it was the first switch to its state.
// A switch that held what follows it lets it go.
func (sc *serverConn) switched(f *fragment, resp []byte) error {
	ss := *f.sw
	sc.freeSwitch = append(sc.freeSwitch, f)
	if ss.prime > 0 {
		// A priming's reply: the codec's to judge; it never fails the
		// connection.
		if pr := sc.b.pool.settings().primer; pr != nil {
			pr.PrimeReply(sc.b.label, ss.prime-1, resp)
		}
		return nil
	}
	if sw := sc.b.pool.settings().switcher; sw != nil {
		if err := sw.SwitchReply(ss.from, ss.to, ss.i, resp); err != nil {
			return setupError{err}
		}
	}
	if ss.holds {
		sc.release()
	}
	return nil
}

// stateSet is the set of states a connection was switched to since it
// was made.
type stateSet struct {
	low  [4]uint64 // states 0 to 255
	high map[int]struct{}
}

func (s *stateSet) has(state int) bool {
	if state < 256 {
		return s.low[state/64]&(1<<(state%64)) != 0
	}
	_, ok := s.high[state]
	return ok
}

func (s *stateSet) add(state int) {
	if state < 256 {
		s.low[state/64] |= 1 << (state % 64)
		return
	}
	if s.high == nil {
		s.high = map[int]struct{}{}
	}
	s.high[state] = struct{}{}
}

func (s *stateSet) reset() {
	s.low = [4]uint64{}
	clear(s.high)
}
