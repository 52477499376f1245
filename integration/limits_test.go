package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// client_connections: one client too many is told so and closed; once a
// client leaves, a new one gets in.
func TestLimitClientConnections(t *testing.T) {
	_, addr := redisWalnut(t, 1, "p", "client_connections = 3")
	var held []*rawConn
	for range 3 {
		c := dialRaw(t, addr)
		c.send(t, "PING\r\n")
		if got := c.line(t); got != "+PONG\r\n" {
			t.Fatalf("client within the limit: %q", got)
		}
		held = append(held, c)
	}
	extra := dialRaw(t, addr)
	if got := extra.line(t); got != "-ERR max number of clients reached\r\n" {
		t.Fatalf("client over the limit got %q", got)
	}
	if !extra.closed() {
		t.Fatal("client over the limit not closed")
	}
	held[0].Close()
	time.Sleep(50 * time.Millisecond)
	again := dialRaw(t, addr)
	again.send(t, "PING\r\n")
	if got := again.line(t); got != "+PONG\r\n" {
		t.Fatalf("client after one left: %q", got)
	}
}

// client_timeout closes idle clients, never busy ones; it is off by
// default.
func TestLimitClientTimeout(t *testing.T) {
	servers := testbed.Redises(t, 1)
	_, addrs := startWalnut(t, redisPool("p", servers, "client_timeout = \"300ms\"")+redisPool("q", servers, ""))
	idle := dialRaw(t, addrs["p"])
	busy := dialRaw(t, addrs["p"])
	unlimited := dialRaw(t, addrs["q"])
	start := time.Now()
	for time.Since(start) < time.Second {
		busy.send(t, "PING\r\n")
		if got := busy.line(t); got != "+PONG\r\n" {
			t.Fatalf("busy client: %q after %v", got, time.Since(start))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !idle.closed() {
		t.Fatal("idle client not closed after client_timeout")
	}
	unlimited.send(t, "PING\r\n")
	if got := unlimited.line(t); got != "+PONG\r\n" {
		t.Fatalf("client of a pool without client_timeout: %q", got)
	}
}

// max_value_size refuses a larger value in a request (and closes the
// client, whose stream cannot be followed past it) and a larger value in
// a response.
func TestLimitMaxValueSize(t *testing.T) {
	rs := testbed.Redises(t, 1)
	ms := []*testbed.Process{testbed.Memcached(t)}
	_, addrs := startWalnut(t, redisPool("r", rs, "max_value_size = 1024")+mcPool("m", ms, "max_value_size = 1024"))
	big := strings.Repeat("v", 2000)

	r := dialRaw(t, addrs["r"])
	r.send(t, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000\r\n"+big+"\r\n")
	if got := r.line(t); !strings.HasPrefix(got, "-ERR Protocol error") {
		t.Fatalf("redis value over max_value_size: %q", got)
	}
	if !r.closed() {
		t.Fatal("redis client not closed")
	}
	m := dialRaw(t, addrs["m"])
	m.send(t, "set k 0 0 2000\r\n"+big+"\r\n")
	if got := m.line(t); got != "CLIENT_ERROR object too large for cache\r\n" {
		t.Fatalf("memcached value over max_value_size: %q", got)
	}
	if !m.closed() {
		t.Fatal("memcached client not closed")
	}
	// A value stored behind walnut's back is refused on the way out.
	if err := direct(t, rs)[0].Set(context.Background(), "big", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	r2 := dialRaw(t, addrs["r"])
	r2.send(t, "GET big\r\n")
	if got := r2.line(t); !strings.HasPrefix(got, "-ERR") {
		t.Fatalf("redis reply over max_value_size: %q", got)
	}
}

// preconnect dials every server at start.
func TestPreconnect(t *testing.T) {
	servers := testbed.Redises(t, 2)
	startWalnut(t, "[proxy]\nworkers = 2\n"+redisPool("p", servers, "preconnect = true\nserver_connections = 2"))
	for _, d := range direct(t, servers) {
		// Two loops, two connections each, plus this client.
		if !waitFor(3*time.Second, func() bool {
			list, _ := d.ClientList(context.Background()).Result()
			return strings.Count(list, "\n") >= 5
		}) {
			list, _ := d.ClientList(context.Background()).Result()
			t.Fatalf("preconnect: server has these clients:\n%s", list)
		}
	}
}

// dial_timeout bounds a connection attempt to a server that never
// completes the handshake (here: a listen queue that is full).
func TestDialTimeout(t *testing.T) {
	addr := fullListenQueue(t)
	_, addrs := startWalnut(t, fmt.Sprintf("[pools.p]\nlisten = \"127.0.0.1:0\"\ndial_timeout = \"300ms\"\ntimeout = \"5s\"\nservers = [%q]\n", addr+":1"))
	c := dialRaw(t, addrs["p"])
	start := time.Now()
	c.send(t, "GET k\r\n")
	got := c.line(t)
	took := time.Since(start)
	if !strings.HasPrefix(got, "-ERR Connection timed out (pool p, server "+addr+": no connection within 300ms)") {
		t.Fatalf("GET on a server that never accepts: %q", got)
	}
	if took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("dial gave up after %v, want about 300ms", took)
	}
	t.Logf("dial timed out after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(got))
}
