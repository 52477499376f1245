package core

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/walnutproxy/walnut/config"
)

// Proxy runs every pool of a configuration on a set of event loops.
type Proxy struct {
	log     *slog.Logger
	workers int
	pools   []*Pool
	loops   []*loop

	mu      sync.Mutex
	started bool
	closed  bool
}

// New builds a proxy from a validated configuration: codecs, hash
// functions and routing tables are looked up and built, but nothing
// listens or dials until Start, so a configuration can be checked without
// side effects.
func New(cfg *config.Config, log *slog.Logger) (*Proxy, error) {
	if log == nil {
		log = slog.Default()
	}
	px := &Proxy{log: log, workers: cfg.Workers}
	if px.workers <= 0 {
		px.workers = DefaultWorkers()
	}
	for _, pc := range cfg.Pools {
		p, err := newPool(pc, log)
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
func (px *Proxy) Start() error {
	px.mu.Lock()
	defer px.mu.Unlock()
	if px.started {
		return fmt.Errorf("proxy already started")
	}
	for _, p := range px.pools {
		fd, addr, err := listenFD(p.cfg.Listen, 512)
		if err != nil {
			px.closeListeners()
			return fmt.Errorf("pool %s: listen %s: %w", p.name, p.cfg.Listen, err)
		}
		p.lnFD, p.lnAddr = fd, addr
	}
	for i := range px.workers {
		l, err := newLoop(i, px.log)
		if err != nil {
			for _, l := range px.loops {
				unix.Close(l.epfd)
				unix.Close(l.wakefd)
			}
			px.loops = nil
			px.closeListeners()
			return fmt.Errorf("event loop: %w", err)
		}
		px.loops = append(px.loops, l)
	}
	for _, l := range px.loops {
		for _, p := range px.pools {
			p.attach(l)
			if err := l.add(p.lnFD, unix.EPOLLIN|unix.EPOLLEXCLUSIVE, &listener{p: p, l: l}); err != nil {
				px.closeListeners()
				return fmt.Errorf("pool %s: watch listener: %w", p.name, err)
			}
		}
	}
	for _, l := range px.loops {
		go l.run()
	}
	px.started = true
	for _, p := range px.pools {
		px.log.Info("pool listening", "pool", p.name, "addr", p.lnAddr.String(),
			"protocol", p.cfg.Protocol, "servers", len(p.backends), "workers", px.workers)
	}
	return nil
}

func (px *Proxy) closeListeners() {
	for _, p := range px.pools {
		if p.lnFD >= 0 {
			unix.Close(p.lnFD)
			p.lnFD = -1
			if strings.HasPrefix(p.cfg.Listen, "/") {
				os.Remove(p.cfg.Listen)
			}
		}
	}
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

// Close stops accepting, closes every client and server connection
// (requests in flight are answered with errors) and waits for the loops.
func (px *Proxy) Close() error {
	px.mu.Lock()
	defer px.mu.Unlock()
	if px.closed || !px.started {
		px.closed = true
		return nil
	}
	px.closed = true
	var wg sync.WaitGroup
	for _, l := range px.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.post(func() {
				for _, p := range px.pools {
					unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, p.lnFD, nil)
					l.fds[p.lnFD] = nil
				}
			})
			l.stop()
		}()
	}
	wg.Wait()
	px.closeListeners()
	return nil
}
