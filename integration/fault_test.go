package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/internal/testbed"
)

// load runs clients that each set a key to a value naming the key, read
// it back and check it, until stopped or a bound is reached. A value for
// another key is the one thing that must never happen.
type load struct {
	ok, errs, wrong atomic.Int64
	mu              sync.Mutex
	samples         []string
	firstErr        time.Time
	lastErr         time.Time
	stop            context.CancelFunc
	wg              sync.WaitGroup
}

// op does one set-and-get for key; it reports an error, or a wrong value.
type op func(key, val string) (wrong bool, err error)

func startLoad(workers int, newOp func(w int) op) *load {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	ld := &load{stop: cancel}
	for w := range workers {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			do := newOp(w)
			for i := 0; ctx.Err() == nil && i < 200000; i++ {
				key := fmt.Sprintf("w%d:k%d", w, i%97)
				wrong, err := do(key, fmt.Sprintf("%s=%d", key, i))
				switch {
				case wrong:
					ld.wrong.Add(1)
					ld.note(fmt.Sprintf("WRONG VALUE for %s: %v", key, err))
				case err != nil:
					ld.errs.Add(1)
					ld.note(err.Error())
					time.Sleep(time.Millisecond)
				default:
					ld.ok.Add(1)
				}
			}
		}()
	}
	return ld
}

func (ld *load) note(s string) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	now := time.Now()
	if ld.firstErr.IsZero() {
		ld.firstErr = now
	}
	ld.lastErr = now
	if len(ld.samples) < 5 {
		ld.samples = append(ld.samples, s)
	}
}

func (ld *load) finish() {
	ld.stop()
	ld.wg.Wait()
}

func (ld *load) String() string {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return fmt.Sprintf("%d ok, %d errors, %d wrong values; samples %q", ld.ok.Load(), ld.errs.Load(), ld.wrong.Load(), ld.samples)
}

func redisOp(addr string) func(int) op {
	return func(int) op {
		c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, PoolSize: 1,
			MaxRetries: -1, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
		return func(key, val string) (bool, error) {
			ctx := context.Background()
			if err := c.Set(ctx, key, val, 0).Err(); err != nil {
				return false, err
			}
			got, err := c.Get(ctx, key).Result()
			if err != nil {
				return false, err
			}
			if !strings.HasPrefix(got, key+"=") {
				return true, fmt.Errorf("got %q", got)
			}
			return false, nil
		}
	}
}

func mcOp(addr string) func(int) op {
	return func(int) op {
		c := memcache.New(addr)
		c.Timeout = 5 * time.Second
		c.MaxIdleConns = 1
		return func(key, val string) (bool, error) {
			if err := c.Set(&memcache.Item{Key: key, Value: []byte(val)}); err != nil {
				return false, err
			}
			it, err := c.Get(key)
			if err != nil {
				return false, err
			}
			if !strings.HasPrefix(string(it.Value), key+"=") {
				return true, fmt.Errorf("got %q", it.Value)
			}
			return false, nil
		}
	}
}

// waitFor polls cond every 10ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// settled reports the goroutines and heap in use after a collection.
func settled() (int, uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m.HeapInuse
}

// A server killed under load: without ejection, requests for it fail
// with an error naming it and every other request succeeds; with
// ejection its keys move to the others after server_failure_limit
// failures and come back when it does. No value ever comes back for the
// wrong key, and walnut's goroutines and memory return to where they
// were.
func TestFaultKillServer(t *testing.T) {
	for _, proto := range []string{"redis", "memcached"} {
		for _, eject := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/eject=%v", proto, eject), func(t *testing.T) {
				servers := make([]*testbed.Process, 3)
				for i := range servers {
					if proto == "redis" {
						servers[i] = testbed.Redis(t)
					} else {
						servers[i] = testbed.Memcached(t)
					}
				}
				opts := "hash = \"md5\"\ntimeout = \"500ms\"\n"
				if eject {
					opts += "auto_eject_hosts = true\nserver_failure_limit = 2\nserver_retry_timeout = \"1500ms\"\n"
				}
				px, addrs := startWalnut(t, pool("p", proto, servers, opts))
				newOp := redisOp(addrs["p"])
				if proto == "memcached" {
					newOp = mcOp(addrs["p"])
				}
				g0, h0 := settled()

				ld := startLoad(8, newOp)
				time.Sleep(500 * time.Millisecond)
				if ld.errs.Load() != 0 {
					t.Fatalf("errors before the kill: %v", ld)
				}
				killed := time.Now()
				servers[1].Kill()
				dead := serverIndex(px, "p", servers[1].Addr)
				var errsAfterKill, okAfterKill int64
				if eject {
					// Ejected after server_failure_limit failures: errors
					// stop and the dead server's keys go to the others.
					if !waitFor(3*time.Second, func() bool { return px.Pool("p").Servers()[dead].Ejected }) {
						t.Fatalf("server not ejected: %v", ld)
					}
					ejectedAfter := time.Since(killed)
					// Requests already queued for the dead server when it
					// was ejected still fail; then errors stop.
					time.Sleep(100 * time.Millisecond)
					errsAtEject := ld.errs.Load()
					time.Sleep(500 * time.Millisecond)
					if ld.errs.Load() != errsAtEject {
						t.Fatalf("errors went on after the ejection: %d at the ejection, now %v", errsAtEject, ld)
					}
					t.Logf("kill -9 with ejection: ejected %v after the kill, %d errors before, none in the 500ms after",
						ejectedAfter.Round(time.Millisecond), errsAtEject)
					errsAfterKill, okAfterKill = ld.errs.Load(), ld.ok.Load()
					// Back: it returns to the pool once its retry timeout
					// is over and it answers.
					servers[1].Restart()
					restarted := time.Now()
					if !waitFor(5*time.Second, func() bool { return !px.Pool("p").Servers()[dead].Ejected }) {
						t.Fatal("server not back after its retry timeout")
					}
					t.Logf("server back in the pool %v after its restart", time.Since(restarted).Round(time.Millisecond))
				} else {
					time.Sleep(1500 * time.Millisecond)
					errsAfterKill, okAfterKill = ld.errs.Load(), ld.ok.Load()
					if errsAfterKill == 0 {
						t.Fatalf("no errors for the dead server's keys: %v", ld)
					}
					ld.mu.Lock()
					for _, s := range ld.samples {
						if !strings.Contains(s, servers[1].Addr) {
							t.Errorf("error does not name the dead server: %q", s)
						}
					}
					ld.mu.Unlock()
					servers[1].Restart()
				}
				if !waitFor(5*time.Second, func() bool {
					e := ld.errs.Load()
					time.Sleep(300 * time.Millisecond)
					return ld.errs.Load() == e
				}) {
					t.Fatalf("errors did not stop after the server came back: %v", ld)
				}
				ld.finish()
				t.Logf("%s eject=%v: %v (at 1.5s after the kill: %d ok, %d errors)", proto, eject, ld, okAfterKill, errsAfterKill)
				if ld.wrong.Load() != 0 {
					t.Fatalf("values for the wrong key: %v", ld)
				}
				if ld.ok.Load() < 1000 {
					t.Fatalf("too little succeeded: %v", ld)
				}
				var g1 int
				var h1 uint64
				waitFor(5*time.Second, func() bool { g1, h1 = settled(); return g1 <= g0+2 })
				t.Logf("goroutines %d -> %d, heap in use %d KiB -> %d KiB", g0, g1, h0>>10, h1>>10)
				if g1 > g0+2 {
					t.Fatalf("goroutines did not return to normal: %d before, %d after", g0, g1)
				}
				if h1 > h0+32<<20 {
					t.Fatalf("heap did not return to normal: %d KiB before, %d KiB after", h0>>10, h1>>10)
				}
			})
		}
	}
}

func serverIndex(px *core.Proxy, name, addr string) int {
	for i, s := range px.Pool(name).Servers() {
		if s.Addr == addr {
			return i
		}
	}
	return -1
}

// The active health check ejects a dead server with no client traffic
// to reveal it, and brings it back as soon as it answers instead of
// waiting for server_retry_timeout.
func TestFaultHealthCheck(t *testing.T) {
	servers := testbed.Redises(t, 2)
	px, addrs := startWalnut(t, redisPool("p", servers, "auto_eject_hosts = true\nserver_failure_limit = 2\n"+
		"server_retry_timeout = \"60s\"\nhealth_check_interval = \"100ms\""))
	c := newClient(t, addrs["p"])
	dead := serverIndex(px, "p", servers[1].Addr)
	killed := time.Now()
	servers[1].Kill()
	if !waitFor(3*time.Second, func() bool { return px.Pool("p").Servers()[dead].Ejected }) {
		t.Fatal("health check did not eject the dead server")
	}
	t.Logf("health check ejected the dead server %v after the kill", time.Since(killed).Round(time.Millisecond))
	// Every key is served by the live server now.
	for i := range 50 {
		k := fmt.Sprintf("hc%d", i)
		if err := c.Set(context.Background(), k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s with one server ejected: %v", k, err)
		}
	}
	servers[1].Restart()
	restarted := time.Now()
	if !waitFor(3*time.Second, func() bool { return !px.Pool("p").Servers()[dead].Ejected }) {
		t.Fatal("health check did not bring the server back")
	}
	t.Logf("health check brought the server back %v after its restart (retry timeout 60s)",
		time.Since(restarted).Round(time.Millisecond))
}

// A hung server (SIGSTOP) under load: its requests time out and its
// connection is replaced; the other servers' requests carry on; after
// SIGCONT it serves again.
func TestFaultStoppedServer(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", "hash = \"md5\"\ntimeout = \"300ms\"")
	ld := startLoad(8, redisOp(addr))
	time.Sleep(300 * time.Millisecond)
	stopped := time.Now()
	servers[2].Stop()
	okAtStop := ld.ok.Load()
	time.Sleep(1500 * time.Millisecond)
	if ld.errs.Load() == 0 {
		t.Fatalf("no timeouts while a server hung: %v", ld)
	}
	ld.mu.Lock()
	firstErr := ld.firstErr.Sub(stopped)
	for _, s := range ld.samples {
		if !strings.Contains(s, "Connection timed out (pool p, server ") || !strings.Contains(s, ": no reply within 300ms)") {
			t.Errorf("not a timeout: %q", s)
		}
	}
	ld.mu.Unlock()
	okWhileHung := ld.ok.Load() - okAtStop
	if okWhileHung == 0 {
		t.Fatalf("nothing served while one server hung: %v", ld)
	}
	servers[2].Continue()
	resumed := time.Now()
	if !waitFor(5*time.Second, func() bool {
		e := ld.errs.Load()
		time.Sleep(400 * time.Millisecond)
		return ld.errs.Load() == e
	}) {
		t.Fatalf("errors went on after SIGCONT: %v", ld)
	}
	ld.mu.Lock()
	recovered := ld.lastErr.Sub(resumed)
	ld.mu.Unlock()
	ld.finish()
	t.Logf("SIGSTOP: first timeout %v after the stop; %d requests served by the other servers while it hung; "+
		"last error %v after SIGCONT; %v", firstErr.Round(time.Millisecond), okWhileHung, recovered.Round(time.Millisecond), ld)
	if ld.wrong.Load() != 0 {
		t.Fatalf("values for the wrong key: %v", ld)
	}
}

// 2,000 clients at once, each pipelining, while slow clients pile up
// replies they never read: everyone else is served, and the slow ones
// cost walnut at most max_client_output each.
func TestFaultManyClientsAndSlowReaders(t *testing.T) {
	servers := testbed.Redises(t, 4)
	// The listen queue must hold 2000 connections arriving at once, or
	// the kernel drops SYNs and the clients retry a second later.
	_, addrs := startWalnut(t, redisPool("p", servers, "max_client_output = \"256KiB\"\nmax_pipeline = 16\nbacklog = 4096"))
	addr := addrs["p"]
	big := strings.Repeat("x", 64<<10)
	setup := dialRaw(t, addr)
	setup.send(t, fmt.Sprintf("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n", len(big), big))
	if got := setup.line(t); got != "+OK\r\n" {
		t.Fatalf("SET big: %q", got)
	}
	_, h0 := settled()

	// Slow readers: ask for the big value over and over, never read.
	var slow []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
		go func() {
			req := []byte(strings.Repeat("GET big\r\n", 100))
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			for range 200 {
				if _, err := c.Write(req); err != nil {
					return
				}
			}
		}()
	}
	defer func() {
		for _, c := range slow {
			c.Close()
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var mu sync.Mutex
	var sample string
	for i := range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				failed.Add(1)
				mu.Lock()
				sample = err.Error()
				mu.Unlock()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			var b strings.Builder
			for j := range 5 {
				fmt.Fprintf(&b, "SET c%d:%d v%d:%d\r\nGET c%d:%d\r\n", i, j, i, j, i, j)
			}
			if _, err := io.WriteString(c, b.String()); err != nil {
				failed.Add(1)
				return
			}
			r := bufio.NewReader(c)
			for j := range 5 {
				ok, _ := r.ReadString('\n')
				r.ReadString('\n')
				v, err := r.ReadString('\n')
				if err != nil || ok != "+OK\r\n" || v != fmt.Sprintf("v%d:%d\r\n", i, j) {
					failed.Add(1)
					mu.Lock()
					sample = fmt.Sprintf("%q %q %v", ok, v, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	_, h1 := settled()
	t.Logf("2000 pipelining clients served in %v beside 20 slow readers; heap in use %d KiB -> %d KiB",
		took.Round(time.Millisecond), h0>>10, h1>>10)
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of 2000 clients failed; e.g. %s", n, sample)
	}
	// Each slow reader holds at most one round of replies past
	// max_client_output: 16 x 64KiB + 256KiB, 20 of them about 26MiB;
	// far below the 1.2GiB that 20 x 200 x 100 unread replies would take.
	if h1 > h0+64<<20 {
		t.Fatalf("slow readers grew the heap by %d MiB", (h1-h0)>>20)
	}
}
