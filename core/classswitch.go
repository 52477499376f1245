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
	f.start = sc.l.now
	sc.q.push(f)
	sc.l.inflight++
	sc.class = cls
}

// switched checks the reply to a switch: if the server refused it, the
// requests queued after it would run in the wrong class, so the
// connection fails.
func (sc *serverConn) switched(f *fragment, resp []byte) error {
	sc.freeSwitch = append(sc.freeSwitch, f)
	if sw := sc.b.pool.settings().switcher; sw != nil {
		return sw.SwitchReply(resp)
	}
	return nil
}
