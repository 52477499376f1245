package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// A dedicated connection that cannot be had answers in nutcracker's
// words, as a shared one does (see TestServerErrorTexts): a blocked
// client is told and goes on, one in a transaction or subscribing is
// told and closed.
func TestDedicatedServerErrorTexts(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		dead := deadAddr(t)
		px, addrs := startWalnut(t, fmt.Sprintf("[pools.r]\nlisten = \"127.0.0.1:0\"\nservers = [%q]\n", dead+":1"))
		want := "-ERR Connection refused (pool r, server " + dead + ")\r\n"
		blocked := dialRaw(t, addrs["r"])
		// CLIENT GETNAME, which walnut answers: PING goes to a pool's
		// only server.
		blocked.send(t, cmd("BLPOP l 0")+cmd("CLIENT GETNAME"))
		wantLine(t, blocked, want)
		wantLine(t, blocked, "$-1\r\n")
		tx := dialRaw(t, addrs["r"])
		tx.send(t, cmd("MULTI")+cmd("SET k v"))
		wantLine(t, tx, "+OK\r\n")
		wantLine(t, tx, want)
		if !tx.closed() {
			t.Fatal("the client whose transaction failed was not closed")
		}
		sub := dialRaw(t, addrs["r"])
		sub.send(t, cmd("SUBSCRIBE ch"))
		wantLine(t, sub, want)
		if !sub.closed() {
			t.Fatal("the client whose subscription failed was not closed")
		}
		if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "r") == 0 }) {
			t.Fatalf("%d dedicated connections left", dedicatedOpen(px, "r"))
		}
	})

	t.Run("all ejected", func(t *testing.T) {
		addr := ejectAll(t, cmd("BLPOP l 0"))
		// Without keys, a subscription to every server finds none.
		sub := dialRaw(t, addr)
		sub.send(t, cmd("PSUBSCRIBE n*"))
		wantLine(t, sub, "-ERR Connection refused (pool e: every server is ejected)\r\n")
	})

	t.Run("dial timeout", func(t *testing.T) {
		addr := fullListenQueue(t)
		_, addrs := startWalnut(t, fmt.Sprintf("[pools.p]\nlisten = \"127.0.0.1:0\"\ndial_timeout = \"300ms\"\nservers = [%q]\n", addr+":1"))
		r := dialRaw(t, addrs["p"])
		r.send(t, cmd("BLPOP l 0"))
		wantLine(t, r, "-ERR Connection timed out (pool p, server "+addr+": no connection within 300ms)\r\n")
	})
}

// A dedicated connection is set up as a shared one is, and sends nothing
// before its SELECT is answered: a refused SELECT fails what waited, and
// nothing lands in database 0.
func TestDedicatedRedisDBSelect(t *testing.T) {
	s := testbed.Redis(t)
	px, addrs := startWalnut(t, redisPool("db99", []*testbed.Process{s}, "redis_db = 99\ndatabases = 100"))
	want := "-ERR SELECT 99 refused by the server: ERR DB index is out of range (pool db99, server " + s.Addr + ")\r\n"
	c := dialRaw(t, addrs["db99"])
	// One round: MULTI, SET and EXEC wait together behind the SELECT.
	c.send(t, cmd("MULTI")+cmd("SET in99 v")+cmd("EXEC"))
	wantLine(t, c, "+OK\r\n")
	wantLine(t, c, want)
	wantLine(t, c, want)
	c.send(t, cmd("BLPOP l 0.1")+cmd("CLIENT GETNAME"))
	wantLine(t, c, want)
	wantLine(t, c, "$-1\r\n")
	sub := dialRaw(t, addrs["db99"])
	sub.send(t, cmd("SUBSCRIBE ch"))
	wantLine(t, sub, want)
	if !sub.closed() {
		t.Fatal("the client whose subscription failed was not closed")
	}
	ctx := context.Background()
	d0 := newClient(t, s.Addr)
	if n, err := d0.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("database 0 holds %d keys (%v): a request went through the refused SELECT", n, err)
	}
	if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "db99") == 0 }) {
		t.Fatalf("%d dedicated connections left", dedicatedOpen(px, "db99"))
	}
}

// Large values through dedicated connections: a transaction's EXEC (after
// MULTI's +OK on the same read), a blocking pop, a pub/sub message. Their
// read buffers are sized by the codec and the big responses handed over,
// as on shared connections.
func TestDedicatedLargeValues(t *testing.T) {
	s := testbed.Redis(t)
	_, addrs := startWalnut(t, redisPool("p", []*testbed.Process{s}, ""))
	ctx := context.Background()
	c := newClient(t, addrs["p"])
	big := func(b byte, n int) string {
		v := []byte(strings.Repeat("0123456789abcdef", n/16))
		v[0], v[len(v)-1] = b, b
		return string(v)
	}
	a, b := big('a', 3<<20), big('b', 5<<20)
	if err := c.MSet(ctx, "{x}a", a, "{x}b", b).Err(); err != nil {
		t.Fatal(err)
	}
	var ga, gb *redis.StringCmd
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		ga, gb = p.Get(ctx, "{x}a"), p.Get(ctx, "{x}b")
		return nil
	}); err != nil {
		t.Fatalf("transaction: %v", err)
	}
	if ga.Val() != a || gb.Val() != b {
		t.Fatalf("transaction: values of %d and %d bytes, want %d and %d", len(ga.Val()), len(gb.Val()), len(a), len(b))
	}
	if err := c.RPush(ctx, "l", b).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.BLPop(ctx, time.Second, "l").Result(); err != nil || len(v) != 2 || v[1] != b {
		t.Fatalf("BLPOP: %v", err)
	}
	sub := c.Subscribe(ctx, "ch")
	defer sub.Close()
	if _, err := sub.ReceiveTimeout(ctx, 5*time.Second); err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	d := newClient(t, s.Addr)
	for _, v := range []string{a, b, "small"} {
		if err := d.Publish(ctx, "ch", v).Err(); err != nil {
			t.Fatal(err)
		}
		m, err := sub.ReceiveTimeout(ctx, 5*time.Second)
		if msg, ok := m.(*redis.Message); err != nil || !ok || msg.Payload != v {
			t.Fatalf("message of %d bytes: %T, %v", len(v), m, err)
		}
	}
}
