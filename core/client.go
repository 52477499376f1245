//go:build linux

package core

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walnutproxy/walnut/protocols"
)

// client is one client connection, served by its loop. It works in
// rounds: parse every complete request in the read buffer, send them all
// to their servers, and once every one is answered append all the replies
// to the output in request order. Finishing a round before parsing the
// next keeps replies in order without a reorder buffer, bounds what a
// client can have in flight, and lets requests point into the read buffer
// (nothing moves it until the round is over).
type client struct {
	l       *loop
	p       *Pool
	fd      int
	id      uint64
	addr    string
	st      *settings // the pool's settings for the current round
	stats   *poolCounters
	session any // the codec's state for this client

	rbuf       []byte // nil while idle: the loop lends one when data comes
	start, end int    // unparsed bytes are rbuf[start:end]

	out    []byte
	outPos int // out[:outPos] is written

	lastActive time.Time

	ded   *leases // dedicated server connections; nil until one is needed
	carry int     // 1 + the slot of a request parsed for the next round, or 0

	slots    []*slot
	nslots   int // slots of the current round
	pending  int // fragments of the round not answered yet
	protoErr error
	partOf   []int32 // server index -> part of the slot being routed, or -1

	roundStart time.Time
	failed     bool // closed for an error rather than by the client
	inRound    bool
	readable   bool // the socket may hold unread bytes
	peerClosed bool // the client shut down its side
	eof        bool
	closing    bool // no more requests: close once the output is written
	closed     bool
	paused     bool // stopped reading until the output drains
	dirty      bool
	wantOut    bool // the socket was full; waiting for EPOLLOUT
}

// slot is a request of the current round and everything needed to answer
// it; slots are reused from round to round.
type slot struct {
	req     protocols.Request
	parts   []protocols.Part
	keyBufs [][]int32 // storage of parts[i].Keys across rounds
	servers []int     // servers[i] is the server of parts[i]
	frags   []fragment
	err     error    // answers the request instead of its parts
	hashes  []uint32 // the keys' hashes, when an external hasher made them
}

// route returns the server of key i.
func (s *slot) route(t *table, i int) int {
	if s.hashes != nil {
		return t.pick.Pick(s.hashes[i])
	}
	return t.route(s.req.Keys[i])
}

// fragment is the share of a slot sent to one server connection.
type fragment struct {
	c     *client
	slot  *slot
	part  int
	size  int32 // bytes sent for it
	start time.Time
	rt    through // read-through steps during a migration (readthrough.go)
	// sw is set for the fragment of a state switch (stateswitch.go),
	// which has no client, slot or part.
	sw *stateSwitch
}

// stateSwitch is what a state switch's fragment waits for: the i-th
// reply of the switch from one state to another, the last of which
// releases what follows it when the switch holds it. A priming's
// fragments (prime.go) are switches' too, with prime set.
type stateSwitch struct {
	from, to, i int
	holds       bool
	prime       int // i+1 for the reply to the i-th request of a priming; 0 for a switch
}

func (f *fragment) complete(resp []byte) {
	if f.rt.m != nil && f.throughComplete(resp) {
		return
	}
	p := &f.slot.parts[f.part]
	p.Resp = append(p.Resp[:0], resp...)
	p.Err = nil
	f.c.fragmentDone()
}

// completeOwned is complete for a response whose buffer the fragment may
// keep: a large one that had a read buffer to itself, handed over rather
// than copied. A read-through step that is not the answer (a miss, or a
// delete that goes on to the next server) is taken by throughComplete,
// which copies what it keeps: only the answer is handed over, to the
// part of the request it answers.
func (f *fragment) completeOwned(resp []byte) {
	if f.rt.m != nil && f.throughComplete(resp) {
		return
	}
	p := &f.slot.parts[f.part]
	p.Resp = resp
	p.Err = nil
	f.c.fragmentDone()
}

func (f *fragment) fail(err error) {
	if f.sw != nil {
		return // the connection's failure says it all
	}
	if f.rt.m != nil && f.throughFail() {
		return
	}
	p := &f.slot.parts[f.part]
	p.Resp = p.Resp[:0]
	p.Err = err
	f.c.fragmentDone()
}

// Buffers that grew past this for one big message are dropped after it.
const maxKeptClient = 64 << 10

var (
	// ErrNoServer is behind the answer to a request when no server of
	// the pool is alive (errors.Is finds it in the *ServerError).
	ErrNoServer = errors.New("no server is available")
	errNoKey    = errors.New("request has no key to route by")
	errNoHash   = errors.New("the pool's hash function changed under this request; send it again")
)

// noRoute is the answer to a request route could not place.
func (c *client) noRoute(srv int) error {
	if srv == noHash {
		return errNoHash
	}
	return c.st.noServer
}

func (c *client) handle(ev uint32) {
	if c.closed {
		return
	}
	if ev&evWrite != 0 && c.wantOut {
		c.writeOut()
		if c.closed {
			return
		}
	}
	if ev&evHangup != 0 {
		c.peerClosed = true
	}
	if ev&(evRead|evHangup) != 0 {
		c.readable = true
		c.advance()
	}
	if c.peerClosed && c.inRound && c.ded != nil {
		c.peerGone()
	}
}

// advance makes as much progress as the client allows: rounds from what
// is buffered, reads when the buffer has no complete request.
func (c *client) advance() {
	for !c.inRound && !c.closed {
		if c.closing {
			if c.outPos == len(c.out) {
				c.close()
			}
			return
		}
		c.st = c.p.settings()
		if len(c.out)-c.outPos > c.st.cfg.MaxClientOutput {
			// A client that does not read its replies stops being read:
			// it costs at most max_client_output.
			c.paused = true
			return
		}
		n, perr := c.parse()
		if n > 0 || perr != nil {
			c.startRound(n, perr)
			continue
		}
		if c.eof {
			c.closing = true
			continue
		}
		if c.l.stopping() || c.p.closing.Load() {
			// Draining: what was read is answered, nothing more is read.
			// A client handed to a new process goes once its replies are
			// written (writeOut comes back here); others close.
			if c.l.handoff != nil && !c.p.closing.Load() {
				if c.outPos == len(c.out) {
					c.handOff()
				}
				return
			}
			c.closing = true
			continue
		}
		if !c.readable {
			c.idle()
			return
		}
		c.fill()
	}
}

// idle gives the read buffer back to the loop when nothing is buffered,
// so that idle clients cost a few hundred bytes.
func (c *client) idle() {
	if c.rbuf != nil && c.start == c.end {
		c.l.putBuf(c.rbuf)
		c.rbuf, c.start, c.end = nil, 0, 0
	}
}

// parse parses the complete requests at the start of the read buffer, up
// to the pool's pipeline bound, into the round's slots. It returns their
// number and, if the bytes after them are malformed, the protocol error.
func (c *client) parse() (int, error) {
	cfg := c.st.cfg
	n := 0
	round := roundLocal
	if c.carry > 0 {
		if n, round = 1, c.uncarry(); round == roundOnce {
			return n, nil
		}
	}
	for c.start < c.end && n < cfg.MaxPipeline {
		if n == len(c.slots) {
			c.slots = append(c.slots, &slot{})
		}
		s := c.slots[n]
		s.req.Reset()
		s.req.Session = c.session
		s.req.Servers = len(cfg.Servers)
		s.err, s.hashes = nil, nil
		m, err := c.st.codec.ParseRequest(c.rbuf[c.start:c.end], &s.req)
		if err != nil {
			return n, err
		}
		if m == 0 {
			if c.end-c.start > cfg.MaxRequestSize {
				return n, protocols.ErrRequestTooLarge
			}
			break
		}
		c.start += m
		k := roundOf(&s.req)
		if k != roundLocal {
			// A round uses one kind of server connection (see dedicated.go).
			if cuts(round, k) {
				c.carry = n + 1
				break
			}
			round = k
		}
		n++
		if round == roundOnce || s.req.Release && k != roundLocal || s.req.ReleaseAll {
			break
		}
		if s.req.Close {
			// Nothing after QUIT is read: the connection ends with it.
			c.start = c.end
			c.closing = true
			break
		}
	}
	return n, nil
}

// fill reads what the socket holds, making room first.
func (c *client) fill() {
	if c.rbuf == nil {
		c.rbuf, c.start, c.end = c.l.getBuf(), 0, 0
	}
	if c.start > 0 {
		c.end = copy(c.rbuf, c.rbuf[c.start:c.end])
		c.start = 0
	}
	if c.end == len(c.rbuf) {
		// A request bigger than the buffer: grow up to the limit, past
		// which parse reports it too large. To the size its headers
		// announce, when the codec can tell: a 16 MiB value then takes
		// one buffer and no copy on the way, rather than ten doublings.
		size := 2 * len(c.rbuf)
		if c.st.sizer != nil {
			size = max(size, c.st.sizer.RequestSize(c.rbuf[:c.end]))
		}
		nb := make([]byte, min(size, c.st.cfg.MaxRequestSize+clientBufSize))
		copy(nb, c.rbuf[:c.end])
		c.l.putBuf(c.rbuf)
		c.rbuf = nb
	}
	space := len(c.rbuf) - c.end
	n, err := readFD(c.fd, c.rbuf[c.end:])
	switch {
	case err == unix.EAGAIN:
		c.readable = false
		return
	case err == unix.EINTR:
		return
	case err != nil:
		c.readable = false
		c.eof = true
		c.failed = true
		return
	case n == 0:
		c.readable = false
		c.eof = true
		return
	}
	c.end += n
	c.lastActive = c.l.now
	// A short read drained the socket, and new bytes bring a new edge;
	// but a shutdown that came with the bytes brings none, so keep
	// reading until the end is seen.
	if n < space && !c.peerClosed {
		c.readable = false
	}
}

// startRound routes and sends the first n slots. The round finishes at
// once if nothing went to a server; otherwise when the last answer comes.
func (c *client) startRound(n int, perr error) {
	c.inRound = true
	c.nslots = n
	c.protoErr = perr
	c.roundStart = c.l.now
	if perr != nil {
		c.closing = true
		c.failed = true
	}
	c.pending = 1 // held while dispatching, so a fast failure cannot finish the round early
	if c.st.batch != nil {
		// An external hash function: the round waits for its keys to be
		// hashed with the rest of the iteration's (see hashed).
		if c.l.queueHash(c, n) {
			return
		}
	}
	c.dispatchRound()
}

// dispatchRound sends the round's slots and lets go of the hold.
func (c *client) dispatchRound() {
	for _, s := range c.slots[:c.nslots] {
		c.dispatch(s)
	}
	c.pending--
	if c.pending == 0 {
		c.finishRound()
	}
}

// hashed resumes a round whose keys were hashed externally: hashes holds
// them in slot order, or err says why there are none.
func (c *client) hashed(hashes []uint32, err error) {
	if c.closed {
		c.pending--
		c.finishRound()
		return
	}
	for _, s := range c.slots[:c.nslots] {
		if s.req.Kind == protocols.Local || fansOut(s.req.Kind) {
			continue // nothing hashed: no key to route by
		}
		if err != nil {
			s.err = err
			continue
		}
		s.hashes, hashes = hashes[:len(s.req.Keys):len(s.req.Keys)], hashes[len(s.req.Keys):]
	}
	c.dispatchRound()
	if !c.inRound {
		c.advance()
	}
}

func (c *client) fragmentDone() {
	c.pending--
	if c.pending == 0 {
		c.finishRound()
		c.advance()
	}
}

// finishRound appends the round's replies to the output.
func (c *client) finishRound() {
	c.inRound = false
	if c.closed {
		c.release()
		return
	}
	cl := c.st.classes
	timed := c.p.px.latency.Load()
	for _, s := range c.slots[:c.nslots] {
		c.out = c.reply(c.out, s)
		if cl != nil {
			if i := cl.Family(&s.req); i < len(c.stats.families) {
				f := &c.stats.families[i]
				f.requests.Add(1)
				if timed {
					f.latency.observe(c.l.now.Sub(c.roundStart))
				}
			}
		}
	}
	if c.protoErr != nil {
		c.out = c.st.codec.AppendError(c.out, c.protoErr)
		c.p.log.Info("client closed for bad input", "pool", c.p.name, "client", c.addr, "err", c.protoErr)
		c.protoErr = nil
	}
	if c.ded != nil {
		c.flushPushes()
	}
	c.nslots = 0
	if len(c.out) > c.outPos && !c.dirty {
		c.dirty = true
		c.l.dirtyClients = append(c.l.dirtyClients, c)
	}
}

func (c *client) dispatch(s *slot) {
	p := c.p
	req := &s.req
	s.parts = s.parts[:0]
	if req.Conn != protocols.Shared || req.ReleaseAll {
		// Never read through (readthrough.go): a transaction's or a
		// blocking command's request is for its key's new server alone.
		c.dispatchDedicated(s)
		return
	}
	if req.Kind == protocols.Local || s.err != nil {
		return
	}
	t := p.table.Load()
	if fansOut(req.Kind) {
		if !c.fanOut(s, t) {
			return
		}
	} else if len(req.Keys) == 0 {
		s.err = errNoKey
		return
	}
	switch req.Kind {
	case protocols.Forward:
		srv := s.route(t, 0)
		for i := 1; i < len(req.Keys); i++ {
			if s.route(t, i) != srv {
				s.err = crossServer(req, i)
				return
			}
		}
		if srv < 0 {
			s.err = c.noRoute(srv)
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
		if t.migration != nil && !fansOut(req.Kind) {
			// Whole-keyspace requests go to the pool's (new) servers only.
			t.migration.route(f, t.backends[s.servers[i]])
		}
		c.pending++
		b := t.backends[s.servers[i]]
		s.parts[i].Server, s.parts[i].Name = s.servers[i], b.label
		b.conn(c.l, c.id).send(f)
	}
}

// split groups a multi-key request's keys by server, one part each. In
// a pool with a migration, a key whose server changed gets a part of its
// own instead, so that it can go through the read-through steps alone.
func (c *client) split(s *slot, t *table) bool {
	through := t.migration != nil && t.migration.splits(&s.req)
	if len(c.partOf) != len(t.backends) {
		c.partOf = make([]int32, len(t.backends))
		for i := range c.partOf {
			c.partOf[i] = -1
		}
	}
	for i := range s.req.Keys {
		srv := s.route(t, i)
		if srv < 0 {
			s.err = c.noRoute(srv)
			break
		}
		if through && t.migration.moved(s.req.Keys[i], t.backends[srv]) != nil {
			j := s.addPart(srv)
			s.parts[j].Keys = append(s.parts[j].Keys, int32(i))
			continue
		}
		j := c.partOf[srv]
		if j < 0 {
			j = int32(s.addPart(srv))
			c.partOf[srv] = j
		}
		s.parts[j].Keys = append(s.parts[j].Keys, int32(i))
	}
	for j, srv := range s.servers[:len(s.parts)] {
		c.partOf[srv] = -1
		s.keyBufs[j] = s.parts[j].Keys[:0] // what append grew, for next time
	}
	if s.err != nil {
		s.parts = s.parts[:0]
		return false
	}
	if len(s.parts) == 1 {
		// All keys on one server: forward the request as it came.
		s.parts[0].Keys = nil
	} else {
		c.stats.fragments.Add(uint64(len(s.parts)))
	}
	return true
}

// addPart appends an empty part for server srv, reusing the storage of
// earlier rounds: a part's response buffer lives in the parts array, its
// key list in keyBufs.
func (s *slot) addPart(srv int) int {
	i := len(s.parts)
	if i < cap(s.parts) {
		s.parts = s.parts[:i+1]
	} else {
		s.parts = append(s.parts, protocols.Part{})
	}
	if i == len(s.keyBufs) {
		s.keyBufs = append(s.keyBufs, nil)
		s.servers = append(s.servers, 0)
		s.frags = append(s.frags, fragment{})
	}
	s.parts[i].Keys = s.keyBufs[i][:0]
	s.parts[i].Err = nil
	s.servers[i] = srv
	return i
}

// reply appends slot s's answer to dst.
func (c *client) reply(dst []byte, s *slot) []byte {
	codec := c.st.codec
	keep := len(dst)
	switch {
	case s.err != nil:
		c.stats.forwardError.Add(1)
		dst = codec.AppendError(dst, s.err)
	case s.req.Kind == protocols.Local:
		dst = append(dst, s.req.Reply...)
	default:
		for i := range s.parts {
			if s.parts[i].Err != nil {
				c.stats.forwardError.Add(1)
				break
			}
		}
		dst = codec.AppendReply(dst, &s.req, s.parts)
	}
	for i := range s.parts {
		if cap(s.parts[i].Resp) > maxKeptClient {
			s.parts[i].Resp = nil
		}
	}
	if s.req.Mute {
		// Made all the same: AppendReply may keep state (a transaction's).
		dst = dst[:keep]
	}
	return dst
}

// writeOut writes pending replies; the loop calls it once per iteration
// for a client that has some, and again when a full socket drains.
func (c *client) writeOut() {
	for c.outPos < len(c.out) {
		n, err := writeFD(c.fd, c.out[c.outPos:])
		switch {
		case err == unix.EAGAIN:
			c.wantOut = true
			return
		case err == unix.EINTR:
			continue
		case err != nil:
			c.failed = true
			c.close()
			return
		}
		c.outPos += n
	}
	c.wantOut = false
	c.outPos = 0
	c.out = c.out[:0]
	if cap(c.out) > maxKeptClient {
		c.out = nil
	}
	if c.closing || c.paused || c.l.draining {
		c.paused = false
		c.advance()
	}
	if c.ded != nil && !c.closed {
		c.resumePushes()
	}
}

// expireIdle closes the client if it has been idle longer than the
// pool's client_timeout.
func (c *client) expireIdle(now time.Time) {
	timeout := c.p.settings().cfg.ClientTimeout
	if timeout <= 0 || c.inRound || c.outPos != len(c.out) || now.Sub(c.lastActive) <= timeout {
		return
	}
	if c.ded != nil && len(c.ded.subs) > 0 {
		return // a subscriber waits for messages, as Redis lets it
	}
	c.p.log.Debug("client idle, closed", "pool", c.p.name, "client", c.addr, "idle", now.Sub(c.lastActive))
	c.close()
}

// handOff gives the connection, and what it sent that was read but not
// parsed, to the process taking over; it runs between rounds, with every
// reply written.
func (c *client) handOff() {
	if c.ded != nil && c.ded.holding() {
		// Its transaction or subscriptions live on connections that
		// cannot go along: closing it is what a restart would do.
		c.p.log.Info("client in a transaction or subscribed: closed, not handed over", "pool", c.p.name, "client", c.addr)
		c.close()
		return
	}
	var session []byte
	if ss := c.p.settings().sessions; ss != nil && c.session != nil {
		session = ss.MarshalSession(c.session)
	}
	if err := c.l.handoff.send(c.fd, c.p.name, c.addr, c.rbuf[c.start:c.end], session); err != nil {
		c.p.log.Warn("client hand-off failed; closing it", "pool", c.p.name, "client", c.addr, "err", err)
	}
	c.close()
}

// close drops the connection. A round still in flight finishes against
// the closed client and is thrown away.
func (c *client) close() {
	if c.closed {
		return
	}
	c.closed = true
	c.l.remove(c.fd)
	delete(c.l.clients, c)
	c.p.clients.Add(-1)
	if c.failed {
		c.stats.clientErr.Add(1)
	} else if c.eof {
		c.stats.clientEOF.Add(1)
	}
	c.out = nil
	if c.ded != nil {
		c.dropLeases()
	}
	if !c.inRound {
		c.release()
	}
}

// release returns the read buffer, which in-flight requests may point
// into until their round is over.
func (c *client) release() {
	if c.rbuf != nil {
		c.l.putBuf(c.rbuf)
		c.rbuf = nil
	}
}
