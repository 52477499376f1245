//go:build linux

package core

// Priming (protocols.Primer): what a pool keeps on every server besides
// keys, which a server loses when it restarts (Redis' functions and
// scripts), goes again to a server that may have fallen behind. A
// shared connection is primed as it is dialed, ahead of what clients
// queue on it; the shared connections that are up are primed again when
// their server comes back into the routing table, or when the codec
// asks (Options.Reprime: it learned something the servers should hold).
//
// The priming requests are pipelined like a state switch's
// (stateswitch.go): each reply is taken by a fragment of no client, and
// handed to the codec whatever it says. Nothing waits for them: the
// server runs them before the requests queued behind, so that a request
// that needs what they bring finds it, and a priming the server refuses
// costs the clients nothing.

// prime queues the codec's priming of sc's server behind what sc.out
// holds. Dedicated connections are not primed: their servers are the
// shared connections'.
func (sc *serverConn) prime() {
	pr := sc.b.pool.settings().primer
	if pr == nil || sc.ded != nil || sc.closed {
		return
	}
	req, n := pr.Prime(sc.b.label)
	if n <= 0 {
		return
	}
	sc.out = append(sc.out, req...)
	sc.b.counters[sc.l.id].inQueueBytes.Add(int64(len(req)))
	for i := range n {
		f := sc.switchFragment()
		*f.sw = stateSwitch{prime: i + 1}
		f.start = sc.l.now
		sc.q.push(f)
		sc.l.inflight++
	}
	sc.markDirty()
}

// reprime primes every loop's shared connections to b that are up or
// being dialed (one being dialed was primed with what the codec knew
// then). It may be called on a loop: the loops are read off it, where
// waiting for the proxy's lock cannot hold a loop up.
func (b *backend) reprime() {
	go b.pool.px.postAll(func(l *loop) {
		for _, sc := range b.conns[l.id] {
			if (sc.state == stUp || sc.state == stDialing) && !sc.retiring {
				sc.prime()
			}
		}
	})
}

// postAll runs fn on every loop, unless the proxy is closed.
func (px *Proxy) postAll(fn func(l *loop)) {
	px.mu.Lock()
	loops := px.loops
	px.mu.Unlock()
	for _, l := range loops {
		l.post(func() { fn(l) })
	}
}

// reprime primes every shared connection of the pool that is up: its
// servers', and during a reshard its old servers'. The codec calls it
// on a loop, which must not wait for the pool's lock: the work goes on
// off it.
func (p *Pool) reprime() {
	if p.settings().primer == nil {
		return
	}
	go p.reprimeAll()
}

func (p *Pool) reprimeAll() {
	p.mu.Lock()
	bs := append([]*backend(nil), p.backends...)
	if p.migration != nil {
		for _, b := range p.migration.old.backends {
			if !contains(bs, b) {
				bs = append(bs, b)
			}
		}
	}
	p.mu.Unlock()
	for _, b := range bs {
		b.reprime()
	}
}
