package mover

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/internal/movetest"
	"github.com/walnutproxy/walnut/protocols/move"
	"github.com/walnutproxy/walnut/protocols/redis/internal/redisserver"
)

func startRedis(t *testing.T) string {
	t.Helper()
	s, err := redisserver.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addr
}

// in returns a connection to database db of the server at addr.
func in(t *testing.T, addr string, db int) *redisserver.Conn {
	t.Helper()
	c, err := redisserver.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Do("SELECT", fmt.Sprint(db)); err != nil {
		t.Fatal(err)
	}
	return c
}

func do(t *testing.T, c *redisserver.Conn, args ...string) any {
	t.Helper()
	v, err := c.Do(args...)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := v.(redisserver.Error); ok {
		t.Fatalf("%v: %s", args, e)
	}
	return v
}

// The mover, driven through the contract alone, moves the keys the job
// routes away, in redis_db and in the other databases that hold keys
// (those first), keeps a newer copy the new server has, and keeps TTLs.
func TestMoveServer(t *testing.T) {
	oldAddr, newAddr := startRedis(t), startRedis(t)
	old0, old4, new0, new4 := in(t, oldAddr, 0), in(t, oldAddr, 4), in(t, newAddr, 0), in(t, newAddr, 4)
	for i := range 50 {
		do(t, old0, "SET", fmt.Sprintf("go:%d", i), "old")
		do(t, old0, "SET", fmt.Sprintf("stay:%d", i), "old")
	}
	do(t, old0, "PEXPIRE", "go:7", "3600000")
	for i := range 20 {
		do(t, old4, "RPUSH", fmt.Sprintf("go:list:%d", i), "a", "b")
	}
	do(t, new0, "SET", "go:3", "newer")

	side := Side{Databases: 16}
	m := New(move.Pool{NewServers: []string{newAddr}}, side, side)
	if h := m.Home(); h != (move.Namespace{}) {
		t.Fatalf("home %+v", h)
	}
	job := movetest.New(oldAddr, move.Settings{Batch: 7, ScanCount: 10, BytesSample: 1, Timeout: 5 * time.Second},
		func(k []byte) int {
			if strings.HasPrefix(string(k), "go:") {
				return 0
			}
			return -1
		})
	if err := m.MoveServer(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	r := job.Report()
	if len(r.Failed) > 0 || len(r.Notes) > 0 {
		t.Fatalf("failed %v, notes %v", r.Failed, r.Notes)
	}
	home, other := move.Namespace{}, move.Namespace{Old: 4, New: 4}
	if c := r.Counts[home]; c.Keys != 49 || c.Kept != 1 || c.Bytes <= 0 {
		t.Fatalf("redis_db: %+v", c)
	}
	if c := r.Counts[other]; c.Keys != 20 {
		t.Fatalf("database 4: %+v", c)
	}
	if len(r.Done) != 2 || r.Done[0] != other || r.Done[1] != home || r.Scanned != 120 {
		t.Fatalf("namespaces done in order %v, %d keys scanned", r.Done, r.Scanned)
	}
	if n := do(t, old0, "DBSIZE"); n != int64(50) {
		t.Fatalf("old redis_db keeps %v keys", n)
	}
	if n := do(t, old4, "DBSIZE"); n != int64(0) {
		t.Fatalf("old database 4 keeps %v keys", n)
	}
	if n := do(t, new4, "LLEN", "go:list:19"); n != int64(2) {
		t.Fatalf("moved list has %v elements", n)
	}
	if v := do(t, new0, "GET", "go:3"); v != "newer" {
		t.Fatalf("the new server's copy became %v", v)
	}
	if ttl, _ := do(t, new0, "PTTL", "go:7").(int64); ttl <= 0 || ttl > 3600000 {
		t.Fatalf("TTL after the move: %d", ttl)
	}
	if id := m.ServerID("10.0.0.1:6379", 4); id != "10.0.0.1:6379/db4" {
		t.Fatalf("server id %q", id)
	}
}
