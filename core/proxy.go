//go:build linux

package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/distributions"
)

// Proxy runs every pool of a configuration on a set of event loops.
type Proxy struct {
	log     *slog.Logger
	workers int
	loops   []*loop

	mu        sync.Mutex
	cfg       *config.Config
	pools     []*Pool
	started   bool
	closed    bool
	health    *healthChecker
	inherit   *Inheritance
	upgrading atomic.Bool

	// ext are the plugins' hash functions and distributions, which
	// pools resolve names against ahead of the registries.
	ext distributions.Extensions

	start      time.Time
	bufSize    int // client read buffer size; 0: clientBufSize
	version    string
	confPath   string      // the configuration file, as INFO shows it
	latency    atomic.Bool // record latency histograms (a metrics endpoint is on)
	totalConns atomic.Uint64
}

// SetVersion sets the version the statistics report.
func (px *Proxy) SetVersion(v string) { px.version = v }

// RecordLatency turns latency histograms on; the metrics endpoint does
// it. Counting is always on; timing every request is what it adds.
func (px *Proxy) RecordLatency(on bool) { px.latency.Store(on) }

// Option extends a Proxy beyond its configuration file.
type Option func(*Proxy)

// WithDistribution makes d available to pools as distribution name,
// ahead of the registry: this is how external plugins come in.
func WithDistribution(name string, d distributions.Distribution) Option {
	return func(px *Proxy) { px.ext.Distributions[name] = d }
}

// WithHasher makes h available to pools as hash name, ahead of the
// registry.
func WithHasher(name string, h distributions.BatchHasher) Option {
	return func(px *Proxy) { px.ext.Hashers[name] = h }
}

// WithReadBufferSize sets the size of the buffer a client's requests are
// read into (16KiB by default), nutcracker's mbuf chunk size (-m): a
// request that does not fit grows its client's buffer, up to the pool's
// max_request_size, until its bytes are consumed. Sizes under 512
// bytes are taken as 512.
func WithReadBufferSize(n int) Option {
	return func(px *Proxy) { px.bufSize = max(n, 512) }
}

// apply applies opts to a new proxy.
func (px *Proxy) apply(opts []Option) {
	px.ext = distributions.Extensions{Hashers: map[string]distributions.BatchHasher{},
		Distributions: map[string]distributions.Distribution{}}
	for _, o := range opts {
		o(px)
	}
}

// New builds a proxy from a validated configuration: codecs, hash
// functions and routing tables are looked up and built, but nothing
// listens or dials until Start, so a configuration can be checked without
// side effects.
func New(cfg *config.Config, log *slog.Logger, opts ...Option) (*Proxy, error) {
	if log == nil {
		log = slog.Default()
	}
	px := &Proxy{log: log, cfg: cfg, workers: cfg.Workers, start: time.Now(), version: "dev", confPath: cfg.Path}
	if abs, err := filepath.Abs(cfg.Path); err == nil && cfg.Path != "" {
		px.confPath = abs
	}
	px.apply(opts)
	if px.workers <= 0 {
		px.workers = DefaultWorkers()
	}
	for _, pc := range cfg.Pools {
		p, err := newPool(px, pc)
		if err != nil {
			return nil, fmt.Errorf("pool %s: %w", pc.Name, err)
		}
		px.pools = append(px.pools, p)
	}
	return px, nil
}

// DefaultWorkers is the number of event loops when the configuration
// does not say: half the CPUs, at least one. Most of a proxied request's
// cost is the kernel's loopback and TCP work done inside write(), and on
// a small machine shared with its servers and clients a second loop only
// competes with them: on 2 CPUs one loop measured 1.39x nutcracker's
// throughput at 0.55x its CPU per request, two loops 1.15x at 0.73x.
func DefaultWorkers() int {
	return max(1, runtime.GOMAXPROCS(0)/2)
}

// Start opens every pool's listener and starts the loops. If a listener
// cannot be opened, none is left open.
func (px *Proxy) Start() error { return px.StartInherited(nil) }

// StartInherited is Start for a process taking over from another (see
// Upgrade): listeners inherited for a pool's address are used instead of
// new ones, and once serving, the old process is told to hand its
// clients over.
func (px *Proxy) StartInherited(inh *Inheritance) error {
	px.mu.Lock()
	defer px.mu.Unlock()
	if px.started {
		return errors.New("proxy already started")
	}
	for _, p := range px.pools {
		if err := px.listen(p, inh); err != nil {
			px.closeListeners(px.pools)
			return err
		}
	}
	for i := range px.workers {
		l, err := newLoop(i, px.log)
		if err != nil {
			for _, l := range px.loops {
				unix.Close(l.epfd)
				unix.Close(l.wakefd)
			}
			px.loops = nil
			px.closeListeners(px.pools)
			return fmt.Errorf("event loop: %w", err)
		}
		if px.bufSize > 0 {
			l.bufSize = px.bufSize
		}
		px.loops = append(px.loops, l)
	}
	for _, l := range px.loops {
		for _, p := range px.pools {
			if err := l.add(p.lnFD, watchListener, &listener{p: p, l: l}); err != nil {
				px.closeListeners(px.pools)
				return fmt.Errorf("pool %s: watch listener: %w", p.name, err)
			}
		}
	}
	px.configureLoops()
	for _, l := range px.loops {
		go l.run()
	}
	px.started = true
	for _, p := range px.pools {
		px.log.Info("pool listening", "pool", p.name, "addr", p.lnAddr.String(),
			"protocol", p.settings().cfg.Protocol, "servers", len(p.backends), "workers", px.workers)
		p.preconnect()
	}
	px.health = startHealthChecks(px)
	if inh != nil {
		px.inherit = inh
		inh.serve(px)
	}
	return nil
}

// listen opens p's listening socket, or takes the one inherited for its
// address.
func (px *Proxy) listen(p *Pool, inh *Inheritance) error {
	cfg := p.settings().cfg
	if fd, addr, ok := inh.listener(cfg.Listen); ok {
		p.lnFD, p.lnAddr = fd, addr
		return nil
	}
	fd, addr, err := listenFD(cfg.Listen, cfg.Backlog, cfg.ListenMode)
	if err != nil {
		return fmt.Errorf("pool %s: listen %s: %w", p.name, cfg.Listen, err)
	}
	p.lnFD, p.lnAddr = fd, addr
	return nil
}

// configureLoops tells the loops what the pools need of them.
func (px *Proxy) configureLoops() {
	idle := false
	for _, p := range px.pools {
		idle = idle || p.settings().cfg.ClientTimeout > 0
	}
	for _, l := range px.loops {
		l.post(func() { l.idleScan = idle })
	}
}

// preconnect dials every server on every loop when the pool asks.
func (p *Pool) preconnect() {
	if !p.settings().cfg.Preconnect {
		return
	}
	t := p.table.Load()
	for _, l := range p.px.loops {
		l.post(func() {
			for _, b := range t.backends {
				for _, sc := range b.connsOf(l) {
					if sc.state == stIdle && !sc.closed {
						sc.dial()
					}
				}
			}
		})
	}
}

// connsOf returns loop l's connections to b, making them if needed.
func (b *backend) connsOf(l *loop) []*serverConn {
	if b.conns[l.id] == nil {
		return b.open(l)
	}
	return b.conns[l.id]
}

func (px *Proxy) closeListeners(pools []*Pool) {
	for _, p := range pools {
		if p.lnFD >= 0 {
			unix.Close(p.lnFD)
			p.lnFD = -1
			if path := p.settings().cfg.Listen; strings.HasPrefix(path, "/") && !px.handingOff() {
				os.Remove(path)
			}
		}
	}
}

// Pools returns the proxy's pools in configuration order.
func (px *Proxy) Pools() []*Pool {
	px.mu.Lock()
	defer px.mu.Unlock()
	return append([]*Pool(nil), px.pools...)
}

// Pool returns the pool called name, or nil.
func (px *Proxy) Pool(name string) *Pool {
	for _, p := range px.Pools() {
		if p.name == name {
			return p
		}
	}
	return nil
}

// stopAccepting unregisters pools' listeners from every loop and waits
// until no loop can accept on them any more.
func (px *Proxy) stopAccepting(pools []*Pool) {
	var wg sync.WaitGroup
	for _, l := range px.loops {
		wg.Add(1)
		if !l.post(func() {
			defer wg.Done()
			for _, p := range pools {
				if p.lnFD >= 0 && p.lnFD < len(l.fds) {
					if _, ok := l.fds[p.lnFD].(*listener); ok {
						l.unwatch(p.lnFD)
					}
				}
			}
		}) {
			wg.Done()
		}
	}
	wg.Wait()
}

// Shutdown stops gracefully: no new clients, every request already read
// is answered and its reply written, then connections close. It returns
// when every client is gone, or closes what is left when ctx ends.
func (px *Proxy) Shutdown(ctx context.Context) error {
	return px.drainAndClose(ctx, nil)
}

func (px *Proxy) drainAndClose(ctx context.Context, h *handoffSender) error {
	px.mu.Lock()
	if !px.started || px.closed {
		px.closed = true
		px.mu.Unlock()
		return nil
	}
	pools := append([]*Pool(nil), px.pools...)
	px.mu.Unlock()
	px.stopAccepting(pools)
	px.closeListeners(pools)
	for _, l := range px.loops {
		l.post(func() { l.drain(h) })
	}
	var err error
	for _, l := range px.loops {
		select {
		case <-l.drained:
		case <-l.done:
		case <-ctx.Done():
			err = fmt.Errorf("shutdown: %w; closing the clients left", ctx.Err())
		}
		if err != nil {
			break
		}
	}
	px.Close()
	return err
}

// Close stops at once: listeners, clients and server connections are
// closed, and requests in flight are answered with errors.
func (px *Proxy) Close() error {
	px.mu.Lock()
	if px.closed && px.loops == nil {
		px.mu.Unlock()
		return nil
	}
	px.closed = true
	pools := append([]*Pool(nil), px.pools...)
	loops := px.loops
	px.loops = nil
	px.mu.Unlock()
	px.health.stop()
	if len(loops) == 0 {
		px.closeListeners(pools)
		return nil
	}
	px.loopsForStop(loops, pools)
	px.closeListeners(pools)
	return nil
}

func (px *Proxy) loopsForStop(loops []*loop, pools []*Pool) {
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.post(func() {
				for _, p := range pools {
					if p.lnFD >= 0 && p.lnFD < len(l.fds) {
						l.unwatch(p.lnFD)
					}
				}
			})
			l.stop()
		}()
	}
	wg.Wait()
}

// Reload applies a new configuration to the running proxy. Pools whose
// name, listen address and protocol are unchanged keep their clients;
// their servers, weights, timeouts and limits apply to new requests.
// New pools start listening; removed pools stop accepting, answer what
// their clients already sent, and close. If anything in cfg cannot be
// applied, nothing is, and the old configuration keeps running.
func (px *Proxy) Reload(cfg *config.Config) error {
	px.mu.Lock()
	defer px.mu.Unlock()
	if !px.started || px.closed {
		return errors.New("proxy is not running")
	}
	if cfg.Workers != px.cfg.Workers {
		px.log.Warn("reload: workers changes take effect on restart or upgrade only",
			"running", px.workers, "configured", cfg.Workers)
	}
	byName := map[string]*Pool{}
	for _, p := range px.pools {
		byName[p.name] = p
	}
	type change struct {
		p   *Pool
		cfg *config.Pool
		st  *settings
	}
	var updates []change
	var added []*Pool
	kept := map[*Pool]bool{}
	fail := func(err error) error {
		px.closeListeners(added)
		return err
	}
	for _, pc := range cfg.Pools {
		st, err := px.newSettings(pc)
		if err != nil {
			return fail(fmt.Errorf("pool %s: %w", pc.Name, err))
		}
		if old := byName[pc.Name]; old != nil {
			ocfg := old.settings().cfg
			if ocfg.Listen == pc.Listen && ocfg.Protocol == pc.Protocol {
				updates = append(updates, change{old, pc, st})
				kept[old] = true
				continue
			}
		}
		p, err := newPool(px, pc)
		if err != nil {
			return fail(fmt.Errorf("pool %s: %w", pc.Name, err))
		}
		if err := px.listen(p, nil); err != nil {
			// The address may belong to a pool being removed or moved:
			// that case needs the old one closed first.
			if !px.listenTakenByRemoved(pc.Listen, cfg) {
				return fail(err)
			}
			p.lnFD = -1
		}
		added = append(added, p)
	}
	for _, u := range updates {
		if err := u.p.update(u.cfg, u.st); err != nil {
			return fail(fmt.Errorf("pool %s: %w", u.cfg.Name, err))
		}
	}
	var removed []*Pool
	for _, p := range px.pools {
		if !kept[p] {
			removed = append(removed, p)
		}
	}
	px.retirePools(removed)
	for _, p := range added {
		if p.lnFD < 0 {
			if err := px.listen(p, nil); err != nil {
				px.log.Error("reload: pool could not listen", "pool", p.name, "err", err)
				continue
			}
		}
		for _, l := range px.loops {
			l.post(func() {
				if err := l.add(p.lnFD, watchListener, &listener{p: p, l: l}); err != nil {
					px.log.Error("reload: cannot watch listener", "pool", p.name, "err", err)
				}
			})
		}
		px.log.Info("pool listening", "pool", p.name, "addr", p.lnAddr.String(), "protocol", p.settings().cfg.Protocol)
		p.preconnect()
	}
	byNewName := map[string]*Pool{}
	for _, u := range updates {
		byNewName[u.p.name] = u.p
	}
	for _, p := range added {
		byNewName[p.name] = p
	}
	pools := make([]*Pool, 0, len(cfg.Pools))
	for _, pc := range cfg.Pools {
		pools = append(pools, byNewName[pc.Name])
	}
	px.pools = pools
	px.cfg = cfg
	px.configureLoops()
	px.health.reset(px)
	return nil
}

// listenTakenByRemoved reports whether addr is held by a pool that the
// new configuration drops or moves, so that it will be free once that
// pool is retired.
func (px *Proxy) listenTakenByRemoved(addr string, cfg *config.Config) bool {
	for _, p := range px.pools {
		if p.settings().cfg.Listen != addr {
			continue
		}
		for _, pc := range cfg.Pools {
			if pc.Name == p.name && pc.Listen == addr && pc.Protocol == p.settings().cfg.Protocol {
				return false
			}
		}
		return true
	}
	return false
}

// retirePools stops pools a reload removed: their listeners close at
// once, their clients are answered what they sent and closed, then their
// servers' connections close.
func (px *Proxy) retirePools(pools []*Pool) {
	if len(pools) == 0 {
		return
	}
	px.stopAccepting(pools)
	px.closeListeners(pools)
	timeout := px.cfg.ShutdownTimeout
	for _, p := range pools {
		p.closing.Store(true)
		px.log.Info("pool removed; draining its clients", "pool", p.name)
		for _, l := range px.loops {
			l.post(func() {
				for c := range l.clients {
					if c.p == p && !c.inRound {
						c.advance()
					}
				}
			})
		}
		go func() {
			deadline := time.Now().Add(timeout)
			for p.clients.Load() > 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			// px.loops is Close's to clear, under px.mu: read it, and
			// let retire read it, under the lock too.
			px.mu.Lock()
			defer px.mu.Unlock()
			for _, l := range px.loops {
				l.post(func() {
					for c := range l.clients {
						if c.p == p {
							c.close()
						}
					}
				})
			}
			p.mu.Lock()
			for _, b := range p.backends {
				b.retire()
			}
			retireMigration(p.migration, nil, p.backends)
			p.mu.Unlock()
		}()
	}
}

// Rebuild recomputes the routing tables of the pools that use
// distribution name: an external distribution that restarted may answer
// differently than before.
func (px *Proxy) Rebuild(name string) {
	for _, p := range px.Pools() {
		if p.settings().cfg.Distribution != name {
			continue
		}
		if err := p.rebuild(); err != nil {
			px.log.Error("cannot rebuild the routing table; the old one stays", "pool", p.name, "err", err)
		}
	}
}

// handingOff reports whether the listeners now belong to a new process,
// whose unix sockets must not be removed.
func (px *Proxy) handingOff() bool { return px.upgrading.Load() }
