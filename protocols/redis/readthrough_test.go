package redis

import (
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
