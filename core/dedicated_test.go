//go:build linux

package core

import (
	"slices"
	"testing"

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

// A connection whose lease ended is back in the idle set before its
// client's next round, which may want one: pipelined blocking requests
// reuse one connection, and at max_dedicated are not refused for want
// of the connection the one before them just gave back.
func TestPipelinedOnceReusesConnection(t *testing.T) {
	for _, extra := range []string{"", "max_dedicated = 1"} {
		t.Run(extra, func(t *testing.T) {
			srv := newServers(t, 1)
			r := startRig(t, srv, parseConfWorkers(t, 1, poolConf("p", srv, extra)))
			c := r.dial()
			c.send("BLOCK 0:a 1", "BLOCK 0:b 1", "PIN", "SET 0:c 1", "UNPIN", "BLOCK 0:d 1")
			c.expect("OK", "OK", "OK", "OK", "OK", "OK")
			conns := connOf(t, srv[0], "BLOCK 0:a 1", "BLOCK 0:b 1", "SET 0:c 1", "BLOCK 0:d 1")
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
