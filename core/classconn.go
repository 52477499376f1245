package core

import (
	"bytes"
	"fmt"
	"os"

	"github.com/walnutproxy/walnut/protocols"
)

// selectByPrefix is the alternative measured against connection classes:
// requests of every class share the default connections, and a request
// whose class is not the connection's current one is preceded by the
// codec's switch (Redis: SELECT). WALNUT_CLASS_MODE=prefix turns it on.
var selectByPrefix = os.Getenv("WALNUT_CLASS_MODE") == "prefix"

// classSwitcher is what selectByPrefix needs of a codec.
type classSwitcher interface {
	SwitchClass(class int) []byte
}

var switchReq protocols.Request

// switchClass queues the switch of sc to class cls, answered by an
// internal fragment, if sc is in another class.
func (sc *serverConn) switchClass(cls int) {
	if cls == sc.cur {
		return
	}
	cs, ok := sc.b.pool.settings().codec.(classSwitcher)
	if !ok {
		return
	}
	sc.out = append(sc.out, cs.SwitchClass(cls)...)
	var f *fragment
	if n := len(sc.freeSwitch); n > 0 {
		f, sc.freeSwitch = sc.freeSwitch[n-1], sc.freeSwitch[:n-1]
	} else {
		f = &fragment{}
	}
	f.start = sc.l.now
	sc.q.push(f)
	sc.l.inflight++
	sc.cur = cls
}

// switched checks the reply to a switch.
func (sc *serverConn) switched(f *fragment, resp []byte) error {
	sc.freeSwitch = append(sc.freeSwitch, f)
	if !bytes.Equal(resp, []byte("+OK\r\n")) {
		return fmt.Errorf("server refused to switch the connection's class: %q", resp)
	}
	return nil
}

// Connection classes: a request whose Class is not 0 travels on server
// connections of its own class, set up with the codec's ClassGreeting
// (Redis: a client that selected another database than the pool's uses
// connections on which walnut selected that database). Each loop makes a
// class's connections to a server on first use, server_connections of
// them, shared by every client of the loop in that class, just like the
// default class; they stay open until their server leaves the pool.

// connFor returns the connection of loop l that a client's requests of
// class cls use.
func (b *backend) connFor(l *loop, clientID uint64, cls int) *serverConn {
	if cls == 0 || selectByPrefix {
		return b.conn(l, clientID)
	}
	m := b.classConns[l.id]
	if m == nil {
		m = map[int][]*serverConn{}
		b.classConns[l.id] = m
	}
	cs := m[cls]
	if cs == nil {
		cs = make([]*serverConn, b.nconns)
		for i := range cs {
			cs[i] = &serverConn{l: l, b: b, fd: -1, class: cls}
			l.servers = append(l.servers, cs[i])
		}
		m[cls] = cs
	}
	return cs[clientID%uint64(len(cs))]
}

// retireClasses retires loop l's class connections to b.
func (b *backend) retireClasses(l *loop) {
	for _, cs := range b.classConns[l.id] {
		for _, sc := range cs {
			sc.retire()
		}
	}
}

// greetingFor returns the setup of a new connection of class cls.
func (st *settings) greetingFor(cls int) ([]byte, int) {
	if cls == 0 {
		if st.greeter == nil {
			return nil, 0
		}
		return st.greeter.Greeting()
	}
	if cg, ok := st.codec.(protocols.ClassGreeter); ok {
		return cg.ClassGreeting(cls)
	}
	return nil, 0
}

// greetingReply checks a server's reply to a connection's setup.
func (st *settings) greetingReply(buf []byte) (int, error) {
	return st.codec.(protocols.Greeter).GreetingReply(buf)
}
