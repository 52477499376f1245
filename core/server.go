//go:build linux

package core

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walnutproxy/walnut/protocols"
)

type connState uint8

const (
	stIdle    connState = iota // no connection; the next request dials
	stDialing                  // a dial is under way; requests queue
	stUp                       // connected
	stDown                     // the last dial failed; requests fail fast until retryAt
)

// serverConn is one connection from a loop to a server, shared by the
// loop's clients. Requests' bytes are appended to out in the order their
// fragments are pushed on q, so the n-th response read belongs to the
// n-th fragment of q. The loop writes out once per iteration, whatever
// number of clients contributed to it.
type serverConn struct {
	l     *loop
	b     *backend
	fd    int
	state connState

	out    []byte
	outPos int
	q      fifo

	rbuf         []byte
	rstart, rend int

	dirty    bool
	wantOut  bool
	closed   bool
	retiring bool // its server left the pool: close once the queue is empty
	greeting int  // replies to the connection's setup still to come
	gen      int  // dial attempt, so that a late result of an old one is ignored

	// holds are offsets in out, in order, past which nothing is written
	// until a reply comes: the end of the setup (AUTH, SELECT) while
	// greeting > 0, then the end of each first switch to a state
	// (stateswitch.go). The first one stops writeOut; its reply releases
	// it.
	holds []int

	// connState is the Request.ConnState the last request queued needs
	// the connection in, visited the states it was switched to since it
	// was made (stateswitch.go); freeSwitch keeps the fragments that wait
	// for switches' replies.
	connState  int
	visited    stateSet
	freeSwitch []*fragment

	failErr error
	retryAt time.Time
	backoff time.Duration

	ded *dedConn // set for a client's dedicated connection (dedicated.go)
}

const (
	minBackoff    = 50 * time.Millisecond
	maxBackoff    = 2 * time.Second
	minReadBuffer = 16 << 10
	// Buffers that grew past this for one big message are dropped after
	// it, so that one 50MB value does not pin 50MB per connection.
	maxKeptBuffer = 1 << 20
	// handOverSize is the response size from which a read buffer is
	// handed to the client rather than its content copied.
	handOverSize = 256 << 10
	// maxResponseSize keeps a broken or hostile server from growing a
	// read buffer without end.
	maxResponseSize = 1 << 30
)

var (
	errUnexpectedData   = errors.New("server sent data nobody asked for")
	errResponseTooLarge = errors.New("response larger than 1GiB")
	errServerClosed     = errors.New("server closed the connection")
	errClosed           = errors.New("proxy is shutting down")
)

// send queues f on the connection, dialing first if needed.
func (sc *serverConn) send(f *fragment) {
	if sc.closed {
		f.fail(errClosed)
		return
	}
	switch sc.state {
	case stDown:
		if sc.l.now.Before(sc.retryAt) {
			f.fail(sc.failErr)
			return
		}
		sc.dial()
	case stIdle:
		sc.dial()
	}
	if cs := f.slot.req.ConnState; cs != sc.connState && cs != protocols.AnyState {
		sc.switchState(cs)
	}
	n := len(sc.out)
	sc.out = sc.b.pool.settings().codec.AppendRequest(sc.out, &f.slot.req, f.slot.parts[f.part].Keys)
	f.start = sc.l.now
	f.size = int32(len(sc.out) - n)
	sc.q.push(f)
	sc.l.inflight++
	c := &sc.b.counters[sc.l.id]
	c.requests.Add(1)
	c.requestBytes.Add(uint64(f.size))
	c.outQueue.Add(1)
	c.outQueueBytes.Add(int64(f.size))
	c.inQueueBytes.Add(int64(f.size))
	sc.markDirty()
}

func (sc *serverConn) markDirty() {
	if sc.state == stUp && !sc.dirty && !sc.wantOut {
		sc.dirty = true
		sc.l.dirtyServers = append(sc.l.dirtyServers, sc)
	}
}

// dial connects on a goroutine: name resolution and connect may block,
// the loop must not.
func (sc *serverConn) dial() {
	sc.state = stDialing
	sc.gen++
	gen, l := sc.gen, sc.l
	network, addr := sc.b.network, sc.b.addr
	timeout := sc.b.pool.settings().cfg.DialTimeout
	sc.b.counters[l.id].dials.Add(1)
	go func() {
		fd, err := dialFD(network, addr, timeout)
		if !l.post(func() { sc.dialed(gen, fd, err) }) && fd >= 0 {
			unix.Close(fd)
		}
	}()
	// Ahead of what is queued next, so that the server holds what the
	// pool keeps on every server before it runs any client's request.
	sc.prime()
}

func (sc *serverConn) dialed(gen, fd int, err error) {
	if sc.closed || gen != sc.gen {
		if fd >= 0 {
			unix.Close(fd)
		}
		return
	}
	if err == nil {
		if err = sc.l.add(fd, watchConn, sc); err != nil {
			unix.Close(fd)
		}
	}
	p := sc.b.pool
	if err != nil && sc.ded != nil {
		// No retries: it is closed, and what was queued fails in the
		// same words as on a shared connection.
		sc.fail(dialError{err: err, timeout: p.settings().cfg.DialTimeout})
		return
	}
	if err != nil {
		// Capped exponential backoff with jitter, so that many
		// connections to one dead server do not retry in step.
		sc.backoff = min(max(2*sc.backoff, minBackoff), maxBackoff)
		wait := sc.backoff/2 + rand.N(sc.backoff/2+1)
		sc.state = stDown
		sc.retryAt = sc.l.now.Add(wait)
		sc.failErr = p.serverError(sc.b, dialError{err: err, timeout: p.settings().cfg.DialTimeout})
		if sc.backoff <= 2*minBackoff {
			// The first failures of a streak are news; the rest are noise.
			p.log.Warn("server unreachable", "pool", p.name, "server", sc.b.String(), "err", err)
		}
		sc.failQueued(sc.failErr)
		sc.b.down.Store(true)
		sc.b.failed(err)
		return
	}
	sc.fd, sc.state, sc.backoff = fd, stUp, 0
	if g := p.settings().greeter; g != nil {
		// The setup (AUTH, SELECT) goes out before anything queued, and
		// alone: what is queued waits for its replies, so that a refused
		// SELECT cannot let a write land in another database.
		req, n := g.Greeting()
		for i := range sc.holds {
			sc.holds[i] += len(req) - sc.outPos
		}
		sc.holds = append(sc.holds, 0)
		copy(sc.holds[1:], sc.holds)
		sc.holds[0] = len(req)
		sc.out = append(append(make([]byte, 0, len(req)+len(sc.out)-sc.outPos), req...), sc.out[sc.outPos:]...)
		sc.outPos, sc.greeting = 0, n
		sc.b.counters[sc.l.id].inQueueBytes.Add(int64(len(req)))
	}
	sc.b.down.Store(false)
	sc.b.counters[sc.l.id].connections.Add(1)
	p.px.totalConns.Add(1)
	p.log.Debug("server connected", "pool", p.name, "server", sc.b.String(), "loop", sc.l.id)
	if sc.outPos < len(sc.out) {
		sc.markDirty()
	}
}

func (sc *serverConn) handle(ev uint32) {
	if sc.state != stUp {
		return
	}
	if ev&evWrite != 0 && sc.wantOut {
		sc.writeOut()
	}
	if ev&(evRead|evHangup) != 0 {
		sc.readIn(ev&evHangup != 0)
	}
}

// readIn reads and dispatches responses until the socket is drained.
func (sc *serverConn) readIn(peerClosed bool) {
	for sc.state == stUp {
		if sc.ded != nil && sc.ded.held {
			return // resumed once its client's output is written
		}
		if sc.rbuf == nil {
			sc.rbuf = make([]byte, minReadBuffer)
		}
		if sc.rend == len(sc.rbuf) {
			if sc.rstart > 0 {
				sc.rend = copy(sc.rbuf, sc.rbuf[sc.rstart:sc.rend])
				sc.rstart = 0
			} else {
				if len(sc.rbuf) >= maxResponseSize {
					sc.fail(errResponseTooLarge)
					return
				}
				size := 2 * len(sc.rbuf)
				if sz := sc.b.pool.settings().sizer; sz != nil {
					size = max(size, sz.ResponseSize(sc.rbuf[:sc.rend]))
				}
				nb := make([]byte, min(size, maxResponseSize))
				copy(nb, sc.rbuf[:sc.rend])
				sc.rbuf = nb
			}
		}
		space := len(sc.rbuf) - sc.rend
		n, err := readFD(sc.fd, sc.rbuf[sc.rend:])
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
			continue
		case err != nil:
			sc.fail(fmt.Errorf("read: %w", err))
			return
		case n == 0:
			sc.fail(errServerClosed)
			return
		}
		sc.rend += n
		if err := sc.parseResponses(); err != nil {
			sc.fail(err)
			return
		}
		if n < space && !peerClosed {
			return
		}
	}
}

// parseResponses hands every complete response to the fragment at the
// head of the queue.
func (sc *serverConn) parseResponses() error {
	codec := sc.b.pool.settings().codec
	stats := &sc.b.counters[sc.l.id]
	timed := sc.b.pool.px.latency.Load()
	answered := false
	if sc.greeting > 0 {
		g := sc.b.pool.settings().greeter
		_, total := g.Greeting()
		for sc.greeting > 0 && sc.rstart < sc.rend {
			m, err := g.GreetingReply(total-sc.greeting, sc.rbuf[sc.rstart:sc.rend])
			if err != nil {
				return setupError{err}
			}
			if m == 0 {
				return nil
			}
			sc.rstart += m
			sc.greeting--
		}
		if sc.greeting == 0 {
			// Set up: what waited goes out.
			sc.release()
		}
	}
	for sc.rstart < sc.rend {
		f := sc.q.peek()
		if f == nil && sc.ded != nil {
			m, err := sc.relayPush(sc.rbuf[sc.rstart:sc.rend])
			if m == 0 || err != nil {
				return err
			}
			sc.rstart += m
			continue
		}
		if f == nil {
			return errUnexpectedData
		}
		req := &switchReq
		if f.sw == nil {
			req = &f.slot.req
		}
		m, err := codec.ParseResponse(sc.rbuf[sc.rstart:sc.rend], req)
		if err != nil {
			return fmt.Errorf("bad response: %w", err)
		}
		if m == 0 {
			break
		}
		sc.q.pop()
		sc.l.inflight--
		if f.sw != nil {
			resp := sc.rbuf[sc.rstart : sc.rstart+m]
			sc.rstart += m
			if err := sc.switched(f, resp); err != nil {
				return err
			}
			continue
		}
		stats.responses.Add(1)
		stats.responseBytes.Add(uint64(m))
		stats.outQueue.Add(-1)
		stats.outQueueBytes.Add(-int64(f.size))
		if timed {
			stats.latency.observe(sc.l.now.Sub(f.start))
		}
		resp := sc.rbuf[sc.rstart : sc.rstart+m : sc.rstart+m]
		sc.rstart += m
		answered = true
		owned := m >= handOverSize && m > len(sc.rbuf)/2
		if owned {
			// A large response that had a buffer grown for it: hand the
			// buffer to the fragment instead of copying the response out
			// of it, and read on into a new one.
			rest := sc.rbuf[sc.rstart:sc.rend]
			sc.rbuf = make([]byte, max(minReadBuffer, len(rest)))
			sc.rstart, sc.rend = 0, copy(sc.rbuf, rest)
		}
		if sc.ded != nil && sc.q.len() == 0 && sc.rstart == sc.rend {
			// A dedicated connection whose lease this answer ends goes
			// back to the idle set before the completion below starts
			// its client's next round, which may want one: else it
			// dials another, or at max_dedicated is refused, while
			// this one is about to be idle. Not with more bytes read:
			// they must not be taken for the next request's answer.
			sc.b.succeeded()
			sc.dedDrained()
		}
		if owned {
			f.completeOwned(resp)
		} else {
			f.complete(resp)
		}
		if sc.state != stUp {
			// A completion cannot fail this connection today; if one ever
			// does, the buffer is gone and so is the rest of its work.
			return nil
		}
	}
	if answered {
		sc.b.succeeded()
		if sc.retiring && sc.q.len() == 0 {
			sc.shutdown()
			return nil
		}
		if sc.ded != nil && sc.q.len() == 0 {
			sc.dedDrained()
		}
	}
	if sc.rstart == sc.rend {
		sc.rstart, sc.rend = 0, 0
		if len(sc.rbuf) > maxKeptBuffer {
			sc.rbuf = nil
		}
	}
	return nil
}

// writeOut writes the queued requests.
func (sc *serverConn) writeOut() {
	if sc.state != stUp {
		return
	}
	end := len(sc.out)
	if len(sc.holds) > 0 {
		end = sc.holds[0]
	}
	for sc.outPos < end {
		n, err := writeFD(sc.fd, sc.out[sc.outPos:end])
		switch {
		case err == unix.EAGAIN:
			sc.wantOut = true
			return
		case err == unix.EINTR:
			continue
		case err != nil:
			sc.fail(fmt.Errorf("write: %w", err))
			return
		}
		sc.outPos += n
		sc.b.counters[sc.l.id].inQueueBytes.Add(-int64(n))
	}
	sc.wantOut = false
	if sc.outPos < len(sc.out) {
		// Requests held until the setup, or a switch, is answered.
		return
	}
	for i := range sc.holds {
		// A hold at the very end of what was written: it stays in place
		// for what comes next.
		sc.holds[i] -= sc.outPos
	}
	sc.out, sc.outPos = sc.out[:0], 0
	if cap(sc.out) > maxKeptBuffer {
		sc.out = nil
	}
}

// fail closes the connection and fails everything queued on it: once a
// response is missing or malformed, the FIFO cannot be trusted to match
// the ones after it. The next request dials again.
func (sc *serverConn) fail(err error) {
	if sc.ded != nil {
		sc.dedFailed()
	}
	p := sc.b.pool
	stats := &sc.b.counters[sc.l.id]
	if sc.state == stUp {
		sc.l.remove(sc.fd)
		sc.fd = -1
		stats.connections.Add(-1)
		switch {
		case errors.Is(err, errServerClosed):
			stats.eof.Add(1)
		case errors.As(err, new(timeoutError)):
			stats.timedout.Add(1)
		case !sc.closed:
			stats.errs.Add(1)
		}
		if !sc.closed {
			p.log.Warn("server connection failed", "pool", p.name, "server", sc.b.String(), "err", err,
				"queued", sc.q.len())
		}
	}
	sc.state = stIdle
	sc.rstart, sc.rend, sc.greeting = 0, 0, 0
	sc.failQueued(p.serverError(sc.b, err))
	if !sc.closed {
		sc.b.failed(err)
	}
}

// failQueued fails every queued fragment with err.
func (sc *serverConn) failQueued(err error) {
	stats := &sc.b.counters[sc.l.id]
	stats.inQueueBytes.Add(-int64(len(sc.out) - sc.outPos))
	sc.out, sc.outPos, sc.wantOut = sc.out[:0], 0, false
	// The switches queued are gone too: the next connection starts in
	// the state its greeting sets up, and has taken no switch yet.
	sc.connState = 0
	sc.holds = sc.holds[:0]
	sc.visited.reset()
	n := sc.q.len()
	if n == 0 {
		return
	}
	// Take the queue first: failing a fragment wakes its client, which
	// may queue new requests on this very connection.
	frags := sc.q.drain(make([]*fragment, 0, n))
	sc.l.inflight -= n
	for _, f := range frags {
		if f.sw == nil {
			stats.outQueue.Add(-1)
			stats.outQueueBytes.Add(-int64(f.size))
		}
	}
	for _, f := range frags {
		f.fail(err)
	}
}

// expire fails the connection if its oldest request has waited longer
// than the pool's timeout.
func (sc *serverConn) expire(now time.Time) {
	timeout := sc.b.pool.settings().cfg.Timeout
	if timeout <= 0 || sc.state != stUp {
		return
	}
	f := sc.q.peek()
	if f == nil {
		return
	}
	if f.sw == nil {
		if b := f.slot.req.Block; b != 0 {
			if b < 0 {
				return // a blocking command without a timeout of its own
			}
			timeout += b
		}
	}
	if now.Sub(f.start) <= timeout {
		return
	}
	sc.fail(timeoutError{timeout})
}

// timeoutError is a request that waited longer than the pool's timeout.
type timeoutError struct{ after time.Duration }

func (e timeoutError) Error() string { return fmt.Sprintf("timed out after %v", e.after) }

// retire closes the connection once what is queued on it is answered:
// its server left the pool in a reload.
func (sc *serverConn) retire() {
	sc.retiring = true
	if sc.q.len() == 0 {
		sc.shutdown()
	}
}

// shutdown closes the connection for good and forgets it.
func (sc *serverConn) shutdown() {
	if sc.closed {
		return
	}
	sc.closed = true
	sc.gen++
	sc.fail(errClosed)
	sc.l.forget(sc)
}
