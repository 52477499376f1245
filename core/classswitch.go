package core

import "github.com/walnutproxy/walnut/protocols"

// Request classes: a request may need its server connection in a state
// of its own (Redis: the database its client selected). The pool's
// shared connections carry requests of every class; when a request's
// class is not the one its connection is in, the codec's switch
// (SELECT) goes out first, its reply taken by a fragment of no client.
// A connection starts in class 0, which its greeting sets up, and is
// back in it after a reconnect.
//
// One set of connections for every class keeps a client's requests in
// order whatever their class, and measured as fast as connections per
// class or faster with several classes at once (BenchmarkSelect): one
// write and one read per server and loop iteration, where connections
// per class need one per class, while a switch costs the server little.
//
// A server may refuse a switch (a database it does not have). Requests
// written behind a refused switch would run in the class the connection
// is still in, so the first switch to each class on a connection is
// held as the greeting is (see serverConn.holds): nothing after it is
// written until the server has taken it. Once it has, switches to that
// class are pipelined like any request, until the connection is lost.

// switchReq stands for the request of a switch's fragment when the
// codec frames its reply.
var switchReq protocols.Request

// switchClass queues the switch of sc to class cls.
func (sc *serverConn) switchClass(cls int) {
	sw := sc.b.pool.settings().switcher
	if sw == nil {
		return
	}
	req := sw.SwitchClass(cls)
	sc.out = append(sc.out, req...)
	sc.b.counters[sc.l.id].inQueueBytes.Add(int64(len(req)))
	var f *fragment
	if n := len(sc.freeSwitch); n > 0 {
		f, sc.freeSwitch = sc.freeSwitch[n-1], sc.freeSwitch[:n-1]
	} else {
		f = &fragment{}
	}
	// A switch's fragment has no client: part is the class, size 1 if
	// the switch holds what follows it.
	f.part, f.size = cls, 0
	if cls != 0 && !sc.classes.has(cls) {
		// The first switch to cls since the connection was made. A
		// second one queued before its reply needs no hold: if the server
		// refuses the first, the connection fails before the second is
		// written. Class 0 needs none: the connection was in it, and a
		// switch back to it follows one the server took (or fails with
		// it).
		sc.classes.add(cls)
		sc.holds = append(sc.holds, len(sc.out))
		f.size = 1
	}
	f.start = sc.l.now
	sc.q.push(f)
	sc.l.inflight++
	sc.class = cls
}

// release lets go what the first hold kept back: its reply is in.
func (sc *serverConn) release() {
	if len(sc.holds) == 0 {
		return
	}
	sc.holds = sc.holds[:copy(sc.holds, sc.holds[1:])]
	if sc.outPos < len(sc.out) {
		sc.markDirty()
	}
}

// switched checks the reply to a switch: if the server refused it, the
// connection fails, and with it the requests queued after the switch,
// none of which was written if it was the first switch to its class.
// A switch that held what follows it lets it go.
func (sc *serverConn) switched(f *fragment, resp []byte) error {
	cls, held := f.part, f.size == 1
	sc.freeSwitch = append(sc.freeSwitch, f)
	if sw := sc.b.pool.settings().switcher; sw != nil {
		if err := sw.SwitchReply(cls, resp); err != nil {
			return setupError{err}
		}
	}
	if held {
		sc.release()
	}
	return nil
}

// classSet is the set of classes a connection was switched to since it
// was made.
type classSet struct {
	low  [4]uint64 // classes 0 to 255
	high map[int]struct{}
}

func (s *classSet) has(cls int) bool {
	if cls < 256 {
		return s.low[cls/64]&(1<<(cls%64)) != 0
	}
	_, ok := s.high[cls]
	return ok
}

func (s *classSet) add(cls int) {
	if cls < 256 {
		s.low[cls/64] |= 1 << (cls % 64)
		return
	}
	if s.high == nil {
		s.high = map[int]struct{}{}
	}
	s.high[cls] = struct{}{}
}

func (s *classSet) reset() {
	s.low = [4]uint64{}
	clear(s.high)
}
