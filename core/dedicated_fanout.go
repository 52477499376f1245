//go:build linux

package core

// A Broadcast or Targeted request with Conn Once goes to its servers on
// dedicated connections, one each, given back once answered: a request
// that must reach a server now even while the shared connection to it
// waits behind a long request (Redis' SCRIPT KILL, which stops the
// script that the shared connection's pipeline is stuck behind).

// sendOnceFanOut leases a Once connection to every server fanOut picks
// and sends the request on each. If any lease is refused (max_dedicated)
// nothing is sent.
func (c *client) sendOnceFanOut(s *slot) error {
	t := c.p.table.Load()
	if !c.fanOut(s, t) {
		err := s.err
		s.err = nil
		return err
	}
	d := c.ded
	conns := d.conns[:0]
	defer func() {
		clear(conns)
		d.conns = conns[:0]
	}()
	for i := range s.parts {
		sc, err := c.lease(t.backends[s.servers[i]], leaseOnce)
		if err != nil {
			for _, sc := range conns {
				// Nothing sent: back to the idle set, or closed if it
				// was never dialed.
				sc.dedDrained()
			}
			return err
		}
		conns = append(conns, sc)
	}
	for i, sc := range conns {
		srv := s.servers[i]
		s.parts[i].Server, s.parts[i].Name = srv, t.backends[srv].label
		f := &s.frags[i]
		*f = fragment{c: c, slot: s, part: i}
		c.pending++
		sc.send(f)
	}
	return nil
}
