package integration

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/internal/testbed"
)

// When the server under a client's transaction or subscriptions goes
// away, the client is told and closed: it must not go on believing in
// state that is gone. A blocked client gets an error and stays.
func TestDedicatedServerDies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		send   []string
		answer []string // replies before the server dies
		closed bool
	}{
		{"subscribed", []string{"SUBSCRIBE ch"}, []string{"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"}, true},
		{"in a transaction", []string{"MULTI", "SET k v"}, []string{"+OK\r\n", "+QUEUED\r\n"}, true},
		{"watching", []string{"WATCH k"}, []string{"+OK\r\n"}, true},
		{"blocked", []string{"BLPOP l 0"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testbed.Redis(t)
			px, addrs := startWalnut(t, redisPool("alpha", []*testbed.Process{srv}, ""))
			raw := dialRaw(t, addrs["alpha"])
			for _, s := range tc.send {
				raw.send(t, cmd(s))
			}
			for _, want := range tc.answer {
				if got, err := readValue(raw.r); got != want {
					t.Fatalf("before: %q, %v; want %q", got, err, want)
				}
			}
			if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "alpha") == 1 }) {
				t.Fatal("no dedicated connection")
			}
			srv.Kill()
			if tc.name == "in a transaction" {
				raw.send(t, cmd("EXEC"))
			}
			if !tc.closed {
				got, _ := readValue(raw.r)
				if !isServerError(got, "alpha") {
					t.Fatalf("the blocked client got %q", got)
				}
				raw.send(t, cmd("CLIENT GETNAME")) // answered by walnut, unlike PING on one server
				if got, _ := readValue(raw.r); got != "$-1\r\n" {
					t.Fatalf("the blocked client after the error: %q", got)
				}
			} else {
				// Whatever was pending is answered with an error, then the
				// connection ends.
				for {
					got, err := readValue(raw.r)
					if err != nil {
						break
					}
					if !strings.HasPrefix(got, "-ERR") {
						t.Fatalf("after the server died: %q", got)
					}
				}
			}
			if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "alpha") == 0 }) {
				t.Fatalf("%d dedicated connections left", dedicatedOpen(px, "alpha"))
			}
		})
	}
}

// A hung server: the pool's timeout ends a transaction's request, with
// an error, never a late reply; a client whose transaction is still open
// is then closed (its state is lost), one whose EXEC failed goes on. A
// blocked request ends at its own timeout plus the pool's.
func TestDedicatedHungServer(t *testing.T) {
	srv := testbed.Redis(t)
	px, addrs := startWalnut(t, redisPool("alpha", []*testbed.Process{srv}, "timeout = \"200ms\""))
	blocked := dialRaw(t, addrs["alpha"])
	open, ended := dialRaw(t, addrs["alpha"]), dialRaw(t, addrs["alpha"])
	blocked.send(t, cmd("BLPOP l 0.3"))
	for _, c := range []*rawConn{open, ended} {
		c.send(t, cmd("WATCH k"))
		if got, _ := readValue(c.r); got != "+OK\r\n" {
			t.Fatalf("WATCH: %q", got)
		}
	}
	srv.Stop()
	defer srv.Continue()
	start := time.Now()
	open.send(t, cmd("MULTI")+cmd("SET k v"))
	ended.send(t, cmd("MULTI")+cmd("SET k v")+cmd("EXEC"))
	for name, c := range map[string]*rawConn{"open": open, "ended": ended} {
		if got, _ := readValue(c.r); got != "+OK\r\n" {
			t.Fatalf("%s: MULTI: %q", name, got)
		}
		errs := 1
		if c == ended {
			errs = 2
		}
		for i := range errs {
			if got, err := readValue(c.r); !isServerError(got, "alpha") {
				t.Fatalf("%s: reply %d: %q, %v; want a server error", name, i+1, got, err)
			}
		}
	}
	if !open.closed() {
		t.Fatal("the client whose transaction was open was not closed")
	}
	got, _ := readValue(blocked.r)
	if took := time.Since(start); !isServerError(got, "alpha") || !strings.Contains(got, "timed out") ||
		!strings.Contains(got, "500ms") || took > 3*time.Second {
		t.Fatalf("the blocked client after %v: %q, want a timeout after 0.3s+0.2s", took, got)
	}
	srv.Continue()
	if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "alpha") == 0 }) {
		t.Fatalf("%d dedicated connections left", dedicatedOpen(px, "alpha"))
	}
	// A server just resumed may take longer than the pool's 200ms to
	// answer its first requests on a loaded machine: what matters is
	// that blocking commands work again, on the same clients.
	for _, c := range []*rawConn{blocked, ended} {
		var got string
		for range 10 {
			c.send(t, cmd("BLPOP l 0.01"))
			if got, _ = readValue(c.r); got == "*-1\r\n" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got != "*-1\r\n" {
			t.Fatalf("a blocking command once the server answers again: %q", got)
		}
	}
}

// A reload that removes the server of a client's subscription closes
// that client (it reconnects and subscribes by the new table); other
// subscribers stay. So does one that removes it for a reshard, keeping
// it as an old server to read through to.
func TestDedicatedReloadRemovesServer(t *testing.T) {
	t.Run("removed", func(t *testing.T) { testReloadRemovesServer(t, false) })
	t.Run("reshard", func(t *testing.T) { testReloadRemovesServer(t, true) })
}

func testReloadRemovesServer(t *testing.T, reshard bool) {
	servers := testbed.Redises(t, 2)
	conf := func(ss []*testbed.Process) string { return redisPool("alpha", ss, "hash = \"md5\"") }
	px, addrs := startWalnut(t, conf(servers))
	ctx := context.Background()
	ds := direct(t, servers)
	c := newClient(t, addrs["alpha"])
	keys := keysApart(t, ctx, c, ds, 2)
	gone, stays := dialRaw(t, addrs["alpha"]), dialRaw(t, addrs["alpha"])
	exchangeMarked(t, gone, []string{"SUBSCRIBE " + keys[1]})
	exchangeMarked(t, stays, []string{"SUBSCRIBE " + keys[0]})
	// The reload keeps the pool (same name and listen address as
	// configured) and drops server 1.
	next := conf(servers[:1])
	if reshard {
		next += migrationTable("alpha", servers)
	}
	cfg, err := config.Parse("reload.toml", []byte(next))
	if err != nil {
		t.Fatal(err)
	}
	if err := px.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if !gone.closed() {
		t.Fatal("the subscriber of the removed server was not closed")
	}
	if err := ds[0].Publish(ctx, keys[0], "still here").Err(); err != nil {
		t.Fatal(err)
	}
	if got, _ := readValue(stays.r); !strings.Contains(got, "still here") {
		t.Fatalf("the other subscriber got %q", got)
	}
}

// Dedicated connections are set up like the shared ones: AUTH with
// redis_auth, SELECT redis_db.
func TestDedicatedAuthAndDB(t *testing.T) {
	srv := testbed.Redis(t, "--requirepass", "s3cret")
	_, addrs := startWalnut(t, redisPool("p", []*testbed.Process{srv}, "redis_auth = \"s3cret\"\nredis_db = 2"))
	ctx := context.Background()
	c := newClient(t, addrs["p"], func(o *redis.Options) { o.Password = "s3cret" })
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "k", "v", 0)
		p.RPush(ctx, "l", "x")
		return nil
	}); err != nil {
		t.Fatalf("transaction: %v", err)
	}
	if v, err := c.BLPop(ctx, time.Second, "l").Result(); err != nil || v[1] != "x" {
		t.Fatalf("BLPOP: %v, %v", v, err)
	}
	sub := c.Subscribe(ctx, "ch")
	defer sub.Close()
	if _, err := sub.ReceiveTimeout(ctx, 5*time.Second); err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	d := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: "s3cret", DB: 2, Protocol: 2})
	defer d.Close()
	if v, err := d.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("the transaction's key in database 2: %q, %v", v, err)
	}
	if n, err := d.PubSubNumSub(ctx, "ch").Result(); err != nil || n["ch"] != 1 {
		t.Fatalf("subscribers: %v, %v", n, err)
	}
}

// A binary upgrade hands clients over between requests, but not the
// state they hold on dedicated connections: a client in a transaction
// or subscribed is closed (it reconnects, as after a restart), a blocked
// one is answered an error and handed over, the others see nothing.
func TestUpgradeWithDedicatedClients(t *testing.T) {
	servers := testbed.Redises(t, 2)
	w, addr := walnutAt(t, "[proxy]\nshutdown_timeout = \"20s\"\n"+redisPool("p", servers, "hash = \"md5\""))
	plain, inMulti, subscribed, blocked := dialRaw(t, addr), dialRaw(t, addr), dialRaw(t, addr), dialRaw(t, addr)
	for _, c := range []*rawConn{plain, inMulti, subscribed, blocked} {
		c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	plain.send(t, cmd("SET k v"))
	inMulti.send(t, cmd("MULTI"))
	for _, c := range []*rawConn{plain, inMulti} {
		if got, _ := readValue(c.r); got != "+OK\r\n" {
			t.Fatalf("before the upgrade: %q", got)
		}
	}
	exchangeMarked(t, subscribed, []string{"SUBSCRIBE ch"})
	blocked.send(t, cmd("BLPOP l 0"))
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	upgrade(t, w)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the upgrade took %v", took)
	}
	if !inMulti.closed() || !subscribed.closed() {
		t.Fatalf("clients in a transaction or subscribed were handed over\n%s", w.Log())
	}
	if got, _ := readValue(blocked.r); !strings.HasPrefix(got, "-ERR") || !strings.Contains(strings.ToLower(got), "shutting down") {
		t.Fatalf("the blocked client got %q", got)
	}
	for _, c := range []*rawConn{plain, blocked} {
		c.send(t, cmd("GET k"))
		if got, err := readValue(c.r); got != "$1\r\nv\r\n" {
			t.Fatalf("a client after the upgrade: %q, %v\n%s", got, err, w.Log())
		}
	}
}

// flakyHasher is an external hash function as core sees one, which fails
// while told to.
type flakyHasher struct {
	hash distributions.HashFunc
	fail atomic.Bool
}

func (h *flakyHasher) HashBatch(keys [][]byte, out []uint32) error {
	if h.fail.Load() {
		return errors.New("plugin went away")
	}
	for i, k := range keys {
		out[i] = h.hash(k)
	}
	return nil
}

// An EXEC that could not be sent (here an external hash function failed
// the round it came in) answers EXECABORT, and the transaction's
// connection, still in MULTI on the server, is closed rather than given
// to the next client: a blocking command there must not be QUEUED.
func TestDedicatedUnsentExec(t *testing.T) {
	srv := testbed.Redis(t)
	cfg, err := config.Parse("test.toml", []byte("[plugins.flaky]\npath = \"/bin/true\"\n"+
		redisPool("alpha", []*testbed.Process{srv}, "hash = \"flaky\"")))
	if err != nil {
		t.Fatal(err)
	}
	md5, _ := distributions.LookupHash("md5")
	h := &flakyHasher{hash: md5}
	px, err := core.New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)), core.WithHasher("flaky", h))
	if err != nil {
		t.Fatal(err)
	}
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	raw := dialRaw(t, px.Pools()[0].Addr().String())
	raw.send(t, cmd("MULTI")+cmd("SET k v"))
	for _, want := range []string{"+OK\r\n", "+QUEUED\r\n"} {
		if got, _ := readValue(raw.r); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	h.fail.Store(true)
	raw.send(t, cmd("SET k v2")+cmd("EXEC"))
	if got, _ := readValue(raw.r); !strings.Contains(got, "plugin went away") {
		t.Fatalf("SET while the hash function fails: %q", got)
	}
	if got, _ := readValue(raw.r); got != "-EXECABORT Transaction discarded because of previous errors.\r\n" {
		t.Fatalf("EXEC: %q", got)
	}
	h.fail.Store(false)
	if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "alpha") == 0 }) {
		t.Fatalf("the transaction's connection is still open (%d)", dedicatedOpen(px, "alpha"))
	}
	raw.send(t, cmd("BLPOP l 0.01")+cmd("GET k"))
	for _, want := range []string{"*-1\r\n", "$-1\r\n"} {
		if got, _ := readValue(raw.r); got != want {
			t.Fatalf("after the aborted transaction: %q, want %q", got, want)
		}
	}
}

// isServerError reports whether reply is the error walnut answers for a
// server of pool that failed (whatever its wording).
func isServerError(reply, pool string) bool {
	return strings.HasPrefix(reply, "-ERR ") && strings.Contains(reply, "pool "+pool)
}
