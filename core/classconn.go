package core

import "github.com/walnutproxy/walnut/protocols"

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
	if cls == 0 {
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
