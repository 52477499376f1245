package core

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/protocols"
)

// Pool is one listening endpoint and the servers it shards keys over.
// Every loop serves it, with its own connections to each server.
type Pool struct {
	name   string
	cfg    *config.Pool
	log    *slog.Logger
	codec  protocols.Codec
	dist   distributions.Distribution
	table  atomic.Pointer[table]
	hash   distributions.HashFunc
	hasTag bool
	tag    [2]byte

	backends    []*backend
	timeout     time.Duration
	maxPipeline int
	maxRequest  int

	conns  [][][]*serverConn // [loop][backend][connection]
	lnFD   int
	lnAddr net.Addr
	nextID atomic.Uint64
}

// table is what a request needs to find its server; it is swapped whole
// when the server list changes, so routing never takes a lock.
type table struct {
	pick   distributions.Table
	hash   distributions.HashFunc
	hasTag bool
	tag    [2]byte
}

// route returns the index of the server that owns key, or -1.
func (t *table) route(key []byte) int {
	if t.hasTag {
		key = hashTagged(key, t.tag)
	}
	// nutcracker hashes an empty key to 0 rather than running the hash.
	var h uint32
	if len(key) > 0 {
		h = t.hash(key)
	}
	return t.pick.Pick(h)
}

// hashTagged returns the part of key that is hashed: what lies between
// the first tag[0] and the next tag[1], if that is not empty, else the
// whole key (nutcracker's rule).
func hashTagged(key []byte, tag [2]byte) []byte {
	i := bytes.IndexByte(key, tag[0])
	if i < 0 {
		return key
	}
	j := bytes.IndexByte(key[i+1:], tag[1])
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

// newPool builds a pool from its validated configuration without
// touching the network.
func newPool(cfg *config.Pool, log *slog.Logger) (*Pool, error) {
	codecFactory, err := protocols.Lookup(cfg.Protocol)
	if err != nil {
		return nil, err
	}
	codec, err := codecFactory(protocols.Options{MaxRequestSize: cfg.MaxRequestSize, MaxValueSize: cfg.MaxRequestSize, StrictKeys: cfg.StrictKeys})
	if err != nil {
		return nil, fmt.Errorf("protocol %s: %w", cfg.Protocol, err)
	}
	hash, err := distributions.LookupHash(cfg.Hash)
	if err != nil {
		return nil, err
	}
	dist, err := distributions.Lookup(cfg.Distribution)
	if err != nil {
		return nil, err
	}
	p := &Pool{
		name: cfg.Name, cfg: cfg, log: log, codec: codec, dist: dist, hash: hash,
		timeout: cfg.Timeout, maxPipeline: cfg.MaxPipeline, maxRequest: cfg.MaxRequestSize, lnFD: -1,
	}
	if len(cfg.HashTag) == 2 {
		p.hasTag, p.tag = true, [2]byte{cfg.HashTag[0], cfg.HashTag[1]}
	}
	for i, s := range cfg.Servers {
		b := &backend{pool: p, idx: i, name: s.Name, addr: s.Addr, network: "tcp"}
		if strings.HasPrefix(s.Addr, "/") {
			b.network = "unix"
		}
		p.backends = append(p.backends, b)
	}
	if err := p.rebuild(); err != nil {
		return nil, err
	}
	return p, nil
}

// rebuild computes the routing table from the current server list.
func (p *Pool) rebuild() error {
	servers := make([]distributions.Server, len(p.cfg.Servers))
	for i, s := range p.cfg.Servers {
		servers[i] = distributions.Server{Name: s.Name, Addr: s.Addr, Weight: s.Weight, Alive: true}
	}
	pick, err := p.dist.Build(servers)
	if err != nil {
		return fmt.Errorf("distribution %s: %w", p.cfg.Distribution, err)
	}
	p.table.Store(&table{pick: pick, hash: p.hash, hasTag: p.hasTag, tag: p.tag})
	return nil
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Addr returns the address the pool listens on, once started.
func (p *Pool) Addr() net.Addr { return p.lnAddr }

// serverConn returns the connection of loop l to server srv that a
// client uses; a client sticks to one so its requests stay in order.
func (p *Pool) serverConn(l *loop, srv int, clientID uint64) *serverConn {
	cs := p.conns[l.id][srv]
	if len(cs) == 1 {
		return cs[0]
	}
	return cs[clientID%uint64(len(cs))]
}

// attach creates the pool's server connections on loop l.
func (p *Pool) attach(l *loop) {
	for len(p.conns) <= l.id {
		p.conns = append(p.conns, nil)
	}
	conns := make([][]*serverConn, len(p.backends))
	for i, b := range p.backends {
		for range p.cfg.ServerConnections {
			sc := &serverConn{l: l, p: p, b: b, fd: -1}
			conns[i] = append(conns[i], sc)
			l.servers = append(l.servers, sc)
		}
	}
	p.conns[l.id] = conns
}

// listener accepts a pool's clients on one loop. Every loop watches the
// same listening socket with EPOLLEXCLUSIVE, so each connection wakes
// one loop and stays with the loop that accepted it.
type listener struct {
	p        *Pool
	l        *loop
	disabled bool
}

func (ln *listener) handle(uint32) {
	p, l := ln.p, ln.l
	for range 64 {
		fd, sa, err := unix.Accept4(p.lnFD, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM:
			// Out of descriptors: stop accepting on this loop for a
			// moment instead of spinning on a socket that stays ready.
			p.log.Warn("accept failed; pausing", "pool", p.name, "err", err)
			ln.pause(100 * time.Millisecond)
			return
		default:
			p.log.Warn("accept failed", "pool", p.name, "err", err)
			return
		}
		p.newClient(l, fd, sa)
	}
}

func (ln *listener) pause(d time.Duration) {
	ev := unix.EpollEvent{Events: 0, Fd: int32(ln.p.lnFD)}
	unix.EpollCtl(ln.l.epfd, unix.EPOLL_CTL_MOD, ln.p.lnFD, &ev)
	ln.disabled = true
	ln.l.after(d, func() {
		if !ln.disabled {
			return
		}
		ln.disabled = false
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(ln.p.lnFD)}
		unix.EpollCtl(ln.l.epfd, unix.EPOLL_CTL_MOD, ln.p.lnFD, &ev)
	})
}

func (p *Pool) newClient(l *loop, fd int, sa unix.Sockaddr) {
	c := &client{l: l, p: p, fd: fd, id: p.nextID.Add(1), addr: sockaddrString(sa)}
	if _, ok := sa.(*unix.SockaddrUnix); !ok {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if err := l.add(fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET, c); err != nil {
		p.log.Warn("cannot watch client", "pool", p.name, "err", err)
		unix.Close(fd)
		return
	}
	l.clients[c] = struct{}{}
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrUnix:
		return "unix:" + a.Name
	}
	return "?"
}
