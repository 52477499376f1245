//go:build linux

package core

import "github.com/walnutproxy/walnut/protocols"

// Requests that go to servers the codec names rather than to the owners
// of keys: Broadcast (every server of the pool, for commands over the
// whole keyspace such as Redis' KEYS or DBSIZE) and Targeted (one server
// by its index, for cursors that walk the servers one after another,
// such as Redis' SCAN).

// fansOut reports whether a request of kind k is routed by fanOut.
func fansOut(k protocols.Kind) bool {
	return k == protocols.Broadcast || k == protocols.Targeted
}

// fanOut adds the parts of a Broadcast or Targeted request: a Broadcast
// gets one per server in the routing table, in the pool's server order;
// a Targeted one goes to its Target, or the first server after it that is
// in the table, or nowhere (no part: the codec answers that the walk is
// over). Ejected servers are skipped: their keys are not served while
// they are out, so they are not listed either. It reports false, with
// s.err set, when there is nothing to send to.
func (c *client) fanOut(s *slot, t *table) bool {
	req := &s.req
	req.Servers = len(t.backends)
	if req.Kind == protocols.Targeted {
		for i := max(req.Target, 0); i < len(t.backends); i++ {
			if t.alive[i] {
				req.Target = i
				s.addPart(i)
				s.parts[0].Keys = nil
				break
			}
		}
		return true
	}
	for i := range t.backends {
		if t.alive[i] {
			j := s.addPart(i)
			s.parts[j].Keys = nil
		}
	}
	if len(s.parts) == 0 {
		s.err = c.st.noServer
		return false
	}
	if len(s.parts) > 1 {
		c.stats.fragments.Add(uint64(len(s.parts)))
	}
	return true
}

// maxKeyInError bounds how much of a key an error message quotes.
const maxKeyInError = 64

// crossServer is the error for a request whose key i is not on the server
// of its first key.
func crossServer(req *protocols.Request, i int) error {
	return &protocols.CrossServerError{Cmd: req.Cmd, First: keyText(req.Keys[0]), Key: keyText(req.Keys[i])}
}

func keyText(k []byte) string {
	if len(k) > maxKeyInError {
		return string(k[:maxKeyInError]) + "..."
	}
	return string(k)
}
