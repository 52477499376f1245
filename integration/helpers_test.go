package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/internal/testbed"
	"github.com/walnutproxy/walnut/metrics"
	"github.com/walnutproxy/walnut/stats"

	_ "github.com/walnutproxy/walnut/builtins"
)

// startWalnut runs a proxy in the test process from TOML text. Pools
// should listen on 127.0.0.1:0; the addresses they got are returned by
// pool name.
func startWalnut(t testing.TB, conf string) (*core.Proxy, map[string]string) {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(conf))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, conf)
	}
	level := slog.LevelWarn
	if os.Getenv("WALNUT_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	px, err := core.New(cfg, log)
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	px.SetVersion("test")
	px.RecordLatency(cfg.Stats.MetricsListen != "")
	if err := px.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { px.Close() })
	addrs := map[string]string{}
	for _, p := range px.Pools() {
		addrs[p.Name()] = p.Addr().String()
	}
	// The endpoints the command starts, under the names "stats" and
	// "metrics".
	if cfg.Stats.Listen != "" {
		s, err := stats.Listen(cfg.Stats.Listen, px, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		addrs["stats"] = s.Addr().String()
	}
	if cfg.Stats.MetricsListen != "" {
		m, err := metrics.Listen(cfg.Stats.MetricsListen, px, cfg.Stats.Pprof, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		addrs["metrics"] = m.Addr().String()
	}
	return px, addrs
}

// testWriter sends walnut's log to the test's log, so that it shows for
// failing tests only.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// redisWalnut starts n redis-servers and walnut with one Redis pool,
// name, over them; extra are the pool's further keys. It returns the
// servers and the pool's address.
func redisWalnut(t testing.TB, n int, name, extra string) ([]*testbed.Process, string) {
	t.Helper()
	servers := testbed.Redises(t, n)
	_, addrs := startWalnut(t, redisPool(name, servers, extra))
	return servers, addrs[name]
}

// redisPool renders a Redis pool section over servers.
func redisPool(name string, servers []*testbed.Process, extra string) string {
	return pool(name, "redis", servers, extra)
}

// mcPool renders a memcached pool section over servers.
func mcPool(name string, servers []*testbed.Process, extra string) string {
	return pool(name, "memcached", servers, extra)
}

func pool(name, protocol string, servers []*testbed.Process, extra string) string {
	var list []string
	for _, s := range servers {
		list = append(list, fmt.Sprintf("%q", s.Addr+":1"))
	}
	return fmt.Sprintf("[pools.%s]\nlisten = \"127.0.0.1:0\"\nprotocol = %q\n%s\nservers = [%s]\n",
		name, protocol, extra, strings.Join(list, ", "))
}

func newClient(t testing.TB, addr string, opts ...func(*redis.Options)) *redis.Client {
	t.Helper()
	o := &redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, PoolSize: 4}
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// direct returns a client per backend, to see where keys landed.
func direct(t testing.TB, servers []*testbed.Process) []*redis.Client {
	t.Helper()
	var cs []*redis.Client
	for _, s := range servers {
		cs = append(cs, newClient(t, s.Addr))
	}
	return cs
}

// owners returns the indices of the servers that hold key.
func owners(t testing.TB, ctx context.Context, cs []*redis.Client, key string) []int {
	t.Helper()
	var out []int
	for i, c := range cs {
		n, err := c.Exists(ctx, key).Result()
		if err != nil {
			t.Fatalf("EXISTS on server %d: %v", i, err)
		}
		if n > 0 {
			out = append(out, i)
		}
	}
	return out
}

// keyPerServer sets keys through c until it has one on every server of
// ds, each holding its own name, and returns them by server index.
func keyPerServer(t testing.TB, ctx context.Context, c *redis.Client, ds []*redis.Client) map[int]string {
	t.Helper()
	keyOn := map[int]string{}
	for i := 0; len(keyOn) < len(ds) && i < 1000; i++ {
		k := fmt.Sprintf("k%d", i)
		if err := c.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatal(err)
		}
		keyOn[owners(t, ctx, ds, k)[0]] = k
	}
	if len(keyOn) != len(ds) {
		t.Fatalf("found keys on servers %v only", keyOn)
	}
	return keyOn
}

// concurrently runs f(0) to f(n-1), each in a goroutine of its own, and
// once all are done reports through t the errors they returned. It
// returns whether there were none.
func concurrently(t testing.TB, n int, f func(i int) error) bool {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	ok := true
	for _, err := range errs {
		if err != nil {
			t.Error(err)
			ok = false
		}
	}
	return ok
}

// fakeServer listens on a local port and hands each connection it
// accepts to serve, in a goroutine of its own, until the test ends. It
// returns the address.
func fakeServer(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

// rawConn is a plain socket with a line reader, for what clients libraries
// would not send.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

func (c *rawConn) send(t testing.TB, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (c *rawConn) line(t testing.TB) string {
	t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, l)
	}
	return l
}

// closed reports whether the peer closed the connection (EOF or reset)
// within the deadline.
func (c *rawConn) closed() bool {
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := c.r.ReadByte()
	if err == nil {
		return false
	}
	var ne net.Error
	if ok := asNetErr(err, &ne); ok && ne.Timeout() {
		return false
	}
	return true
}

func asNetErr(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}
