//go:build linux

package core

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
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
	name string
	px   *Proxy
	log  *slog.Logger

	// st and table are read on every request and replaced whole by a
	// reload or an ejection, so routing never takes a lock.
	st    atomic.Pointer[settings]
	table atomic.Pointer[table]

	mu        sync.Mutex // serializes rebuilds and reloads
	backends  []*backend
	migration *migration // the old placement during a reshard, or nil

	lnFD     int
	lnAddr   net.Addr
	counters []poolCounters // by loop
	clients  atomic.Int64
	rejected atomic.Uint64 // clients refused at client_connections, for INFO
	ded      dedCounters
	nextID   atomic.Uint64
	closing  atomic.Bool // draining for shutdown or removal
}

// settings are a pool's per-request parameters: its configuration and
// what is derived from it.
type settings struct {
	cfg     *config.Pool
	codec   protocols.Codec
	dist    distributions.Distribution
	hash    distributions.HashFunc
	hasTag  bool
	tag     [2]byte
	tooMany []byte // the reply to a client over client_connections
	// noServer answers a request when every server is ejected.
	noServer error
	classes  protocols.Classifier
	// batch is set, and hash nil, when the hash function is external.
	batch    distributions.BatchHasher
	sessions protocols.Sessions // nil: the codec keeps no client state
	greeter  protocols.Greeter  // nil: server connections need no setup
	sizer    protocols.Sizer    // nil: buffers grow by doubling
	switcher protocols.StateSwitcher
	primer   protocols.Primer // nil: nothing to bring servers up to date with
	// owner is the pool the settings are (or will be) in effect for.
	owner *atomic.Pointer[Pool]
}

// table is what a request needs to find its server.
type table struct {
	pick     distributions.Table
	hash     distributions.HashFunc
	hasTag   bool
	tag      [2]byte
	backends []*backend
	alive    []bool // alive[i]: backends[i] is in the table (not ejected)
	// migration, when not nil, is where keys were before a reshard
	// (readthrough.go).
	migration *migration
}

// route returns the index in t.backends of the server that owns key, -1
// when no server is available, or noHash (see below).
func (t *table) route(key []byte) int {
	if len(t.backends) == 1 {
		// nutcracker skips the hash for a pool of one server.
		return t.pick.Pick(0)
	}
	if t.hasTag {
		key = hashTagged(key, t.tag)
	}
	// nutcracker hashes an empty key to 0 rather than running the hash.
	var h uint32
	if len(key) > 0 {
		if t.hash == nil {
			return noHash
		}
		h = t.hash(key)
	}
	return t.pick.Pick(h)
}

// noHash is route's answer when the pool's hash function is external:
// it hashes whole rounds ahead of routing, and a round read just before
// a reload switched to one has no hashes. It gets an error rather than a
// guess.
const noHash = -2

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

// ErrTooManyClients answers a client beyond the pool's
// client_connections before it is closed.
var ErrTooManyClients = errors.New("max number of clients reached")

// newSettings checks a pool configuration against the proxy's extensions
// and the registries, and builds what requests need from it.
func (px *Proxy) newSettings(cfg *config.Pool) (*settings, error) {
	driver, err := protocols.Lookup(cfg.Protocol)
	if err != nil {
		return nil, err
	}
	owner := new(atomic.Pointer[Pool])
	codec, err := driver.NewCodec(protocols.Options{MaxRequestSize: cfg.MaxRequestSize, MaxValueSize: cfg.MaxValueSize,
		Own: cfg.Options, Info: func() protocols.ProxyInfo { return owner.Load().info() }, HashTag: cfg.HashTag, Log: px.log,
		Reprime: func() {
			if p := owner.Load(); p != nil {
				p.reprime()
			}
		}})
	if err != nil {
		return nil, fmt.Errorf("protocol %s: %w", cfg.Protocol, err)
	}
	st := &settings{cfg: cfg, codec: codec, owner: owner}
	if st.hash, st.batch, err = px.ext.ResolveHash(cfg.Hash); err != nil {
		return nil, err
	}
	if st.dist, err = px.ext.ResolveDistribution(cfg.Distribution); err != nil {
		return nil, err
	}
	if len(cfg.HashTag) == 2 {
		st.hasTag, st.tag = true, [2]byte{cfg.HashTag[0], cfg.HashTag[1]}
	}
	st.tooMany = codec.AppendError(nil, ErrTooManyClients)
	st.noServer = noServerError(cfg.Name)
	st.classes, _ = codec.(protocols.Classifier)
	st.sessions, _ = codec.(protocols.Sessions)
	st.sizer, _ = codec.(protocols.Sizer)
	st.switcher, _ = codec.(protocols.StateSwitcher)
	st.primer, _ = codec.(protocols.Primer)
	if g, ok := codec.(protocols.Greeter); ok {
		if _, n := g.Greeting(); n > 0 {
			st.greeter = g
		}
	}
	return st, nil
}

// newPool builds a pool from its validated configuration without
// touching the network.
func newPool(px *Proxy, cfg *config.Pool) (*Pool, error) {
	st, err := px.newSettings(cfg)
	if err != nil {
		return nil, err
	}
	p := &Pool{name: cfg.Name, px: px, log: px.log, lnFD: -1, counters: make([]poolCounters, px.workers)}
	p.st.Store(st)
	st.owner.Store(p)
	if cl, ok := st.codec.(protocols.Classifier); ok {
		for i := range p.counters {
			p.counters[i].families = make([]familyCounters, len(cl.Families()))
		}
	}
	for _, s := range cfg.Servers {
		p.backends = append(p.backends, newBackend(p, s, cfg.ServerConnections, px.workers))
	}
	if p.migration, err = p.newMigration(cfg, st, p.backends, nil); err != nil {
		return nil, err
	}
	if err := p.rebuild(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Pool) settings() *settings { return p.st.Load() }

// rebuild computes the routing table from the current servers and their
// ejection state. The distribution sees every server, in configuration
// order, with ejected ones marked dead: ketama then rebuilds its
// continuum from the live ones, as nutcracker does.
func (p *Pool) rebuild() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rebuildLocked()
}

// rebuildLogged is rebuild for events: on failure the old table stays.
func (p *Pool) rebuildLogged() {
	if err := p.rebuild(); err != nil {
		p.log.Error("cannot rebuild the routing table; the old one stays", "pool", p.name, "err", err)
	}
}

func (p *Pool) rebuildLocked() error {
	st := p.settings()
	servers := make([]distributions.Server, len(p.backends))
	for i, b := range p.backends {
		servers[i] = distributions.Server{Name: b.name, Addr: b.addr, Weight: b.weight, Alive: !b.isEjected()}
	}
	pick, err := st.dist.Build(servers)
	if err != nil {
		return fmt.Errorf("distribution %s: %w", st.cfg.Distribution, err)
	}
	alive := make([]bool, len(servers))
	for i := range servers {
		alive[i] = servers[i].Alive
	}
	p.table.Store(&table{pick: pick, hash: st.hash, hasTag: st.hasTag, tag: st.tag,
		backends: append([]*backend(nil), p.backends...), alive: alive, migration: p.migration})
	return nil
}

// update applies a reloaded configuration of the same pool (same name,
// address and protocol): servers that stay keep their connections, new
// ones are added, removed ones finish what is queued on them and close.
// New requests see the new settings and table.
func (p *Pool) update(cfg *config.Pool, st *settings) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.backends
	var next []*backend
	kept := map[*backend]bool{}
	for _, s := range cfg.Servers {
		var b *backend
		for _, ob := range old {
			if !kept[ob] && ob.sameServer(s, cfg.ServerConnections) {
				b = ob
				break
			}
		}
		if b == nil {
			b = newBackend(p, s, cfg.ServerConnections, p.px.workers)
		} else {
			kept[b] = true
			b.weight = s.Weight
		}
		next = append(next, b)
	}
	mig, err := p.newMigration(cfg, st, next, old)
	if err != nil {
		return err
	}
	prevSt := p.settings()
	prevBackends, prevMig := p.backends, p.migration
	if h, ok := st.codec.(protocols.Heir); ok {
		h.Inherit(prevSt.codec)
	}
	st.owner.Store(p)
	p.st.Store(st)
	p.backends, p.migration = next, mig
	if err := p.rebuildLocked(); err != nil {
		p.st.Store(prevSt)
		p.backends, p.migration = prevBackends, prevMig
		return err
	}
	for _, b := range old {
		switch {
		case kept[b]:
		case mig.uses(b):
			// Out of the pool but read through to: its shared
			// connections stay, its dedicated ones go as a removal's.
			b.retireDedicated()
		default:
			b.retire()
		}
	}
	retireMigration(prevMig, mig, next)
	return nil
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Addr returns the address the pool listens on, once started.
func (p *Pool) Addr() net.Addr { return p.lnAddr }

// Servers reports each server's address and whether it is ejected.
func (p *Pool) Servers() []ServerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ServerState, len(p.backends))
	for i, b := range p.backends {
		out[i] = ServerState{Name: b.name, Addr: b.addr, Ejected: b.isEjected()}
	}
	return out
}

// ServerState is a server as Pool.Servers reports it.
type ServerState struct {
	Name, Addr string
	Ejected    bool
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
		p.accept(l, fd, sa)
	}
}

func (ln *listener) pause(d time.Duration) {
	ln.l.pause(ln.p.lnFD)
	ln.disabled = true
	ln.l.after(d, func() {
		if !ln.disabled || ln.l.fds[ln.p.lnFD] != ln {
			return
		}
		ln.disabled = false
		ln.l.resume(ln.p.lnFD, watchListener)
	})
}

// accept takes a new client on loop l, or refuses it past the pool's
// client_connections.
func (p *Pool) accept(l *loop, fd int, sa unix.Sockaddr) {
	st := p.settings()
	if p.clients.Add(1) > int64(st.cfg.ClientConnections) {
		p.clients.Add(-1)
		p.rejected.Add(1)
		writeFD(fd, st.tooMany)
		unix.Close(fd)
		p.log.Warn("client refused: too many clients", "pool", p.name, "client", sockaddrString(sa),
			"client_connections", st.cfg.ClientConnections)
		return
	}
	if _, ok := sa.(*unix.SockaddrUnix); !ok {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if st.cfg.TCPKeepalive {
			// The system's keepalive timers, as nutcracker leaves them.
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
		}
	}
	p.adopt(l, fd, sockaddrString(sa), nil, nil)
}

// adopt serves an open client socket on loop l, starting from buffered,
// bytes it sent that an earlier process read but did not parse, and
// from the session that process kept for it (nil for a new client).
func (p *Pool) adopt(l *loop, fd int, addr string, buffered, session []byte) {
	c := &client{l: l, p: p, fd: fd, id: p.nextID.Add(1), addr: addr, lastActive: l.now, stats: &p.counters[l.id]}
	if ss := p.settings().sessions; ss != nil {
		if session != nil {
			c.session = ss.UnmarshalSession(session)
		} else {
			c.session = ss.NewSession()
		}
	}
	c.stats.clientsAccepted.Add(1)
	p.px.totalConns.Add(1)
	if len(buffered) > 0 {
		c.rbuf = make([]byte, max(len(buffered), clientBufSize))
		c.end = copy(c.rbuf, buffered)
	}
	if err := l.add(fd, watchConn, c); err != nil {
		p.log.Warn("cannot watch client", "pool", p.name, "err", err)
		unix.Close(fd)
		p.clients.Add(-1)
		return
	}
	l.clients[c] = struct{}{}
	if len(buffered) > 0 {
		c.advance()
	}
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
