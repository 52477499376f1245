//go:build linux

package core

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/walnutproxy/walnut/protocols"
)

// healthChecker probes the servers of pools with a
// health_check_interval, one goroutine per server on a connection of its
// own: a failed probe counts as a failure (and, with auto_eject_hosts,
// ejects the server before client requests fail on it); an answer from
// an ejected server brings it back at once.
type healthChecker struct {
	mu      sync.Mutex
	running map[*backend]chan struct{}
	wg      sync.WaitGroup
}

func startHealthChecks(px *Proxy) *healthChecker {
	hc := &healthChecker{running: map[*backend]chan struct{}{}}
	hc.reset(px)
	return hc
}

// reset starts probes for servers that need one and stops the rest;
// it runs at start and after every reload.
func (hc *healthChecker) reset(px *Proxy) {
	if hc == nil {
		return
	}
	want := map[*backend]time.Duration{}
	for _, p := range px.pools {
		cfg := p.settings().cfg
		if cfg.HealthCheckInterval <= 0 || p.closing.Load() {
			continue
		}
		if _, ok := p.settings().codec.(protocols.HealthChecker); !ok {
			continue
		}
		p.mu.Lock()
		for _, b := range p.backends {
			want[b] = cfg.HealthCheckInterval
		}
		p.mu.Unlock()
	}
	hc.mu.Lock()
	defer hc.mu.Unlock()
	for b, stop := range hc.running {
		if _, ok := want[b]; !ok {
			close(stop)
			delete(hc.running, b)
		}
	}
	for b, every := range want {
		if _, ok := hc.running[b]; ok {
			continue
		}
		stop := make(chan struct{})
		hc.running[b] = stop
		hc.wg.Add(1)
		go func() {
			defer hc.wg.Done()
			probeLoop(b, every, stop)
		}()
	}
}

func (hc *healthChecker) stop() {
	if hc == nil {
		return
	}
	hc.mu.Lock()
	for b, stop := range hc.running {
		close(stop)
		delete(hc.running, b)
	}
	hc.mu.Unlock()
	hc.wg.Wait()
}

func probeLoop(b *backend, every time.Duration, stop chan struct{}) {
	p := b.pool
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	healthy := true
	buf := make([]byte, 512)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		st := p.settings()
		hcodec, ok := st.codec.(protocols.HealthChecker)
		if !ok {
			return
		}
		var err error
		conn, err = probe(conn, b, hcodec, st.greeter, st.cfg.DialTimeout, every, buf)
		switch {
		case err != nil:
			if conn != nil {
				conn.Close()
				conn = nil
			}
			if healthy {
				p.log.Warn("server failed its health check", "pool", p.name, "server", b.String(), "err", err)
			}
			healthy = false
			b.failed(fmt.Errorf("health check: %w", err))
		default:
			if !healthy {
				p.log.Info("server passed its health check", "pool", p.name, "server", b.String())
			}
			healthy = true
			b.succeeded()
			if b.isEjected() {
				b.revive()
			}
		}
	}
}

// probe sends one probe on conn (dialing it if nil) and reads the
// answer, within timeout.
func probe(conn net.Conn, b *backend, h protocols.HealthChecker, g protocols.Greeter, dialTimeout, timeout time.Duration, buf []byte) (net.Conn, error) {
	greetings := 0
	var msg []byte
	if conn == nil {
		c, err := net.DialTimeout(b.network, b.addr, dialTimeout)
		if err != nil {
			return nil, err
		}
		conn = c
		if g != nil {
			msg, greetings = g.Greeting()
		}
	}
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(append(msg[:len(msg):len(msg)], h.HealthProbe()...)); err != nil {
		return conn, err
	}
	n := 0
	for i := 0; greetings > 0; {
		k, err := g.GreetingReply(i, buf[:n])
		switch {
		case err != nil:
			return conn, err
		case k > 0:
			n = copy(buf, buf[k:n])
			greetings--
			i++
			continue
		case n == len(buf):
			return conn, fmt.Errorf("setup reply longer than %d bytes", len(buf))
		}
		m, err := conn.Read(buf[n:])
		n += m
		if err != nil {
			return conn, err
		}
	}
	for {
		if k, ok, perr := h.HealthReply(buf[:n]); perr != nil {
			return conn, perr
		} else if k > 0 {
			if !ok {
				return conn, fmt.Errorf("unhealthy reply %q", buf[:k])
			}
			return conn, nil
		}
		if n == len(buf) {
			return conn, fmt.Errorf("health reply longer than %d bytes", len(buf))
		}
		m, err := conn.Read(buf[n:])
		n += m
		if err != nil && m == 0 {
			return conn, err
		}
	}
}
