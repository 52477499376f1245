//go:build linux

package core

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/protocols"
)

// handler is what owns a descriptor registered with a loop.
type handler interface {
	handle(events uint32)
}

// loop is one event loop: a goroutine that waits in epoll_wait and then
// serves every ready descriptor it owns. Clients accepted by a loop, and
// the server connections their requests use, belong to that loop alone,
// so nothing on the request path takes a lock. Writes are deferred to the
// end of an iteration, which is what lets the requests of many clients
// leave for a server in one write.
type loop struct {
	id   int
	log  *slog.Logger
	epfd int
	// wakefd is an eventfd other goroutines write to after posting work.
	wakefd int
	events []unix.EpollEvent
	fds    []handler // by descriptor number
	now    time.Time

	mu      sync.Mutex
	dead    bool
	posted  []func()
	running []func() // posted work being run, kept for its capacity

	// Connections with bytes to write, flushed once per iteration.
	dirtyServers []*serverConn
	dirtyClients []*client
	// Descriptors to close once the iteration's events are all handled,
	// so that a number is not reused while events for it are pending.
	toClose []int

	servers   []*serverConn // every server connection of this loop
	inflight  int           // fragments queued on those connections
	clients   map[*client]struct{}
	nextCheck time.Time
	nextIdle  time.Time // next scan for idle clients
	idleScan  bool      // some pool has a client_timeout
	timers    []timer
	bufs      [][]byte // free client read buffers
	bufSize   int      // size of a client read buffer (see WithReadBufferSize)
	ded       loopDed  // idle dedicated server connections

	// hashing gathers, per external hasher, the keys of the rounds that
	// wait for it; each iteration hashes them in one call.
	hashing map[distributions.BatchHasher]*hashBatch

	// draining: clients are answered what they sent and then closed, or
	// handed to the process in handoff, and nothing more is read.
	draining bool
	handoff  *handoffSender
	drained  chan struct{} // closed when draining and no client is left
	exit     bool
	done     chan struct{}
}

type timer struct {
	at time.Time
	fn func()
}

const (
	maxEvents       = 256
	idleScanEvery   = 250 * time.Millisecond
	clientBufSize   = 16 << 10
	maxFreeBuffers  = 1024
	timerResolution = 10 * time.Millisecond
)

func newLoop(id int, log *slog.Logger) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	l := &loop{id: id, log: log, epfd: epfd, wakefd: wfd, events: make([]unix.EpollEvent, maxEvents),
		clients: map[*client]struct{}{}, done: make(chan struct{}), drained: make(chan struct{}),
		bufSize: clientBufSize}
	if err := l.add(wfd, evRead, wakeHandler{l}); err != nil {
		unix.Close(epfd)
		unix.Close(wfd)
		return nil, err
	}
	return l, nil
}

// Events a handler is told of: its descriptor is readable, writable, or
// hung up (closed by the peer, or in error). These and the interests
// below are the only epoll words outside this file.
const (
	evRead   = unix.EPOLLIN
	evWrite  = unix.EPOLLOUT
	evHangup = unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
)

// What descriptors are watched for: a connection both ways, edge
// triggered, so that a handler reads and writes until EAGAIN; a
// listening socket, which every loop watches and each connection wakes
// only one of.
const (
	watchConn     = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	watchListener = unix.EPOLLIN | unix.EPOLLEXCLUSIVE
)

// add registers fd for events, served by h.
func (l *loop) add(fd int, events uint32, h handler) error {
	for fd >= len(l.fds) {
		l.fds = append(l.fds, make([]handler, len(l.fds)+64)...)
	}
	l.fds[fd] = h
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.fds[fd] = nil
		return err
	}
	return nil
}

// pause stops the events of fd until resume.
func (l *loop) pause(fd int) {
	ev := unix.EpollEvent{Events: 0, Fd: int32(fd)}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
}

// resume watches fd for events again.
func (l *loop) resume(fd int, events uint32) {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
}

// unwatch unregisters fd without closing it (a listening socket that
// another loop or process keeps).
func (l *loop) unwatch(fd int) {
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	l.fds[fd] = nil
}

// remove unregisters fd and closes it at the end of the iteration.
func (l *loop) remove(fd int) {
	if fd < 0 {
		return
	}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	l.fds[fd] = nil
	l.toClose = append(l.toClose, fd)
}

// post runs fn on the loop's goroutine. It is how the rest of walnut
// (dialers, shutdown, and later reloads and stats) talks to a loop. It
// reports false, without running fn, once the loop has shut down.
func (l *loop) post(fn func()) bool {
	l.mu.Lock()
	if l.dead {
		l.mu.Unlock()
		return false
	}
	l.posted = append(l.posted, fn)
	first := len(l.posted) == 1
	l.mu.Unlock()
	if first {
		var one = [8]byte{1}
		writeFD(l.wakefd, one[:])
	}
	return true
}

type wakeHandler struct{ l *loop }

func (w wakeHandler) handle(uint32) {
	l := w.l
	var b [8]byte
	readFD(l.wakefd, b[:])
	l.mu.Lock()
	l.running, l.posted = l.posted, l.running[:0]
	l.mu.Unlock()
	for i, fn := range l.running {
		fn()
		l.running[i] = nil
	}
}

// after runs fn on the loop once d has passed (at timer resolution).
func (l *loop) after(d time.Duration, fn func()) {
	l.timers = append(l.timers, timer{at: l.now.Add(d), fn: fn})
}

func (l *loop) run() {
	defer close(l.done)
	l.now = time.Now()
	for !l.exit {
		timeout := -1
		if l.busy() {
			timeout = int(max(l.nextCheck.Sub(l.now), time.Millisecond) / time.Millisecond)
		}
		n, err := unix.EpollWait(l.epfd, l.events, timeout)
		l.now = time.Now()
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.log.Error("epoll_wait failed", "loop", l.id, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for i := range n {
			ev := &l.events[i]
			if h := l.fds[ev.Fd]; h != nil {
				h.handle(ev.Events)
			}
		}
		l.flush()
		if !l.now.Before(l.nextCheck) {
			l.check()
		}
		if l.draining && len(l.clients) == 0 {
			select {
			case <-l.drained:
			default:
				close(l.drained)
			}
		}
	}
	l.shutdown()
}

// stopping reports whether the loop is draining its clients.
func (l *loop) stopping() bool { return l.draining }

// drain stops reading clients: each is answered what it already sent,
// then closed, or handed to h if h is not nil. It runs on the loop.
func (l *loop) drain(h *handoffSender) {
	l.draining, l.handoff = true, h
	for c := range l.clients {
		if c.ded != nil {
			c.abandonBlocked()
		}
		if !c.inRound {
			c.advance()
		}
	}
}

// forget drops a server connection closed for good from the loop's list.
func (l *loop) forget(sc *serverConn) {
	for i, x := range l.servers {
		if x == sc {
			last := len(l.servers) - 1
			l.servers[i] = l.servers[last]
			l.servers[last] = nil
			l.servers = l.servers[:last]
			return
		}
	}
}

// busy reports whether the loop has something to time: requests in
// flight or timers. An idle proxy sleeps in epoll_wait without waking.
func (l *loop) busy() bool {
	return l.inflight > 0 || len(l.timers) > 0 || (l.idleScan && len(l.clients) > 0)
}

// flush writes what the iteration produced and closes what it retired.
func (l *loop) flush() {
	// Writing to a client can let it start its next round, which dirties
	// servers again: go on until nothing is left.
	for len(l.dirtyServers) > 0 || len(l.dirtyClients) > 0 {
		for i := 0; i < len(l.dirtyServers); i++ {
			sc := l.dirtyServers[i]
			sc.dirty = false
			sc.writeOut()
			l.dirtyServers[i] = nil
		}
		l.dirtyServers = l.dirtyServers[:0]
		for i := 0; i < len(l.dirtyClients); i++ {
			c := l.dirtyClients[i]
			c.dirty = false
			c.writeOut()
			l.dirtyClients[i] = nil
		}
		l.dirtyClients = l.dirtyClients[:0]
	}
	for _, fd := range l.toClose {
		unix.Close(fd)
	}
	l.toClose = l.toClose[:0]
	for h, b := range l.hashing {
		delete(l.hashing, h)
		go b.run(l)
	}
}

// hashBatch is the keys of one iteration's rounds that wait for one
// external hasher, in the order of its clients.
type hashBatch struct {
	h       distributions.BatchHasher
	keys    [][]byte
	clients []*client
	counts  []int // keys of each client
}

// queueHash adds the keys of c's round (its first n slots) to the
// iteration's batch for the pool's hasher. It reports false if the
// round has no key to hash.
func (l *loop) queueHash(c *client, n int) bool {
	st := c.st
	b := l.hashing[st.batch]
	if b == nil {
		b = &hashBatch{h: st.batch}
	}
	count := 0
	for _, s := range c.slots[:n] {
		if s.req.Kind == protocols.Local || fansOut(s.req.Kind) {
			continue // as hashed skips them: no key to route by
		}
		for _, k := range s.req.Keys {
			if st.hasTag {
				k = hashTagged(k, st.tag)
			}
			b.keys = append(b.keys, k)
			count++
		}
	}
	if count == 0 {
		return false
	}
	if l.hashing == nil {
		l.hashing = map[distributions.BatchHasher]*hashBatch{}
	}
	l.hashing[st.batch] = b
	b.clients = append(b.clients, c)
	b.counts = append(b.counts, count)
	return true
}

// run hashes the batch off the loop (the hasher is another process) and
// hands the results back to it. The keys point into the clients' read
// buffers, which nothing touches while their rounds wait.
func (b *hashBatch) run(l *loop) {
	out := make([]uint32, len(b.keys))
	err := b.h.HashBatch(b.keys, out)
	if err != nil {
		err = fmt.Errorf("hash plugin: %w", err)
	}
	for i, k := range b.keys {
		if len(k) == 0 {
			out[i] = 0 // nutcracker's rule for an empty key
		}
	}
	l.post(func() {
		off := 0
		for i, c := range b.clients {
			c.hashed(out[off:off+b.counts[i]], err)
			off += b.counts[i]
		}
	})
}

// check fires timeouts and timers; it runs at timerResolution at most.
func (l *loop) check() {
	l.nextCheck = l.now.Add(timerResolution)
	for i := 0; i < len(l.servers); i++ {
		sc := l.servers[i]
		sc.expire(l.now)
		if i < len(l.servers) && l.servers[i] != sc {
			i-- // expire made sc forget itself; another took its place
		}
	}
	if l.idleScan && !l.now.Before(l.nextIdle) {
		l.nextIdle = l.now.Add(idleScanEvery)
		for c := range l.clients {
			c.expireIdle(l.now)
		}
	}
	if len(l.timers) > 0 {
		due := l.timers
		l.timers = nil
		for _, t := range due {
			if l.now.Before(t.at) {
				l.timers = append(l.timers, t)
			} else {
				t.fn()
			}
		}
	}
	// Writes the timeouts caused (errors to clients) go out now.
	l.flush()
}

// getBuf returns a client read buffer from the loop's free list, so that
// an idle client holds none.
func (l *loop) getBuf() []byte {
	if n := len(l.bufs); n > 0 {
		b := l.bufs[n-1]
		l.bufs = l.bufs[:n-1]
		return b
	}
	return make([]byte, l.bufSize)
}

func (l *loop) putBuf(b []byte) {
	if cap(b) == l.bufSize && len(l.bufs) < maxFreeBuffers {
		l.bufs = append(l.bufs, b[:l.bufSize])
	}
}

// shutdown closes everything the loop owns; it runs on the loop.
func (l *loop) shutdown() {
	for c := range l.clients {
		c.close()
	}
	for len(l.servers) > 0 {
		sc := l.servers[len(l.servers)-1]
		l.servers = l.servers[:len(l.servers)-1]
		sc.shutdown()
	}
	l.flush()
	l.mu.Lock()
	l.dead = true
	l.mu.Unlock()
	unix.Close(l.wakefd)
	unix.Close(l.epfd)
}

// stop asks the loop to finish and waits for it.
func (l *loop) stop() {
	l.post(func() { l.exit = true })
	<-l.done
}
