package core

import (
	"errors"
	"net"
	"sync/atomic"
	"time"

	"github.com/walnutproxy/walnut/protocols"
)

// client is one client connection. Its goroutine works in rounds: read
// what the client sent, parse every complete request, send them all to
// their servers, wait until every one is answered, then write all the
// replies in one write. Waiting for the round to finish before reading
// again is what keeps replies in request order without a reorder buffer,
// bounds the memory a client can hold, and lets requests point into the
// read buffer (nothing moves it until the round is over).
type client struct {
	p    *Pool
	conn net.Conn
	id   uint64

	rbuf       []byte
	start, end int // unparsed bytes are rbuf[start:end]
	out        []byte

	slots   []*slot
	touched []*serverConn
	partOf  []int32 // server index -> part of the slot being routed, or -1

	pending atomic.Int32
	wake    chan struct{}
}

// slot is a request of the current round and everything needed to answer
// it; slots are reused from round to round.
type slot struct {
	req     protocols.Request
	parts   []protocols.Part
	keyBufs [][]int32 // backing for parts[i].Keys, kept when Keys is nil
	servers []int     // servers[i] is the server of parts[i]
	frags   []fragment
	err     error // answers the request instead of its parts
}

// fragment is the share of a slot sent to one server connection.
type fragment struct {
	c     *client
	slot  *slot
	part  int
	start time.Time
}

func (s *slot) partKeys(i int) []int32 { return s.parts[i].Keys }

func (f *fragment) complete(resp []byte) {
	p := &f.slot.parts[f.part]
	p.Resp = append(p.Resp[:0], resp...)
	p.Err = nil
	f.c.done()
}

func (f *fragment) fail(err error) {
	p := &f.slot.parts[f.part]
	p.Resp = p.Resp[:0]
	p.Err = err
	f.c.done()
}

func (c *client) done() {
	if c.pending.Add(-1) == 0 {
		c.wake <- struct{}{}
	}
}

const (
	minClientBuffer = 4 << 10
	maxKeptClient   = 64 << 10
)

var (
	// ErrCrossServer answers a request whose keys live on different
	// servers when the protocol cannot split it.
	ErrCrossServer = errors.New("keys of this request belong to different servers (a hash tag keeps related keys together)")
	// ErrNoServer answers a request when no server of the pool is alive.
	ErrNoServer = errors.New("no server is available")
	errNoKey    = errors.New("request has no key to route by")
)

func (c *client) serve() {
	p := c.p
	c.rbuf = make([]byte, minClientBuffer)
	for {
		// Read until at least one request is complete.
		n, protoErr := c.parse()
		if n == 0 && protoErr == nil {
			if !c.fill() {
				return
			}
			continue
		}
		c.round(n)
		c.out = c.out[:0]
		closeAfter := false
		for _, s := range c.slots[:n] {
			c.out = c.reply(c.out, s)
			closeAfter = closeAfter || s.req.Close
		}
		if protoErr != nil {
			c.out = p.codec.AppendError(c.out, protoErr)
			p.log.Info("client closed for bad input", "pool", p.name, "client", c.conn.RemoteAddr().String(), "err", protoErr)
			closeAfter = true
		}
		if len(c.out) > 0 {
			if _, err := c.conn.Write(c.out); err != nil {
				return
			}
		}
		if cap(c.out) > maxKeptClient {
			c.out = nil
		}
		if closeAfter {
			return
		}
	}
}

// parse parses the complete requests at the start of the read buffer, up
// to the pool's pipeline bound, into the round's slots. It returns their
// number and, if the bytes after them are malformed, the protocol error.
func (c *client) parse() (int, error) {
	p := c.p
	n := 0
	for c.start < c.end && n < p.maxPipeline {
		if n == len(c.slots) {
			c.slots = append(c.slots, &slot{})
		}
		s := c.slots[n]
		s.req.Reset()
		s.err = nil
		m, err := p.codec.ParseRequest(c.rbuf[c.start:c.end], &s.req)
		if err != nil {
			return n, err
		}
		if m == 0 {
			if c.start == 0 && c.end == len(c.rbuf) && len(c.rbuf) >= p.maxRequest {
				return n, protocols.ErrRequestTooLarge
			}
			break
		}
		c.start += m
		n++
		if s.req.Close {
			// Nothing after QUIT is read: the connection ends with it.
			c.start = c.end
			break
		}
	}
	return n, nil
}

// fill reads more bytes, making room first. It reports false when the
// client is gone.
func (c *client) fill() bool {
	if c.start > 0 {
		c.end = copy(c.rbuf, c.rbuf[c.start:c.end])
		c.start = 0
	}
	if c.end == len(c.rbuf) {
		size := min(2*len(c.rbuf), c.p.maxRequest+minClientBuffer)
		nb := make([]byte, size)
		copy(nb, c.rbuf[:c.end])
		c.rbuf = nb
	} else if c.end == 0 && len(c.rbuf) > maxKeptClient {
		c.rbuf = make([]byte, minClientBuffer)
	}
	n, err := c.conn.Read(c.rbuf[c.end:])
	c.end += n
	return err == nil || n > 0
}

// round routes and sends the first n slots, then waits for every answer.
func (c *client) round(n int) {
	c.pending.Store(1)
	c.touched = c.touched[:0]
	for _, s := range c.slots[:n] {
		c.dispatch(s)
	}
	for _, sc := range c.touched {
		sc.flush()
	}
	if c.pending.Add(-1) != 0 {
		<-c.wake
	}
}

func (c *client) dispatch(s *slot) {
	p := c.p
	req := &s.req
	s.parts = s.parts[:0]
	if req.Kind == protocols.Local {
		return
	}
	if len(req.Keys) == 0 {
		s.err = errNoKey
		return
	}
	t := p.table.Load()
	switch req.Kind {
	case protocols.Forward:
		srv := t.route(req.Keys[0])
		for _, k := range req.Keys[1:] {
			if t.route(k) != srv {
				s.err = ErrCrossServer
				return
			}
		}
		if srv < 0 {
			s.err = ErrNoServer
			return
		}
		s.addPart(srv)
		s.parts[0].Keys = nil
	case protocols.Split:
		if !c.split(s, t) {
			return
		}
	}
	for i := range s.parts {
		f := &s.frags[i]
		*f = fragment{c: c, slot: s, part: i}
		c.pending.Add(1)
		sc := p.backends[s.servers[i]].conn(c.id)
		if sc.send(f) {
			c.touch(sc)
		}
	}
}

// split groups a multi-key request's keys by server, one part each.
func (c *client) split(s *slot, t *table) bool {
	if len(c.partOf) != len(c.p.backends) {
		c.partOf = make([]int32, len(c.p.backends))
		for i := range c.partOf {
			c.partOf[i] = -1
		}
	}
	for i, k := range s.req.Keys {
		srv := t.route(k)
		if srv < 0 {
			s.err = ErrNoServer
			break
		}
		j := c.partOf[srv]
		if j < 0 {
			j = int32(s.addPart(srv))
			c.partOf[srv] = j
		}
		s.parts[j].Keys = append(s.parts[j].Keys, int32(i))
	}
	for _, srv := range s.servers[:len(s.parts)] {
		c.partOf[srv] = -1
	}
	if s.err != nil {
		s.parts = s.parts[:0]
		return false
	}
	if len(s.parts) == 1 {
		// All keys on one server: forward the request as it came.
		s.parts[0].Keys = nil
	}
	return true
}

// addPart appends an empty part for server srv, reusing storage.
func (s *slot) addPart(srv int) int {
	i := len(s.parts)
	if i == cap(s.parts) {
		s.parts = append(s.parts, protocols.Part{})
		s.keyBufs = append(s.keyBufs, nil)
		s.servers = append(s.servers, 0)
		s.frags = append(s.frags, fragment{})
	} else {
		s.parts = s.parts[:i+1]
	}
	s.parts[i].Keys = s.keyBufs[i][:0]
	s.parts[i].Err = nil
	s.servers[i] = srv
	return i
}

func (c *client) touch(sc *serverConn) {
	for _, t := range c.touched {
		if t == sc {
			return
		}
	}
	c.touched = append(c.touched, sc)
}

// reply appends slot s's answer to dst.
func (c *client) reply(dst []byte, s *slot) []byte {
	codec := c.p.codec
	switch {
	case s.err != nil:
		dst = codec.AppendError(dst, s.err)
	case s.req.Kind == protocols.Local:
		dst = append(dst, s.req.Reply...)
	default:
		dst = codec.AppendReply(dst, &s.req, s.parts)
	}
	// Keep the keys' storage for the next request even where a part's
	// Keys was set to nil to mean "all keys".
	for i := range s.parts {
		if s.parts[i].Keys != nil {
			s.keyBufs[i] = s.parts[i].Keys[:0]
		}
		if cap(s.parts[i].Resp) > maxKeptClient {
			s.parts[i].Resp = nil
		}
	}
	return dst
}
