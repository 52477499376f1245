package mover

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/internal/movetest"
	"github.com/walnutproxy/walnut/internal/testbed"
	"github.com/walnutproxy/walnut/protocols/move"
)

// send writes a command line to memcached and returns its first reply
// line.
func send(t *testing.T, c *mcConn, cmd string) string {
	t.Helper()
	c.W.WriteString(cmd)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	l, err := c.line()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The mover, driven through the contract alone, moves the keys the job
// routes away with their flags and TTLs, and keeps a newer copy the new
// server has.
func TestMoveServer(t *testing.T) {
	oldSrv, newSrv := testbed.Memcached(t), testbed.Memcached(t)
	ctx := context.Background()
	oldC, err := dial(ctx, oldSrv.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer oldC.Close()
	newC, err := dial(ctx, newSrv.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer newC.Close()
	for i := range 40 {
		for _, k := range []string{"go", "stay"} {
			if l := send(t, oldC, fmt.Sprintf("set %s:%d %d 3600 3\r\nold\r\n", k, i, i)); l != "STORED" {
				t.Fatalf("set: %s", l)
			}
		}
	}
	if l := send(t, newC, "set go:3 0 0 5\r\nnewer\r\n"); l != "STORED" {
		t.Fatalf("set: %s", l)
	}

	m := New(move.Pool{NewServers: []string{newSrv.Addr}})
	job := movetest.New(oldSrv.Addr, move.Settings{Batch: 7, ScanCount: 10, BytesSample: 1, Timeout: 5 * time.Second},
		func(k []byte) int {
			if strings.HasPrefix(string(k), "go:") {
				return 0
			}
			return -1
		})
	if err := m.MoveServer(ctx, job); err != nil {
		t.Fatal(err)
	}
	r := job.Report()
	if c := r.Counts[move.Namespace{}]; c.Keys != 39 || c.Kept != 1 || c.Bytes <= 0 || len(r.Done) == 0 || len(r.Failed) > 0 {
		t.Fatalf("counts %+v, done %v, failed %v", r.Counts, r.Done, r.Failed)
	}
	if l := send(t, oldC, "mg go:5 v\r\n"); l != "EN" {
		t.Fatalf("go:5 is still on the old server: %s", l)
	}
	if l := send(t, oldC, "mg stay:5\r\n"); l != "HD" {
		t.Fatalf("stay:5 left the old server: %s", l)
	}
	if l := send(t, newC, "mg go:5 f t v\r\n"); !strings.HasPrefix(l, "VA 3 f5 t") || l == "VA 3 f5 t-1" {
		t.Fatalf("go:5 on the new server: %s", l)
	}
	if v, err := newC.data(3); err != nil || string(v) != "old" {
		t.Fatalf("go:5's value: %q, %v", v, err)
	}
	if l := send(t, newC, "mg go:3 v\r\n"); l != "VA 5" {
		t.Fatalf("go:3 on the new server: %s", l)
	}
	if v, err := newC.data(5); err != nil || string(v) != "newer" {
		t.Fatalf("the new server's copy became %q (%v)", v, err)
	}
	if id := m.ServerID("10.0.0.1:11211", 0); id != "10.0.0.1:11211" {
		t.Fatalf("server id %q", id)
	}
}
