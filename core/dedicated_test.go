//go:build linux

package core

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/core/internal/fakeproto"
)

// connOf returns the connection (as the server numbers them) each of
// lines came on, in the order they are listed.
func connOf(t *testing.T, s *fakeproto.Server, lines ...string) []int {
	t.Helper()
	log := s.Log()
	out := make([]int, len(lines))
	for i, l := range lines {
		j := slices.IndexFunc(log, func(r fakeproto.Record) bool { return r.Line == l })
		if j < 0 {
			t.Fatalf("the server never read %q", l)
		}
		out[i] = log[j].Conn
	}
	return out
}

// A blocking request goes on a connection of its own, so that the
// shared connection's other requests are not stuck behind it; it may
// take its own time on top of the pool's timeout, and its connection is
// reused once it is answered.
func TestOnceConnection(t *testing.T) {
	// One loop: both clients share its connection to the server.
	r := newRigOneLoop(t, 1, `timeout = "100ms"`)
	a, b := r.dial(), r.dial()
	a.send("BLOCK 0:k 300", "ECHO 0:a after")
	waitFor(t, "the block at the server", func() bool { return r.srv[0].Count("BLOCK") == 1 })
	b.send("ECHO 0:b fast")
	b.expect("VAL fast")
	a.nc.SetReadDeadline(time.Now())
	if _, err := a.r.ReadByte(); err == nil {
		t.Fatal("the blocking request was answered before the request after it")
	}
	a.expect("OK", "VAL after")
	a.send("BLOCK 0:k 1")
	a.expect("OK")
	conns := connOf(t, r.srv[0], "BLOCK 0:k 300", "BLOCK 0:k 1", "ECHO 0:b fast", "ECHO 0:a after")
	if conns[0] != conns[1] || conns[0] == conns[2] || conns[2] != conns[3] {
		t.Errorf("connections of the blocks and of shared requests: %v", conns)
	}
	snap := r.snap()
	if snap.DedicatedLeases != 2 || snap.DedicatedConnections != 1 {
		t.Errorf("%d leases, %d dedicated connections; want 2 and 1", snap.DedicatedLeases, snap.DedicatedConnections)
	}
	r.settled()
}

// Past max_dedicated, a request for a dedicated connection is refused
// rather than queued.
func TestMaxDedicated(t *testing.T) {
	// One loop: an idle connection is reused, or evicted to make room,
	// only by the loop that holds it.
	r := newRigOneLoop(t, 2, "max_dedicated = 1")
	a, b := r.dial(), r.dial()
	a.send("BLOCK 0:k 200")
	waitFor(t, "the block at the server", func() bool { return r.srv[0].Count("BLOCK") == 1 })
	b.send("BLOCK 0:j 1", "ECHO 0:j shared")
	b.expect("ERR pool p: too many dedicated server connections (max_dedicated 1)", "VAL shared")
	a.expect("OK")
	if n := r.snap().DedicatedRefused; n != 1 {
		t.Errorf("%d refusals counted", n)
	}
	// Idle now: the next one takes it, and one to another server
	// closes it to make room.
	b.send("BLOCK 0:j 1", "BLOCK 1:j 1")
	b.expect("OK", "OK")
	if n := r.snap().DedicatedConnections; n != 1 {
		t.Errorf("%d dedicated connections", n)
	}
	waitFor(t, "the evicted connection to close", func() bool { return r.srv[0].Conns() == 1 })
	r.settled()
}

// A client that goes away while blocked takes its connection with it;
// one blocked when the proxy shuts down is answered an error rather than
// waited for.
func TestBlockedClientGoes(t *testing.T) {
	r := newRig(t, 1, "")
	a := r.dial()
	a.send("BLOCK 0:k 5000")
	waitFor(t, "the block at the server", func() bool { return r.srv[0].Count("BLOCK") == 1 })
	a.nc.Close()
	waitFor(t, "the blocked connection to close", func() bool {
		return r.snap().DedicatedConnections == 0 && r.srv[0].Conns() == 0
	})

	b := r.dial()
	b.send("BLOCK 0:k 5000")
	waitFor(t, "the second block at the server", func() bool { return r.srv[0].Count("BLOCK") == 2 })
	if err := r.shutdown(); err != nil {
		t.Fatal(err)
	}
	b.expect("ERR Proxy is shutting down (pool p, server " + r.srv[0].Addr() + " (s0))")
	if !b.closed() {
		t.Error("the blocked client was left open")
	}
}

// The requests between PIN and UNPIN go on one connection of the
// client's own, to the server of the first keys; those whose keys live
// elsewhere are refused.
func TestPinned(t *testing.T) {
	r := newRig(t, 2, "")
	c := r.dial()
	c.send("ECHO 0:x shared", "PIN", "SET 0:a 1", "GET 0:a", "ECHO 0:y pinned", "COUNT", "UNPIN", "ECHO 0:z shared")
	c.expect("VAL shared", "OK", "OK", "VAL 1", "VAL pinned", "INT 1", "OK", "VAL shared")
	conns := connOf(t, r.srv[0], "ECHO 0:x shared", "SET 0:a 1", "GET 0:a", "ECHO 0:y pinned", "UNPIN", "ECHO 0:z shared")
	if shared, pinned := conns[0], conns[1]; conns[5] != shared || pinned == shared ||
		conns[2] != pinned || conns[3] != pinned || conns[4] != pinned {
		t.Errorf("connections: %v", conns)
	}

	c.send("PIN", "SET 0:a 1", "SET 1:b 2", "JOIN 0:a 0:c", "UNPIN")
	c.expect("OK", "OK",
		"ERR key lives on another server than the connection the client holds (a hash tag keeps related keys together)",
		"VAL 0:a+0:c", "OK")
	c.send("PIN", "JOIN 0:a 1:b", "UNPIN", "PIN", "UNPIN", "UNPIN")
	c.expect("OK", "ERR keys of this request belong to different servers (a hash tag keeps related keys together)",
		"ERR no server connection is held for this client", "OK", "OK", strings.TrimSuffix(fakeproto.ReplyNotPinned, "\n"))
	// Back in the idle set: one connection served both leases.
	if n := r.snap().DedicatedConnections; n != 1 {
		t.Errorf("%d dedicated connections", n)
	}

	// Its connection lost, the client is closed: what it believes the
	// server holds for it is gone.
	c.send("PIN", "SET 0:a 1", "CRASH 0:a")
	c.expect("OK", "OK")
	c.expectPrefix(r.serverErr("Connection closed by server", 0))
	if !c.closed() {
		t.Error("a client whose pinned connection failed was left open")
	}
	waitFor(t, "the pinned connection to go", func() bool { return r.snap().DedicatedConnections == 0 })
	r.settled()
}

// Subscriptions take a connection per server, on which the servers'
// messages are relayed to the subscriber; UNSUB closes them.
func TestSubscribed(t *testing.T) {
	r := newRig(t, 2, "")
	sub, pub := r.dial(), r.dial()
	sub.send("SUB 0:news 1:sport 0:weather")
	sub.expect("SUBD 3")
	pub.send("PUB 0:news hello", "PUB 1:sport goal", "PUB 1:none x")
	pub.expect("INT 1", "INT 1", "INT 0")
	got := []string{sub.read(), sub.read()}
	slices.Sort(got) // from two servers: in either order
	if want := []string{"MSG 0:news hello", "MSG 1:sport goal"}; !slices.Equal(got, want) {
		t.Errorf("messages %q, want %q", got, want)
	}
	sub.send("SUB 0:more")
	sub.expect("SUBD 3")
	if n := r.snap().DedicatedConnections; n != 2 {
		t.Errorf("%d dedicated connections for subscriptions on two servers", n)
	}
	sub.send("UNSUB", "PING")
	sub.expect("SUBD 0", "PONG")
	waitFor(t, "the subscriptions' connections to close", func() bool { return r.snap().DedicatedConnections == 0 })
	pub.send("PUB 0:news again")
	pub.expect("INT 0")
	if n := r.snap().Pushes; n != 2 {
		t.Errorf("%d pushes counted", n)
	}
	r.settled()
}

// A subscriber that goes away closes its connections; one whose server
// dies is closed, since its subscriptions are gone.
func TestSubscriberGoes(t *testing.T) {
	r := newRig(t, 2, "")
	a := r.dial()
	a.send("SUB 0:a 1:b")
	a.expect("SUBD 2")
	a.nc.Close()
	waitFor(t, "the subscriptions' connections to close", func() bool { return r.snap().DedicatedConnections == 0 })

	b := r.dial()
	b.send("SUB 0:a 1:b")
	b.expect("SUBD 2")
	r.srv[1].Stop()
	if !b.closed() {
		t.Error("a subscriber whose server died was left open")
	}
	waitFor(t, "the other subscription's connection to close", func() bool { return r.snap().DedicatedConnections == 0 })
}

// A connection whose lease ended is back in the idle set before its
// client's next round, which may want one: pipelined blocking requests
// reuse one connection, and at max_dedicated are not refused for want
// of the connection the one before them just gave back.
func TestPipelinedOnceReusesConnection(t *testing.T) {
	for _, extra := range []string{"", "max_dedicated = 1"} {
		t.Run(extra, func(t *testing.T) {
			r := newRigOneLoop(t, 1, extra)
			c := r.dial()
			c.send("BLOCK 0:a 1", "BLOCK 0:b 1", "PIN", "SET 0:c 1", "UNPIN", "BLOCK 0:d 1")
			c.expect("OK", "OK", "OK", "OK", "OK", "OK")
			conns := connOf(t, r.srv[0], "BLOCK 0:a 1", "BLOCK 0:b 1", "SET 0:c 1", "BLOCK 0:d 1")
			if conns[0] != conns[1] || conns[0] != conns[2] || conns[0] != conns[3] {
				t.Errorf("connections: %v, want one", conns)
			}
			if snap := r.snap(); snap.DedicatedConnections != 1 || snap.DedicatedRefused != 0 {
				t.Errorf("%d dedicated connections, %d refusals", snap.DedicatedConnections, snap.DedicatedRefused)
			}
			r.settled()
		})
	}
}

// A reload that removes a server closes its dedicated connections: idle
// ones at once, and a pinned one with its client, whose transaction is
// gone with it.
func TestReloadRetiresDedicated(t *testing.T) {
	r := newRigOneLoop(t, 2, "")
	a, b := r.dial(), r.dial()
	b.send("PIN", "SET 1:b 1")
	b.expect("OK", "OK")
	a.send("BLOCK 1:a 1")
	a.expect("OK")
	if n := r.snap().DedicatedConnections; n != 2 {
		t.Fatalf("%d dedicated connections, want an idle one and a pinned one", n)
	}
	if err := r.px.Reload(parseConfWorkers(t, 1, poolConf("p", r.srv[:1], ""))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the removed server's connections to close", func() bool { return r.srv[1].Conns() == 0 })
	if !b.closed() {
		t.Error("a client pinned to a removed server was left open")
	}
	a.send("BLOCK 1:a 1")
	a.expect("OK")
	if n := r.srv[0].Count("BLOCK"); n != 1 {
		t.Errorf("s0 read %d blocks after the reload", n)
	}
	r.settled()
}
