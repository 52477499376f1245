package core

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// backend is one server of a pool and its shared connections.
type backend struct {
	pool    *Pool
	idx     int
	name    string
	addr    string
	network string
	conns   []*serverConn
}

func (b *backend) String() string {
	if b.name != b.addr {
		return b.addr + " (" + b.name + ")"
	}
	return b.addr
}

// conn picks the connection a client uses; a client sticks to one so
// its requests to this server stay in one FIFO.
func (b *backend) conn(clientID uint64) *serverConn {
	if len(b.conns) == 1 {
		return b.conns[0]
	}
	return b.conns[clientID%uint64(len(b.conns))]
}

type connState uint8

const (
	stIdle    connState = iota // no connection; the next request dials
	stDialing                  // a dial is under way; requests queue
	stUp                       // connected
	stDown                     // the last dial failed; requests fail fast until retryAt
)

// serverConn is one connection to a server, shared by many clients.
// Clients append their requests' bytes to out and their fragments to q
// under mu, in the same order, so the n-th response read belongs to the
// n-th fragment of q. Only the connection's own goroutine (the one that
// dialed and then reads) completes fragments in q: everyone else who
// wants the connection gone (a timeout, a failed write) closes the socket
// and lets that goroutine fail what is queued. That keeps the reader the
// only one touching a fragment between send and completion.
type serverConn struct {
	b  *backend
	mu sync.Mutex

	state   connState
	conn    net.Conn
	gen     uint64 // changes with every new connection, for the writer
	out     []byte // bytes not yet written, in q's order
	spare   []byte
	writing bool // a goroutine is inside writeLoop
	q       fifo

	failErr  error     // why requests fail fast while down
	retryAt  time.Time // end of the fail-fast period
	backoff  time.Duration
	closeErr error // why the socket was closed by someone other than the reader
	closed   bool  // shut down for good

	// Only the connection's goroutine touches this.
	rbuf []byte
}

const (
	dialTimeout   = time.Second
	minBackoff    = 50 * time.Millisecond
	maxBackoff    = 2 * time.Second
	minReadBuffer = 16 << 10
	// Buffers that grew past this for one big message are dropped after
	// it, so that one 50MB value does not pin 50MB per connection.
	maxKeptBuffer = 1 << 20
)

var (
	errUnexpectedData   = errors.New("server sent data nobody asked for")
	errResponseTooLarge = errors.New("response larger than 1GiB")
)

// maxResponseSize keeps a broken or hostile server from growing a read
// buffer without end.
const maxResponseSize = 1 << 30

// send queues f on the connection and reports whether the caller must
// call flush once it has queued the rest of its batch: batching a
// client's requests into one write is what makes pipelines cheap.
func (sc *serverConn) send(f *fragment) (mustFlush bool) {
	sc.mu.Lock()
	if sc.closed {
		sc.mu.Unlock()
		f.fail(errClosed)
		return false
	}
	switch sc.state {
	case stDown:
		if time.Now().Before(sc.retryAt) {
			err := sc.failErr
			sc.mu.Unlock()
			f.fail(err)
			return false
		}
		fallthrough
	case stIdle:
		sc.state = stDialing
		go sc.run()
	}
	sc.out = sc.b.pool.codec.AppendRequest(sc.out, &f.slot.req, f.slot.partKeys(f.part))
	f.start = time.Now()
	sc.q.push(f)
	mustFlush = sc.state == stUp && !sc.writing
	sc.mu.Unlock()
	return mustFlush
}

// flush writes what is queued unless another goroutine already is: that
// one will pick up our bytes too, so under load many clients' requests
// leave in one write.
func (sc *serverConn) flush() {
	sc.mu.Lock()
	if sc.writing {
		sc.mu.Unlock()
		return
	}
	sc.writing = true
	sc.writeLoop()
}

// writeLoop is entered with mu held and writing set; it returns with mu
// released.
func (sc *serverConn) writeLoop() {
	for sc.state == stUp && len(sc.out) > 0 {
		conn := sc.conn
		buf := sc.out
		sc.out = sc.spare[:0]
		sc.mu.Unlock()
		_, err := conn.Write(buf)
		if cap(buf) > maxKeptBuffer {
			buf = nil
		}
		sc.mu.Lock()
		sc.spare = buf[:0]
		if err != nil && conn == sc.conn {
			// The reader fails what is queued when it sees the socket
			// closed; the bytes of this write are lost with it.
			sc.closeLocked(fmt.Errorf("write: %w", err))
		}
	}
	sc.writing = false
	sc.mu.Unlock()
}

// closeLocked closes the live socket, recording why for the reader.
func (sc *serverConn) closeLocked(reason error) {
	if sc.state != stUp || sc.closeErr != nil {
		return
	}
	sc.closeErr = reason
	sc.conn.Close()
}

// run dials, then reads responses until the connection fails. It is the
// connection's only goroutine.
func (sc *serverConn) run() {
	b := sc.b
	conn, err := net.DialTimeout(b.network, b.addr, dialTimeout)
	if err != nil {
		sc.mu.Lock()
		sc.backoff = min(max(2*sc.backoff, minBackoff), maxBackoff)
		sc.state = stDown
		sc.failErr = b.pool.serverError(b, fmt.Errorf("dial: %w", err))
		sc.retryAt = time.Now().Add(sc.backoff)
		sc.failAllLocked(sc.failErr)
		return
	}
	sc.mu.Lock()
	if sc.closed {
		conn.Close()
		sc.failAllLocked(errClosed)
		return
	}
	sc.conn, sc.gen, sc.state, sc.closeErr, sc.backoff = conn, sc.gen+1, stUp, nil, 0
	b.pool.log.Debug("server connected", "pool", b.pool.name, "server", b.String())
	if !sc.writing && len(sc.out) > 0 {
		sc.writing = true
		sc.writeLoop()
	} else {
		sc.mu.Unlock()
	}
	err = sc.readLoop(conn)

	sc.mu.Lock()
	if sc.closeErr != nil {
		err = sc.closeErr
	}
	conn.Close()
	sc.state, sc.conn, sc.closeErr = stIdle, nil, nil
	sc.failAllLocked(b.pool.serverError(b, err))
	b.pool.log.Info("server connection lost", "pool", b.pool.name, "server", b.String(), "err", err)
}

// failAllLocked fails every queued fragment with err; it is entered with
// mu held and releases it before waking clients.
func (sc *serverConn) failAllLocked(err error) {
	// A fresh slice: once mu is released a new connection goroutine may
	// be failing its own queue. Failing is the rare path.
	frags := sc.q.drain(make([]*fragment, 0, sc.q.len()))
	sc.out = sc.out[:0]
	sc.mu.Unlock()
	for _, f := range frags {
		f.fail(err)
	}
}

func (sc *serverConn) readLoop(conn net.Conn) error {
	codec := sc.b.pool.codec
	if cap(sc.rbuf) < minReadBuffer {
		sc.rbuf = make([]byte, minReadBuffer)
	}
	buf := sc.rbuf[:cap(sc.rbuf)]
	start, end := 0, 0
	for {
		if end == len(buf) {
			if start > 0 {
				end = copy(buf, buf[start:end])
				start = 0
			} else {
				if len(buf) >= maxResponseSize {
					return errResponseTooLarge
				}
				nb := make([]byte, 2*len(buf))
				copy(nb, buf[:end])
				buf = nb
			}
		}
		n, err := conn.Read(buf[end:])
		end += n
		for start < end {
			sc.mu.Lock()
			f := sc.q.peek()
			sc.mu.Unlock()
			if f == nil {
				return errUnexpectedData
			}
			m, perr := codec.ParseResponse(buf[start:end], &f.slot.req)
			if perr != nil {
				return fmt.Errorf("bad response: %w", perr)
			}
			if m == 0 {
				break
			}
			sc.mu.Lock()
			sc.q.pop()
			sc.mu.Unlock()
			f.complete(buf[start : start+m])
			start += m
		}
		if start == end {
			start, end = 0, 0
			if len(buf) > maxKeptBuffer {
				buf = make([]byte, minReadBuffer)
			}
		}
		sc.rbuf = buf
		if err != nil {
			return err
		}
	}
}

// expire closes the connection if its oldest request has waited longer
// than timeout; the reader then fails everything queued on it, since
// once a response is missing the FIFO can no longer be trusted.
func (sc *serverConn) expire(now time.Time, timeout time.Duration) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	f := sc.q.peek()
	if f == nil || sc.state != stUp || now.Sub(f.start) <= timeout {
		return
	}
	sc.b.pool.log.Warn("server timed out", "pool", sc.b.pool.name, "server", sc.b.String(),
		"timeout", timeout, "queued", sc.q.len())
	sc.closeLocked(fmt.Errorf("timed out after %v", timeout))
}

// shutdown closes the socket for good; queued requests fail.
func (sc *serverConn) shutdown() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.closed = true
	sc.closeLocked(errClosed)
}

var errClosed = errors.New("proxy is shutting down")

func (p *Pool) serverError(b *backend, err error) error {
	return fmt.Errorf("pool %s: server %s: %w", p.name, b, err)
}
