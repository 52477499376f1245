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
		*f.sw = stateSwitch{state: sc.connState, prime: i + 1}
		f.start = sc.l.now
		sc.q.push(f)
		sc.l.inflight++
	}
	sc.markDirty()
}

// reprime primes loop l's shared connections to b that are up or being
// dialed (one being dialed was primed with what the codec knew then).
func (b *backend) reprime() {
	for _, l := range b.pool.px.loops {
		l.post(func() {
			for _, sc := range b.conns[l.id] {
				if (sc.state == stUp || sc.state == stDialing) && !sc.retiring {
					sc.prime()
				}
			}
		})
	}
}

// reprime primes every shared connection of the pool that is up: its
// servers', and during a reshard its old servers'.
func (p *Pool) reprime() {
	if p.px == nil || p.settings().primer == nil {
		return
	}
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
