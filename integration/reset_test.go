package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// RESET ends every lease a client holds, as it ends the transaction and
// subscriptions on one redis-server: the transaction's connection gets
// DISCARD or UNWATCH and goes back to the idle set (the server sees no
// transaction left on it), the subscription connections are closed,
// and the client carries on, in the pool's database, without a name.
func TestResetEndsLeases(t *testing.T) {
	servers := testbed.Redises(t, 2)
	px, addrs := startWalnut(t, "[proxy]\nworkers = 1\n"+redisPool("p", servers, "hash = \"md5\"\nhash_tag = \"{}\""))
	ctx := context.Background()
	ds := direct(t, servers)
	srv := keyOwner(t, ctx, addrs["p"], ds, "{t}probe")
	onServer := func(field string) (n int) {
		for _, l := range serverClients(t, ctx, ds[srv]) {
			if strings.Contains(l, field) {
				n++
			}
		}
		return n
	}
	do := func(c *rawConn, steps ...[2]string) {
		t.Helper()
		for _, st := range steps {
			if got := c.do(t, st[0]); got != st[1] {
				t.Fatalf("%s: %q, want %q", st[0], show(got), show(st[1]))
			}
		}
	}
	carriesOn := func(c *rawConn) {
		t.Helper()
		do(c, [2]string{"CLIENT GETNAME", "$-1\r\n"}, [2]string{"GET {t}k", "$-1\r\n"}, [2]string{"EXEC", "-ERR EXEC without MULTI\r\n"})
		if got := c.do(t, "CLIENT INFO"); !strings.Contains(got, " db=0 ") {
			t.Fatalf("CLIENT INFO after RESET: %q", got)
		}
	}

	// In a transaction, in database 3.
	c := dialRaw(t, addrs["p"])
	do(c, [2]string{"SELECT 3", "+OK\r\n"}, [2]string{"CLIENT SETNAME app", "+OK\r\n"}, [2]string{"MULTI", "+OK\r\n"},
		[2]string{"SET {t}k v", "+QUEUED\r\n"})
	if n := onServer(" flags=x "); n != 1 {
		t.Fatalf("%d connections in MULTI on the server", n)
	}
	do(c, [2]string{"RESET", "+RESET\r\n"})
	if !waitFor(5*time.Second, func() bool { return onServer(" flags=x ") == 0 && onServer(" cmd=discard ") == 1 }) {
		t.Fatalf("after RESET the server still has a transaction: %q", serverClients(t, ctx, ds[srv]))
	}
	if n := dedicatedOpen(px, "p"); n != 1 {
		t.Fatalf("%d dedicated connections after RESET: the transaction's is not idle", n)
	}
	carriesOn(c)
	if n, _ := dbClient(t, servers[srv].Addr, 3).Exists(ctx, "{t}k").Result(); n != 0 {
		t.Fatal("the discarded transaction ran")
	}
	// The connection is reused, clean, by the next transaction.
	c.send(t, cmd("MULTI")+cmd("INCR {t}n")+cmd("EXEC"))
	for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "*1\r\n:1\r\n"} {
		if got := c.reply(t); got != want {
			t.Fatalf("transaction after RESET: %q, want %q", show(got), show(want))
		}
	}
	if n := dedicatedOpen(px, "p"); n != 1 {
		t.Fatalf("%d dedicated connections after the next transaction", n)
	}

	// Watching: UNWATCH, so that a change to the key does not fail the
	// next client's transaction on that connection.
	do(c, [2]string{"WATCH {t}w", "+OK\r\n"}, [2]string{"RESET", "+RESET\r\n"})
	if !waitFor(5*time.Second, func() bool { return onServer(" cmd=unwatch ") == 1 }) {
		t.Fatalf("no UNWATCH reached the server: %q", serverClients(t, ctx, ds[srv]))
	}
	ds[srv].Set(ctx, "{t}w", "changed", 0)
	other := dialRaw(t, addrs["p"])
	other.send(t, cmd("MULTI")+cmd("SET {t}w mine")+cmd("EXEC"))
	for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "*1\r\n+OK\r\n"} {
		if got := other.reply(t); got != want {
			t.Fatalf("another client's transaction: %q, want %q", show(got), show(want))
		}
	}

	// Subscribed (and watching): the subscription connections close,
	// nothing more is relayed, and the client is out of subscribed mode.
	s := dialRaw(t, addrs["p"])
	s.do(t, "WATCH {t}x")
	s.send(t, cmd("SUBSCRIBE {t}ch")+cmd("PSUBSCRIBE n*"))
	s.reply(t)
	s.reply(t)
	if n := dedicatedOpen(px, "p"); n != 3 {
		t.Fatalf("%d dedicated connections while watching and subscribed to two servers, want 3", n)
	}
	do(s, [2]string{"RESET", "+RESET\r\n"})
	if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "p") == 1 }) {
		t.Fatalf("%d dedicated connections after RESET, want the idle one", dedicatedOpen(px, "p"))
	}
	pub := newClient(t, addrs["p"])
	for _, ch := range []string{"{t}ch", "news"} {
		if n, err := pub.Publish(ctx, ch, "late").Result(); err != nil || n != 0 {
			t.Fatalf("PUBLISH %s after RESET: %d receivers, %v", ch, n, err)
		}
	}
	do(s, [2]string{"PING", "+PONG\r\n"})
	carriesOn(s)
	for i, d := range ds {
		for _, l := range serverClients(t, ctx, d) {
			if !strings.Contains(l, " sub=0 psub=0 ") {
				t.Errorf("server %d: a subscription is left: %s", i, l)
			}
		}
	}
	// And subscribes anew.
	s.send(t, cmd("SUBSCRIBE {t}ch"))
	if got := s.reply(t); got != "*3\r\n$9\r\nsubscribe\r\n$5\r\n{t}ch\r\n:1\r\n" {
		t.Fatalf("SUBSCRIBE after RESET: %q", show(got))
	}
}

// RESET pipelined with what comes before and after it: replies in
// order, and what follows RESET runs after the leases ended.
func TestResetPipelined(t *testing.T) {
	servers := testbed.Redises(t, 1)
	px, addrs := startWalnut(t, "[proxy]\nworkers = 1\n"+redisPool("p", servers, ""))
	single := testbed.Redis(t)
	for name, cmds := range map[string][]string{
		"multi":      {"SELECT 2", "MULTI", "SET a 1", "RESET", "GET a", "MULTI", "SET a 2", "EXEC", "GET a"},
		"watch":      {"WATCH a", "MULTI", "RESET", "EXEC", "SET a 3", "GET a"},
		"subscribed": {"SUBSCRIBE c", "PSUBSCRIBE p*", "RESET", "PING", "SUBSCRIBE d", "RESET", "ECHO x"},
		"plain":      {"CLIENT SETNAME x", "RESET", "CLIENT GETNAME", "RESET"},
	} {
		for _, s := range append(servers, single) {
			exchange(t, s.Addr, []string{"FLUSHALL"}, false)
		}
		got := exchange(t, addrs["p"], cmds, true)
		want := exchange(t, single.Addr, cmds, true)
		compareReplies(t, name, cmds, got, want)
	}
	if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "p") <= 1 }) {
		t.Fatalf("%d dedicated connections left", dedicatedOpen(px, "p"))
	}
}
