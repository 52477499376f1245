package redis

import (
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

func TestThrough(t *testing.T) {
	c, _ := New(protocols.Options{})
	for cmd, want := range map[string]protocols.Through{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n":                           protocols.ThroughRead,
		"*3\r\n$4\r\nhget\r\n$1\r\nk\r\n$1\r\nf\r\n":               protocols.ThroughRead,
		"*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n":               protocols.ThroughRead,
		"*2\r\n$6\r\nEXISTS\r\n$1\r\nk\r\n":                        protocols.ThroughRead,
		"*2\r\n$3\r\nTTL\r\n$1\r\nk\r\n":                           protocols.ThroughRead,
		"*4\r\n$6\r\nLRANGE\r\n$1\r\nk\r\n$1\r\n0\r\n$2\r\n-1\r\n": protocols.ThroughRead,
		"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n":                           protocols.ThroughDelete,
		"*2\r\n$6\r\nUNLINK\r\n$1\r\nk\r\n":                        protocols.ThroughDelete,
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n":                protocols.ThroughNone,
		"*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n":                          protocols.ThroughNone,
		"*4\r\n$7\r\nEVAL_RO\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\nk\r\n": protocols.ThroughNone,
		"*1\r\n$4\r\nPING\r\n":                                     protocols.ThroughNone,
		// Whole-keyspace commands go to the new servers only.
		"*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n": protocols.ThroughNone,
		"*2\r\n$4\r\nSCAN\r\n$1\r\n0\r\n": protocols.ThroughNone,
		"*1\r\n$6\r\nDBSIZE\r\n":          protocols.ThroughNone,
		"*1\r\n$9\r\nRANDOMKEY\r\n":       protocols.ThroughNone,
		"*1\r\n$4\r\nTIME\r\n":            protocols.ThroughNone,
	} {
		var req protocols.Request
		if n, err := c.ParseRequest([]byte(cmd), &req); n != len(cmd) || err != nil {
			t.Fatalf("parse %q: %d, %v", cmd, n, err)
		}
		if got := c.Through(&req); got != want {
			t.Errorf("Through(%q) = %d, want %d", cmd, got, want)
		}
	}
}

// Requests on a dedicated connection never read through: a read inside
// a transaction runs on the transaction's server, and a blocking read
// waits on its key's new server. A read between WATCH and MULTI goes on
// a shared connection and does: the value it finds on the old server is
// the key's, and the mover's copy to the new server, were it to come
// before EXEC, touches the watched key and aborts the transaction.
func TestThroughDedicated(t *testing.T) {
	c, _ := New(protocols.Options{})
	watched := c.NewSession()
	for _, in := range []string{"WATCH k", "GET k"} {
		req := protocols.Request{Session: watched}
		b := []byte(mb(strings.Fields(in)...))
		if n, err := c.ParseRequest(b, &req); n != len(b) || err != nil {
			t.Fatalf("parse %s: %d, %v", in, n, err)
		}
		if in == "GET k" && (req.Conn != protocols.Shared || c.Through(&req) != protocols.ThroughRead) {
			t.Errorf("GET after WATCH: conn %d, Through %d; want a shared read", req.Conn, c.Through(&req))
		}
	}
	for _, seq := range [][]string{
		{"MULTI", "GET k"},
		{"MULTI", "MGET a b"},
		{"MULTI", "DEL k"},
		{"WATCH k", "MULTI", "GET k"},
		{"BLPOP l 1"},
		{"BLMPOP 1 1 l LEFT"},
		{"XREAD BLOCK 5 STREAMS s 0"},
	} {
		sess := c.NewSession()
		var req protocols.Request
		for _, in := range seq {
			req = protocols.Request{Session: sess}
			b := []byte(mb(strings.Fields(in)...))
			if n, err := c.ParseRequest(b, &req); n != len(b) || err != nil {
				t.Fatalf("%q: parse %s: %d, %v", seq, in, n, err)
			}
		}
		if req.Conn == protocols.Shared {
			t.Fatalf("%q: the last request is for a shared connection", seq)
		}
		if got := c.Through(&req); got != protocols.ThroughNone {
			t.Errorf("%q: Through = %d, want none", seq, got)
		}
	}
}

// A client in another database than the pool's reads through all the
// same: its request carries the database (Class), which the core
// selects on the old server's connection too.
func TestThroughSelected(t *testing.T) {
	c, _ := New(protocols.Options{Own: &Options{DB: 2, Databases: 16}})
	sess := c.NewSession()
	var req protocols.Request
	for _, in := range []string{"SELECT 3", "GET k"} {
		req = protocols.Request{Session: sess}
		b := []byte(mb(strings.Fields(in)...))
		if n, err := c.ParseRequest(b, &req); n != len(b) || err != nil {
			t.Fatalf("parse %s: %d, %v", in, n, err)
		}
	}
	if req.ConnState != (3+1)<<1 || c.Through(&req) != protocols.ThroughRead {
		t.Fatalf("GET after SELECT 3: state %d, Through %d; want state 8, a read", req.ConnState, c.Through(&req))
	}
}

func TestMissed(t *testing.T) {
	c, _ := New(protocols.Options{})
	var req protocols.Request
	for resp, want := range map[string]bool{
		"$-1\r\n": true, "*0\r\n": true, ":0\r\n": true, ":-2\r\n": true, "+none\r\n": true, "*1\r\n$-1\r\n": true,
		"$1\r\nv\r\n": false, ":1\r\n": false, ":-1\r\n": false, "+string\r\n": false, "*1\r\n$1\r\nv\r\n": false,
		"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n": false,
	} {
		if got := c.Missed(&req, []byte(resp)); got != want {
			t.Errorf("Missed(%q) = %v", resp, got)
		}
	}
}
