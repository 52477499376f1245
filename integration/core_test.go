package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

func TestQuitAndHalfClose(t *testing.T) {
	_, addr := redisWalnut(t, 2, "alpha", "")

	c := dialRaw(t, addr)
	c.send(t, "SET q 1\r\nQUIT\r\nGET q\r\n")
	if got := c.line(t); got != "+OK\r\n" {
		t.Fatalf("SET before QUIT: %q", got)
	}
	if got := c.line(t); got != "+OK\r\n" {
		t.Fatalf("QUIT: %q", got)
	}
	if !c.closed() {
		t.Fatal("connection open after QUIT")
	}

	// A client that shuts down its sending side still gets its replies.
	h := dialRaw(t, addr)
	h.send(t, "PING\r\nGET q\r\n")
	h.Conn.(*net.TCPConn).CloseWrite()
	for _, want := range []string{"+PONG\r\n", "$1\r\n", "1\r\n"} {
		if got := h.line(t); got != want {
			t.Fatalf("after half-close: %q, want %q", got, want)
		}
	}
	if !h.closed() {
		t.Fatal("connection open after the client's EOF was answered")
	}
}

// More requests in one burst than max_pipeline: served in rounds, in
// order.
func TestPipelineLongerThanBound(t *testing.T) {
	_, addr := redisWalnut(t, 3, "alpha", "hash = \"md5\"\nmax_pipeline = 7")
	c := dialRaw(t, addr)
	var b strings.Builder
	for i := range 500 {
		fmt.Fprintf(&b, "SET k%d v%d\r\nGET k%d\r\n", i, i, i)
	}
	c.send(t, b.String())
	for i := range 500 {
		if got := c.line(t); got != "+OK\r\n" {
			t.Fatalf("SET %d: %q", i, got)
		}
		c.line(t)
		want := fmt.Sprintf("v%d\r\n", i)
		if got := c.line(t); got != want {
			t.Fatalf("GET %d: %q, want %q", i, got, want)
		}
	}
}

func TestLargeValues(t *testing.T) {
	_, addr := redisWalnut(t, 2, "alpha", "")
	ctx := context.Background()
	cl := newClient(t, addr)
	for _, size := range []int{100 << 10, 1 << 20, 16 << 20} {
		val := strings.Repeat("x", size-7) + fmt.Sprintf("%07d", size%9999999)
		if err := cl.Set(ctx, fmt.Sprintf("big%d", size), val, 0).Err(); err != nil {
			t.Fatalf("SET %d bytes: %v", size, err)
		}
		got, err := cl.Get(ctx, fmt.Sprintf("big%d", size)).Result()
		if err != nil || got != val {
			t.Fatalf("GET %d bytes: len %d, %v", size, len(got), err)
		}
	}
	vals, err := cl.MGet(ctx, "big102400", "big1048576", "none").Result()
	if err != nil || len(vals[0].(string)) != 100<<10 || len(vals[1].(string)) != 1<<20 || vals[2] != nil {
		t.Fatalf("MGET of large values: %v", err)
	}
}

// A server that sends bytes nobody asked for loses its connection; the
// requests on it get errors, and the next ones work.
func TestServerSendingGarbage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			conn.Read(buf)
			if n == 0 {
				// Two replies to one request, the second unasked for,
				// after the reply to the FUNCTION LIST WITHCODE walnut
				// asks a server first (protocols/redis/registry.go).
				conn.Write([]byte("*0\r\n+OK\r\n+SURPRISE\r\n"))
			} else {
				conn.Write([]byte("$-1\r\n"))
			}
			go func() { time.Sleep(2 * time.Second); conn.Close() }()
		}
	}()
	_, addrs := startWalnut(t, fmt.Sprintf("[pools.alpha]\nlisten = \"127.0.0.1:0\"\nservers = [\"%s:1\"]\n", ln.Addr()))
	c := dialRaw(t, addrs["alpha"])
	c.send(t, "SET a b\r\n")
	if got := c.line(t); got != "+OK\r\n" {
		t.Fatalf("first reply: %q", got)
	}
	// The connection was dropped for the unasked reply; walnut dials
	// again for the next request.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.send(t, "GET a\r\n")
		got := c.line(t)
		if got == "$-1\r\n" {
			break
		}
		if !strings.HasPrefix(got, "-ERR") || time.Now().After(deadline) {
			t.Fatalf("after garbage: %q", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ln.Close()
}

// Clients that vanish with requests in flight, on a server that hangs,
// leave walnut serving others.
func TestClientGoneMidRequest(t *testing.T) {
	servers, addr := redisWalnut(t, 2, "alpha", "hash = \"md5\"\ntimeout = \"500ms\"")
	ctx := context.Background()
	cl := newClient(t, addr)
	ds := direct(t, servers)
	hung := keyPerServer(t, ctx, cl, ds)[0]
	servers[0].Stop()
	for range 20 {
		c := dialRaw(t, addr)
		c.send(t, "GET "+hung+"\r\nGET "+hung+"\r\n")
		c.Close()
	}
	time.Sleep(700 * time.Millisecond)
	servers[0].Continue()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := cl.Get(ctx, hung).Result()
		if err == nil && got == hung {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after vanished clients: %q, %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Many concurrent clients, each checking its own replies.
func TestManyClients(t *testing.T) {
	servers := testbed.Redises(t, 4)
	_, addrs := startWalnut(t, "[proxy]\nworkers = 2\n"+redisPool("alpha", servers, ""))
	ctx := context.Background()
	concurrently(t, 500, func(w int) error {
		c := redis.NewClient(&redis.Options{Addr: addrs["alpha"], Protocol: 2, DisableIdentity: true, PoolSize: 1,
			DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second})
		defer c.Close()
		for i := range 10 {
			k := fmt.Sprintf("c%d:%d", w, i)
			if err := c.Set(ctx, k, k, 0).Err(); err != nil {
				return err
			}
			if got, err := c.Get(ctx, k).Result(); err != nil || got != k {
				return fmt.Errorf("GET %s = %q, %v", k, got, err)
			}
		}
		return nil
	})
}

// A pool can listen on a unix socket, with nutcracker's permission
// suffix.
func TestUnixSocketListener(t *testing.T) {
	servers := testbed.Redises(t, 1)
	path := t.TempDir() + "/walnut.sock"
	startWalnut(t, fmt.Sprintf("[pools.u]\nlisten = \"%s 0600\"\nservers = [%q]\n", path, servers[0].Addr+":1"))
	st, err := os.Stat(path)
	if err != nil || st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket %s: %v, mode %v", path, err, st.Mode())
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "SET u 1\r\nGET u\r\n")
	r := bufio.NewReader(c)
	for _, want := range []string{"+OK\r\n", "$1\r\n", "1\r\n"} {
		if got, _ := r.ReadString('\n'); got != want {
			t.Fatalf("over the unix socket: %q, want %q", got, want)
		}
	}
}
