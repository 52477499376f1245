//go:build linux

package core

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// serverErr is the start of the reply to a request server i failed.
func (r *rig) serverErr(reason string, i int) string {
	return fmt.Sprintf("ERR %s (pool p, server %s (s%d)", reason, r.srv[i].Addr(), i)
}

// expectPrefix reads one reply per prefix, each starting with it.
func (c *tclient) expectPrefix(prefixes ...string) {
	c.t.Helper()
	for i, p := range prefixes {
		if got := c.read(); !strings.HasPrefix(got, p) {
			c.t.Fatalf("reply %d: %q, want it to start with %q", i, got, p)
		}
	}
}

// A server that does not answer within the pool's timeout fails what
// waits on its connection; the answer that comes late belongs to no
// request, and later requests get their own answers.
func TestTimeout(t *testing.T) {
	r := newRig(t, 2, `timeout = "100ms"`)
	c := r.dial()
	c.send("SLEEP 1:x 400", "ECHO 1:y queued", "ECHO 0:z other")
	timedOut := r.serverErr("Connection timed out", 1) + ": no reply within 100ms)"
	c.expect(timedOut, timedOut, "VAL other")
	// The late OK must not answer these.
	c.send("ECHO 1:y mine", "GET 1:y", "ECHO 1:w after")
	c.expect("VAL mine", "NIL", "VAL after")
	if n := r.snap().Servers[1].ServerTimedout; n != 1 {
		t.Errorf("%d timeouts counted, want 1", n)
	}
	// Answered in time, even close to the limit.
	c.send("SLEEP 1:x 20", "ECHO 1:y fine")
	c.expect("OK", "VAL fine")
	r.settled()
}

// Timeouts also fire while the client waits on several servers at once;
// each server's requests fail or succeed on their own.
func TestTimeoutSplit(t *testing.T) {
	r := newRig(t, 3, `timeout = "80ms"`)
	c := r.dial()
	c.send("SET 0:a A", "SET 2:c C")
	c.expect("OK", "OK")
	r.srv[1].SetDelay(300 * time.Millisecond)
	c.send("MGET 0:a 1:b 2:c", "COUNT")
	c.expect("VALS +A ! +C")
	c.expectPrefix(r.serverErr("Connection timed out", 1))
	r.srv[1].SetDelay(0)
	c.send("MGET 0:a 1:b 2:c", "COUNT")
	c.expect("VALS +A - +C", "INT 2")
	r.settled()
}

// A dead server fails its requests with the codec's error; without
// auto_eject_hosts it stays in the table, and its requests work again
// once it is back.
func TestDeadServer(t *testing.T) {
	r := newRig(t, 2, "")
	c := r.dial()
	c.do("ECHO 1:a warm")
	r.stop(1)
	refused := r.serverErr("Connection refused", 1) + ")"
	for range 3 {
		c.send("ECHO 1:a x", "ECHO 0:b y")
		c.expect(refused, "VAL y")
	}
	if r.pool().Servers()[1].Ejected {
		t.Fatal("a server was ejected without auto_eject_hosts")
	}
	snap := r.snap().Servers[1]
	if !snap.Down || snap.ServerEOF != 1 {
		t.Errorf("dead server: down %v, %d EOFs counted", snap.Down, snap.ServerEOF)
	}
	if err := r.srv[1].Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "s1 to answer again", func() bool { return c.do("ECHO 1:a back") == "VAL back" })
	if r.snap().Servers[1].Down {
		t.Error("the server is still down once it answers")
	}
	r.settled()
}

// With auto_eject_hosts, server_failure_limit failures in a row take a
// server out of the table: its keys go to the others until
// server_retry_timeout puts it back.
func TestEjectAndReturn(t *testing.T) {
	r := newRig(t, 3, "auto_eject_hosts = true\nserver_failure_limit = 2\nserver_retry_timeout = \"300ms\"")
	c := r.dial()
	c.do("ECHO 1:a warm")
	r.stop(1)
	before := r.srv[2].Count("ECHO")
	// Each dial refused is a failure; requests fail until the second.
	waitFor(t, "s1's keys to be served elsewhere", func() bool {
		got := c.do("ECHO 1:a moved")
		if got != "VAL moved" && !strings.HasPrefix(got, r.serverErr("Connection refused", 1)) {
			t.Fatalf("while s1 is dying: %q", got)
		}
		return got == "VAL moved"
	})
	// Two live servers: key 1 goes to the second of them.
	if n := r.srv[2].Count("ECHO") - before; n < 1 {
		t.Errorf("s2 read %d of s1's requests", n)
	}
	// More than one if the retry came before the test looked, and the
	// server, still dead, was ejected again.
	if ej := r.snap().ServerEjects; ej < 1 {
		t.Errorf("%d ejections counted", ej)
	}
	c.send("ECHO 0:b b", "ECHO 2:c c")
	c.expect("VAL b", "VAL c")
	if err := r.srv[1].Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "s1 back in the table", func() bool { return r.restored(1) })
	before = r.srv[1].Count("ECHO")
	waitFor(t, "s1 to serve its keys again", func() bool {
		c.do("ECHO 1:a home")
		return r.srv[1].Count("ECHO") > before
	})
	r.settled()
}

// Every server ejected: requests get the pool's own error, naming no
// server.
func TestEveryServerEjected(t *testing.T) {
	r := newRig(t, 1, "auto_eject_hosts = true\nserver_failure_limit = 1\nserver_retry_timeout = \"1m\"")
	c := r.dial()
	c.do("ECHO 0:a warm")
	r.stop(0)
	waitFor(t, "s0 ejected", func() bool { return r.ejected(0) })
	c.send("ECHO 0:a x", "COUNT", "MGET 0:a 1:b", "WHO 0")
	none := "ERR Connection refused (pool p: every server is ejected)"
	c.expect(none, none, none, "DONE")
	r.settled()
}

// A server that answers what its request cannot be answered with, or
// closes the connection, or speaks unasked, has its connection closed:
// once the stream is out of step, no answer on it can be trusted to be
// the next request's. Its requests fail, no client gets an answer that
// belongs to another request, and the next requests work.
func TestServerOutOfStep(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(r *rig, c *tclient)
		// replies to ECHO 1:a A, ECHO 1:b B, ECHO 0:c C sent after break_
		want []string
		// the server counter the failure shows in
		counter func(s ServerSnapshot) uint64
	}{
		{"garbage", func(r *rig, c *tclient) { r.srv[1].Override("%%garbage") },
			[]string{"Invalid response from server", "Invalid response from server", ""},
			func(s ServerSnapshot) uint64 { return s.ServerErr }},
		{"wrong reply type", func(r *rig, c *tclient) { r.srv[1].Override("INT 5") },
			[]string{"Invalid response from server", "Invalid response from server", ""},
			func(s ServerSnapshot) uint64 { return s.ServerErr }},
		{"crash", func(r *rig, c *tclient) {
			c.send("CRASH 1:z")
			c.expectPrefix(r.serverErr("Connection closed by server", 1))
		}, nil, func(s ServerSnapshot) uint64 { return s.ServerEOF }},
		{"unasked", func(r *rig, c *tclient) {
			r.srv[1].Push("VAL stray")
			waitFor(r.t, "the proxy to drop the connection", func() bool { return r.srv[1].Conns() == 0 })
		}, nil, func(s ServerSnapshot) uint64 { return s.ServerErr }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 2, "")
			c := r.dial()
			c.do("ECHO 1:a warm")
			tc.break_(r, c)
			c.send("ECHO 1:a A", "ECHO 1:b B", "ECHO 0:c C")
			for i, want := range []string{"VAL A", "VAL B", "VAL C"} {
				got := c.read()
				if i < len(tc.want) && tc.want[i] != "" {
					want = r.serverErr(tc.want[i], 1)
				}
				if !strings.HasPrefix(got, want) {
					t.Errorf("reply %d: %q, want %q", i, got, want)
				}
			}
			c.send("ECHO 1:d D", "GET 1:d")
			c.expect("VAL D", "NIL")
			if n := tc.counter(r.snap().Servers[1]); n != 1 {
				t.Errorf("counted %d", n)
			}
			r.settled()
		})
	}
}

// A pool with a greeting sends it first on every connection; a server
// that refuses it fails what was queued with its words.
func TestGreeting(t *testing.T) {
	r := newRig(t, 2, `fake_hello = "sesame"`)
	r.srv[0].RequireHello("sesame")
	r.srv[1].RequireHello("other")
	c := r.dial()
	c.send("ECHO 0:a A", "ECHO 1:b B", "ECHO 0:c C")
	c.expect("VAL A")
	c.expectPrefix("ERR greeting refused: ERR bad hello token (pool p, server " + r.srv[1].Addr())
	c.expect("VAL C")
	first := r.srv[0].Log()[0]
	if first.Line != "HELLO sesame" {
		t.Errorf("the first request on a connection was %q", first.Line)
	}
	if n := r.srv[1].Count("ECHO"); n != 0 {
		t.Errorf("s1 read %d requests behind a refused greeting", n)
	}
	r.srv[1].RequireHello("sesame")
	c.send("ECHO 1:b B")
	c.expect("VAL B")
	r.settled()
}

// Health checks eject a dead server before any request fails on it and
// bring it back as soon as it answers, long before its retry timeout.
func TestHealthChecks(t *testing.T) {
	r := newRig(t, 2, "health_check_interval = \"20ms\"\nauto_eject_hosts = true\nserver_failure_limit = 1\nserver_retry_timeout = \"1m\"")
	waitFor(t, "probes", func() bool { return r.srv[1].Count("PING") > 0 })
	r.srv[1].Stop()
	waitFor(t, "s1 ejected", func() bool { return r.ejected(1) })
	c := r.dial()
	c.send("ECHO 1:a moved")
	c.expect("VAL moved")
	if err := r.srv[1].Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "s1 back", func() bool { return r.restored(1) })
	c.send("WHO 1")
	c.expect("AT 1 s1")
	r.settled()
}
