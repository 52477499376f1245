package memcached

import (
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

func TestThroughAndMissed(t *testing.T) {
	c, _ := New(protocols.Options{})
	for _, tc := range []struct {
		cmd    string
		want   protocols.Through
		miss   string
		notMis string
	}{
		{"get k\r\n", protocols.ThroughRead, "END\r\n", "VALUE k 0 1\r\nv\r\nEND\r\n"},
		{"gets k\r\n", protocols.ThroughRead, "END\r\n", "VALUE k 0 1 7\r\nv\r\nEND\r\n"},
		{"gat 10 k\r\n", protocols.ThroughRead, "END\r\n", "VALUE k 0 1\r\nv\r\nEND\r\n"},
		{"mg k v\r\n", protocols.ThroughRead, "EN\r\n", "VA 1\r\nv\r\n"},
		{"mg k v O12 k\r\n", protocols.ThroughRead, "EN O12 kk\r\n", "VA 1 O12 kk\r\nv\r\n"},
		{"delete k\r\n", protocols.ThroughDelete, "NOT_FOUND\r\n", "DELETED\r\n"},
		{"delete k noreply\r\n", protocols.ThroughDelete, "NOT_FOUND\r\n", "DELETED\r\n"},
		{"md k\r\n", protocols.ThroughDelete, "NF\r\n", "HD\r\n"},
		{"set k 0 0 1\r\nv\r\n", protocols.ThroughNone, "", "STORED\r\n"},
		{"incr k 1\r\n", protocols.ThroughNone, "", "NOT_FOUND\r\n"},
		{"version\r\n", protocols.ThroughNone, "", ""},
	} {
		var req protocols.Request
		if n, err := c.ParseRequest([]byte(tc.cmd), &req); n != len(tc.cmd) || err != nil {
			t.Fatalf("parse %q: %d, %v", tc.cmd, n, err)
		}
		if got := c.Through(&req); got != tc.want {
			t.Errorf("Through(%q) = %d, want %d", tc.cmd, got, tc.want)
		}
		if tc.miss != "" && !c.Missed(&req, []byte(tc.miss)) {
			t.Errorf("%q: %q is not a miss", tc.cmd, tc.miss)
		}
		if tc.notMis != "" && c.Missed(&req, []byte(tc.notMis)) {
			t.Errorf("%q: %q is a miss", tc.cmd, tc.notMis)
		}
	}
}
