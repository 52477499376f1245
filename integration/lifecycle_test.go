package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// incrClient pipelines INCRs of keys no other request touches and counts
// the replies, so that afterwards the servers can tell which requests
// walnut executed: every executed request must have had its reply.
type incrClient struct {
	id      int
	sent    int // requests written
	replied int // replies read, all ":1"
	err     error
}

func (ic *incrClient) run(addr string, stop <-chan struct{}, rng *rand.Rand) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		ic.err = err
		return
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	var b strings.Builder
	for batch := 0; batch < 5000; batch++ {
		select {
		case <-stop:
			return
		default:
		}
		n := 1 + rng.IntN(16)
		b.Reset()
		for i := range n {
			k := fmt.Sprintf("incr:%d:%d", ic.id, ic.sent+i)
			fmt.Fprintf(&b, "*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n", len(k), k)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, b.String()); err != nil {
			ic.err = err
			return
		}
		ic.sent += n
		for range n {
			line, err := r.ReadString('\n')
			if err != nil {
				ic.err = err
				return
			}
			if line != ":1\r\n" {
				ic.err = fmt.Errorf("reply %q", line)
				return
			}
			ic.replied++
		}
	}
}

// executed returns which of ic's requests the servers executed.
func (ic *incrClient) executed(t *testing.T, ds []*redis.Client) []bool {
	out := make([]bool, ic.sent)
	if ic.sent == 0 {
		return out
	}
	keys := make([]string, ic.sent)
	for i := range keys {
		keys[i] = fmt.Sprintf("incr:%d:%d", ic.id, i)
	}
	for _, d := range ds {
		vals, err := d.MGet(context.Background(), keys...).Result()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if v != nil {
				out[i] = true
			}
		}
	}
	return out
}

func walnutAt(t *testing.T, conf string, extraArgs ...string) (*testbed.Process, string) {
	t.Helper()
	port := testbed.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	conf = strings.Replace(conf, "127.0.0.1:0", addr, 1)
	return testbed.WalnutArgs(t, conf, extraArgs, addr), addr
}

// upgrade sends w SIGUSR2 and waits for the old process to exit 0; it
// returns the new process's pid, which the test's cleanup kills.
func upgrade(t *testing.T, w *testbed.Process) int {
	t.Helper()
	w.Signal(syscall.SIGUSR2)
	if code := w.WaitExit(20 * time.Second); code != 0 {
		t.Fatalf("old walnut exited with %d\n%s", code, w.Log())
	}
	m := regexp.MustCompile(`new process started" pid=(\d+)`).FindStringSubmatch(w.Log())
	if m == nil {
		t.Fatalf("no new process in the log:\n%s", w.Log())
	}
	pid, _ := strconv.Atoi(m[1])
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// SIGTERM under load: walnut stops reading, answers every request it had
// read, and exits 0. Checked from the servers' side: each request that
// was executed got its reply to the client.
func TestFaultSIGTERMUnderLoad(t *testing.T) {
	servers := testbed.Redises(t, 3)
	w, addr := walnutAt(t, "[proxy]\nshutdown_timeout = \"5s\"\n"+redisPool("p", servers, "hash = \"md5\""))
	stop := make(chan struct{})
	clients := make([]*incrClient, 16)
	var wg sync.WaitGroup
	for i := range clients {
		clients[i] = &incrClient{id: i}
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i].run(addr, stop, rand.New(rand.NewPCG(uint64(i), 1)))
		}()
	}
	time.Sleep(400 * time.Millisecond)
	signalled := time.Now()
	w.Signal(syscall.SIGTERM)
	code := w.WaitExit(10 * time.Second)
	took := time.Since(signalled)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("walnut exited with %d after SIGTERM\n%s", code, w.Log())
	}
	ds := direct(t, servers)
	var sent, replied, executed int
	for _, ic := range clients {
		ex := ic.executed(t, ds)
		sent += ic.sent
		replied += ic.replied
		for i, e := range ex {
			if e {
				executed++
			}
			if e && i >= ic.replied {
				t.Errorf("client %d: request %d was executed but its reply never came (%d replies)", ic.id, i, ic.replied)
			}
			if !e && i < ic.replied {
				t.Errorf("client %d: request %d got a reply but was not executed", ic.id, i)
			}
		}
	}
	t.Logf("SIGTERM under load: exited 0 after %v; %d requests sent, %d executed, %d replied, 0 replies lost",
		took.Round(time.Millisecond), sent, executed, replied)
	if replied == 0 {
		t.Fatal("no load ran")
	}
}

// A reload under load changes the server list and timeouts; no client is
// disconnected and no request fails. An invalid configuration is refused
// and the running one stays.
func TestFaultReloadUnderLoad(t *testing.T) {
	servers := testbed.Redises(t, 4)
	base := redisPool("p", servers[:3], "hash = \"md5\"")
	w, addr := walnutAt(t, base)
	ld := startPairLoad(t, addr, 12)
	time.Sleep(300 * time.Millisecond)

	// Drop servers[2], add servers[3], change the timeout, add a pool.
	extra := testbed.FreePort(t)
	next := strings.Replace(redisPool("p", []*testbed.Process{servers[0], servers[1], servers[3]}, "hash = \"md5\"\ntimeout = \"2s\""),
		"127.0.0.1:0", addr, 1) + strings.Replace(redisPool("q", servers[:1], ""), "127.0.0.1:0", "127.0.0.1:"+strconv.Itoa(extra), 1)
	if err := os.WriteFile(w.Config, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Signal(syscall.SIGHUP)
	if !waitFor(5*time.Second, func() bool { return strings.Contains(w.Log(), "reload applied") }) {
		t.Fatalf("reload not applied:\n%s", w.Log())
	}
	if err := testbed.WaitListening("127.0.0.1:"+strconv.Itoa(extra), 5*time.Second); err != nil {
		t.Fatalf("pool added by the reload is not listening: %v", err)
	}
	time.Sleep(300 * time.Millisecond)

	// An invalid file is refused; the proxy keeps serving as before.
	if err := os.WriteFile(w.Config, []byte(next+"bogus_key = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Signal(syscall.SIGHUP)
	if !waitFor(5*time.Second, func() bool { return strings.Contains(w.Log(), "reload rejected") }) {
		t.Fatalf("invalid reload not reported:\n%s", w.Log())
	}
	time.Sleep(300 * time.Millisecond)
	ld.finish(t)
	t.Logf("reload under load: %v", ld)
	if ld.errs.Load() != 0 || ld.closed.Load() != 0 || ld.wrong.Load() != 0 {
		t.Fatalf("reload disturbed clients: %v", ld)
	}
	// Keys written after the reload reach the added server, none the
	// dropped one.
	ds := direct(t, servers)
	n3, _ := ds[3].DBSize(context.Background()).Result()
	if n3 == 0 {
		t.Fatal("no key reached the server added by the reload")
	}
	t.Logf("keys on the added server: %d", n3)
}

// An upgrade (SIGUSR2) under load: the new binary takes over the
// listening socket and every client connection; the old process exits.
// No request fails and no connection closes.
func TestFaultUpgradeUnderLoad(t *testing.T) {
	servers := testbed.Redises(t, 3)
	w, addr := walnutAt(t, redisPool("p", servers, "hash = \"md5\""))
	ld := startPairLoad(t, addr, 12)
	time.Sleep(300 * time.Millisecond)
	oldPid := w.Pid()
	newPid := upgrade(t, w)
	if newPid == oldPid || syscall.Kill(newPid, 0) != nil {
		t.Fatalf("new process %d is not running", newPid)
	}
	// Load goes on against the new process alone.
	before := ld.ok.Load()
	time.Sleep(500 * time.Millisecond)
	if ld.ok.Load() == before {
		t.Fatal("no request served after the old process exited")
	}
	ld.finish(t)
	t.Logf("upgrade under load: old pid %d exited 0, new pid %d serving; %v", oldPid, newPid, ld)
	if ld.errs.Load() != 0 || ld.closed.Load() != 0 || ld.wrong.Load() != 0 {
		t.Fatalf("upgrade disturbed clients: %v\n%s", ld, w.Log())
	}
	// New connections reach the new process.
	c := dialRaw(t, addr)
	c.send(t, "PING\r\n")
	if got := c.line(t); got != "+PONG\r\n" {
		t.Fatalf("PING after the upgrade: %q", got)
	}
}

// pairLoad keeps persistent raw connections busy with SET+GET pairs in
// one pipeline, so that a change of the server list between requests
// cannot make a GET miss; it counts errors and closed connections.
type pairLoad struct {
	ok, errs, wrong, closed atomic.Int64
	stop                    chan struct{}
	wg                      sync.WaitGroup
	mu                      sync.Mutex
	samples                 []string
}

func startPairLoad(t *testing.T, addr string, n int) *pairLoad {
	ld := &pairLoad{stop: make(chan struct{})}
	for w := range n {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				ld.fail(&ld.errs, err.Error())
				return
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			for i := 0; i < 100000; i++ {
				select {
				case <-ld.stop:
					return
				default:
				}
				k := fmt.Sprintf("pair:%d:%d", w, i%500)
				v := fmt.Sprintf("%s=%d", k, i)
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				_, err := fmt.Fprintf(conn, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n",
					len(k), k, len(v), v, len(k), k)
				if err != nil {
					ld.fail(&ld.closed, err.Error())
					return
				}
				ok, err := r.ReadString('\n')
				if err != nil {
					ld.fail(&ld.closed, err.Error())
					return
				}
				hdr, err1 := r.ReadString('\n')
				body, err2 := r.ReadString('\n')
				switch {
				case err1 != nil || err2 != nil:
					ld.fail(&ld.closed, fmt.Sprint(err1, err2))
					return
				case ok != "+OK\r\n" || !strings.HasPrefix(hdr, "$"):
					ld.fail(&ld.errs, ok+hdr+body)
					if strings.HasPrefix(hdr, "-") {
						continue
					}
					return
				case body != v+"\r\n":
					ld.fail(&ld.wrong, fmt.Sprintf("GET %s = %q", k, body))
				default:
					ld.ok.Add(1)
				}
			}
		}()
	}
	return ld
}

func (ld *pairLoad) fail(c *atomic.Int64, s string) {
	c.Add(1)
	ld.mu.Lock()
	if len(ld.samples) < 5 {
		ld.samples = append(ld.samples, s)
	}
	ld.mu.Unlock()
}

func (ld *pairLoad) finish(t *testing.T) {
	close(ld.stop)
	ld.wg.Wait()
}

func (ld *pairLoad) String() string {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return fmt.Sprintf("%d ok, %d errors, %d wrong values, %d connections closed; samples %q",
		ld.ok.Load(), ld.errs.Load(), ld.wrong.Load(), ld.closed.Load(), ld.samples)
}

// An upgrade whose new process cannot start (here: its configuration
// became invalid) is abandoned; the old process serves on.
func TestUpgradeAbandoned(t *testing.T) {
	servers := testbed.Redises(t, 1)
	w, addr := walnutAt(t, redisPool("p", servers, ""))
	if err := os.WriteFile(w.Config, []byte("[pools.p]\nbroken = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Signal(syscall.SIGUSR2)
	if !waitFor(10*time.Second, func() bool { return strings.Contains(w.Log(), "upgrade failed") }) {
		t.Fatalf("failed upgrade not reported:\n%s", w.Log())
	}
	c := dialRaw(t, addr)
	c.send(t, "PING\r\n")
	if got := c.line(t); got != "+PONG\r\n" {
		t.Fatalf("old process after a failed upgrade: %q", got)
	}
}
