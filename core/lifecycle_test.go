//go:build linux

package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walnutproxy/walnut/core/internal/fakeproto"
)

// max_pipeline bounds what a client has in flight: the server sees no
// more of its requests than that until it answers them.
func TestMaxPipeline(t *testing.T) {
	r := newRig(t, 1, "max_pipeline = 4")
	s := r.srv[0]
	s.Hold()
	c := r.dial()
	var reqs, want []string
	for i := range 20 {
		reqs = append(reqs, fmt.Sprintf("ECHO 0:k%d v%d", i, i))
		want = append(want, fmt.Sprintf("VAL v%d", i))
	}
	c.send(reqs...)
	waitFor(t, "the first round at the server", func() bool { return s.Received() >= 4 })
	// Another client's request, sent after the first client's 20 have
	// been read, overtakes the 16 the bound holds back.
	other := r.dial()
	other.send("ECHO 0:other x")
	waitFor(t, "the other client's request at the server", func() bool { return s.Received() >= 5 })
	log := s.Log()
	if log[4].Line != "ECHO 0:other x" {
		t.Fatalf("the server read %q fifth: more than max_pipeline requests of one client were in flight", log[4].Line)
	}
	s.Release()
	c.expect(want...)
	other.expect("VAL x")
	r.settled()
}

// A client that does not read its replies stops being read once more
// than max_client_output waits for it, and costs the others nothing;
// when it reads again, it gets every reply in order.
func TestMaxClientOutput(t *testing.T) {
	r := newRig(t, 1, "max_client_output = 4096")
	slow := r.dial()
	// A small send buffer on the proxy's side, so that the replies back
	// up into the proxy after a hundred kilobytes (what the client's
	// receive buffer holds) rather than megabytes. The client's own
	// buffer stays as it is: shrinking it below the loopback MSS slows
	// TCP to a few segments a second.
	fd := -1
	waitFor(t, "the proxy to accept the client", func() bool {
		r.onLoops(func(l *loop) {
			for c := range l.clients {
				fd = c.fd
			}
		})
		return fd >= 0
	})
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	value := strings.Repeat("v", 1000)
	sent := make(chan error, 1)
	go func() {
		for i := 0; i < n; i += 100 {
			var b []string
			for j := i; j < i+100; j++ {
				b = append(b, fmt.Sprintf("ECHO 0:k%d %d%s", j, j, value))
			}
			if err := slow.trySend(b...); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	paused := func() bool {
		p := false
		r.onLoops(func(l *loop) {
			for c := range l.clients {
				p = p || c.paused && c.wantOut
			}
		})
		return p
	}
	// Paused with its socket full: the proxy waits for the client to
	// read before it reads any more of its requests.
	waitFor(t, "the slow client to be paused", paused)
	fast := r.dial()
	for i := range 10 {
		fast.send(fmt.Sprintf("ECHO 0:fast f%d", i))
		fast.expect(fmt.Sprintf("VAL f%d", i))
	}
	// What the sockets hold is a hundred replies or so; had the proxy
	// gone on reading the slow client, the server would have read all
	// of its requests by now.
	if got := r.srv[0].Received(); got > n/2 {
		t.Errorf("the server read %d requests of a client that reads nothing", got)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if got, want := slow.read(), fmt.Sprintf("VAL %d%s", i, value); got != want {
			t.Fatalf("slow reply %d: %.20q, want %.20q", i, got, want)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	r.settled()
}

// Shutdown answers what clients sent, then closes them; nothing new is
// accepted meanwhile.
func TestShutdownDrains(t *testing.T) {
	r := newRig(t, 2, "")
	busy, idle := r.dial(), r.dial()
	idle.do("PING")
	busy.send("SLEEP 0:a 150", "ECHO 1:b B")
	waitFor(t, "the sleep at the server", func() bool { return r.srv[0].Count("SLEEP") == 1 })
	done := make(chan error, 1)
	go func() { done <- r.shutdown() }()
	busy.expect("OK", "VAL B")
	if !busy.closed() || !idle.closed() {
		t.Error("a client is still open after its requests were answered")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Shutdown did not return")
	}
	if nc, err := net.DialTimeout("tcp", r.addr, time.Second); err == nil {
		nc.Close()
		t.Fatal("the pool accepts clients after Shutdown")
	}
	// Once closed, it stays closed.
	if err := r.shutdown(); err != nil {
		t.Errorf("a second Shutdown: %v", err)
	}
	if err := r.px.Reload(r.px.cfg); err == nil {
		t.Error("Reload of a closed proxy succeeded")
	}
}

// Shutdown gives up when its context ends: what is left is closed.
func TestShutdownDeadline(t *testing.T) {
	r := newRig(t, 1, "")
	c := r.dial()
	c.send("SLEEP 0:a 5000")
	waitFor(t, "the sleep at the server", func() bool { return r.srv[0].Count("SLEEP") == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.px.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline", err)
	}
	if !c.closed() {
		t.Error("a client waiting on a server was left open")
	}
}

// Reload applies a new server list to a running pool: its clients stay
// connected, new requests follow the new placement, and a removed
// server's connections close. A pool the new configuration drops is
// drained and stops listening; one it adds starts.
func TestReload(t *testing.T) {
	srv := newServers(t, 4)
	r := startRig(t, srv, parseConf(t, poolConf("p", srv[:2], ""), poolConf("q", srv[3:], "")))
	c := r.dial()
	qc := dialPool(t, r.px.Pool("q").Addr().String())
	qc.do("PING")
	// Two servers: key 2 lives on s0.
	c.send("ECHO 2:x one", "ECHO 1:y y")
	c.expect("VAL one", "VAL y")
	if n := srv[0].Count("ECHO"); n != 1 {
		t.Fatalf("s0 read %d requests", n)
	}

	if err := r.px.Reload(parseConf(t, poolConf("p", srv[:3], `timeout = "1s"`), poolConf("r", srv[3:], ""))); err != nil {
		t.Fatal(err)
	}
	c.send("ECHO 2:x two", "WHO 2")
	c.expect("VAL two", "AT 2 s2")
	if n := srv[2].Count("ECHO"); n != 1 {
		t.Errorf("after adding s2, it read %d requests for its key", n)
	}
	if !qc.closed() {
		t.Error("a removed pool's client is still open")
	}
	if r.px.Pool("q") != nil || r.px.Pool("r") == nil {
		t.Fatalf("pools after reload: %v", r.px.Pools())
	}
	rc := dialPool(t, r.px.Pool("r").Addr().String())
	rc.send("WHO 0")
	rc.expect("AT 0 s3")

	// s1 leaves: its connection closes once idle, its keys move.
	if err := r.px.Reload(parseConf(t, poolConf("p", []*fakeproto.Server{srv[0], srv[2]}, ""), poolConf("r", srv[3:], ""))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "s1's connections to close", func() bool { return srv[1].Conns() == 0 })
	c.send("WHO 1", "ECHO 1:y moved")
	c.expect("AT 1 s2", "VAL moved")
	if got := r.px.Pool("p").Servers(); len(got) != 2 || got[1].Name != "s2" {
		t.Errorf("servers after reload: %v", got)
	}
	r.settled()
}

// A reload that cannot be applied changes nothing.
func TestReloadRefused(t *testing.T) {
	r := newRig(t, 2, "")
	c := r.dial()
	bad := parseConf(t, poolConf("p", r.srv, ""))
	bad.Pools[0].Distribution = "no-such-distribution"
	if err := r.px.Reload(bad); err == nil {
		t.Fatal("a reload with an unknown distribution succeeded")
	}
	c.send("WHO 1", "ECHO 1:a a")
	c.expect("AT 1 s1", "VAL a")
}

// A pool a reload removes is drained on a goroutine of its own, which
// must not race a Close that comes meanwhile (go test -race): it reads
// the loops that Close clears.
func TestCloseWhileRemovedPoolDrains(t *testing.T) {
	srv := newServers(t, 1)
	r := startRig(t, srv, parseConf(t, poolConf("p", srv, ""), poolConf("q", srv, "")))
	q := r.px.Pool("q")
	qc := dialPool(t, q.Addr().String())
	qc.do("PING")
	if err := r.px.Reload(parseConf(t, poolConf("p", srv, ""))); err != nil {
		t.Fatal(err)
	}
	// The removed pool's client is closed by the drain, not by Close,
	// so that nothing orders Close before what the goroutine does next.
	waitFor(t, "the removed pool's client to close", func() bool { return q.clients.Load() == 0 })
	r.px.Close()
	b := q.backends[0]
	waitFor(t, "the removed pool's servers to be retired", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.retired
	})
}

// A pool may listen on a unix socket with the permissions it asks for,
// removed when the proxy closes; with preconnect, every loop connects
// to every server at start rather than at the first request.
func TestUnixListenerAndPreconnect(t *testing.T) {
	srv := newServers(t, 2)
	sock := filepath.Join(t.TempDir(), "p.sock")
	r := startRig(t, srv, parseConf(t, poolConf("p", srv, fmt.Sprintf("listen = %q\npreconnect = true", sock+" 0600"))))
	for i, s := range srv {
		waitFor(t, fmt.Sprintf("s%d's connections from both loops", i), func() bool { return s.Conns() == 2 })
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket permissions %v", fi.Mode().Perm())
	}
	c := r.dial()
	c.send("ECHO 0:a A", "WHO 1")
	c.expect("VAL A", "AT 1 s1")
	r.px.Rebuild("testmod")
	c.send("ECHO 1:b B")
	c.expect("VAL B")
	r.px.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after Close: %v", err)
	}
}
