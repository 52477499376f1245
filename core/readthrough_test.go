//go:build linux

package core

import (
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/core/internal/fakeproto"
)

// migrationConf renders pool p over servers with a migration from the
// old servers, placed with the same hash and distribution.
func migrationConf(servers, old []*fakeproto.Server) string {
	list := ""
	for i, s := range old {
		if i > 0 {
			list += ", "
		}
		list += fmt.Sprintf("%q", s.Addr()+":1 "+s.Name())
	}
	return poolConf("p", servers, "") + fmt.Sprintf("[pools.p.migration]\nservers = [%s]\n", list)
}

// During a reshard, a read that misses on a key's new server asks its
// old one, then the new one again; a delete reaches both. Keys that did
// not move, and requests on several keys of one part, are served once.
func TestReadThrough(t *testing.T) {
	srv := newServers(t, 3)
	// Old placement over s0 and s1; new over s0, s1 and s2: key 2 moved
	// from s0 to s2, key 3 from s1 to s0, key 0 stayed on s0.
	r := startRig(t, srv, parseConf(t, migrationConf(srv, srv[:2])))
	c := r.dial()
	srv[0].Set("2:x", "old")
	c.send("GET 2:x")
	c.expect("VAL old")
	if g2, g0 := srv[2].Count("GET"), srv[0].Count("GET"); g2 != 1 || g0 != 1 {
		t.Errorf("a read that hit on the old server: %d GETs on the new, %d on the old", g2, g0)
	}
	c.send("GET 2:none")
	c.expect("NIL")
	if g2, g0 := srv[2].Count("GET"), srv[0].Count("GET"); g2 != 3 || g0 != 2 {
		t.Errorf("a read that missed everywhere: %d GETs on the new server, %d on the old; want 3 and 2", g2, g0)
	}
	c.send("GET 0:z", "SET 2:y new", "GET 2:y")
	c.expect("NIL", "OK", "VAL new")
	if g0 := srv[0].Count("GET"); g0 != 3 {
		t.Errorf("%d GETs on s0, want one more for a key that did not move", g0)
	}

	srv[0].Set("2:m", "M")
	srv[1].Set("3:n", "N")
	c.send("MGET 2:m 3:n 0:z 2:nothing 2:y")
	c.expect("VALS +M +N - - +new")

	srv[0].Set("2:d", "D")
	c.send("DEL 2:d", "GET 2:d", "DEL 2:gone")
	c.expect("INT 1", "NIL", "INT 0")
	if srv[0].Has("2:d") {
		t.Error("a delete did not reach the old server")
	}

	// An old server that cannot answer holds nothing walnut can serve:
	// the new server's miss is the answer.
	r.stop(1)
	c.send("GET 3:q", "SET 3:q here", "GET 3:q")
	c.expect("NIL", "OK", "VAL here")
	r.settled()
}

// A reload that ends the migration stops reading through, and retires
// the old servers that are no longer the pool's.
func TestReadThroughEnds(t *testing.T) {
	srv := newServers(t, 3)
	// s2 is an old server only.
	r := startRig(t, srv, parseConf(t, migrationConf(srv[:2], srv)))
	c := r.dial()
	srv[2].Set("2:x", "old") // moved from s2 to s0
	c.send("GET 2:x")
	c.expect("VAL old")
	waitFor(t, "a connection to the old server", func() bool { return srv[2].Conns() > 0 })
	if err := r.px.Reload(parseConf(t, poolConf("p", srv[:2], ""))); err != nil {
		t.Fatal(err)
	}
	c.send("GET 2:x")
	c.expect("NIL")
	waitFor(t, "the old server's connections to close", func() bool { return srv[2].Conns() == 0 })
	r.settled()
}
