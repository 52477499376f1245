package core

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/protocols"
)

// Pool is one listening endpoint and the servers it shards keys over.
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

	ln       net.Listener
	mu       sync.Mutex
	clients  map[*client]struct{}
	closed   bool
	nextID   atomic.Uint64
	wg       sync.WaitGroup
	stopTick chan struct{}
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
	codec, err := codecFactory(protocols.Options{MaxRequestSize: cfg.MaxRequestSize, MaxValueSize: cfg.MaxRequestSize})
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
		timeout: cfg.Timeout, maxPipeline: cfg.MaxPipeline, maxRequest: cfg.MaxRequestSize,
		clients: map[*client]struct{}{}, stopTick: make(chan struct{}),
	}
	if len(cfg.HashTag) == 2 {
		p.hasTag, p.tag = true, [2]byte{cfg.HashTag[0], cfg.HashTag[1]}
	}
	for i, s := range cfg.Servers {
		b := &backend{pool: p, idx: i, name: s.Name, addr: s.Addr, network: "tcp"}
		if strings.HasPrefix(s.Addr, "/") {
			b.network = "unix"
		}
		for range cfg.ServerConnections {
			b.conns = append(b.conns, &serverConn{b: b})
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
func (p *Pool) Addr() net.Addr {
	if p.ln == nil {
		return nil
	}
	return p.ln.Addr()
}

func (p *Pool) listen() error {
	network, addr := "tcp", p.cfg.Listen
	if strings.HasPrefix(addr, "/") {
		network = "unix"
		// A socket file left by a process that died would make the bind
		// fail forever; nobody can be listening on it if connecting fails.
		if c, err := net.Dial("unix", addr); err == nil {
			c.Close()
			return fmt.Errorf("listen %s: another process is serving this socket", addr)
		}
		os.Remove(addr)
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	p.ln = ln
	return nil
}

func (p *Pool) serve() {
	p.wg.Add(2)
	go p.acceptLoop()
	go p.tick()
}

func (p *Pool) acceptLoop() {
	defer p.wg.Done()
	var delay time.Duration
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			// Out of file descriptors and the like: back off instead of
			// spinning, and carry on when the pressure is gone.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.log.Warn("accept failed", "pool", p.name, "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := &client{p: p, conn: conn, id: p.nextID.Add(1), wake: make(chan struct{}, 1)}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			conn.Close()
			continue
		}
		p.clients[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			c.serve()
			conn.Close()
			p.mu.Lock()
			delete(p.clients, c)
			p.mu.Unlock()
		}()
	}
}

// tick enforces the pool's timeout. Checking every connection a few
// times per timeout costs far less than a timer per request.
func (p *Pool) tick() {
	defer p.wg.Done()
	if p.timeout <= 0 {
		<-p.stopTick
		return
	}
	every := min(max(p.timeout/8, time.Millisecond), 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stopTick:
			return
		case now := <-t.C:
			for _, b := range p.backends {
				for _, sc := range b.conns {
					sc.expire(now, p.timeout)
				}
			}
		}
	}
}

// close stops the pool: no new clients, current clients and server
// connections closed. Requests in flight are answered with errors.
func (p *Pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
	}
	for c := range p.clients {
		c.conn.Close()
	}
	p.mu.Unlock()
	close(p.stopTick)
	for _, b := range p.backends {
		for _, sc := range b.conns {
			sc.shutdown()
		}
	}
	p.wg.Wait()
	if p.ln != nil && strings.HasPrefix(p.cfg.Listen, "/") {
		os.Remove(p.cfg.Listen)
	}
}

// Proxy runs every pool of a configuration.
type Proxy struct {
	log   *slog.Logger
	pools []*Pool
}

// New builds a proxy from a validated configuration: codecs, hash
// functions and routing tables are looked up and built, but nothing
// listens until Start, so a configuration can be checked without side
// effects.
func New(cfg *config.Config, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.Default()
	}
	px := &Proxy{log: log}
	for _, pc := range cfg.Pools {
		p, err := newPool(pc, log)
		if err != nil {
			return nil, fmt.Errorf("pool %s: %w", pc.Name, err)
		}
		px.pools = append(px.pools, p)
	}
	return px, nil
}

// Start opens every pool's listener, then serves. If one listener fails,
// none is left open.
func (px *Proxy) Start() error {
	for _, p := range px.pools {
		if err := p.listen(); err != nil {
			for _, q := range px.pools {
				if q.ln != nil {
					q.ln.Close()
				}
			}
			return fmt.Errorf("pool %s: %w", p.name, err)
		}
	}
	for _, p := range px.pools {
		p.serve()
		px.log.Info("pool listening", "pool", p.name, "addr", p.ln.Addr().String(),
			"protocol", p.cfg.Protocol, "servers", len(p.backends))
	}
	return nil
}

// Pools returns the proxy's pools in configuration order.
func (px *Proxy) Pools() []*Pool { return px.pools }

// Pool returns the pool called name, or nil.
func (px *Proxy) Pool(name string) *Pool {
	for _, p := range px.pools {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Close stops every pool and waits for their goroutines.
func (px *Proxy) Close() error {
	var wg sync.WaitGroup
	for _, p := range px.pools {
		wg.Add(1)
		go func() { defer wg.Done(); p.close() }()
	}
	wg.Wait()
	return nil
}
