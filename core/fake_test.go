//go:build linux

package core

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core/internal/fakeproto"
	"github.com/walnutproxy/walnut/distributions"
)

// Core's tests run real proxies over loopback against fakeproto's
// servers. Placement is this file's own rather than ketama's: with hash
// "testkey" and distribution "testmod", a key "N:rest" lives on server
// N (in the pool's order) while every server is in the table, so a test
// says where its keys go instead of searching for keys that land there.
// When servers are ejected the key goes to live server N modulo their
// number, as modula routes around dead servers.
func init() {
	distributions.RegisterHash("testkey", testKeyHash)
	distributions.Register("testmod", testMod{})
	distributions.Register("testring", testRing{})
}

func testKeyHash(key []byte) uint32 {
	if i := bytes.IndexByte(key, ':'); i > 0 {
		n := uint32(0)
		for _, b := range key[:i] {
			if b < '0' || b > '9' {
				return fnv32a(key)
			}
			n = n*10 + uint32(b-'0')
		}
		return n
	}
	return fnv32a(key)
}

func fnv32a(key []byte) uint32 {
	h := uint32(2166136261)
	for _, b := range key {
		h ^= uint32(b)
		h *= 16777619
	}
	return h
}

type testMod struct{}

func (testMod) Build(servers []distributions.Server) (distributions.Table, error) {
	var alive modTable
	for i, s := range servers {
		if s.Alive {
			alive = append(alive, i)
		}
	}
	return alive, nil
}

// modTable lists the live servers' indexes.
type modTable []int

func (t modTable) Pick(h uint32) int {
	if len(t) == 0 {
		return -1
	}
	return t[h%uint32(len(t))]
}

// testRing is a small consistent-hash ring: unlike testmod, where a
// key goes depends on the servers' names and weights, as with ketama,
// for tests of code that must hand a distribution the right ones.
type testRing struct{}

type ringPoint struct {
	h      uint32
	server int
}

type ringTable []ringPoint

func (testRing) Build(servers []distributions.Server) (distributions.Table, error) {
	var t ringTable
	for i, s := range servers {
		if !s.Alive {
			continue
		}
		for j := range 4 * s.Weight {
			t = append(t, ringPoint{fnv32a(fmt.Appendf(nil, "%s-%d", s.Name, j)), i})
		}
	}
	slices.SortFunc(t, func(a, b ringPoint) int { return cmp.Compare(a.h, b.h) })
	return t, nil
}

func (t ringTable) Pick(h uint32) int {
	if len(t) == 0 {
		return -1
	}
	i, _ := slices.BinarySearchFunc(t, h, func(p ringPoint, h uint32) int { return cmp.Compare(p.h, h) })
	return t[i%len(t)].server
}

// wait bounds every wait of these tests.
const wait = 5 * time.Second

// rig is a running proxy with one pool "p" over fake servers.
type rig struct {
	t    *testing.T
	px   *Proxy
	addr string
	// srv are the pool's servers in the pool's order: servers are named
	// s0, s1... and a pool sorts its servers by name.
	srv []*fakeproto.Server
}

// newServers starts n fake servers named s0, s1...
func newServers(t *testing.T, n int) []*fakeproto.Server {
	t.Helper()
	srv := make([]*fakeproto.Server, n)
	for i := range srv {
		s, err := fakeproto.NewServer(fmt.Sprintf("s%d", i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		srv[i] = s
	}
	return srv
}

// poolConf renders pool name over servers, with extra pool keys. It
// listens on a free port, and places keys with testkey and testmod,
// unless extra says otherwise.
func poolConf(name string, servers []*fakeproto.Server, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[pools.%s]\nprotocol = \"fake\"\n", name)
	for _, def := range []string{`listen = "127.0.0.1:0"`, `hash = "testkey"`, `distribution = "testmod"`} {
		if key, _, _ := strings.Cut(def, " "); !strings.Contains(extra, key+" =") {
			b.WriteString(def + "\n")
		}
	}
	list := make([]string, len(servers))
	for i, s := range servers {
		list[i] = fmt.Sprintf("%q", s.Addr()+":1 "+s.Name())
	}
	fmt.Fprintf(&b, "%s\nservers = [%s]\n", extra, strings.Join(list, ", "))
	return b.String()
}

// parseConf parses a configuration with two loops, so that a pool's
// connections and clients are spread over more than one.
func parseConf(t *testing.T, pools ...string) *config.Config {
	t.Helper()
	return parseConfWorkers(t, 2, pools...)
}

func parseConfWorkers(t *testing.T, workers int, pools ...string) *config.Config {
	t.Helper()
	text := fmt.Sprintf("[proxy]\nworkers = %d\nshutdown_timeout = \"5s\"\n", workers) + strings.Join(pools, "\n")
	cfg, err := config.Parse("test.toml", []byte(text))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	return cfg
}

// newRig starts a proxy whose pool p has n servers and the extra keys.
func newRig(t *testing.T, n int, extra string) *rig {
	t.Helper()
	srv := newServers(t, n)
	return startRig(t, srv, parseConf(t, poolConf("p", srv, extra)))
}

// newRigOneLoop is newRig on one event loop: only the loop that holds a
// connection reuses or evicts it, so tests of that see every decision.
func newRigOneLoop(t *testing.T, n int, extra string) *rig {
	t.Helper()
	srv := newServers(t, n)
	return startRig(t, srv, parseConfWorkers(t, 1, poolConf("p", srv, extra)))
}

func startRig(t *testing.T, srv []*fakeproto.Server, cfg *config.Config, opts ...Option) *rig {
	t.Helper()
	px, err := New(cfg, testLogger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return &rig{t: t, px: px, addr: px.Pool("p").Addr().String(), srv: srv}
}

// testLogger sends the proxy's warnings to the test's log, where they
// show for failing tests (all of it with WALNUT_TEST_LOG set). Goroutines
// the proxy leaves behind (a dial, a table rebuild) may log after the
// test: that is dropped rather than a panic.
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("WALNUT_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	w := &testLog{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.over = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testLog struct {
	mu   sync.Mutex
	t    *testing.T
	over bool
}

func (w *testLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.over {
		w.t.Log(strings.TrimRight(string(b), "\n"))
	}
	return len(b), nil
}

// pool returns the rig's pool.
func (r *rig) pool() *Pool { return r.px.Pool("p") }

// tclient is a test's connection to a pool, one reply per line.
type tclient struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
}

func (r *rig) dial() *tclient { return dialPool(r.t, r.addr) }

// clients dials n clients and runs f on each, client id, at once; it
// returns when every f has.
func (r *rig) clients(n int, f func(id int, c *tclient)) {
	var wg sync.WaitGroup
	for id := range n {
		c := r.dial()
		wg.Go(func() { f(id, c) })
	}
	wg.Wait()
}

func dialPool(t testing.TB, addr string) *tclient {
	t.Helper()
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	nc, err := net.DialTimeout(network, addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &tclient{t: t, nc: nc, r: bufio.NewReaderSize(nc, 64<<10)}
}

// send writes requests, each a line, in one write.
func (c *tclient) send(reqs ...string) {
	c.t.Helper()
	if err := c.trySend(reqs...); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *tclient) trySend(reqs ...string) error {
	var b strings.Builder
	for _, r := range reqs {
		b.WriteString(r)
		b.WriteByte('\n')
	}
	c.nc.SetWriteDeadline(time.Now().Add(wait))
	_, err := io.WriteString(c.nc, b.String())
	return err
}

// read returns the next reply, without its line end.
func (c *tclient) read() string {
	c.t.Helper()
	l, err := c.tryRead()
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	return l
}

func (c *tclient) tryRead() (string, error) {
	c.nc.SetReadDeadline(time.Now().Add(wait))
	l, err := c.r.ReadString('\n')
	if err != nil {
		return l, err
	}
	return strings.TrimSuffix(l, "\n"), nil
}

// do sends one request and returns its reply.
func (c *tclient) do(req string) string {
	c.t.Helper()
	c.send(req)
	return c.read()
}

// expect reads one reply per want, in order.
func (c *tclient) expect(want ...string) {
	c.t.Helper()
	for i, w := range want {
		if got := c.read(); got != w {
			c.t.Fatalf("reply %d: %q, want %q", i, got, w)
		}
	}
}

// closed reports whether the proxy closed the connection, with nothing
// more to read, within the wait.
func (c *tclient) closed() bool {
	c.nc.SetReadDeadline(time.Now().Add(wait))
	b, err := c.r.ReadByte()
	if err == nil {
		c.t.Logf("read %q where the connection should be closed", b)
		return false
	}
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// waitFor polls cond until it holds, failing the test after the wait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// onLoops runs fn on every loop of the proxy and waits for it: how a
// test looks at what only the loops may touch.
func (r *rig) onLoops(fn func(l *loop)) {
	r.t.Helper()
	r.px.mu.Lock()
	loops := r.px.loops
	r.px.mu.Unlock()
	for _, l := range loops {
		done := make(chan struct{})
		if !l.post(func() { defer close(done); fn(l) }) {
			continue
		}
		select {
		case <-done:
		case <-time.After(wait):
			r.t.Fatal("a loop did not run posted work")
		}
	}
}

// settled waits until nothing is queued anywhere: every fragment
// answered and every byte written, as the statistics count them. A
// test ends with it so that a fragment left behind, or queue accounting
// that drifts, shows.
func (r *rig) settled() {
	r.t.Helper()
	var last string
	ok := func() bool {
		inflight := 0
		r.onLoops(func(l *loop) { inflight += l.inflight })
		var b strings.Builder
		fmt.Fprintf(&b, "inflight %d", inflight)
		clean := inflight == 0
		for _, s := range r.pool().snapshot().Servers {
			fmt.Fprintf(&b, "; %s out %d/%dB in %dB", s.Name, s.OutQueue, s.OutQueueBytes, s.InQueueBytes)
			clean = clean && s.OutQueue == 0 && s.OutQueueBytes == 0 && s.InQueueBytes == 0
		}
		last = b.String()
		return clean
	}
	deadline := time.Now().Add(wait)
	for !ok() {
		if time.Now().After(deadline) {
			r.t.Fatalf("queues never drained: %s", last)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// snap returns the pool's statistics.
func (r *rig) snap() PoolSnapshot { return r.pool().snapshot() }

// ejected reports whether server i is ejected and out of the routing
// table, which is rebuilt off the loop after the ejection.
func (r *rig) ejected(i int) bool {
	return r.pool().Servers()[i].Ejected && !r.pool().table.Load().alive[i]
}

// restored reports whether server i is back, in the routing table too.
func (r *rig) restored(i int) bool {
	return !r.pool().Servers()[i].Ejected && r.pool().table.Load().alive[i]
}

// shutdown stops the proxy gracefully within the wait.
func (r *rig) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	return r.px.Shutdown(ctx)
}
