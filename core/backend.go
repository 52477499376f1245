//go:build linux

package core

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/walnutproxy/walnut/config"
)

// backend is one server of a pool: its placement identity, its failure
// accounting, and the connections each loop keeps to it.
type backend struct {
	pool    *Pool
	name    string
	addr    string
	label   string // String(), made once for replies that name the server
	network string
	weight  int
	nconns  int
	// conns[l] are loop l's connections, made by that loop on first use;
	// only loop l reads or writes its slot.
	conns [][]*serverConn

	failures atomic.Int32 // consecutive, reset by any answer
	down     atomic.Bool  // the last connection attempt failed

	counters  []serverCounters // by loop
	ejections atomic.Uint64
	ejectedAt atomic.Int64 // µs since the epoch

	mu      sync.Mutex
	ejected bool
	retired bool // removed by a reload
	retry   *time.Timer
}

func newBackend(p *Pool, s config.Server, nconns, loops int) *backend {
	b := &backend{pool: p, name: s.Name, addr: s.Addr, network: "tcp", weight: s.Weight, nconns: nconns,
		conns: make([][]*serverConn, loops), counters: make([]serverCounters, loops)}
	if strings.HasPrefix(s.Addr, "/") {
		b.network = "unix"
	}
	b.label = b.String()
	return b
}

func (b *backend) String() string {
	if b.name != b.addr {
		return b.addr + " (" + b.name + ")"
	}
	return b.addr
}

// sameServer reports whether b can keep serving for s after a reload:
// same address and name, same number of connections.
func (b *backend) sameServer(s config.Server, nconns int) bool {
	return b.addr == s.Addr && b.name == s.Name && b.nconns == nconns
}

// conn returns the connection of loop l that a client uses; a client
// sticks to one so that its requests to this server stay in order.
func (b *backend) conn(l *loop, clientID uint64) *serverConn {
	cs := b.conns[l.id]
	if cs == nil {
		cs = b.open(l)
	}
	if len(cs) == 1 {
		return cs[0]
	}
	return cs[clientID%uint64(len(cs))]
}

// open makes loop l's connections to b (not dialed yet).
func (b *backend) open(l *loop) []*serverConn {
	cs := make([]*serverConn, b.nconns)
	for i := range cs {
		cs[i] = &serverConn{l: l, b: b, fd: -1}
		l.servers = append(l.servers, cs[i])
	}
	b.conns[l.id] = cs
	return cs
}

// failed records a failure: a connection refused, lost or timed out. In
// a pool with auto_eject_hosts, server_failure_limit consecutive ones
// take the server out of the routing table for server_retry_timeout.
// Any loop may call it.
func (b *backend) failed(err error) {
	n := int(b.failures.Add(1))
	p := b.pool
	st := p.settings()
	if !st.cfg.AutoEjectHosts || n < st.cfg.ServerFailureLimit {
		return
	}
	b.mu.Lock()
	if b.ejected || b.retired {
		b.mu.Unlock()
		return
	}
	b.ejected = true
	b.failures.Store(0)
	b.ejections.Add(1)
	b.ejectedAt.Store(time.Now().UnixMicro())
	retry := st.cfg.ServerRetryTimeout
	b.retry = time.AfterFunc(retry, b.trial)
	b.mu.Unlock()
	p.log.Warn("server ejected", "pool", p.name, "server", b.String(), "failures", n, "err", err, "retry_in", retry)
	// Off the loop that saw the failure: building a table may call out
	// to an external distribution.
	go p.rebuildLogged()
}

// succeeded records an answer from the server; it runs for every
// response, so it only reads unless there is something to reset.
func (b *backend) succeeded() {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
}

// trial puts an ejected server back in the routing table once its retry
// timeout is over, as nutcracker does: if it is still dead, its next
// failures eject it again.
func (b *backend) trial() {
	b.mu.Lock()
	if !b.ejected || b.retired {
		b.mu.Unlock()
		return
	}
	b.ejected = false
	b.retry = nil
	b.mu.Unlock()
	b.pool.log.Info("server back in the pool", "pool", b.pool.name, "server", b.String())
	b.pool.rebuildLogged()
	// What the pool changed on its servers meanwhile skipped this one.
	b.reprime()
}

// revive brings an ejected server back at once; the health checker calls
// it when the server answers again.
func (b *backend) revive() {
	b.mu.Lock()
	if b.retry != nil {
		b.retry.Stop()
	}
	b.mu.Unlock()
	b.trial()
}

// isEjected reports whether b is out of the routing table.
func (b *backend) isEjected() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ejected
}

// retireDedicated closes b's dedicated connections as retire does, for
// a server a reload removed from the pool but keeps as an old server of
// its migration: only the shared connections read through.
func (b *backend) retireDedicated() {
	for _, l := range b.pool.px.loops {
		l.post(func() { l.retireDedicated(b) })
	}
}

// retire marks b as removed by a reload: it gets no new requests, and
// each loop closes its connections once their queues are empty.
func (b *backend) retire() {
	b.mu.Lock()
	b.retired = true
	if b.retry != nil {
		b.retry.Stop()
	}
	b.mu.Unlock()
	for _, l := range b.pool.px.loops {
		l.post(func() {
			for _, sc := range b.conns[l.id] {
				sc.retire()
			}
			l.retireDedicated(b)
		})
	}
}
