package integration

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// dbClient is a direct client of a server in database db.
func dbClient(t testing.TB, addr string, db int) *redis.Client {
	t.Helper()
	return newClient(t, addr, func(o *redis.Options) { o.DB = db })
}

// serverClients returns the lines of a server's CLIENT LIST that are not
// the connection asking.
func serverClients(t testing.TB, ctx context.Context, d *redis.Client) []string {
	t.Helper()
	list, err := d.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		if l != "" && !strings.Contains(l, " cmd=client|list ") {
			out = append(out, l)
		}
	}
	return out
}

// A client's database follows it onto its dedicated connections: after
// SELECT 3, a transaction, a blocking command and a subscription run in
// database 3 of the server, as on one redis-server.
func TestDedicatedInClientDatabase(t *testing.T) {
	servers, addr := redisWalnut(t, 2, "p", "hash = \"md5\"\nhash_tag = \"{}\"")
	ctx := context.Background()
	ds := direct(t, servers)
	c := dialRaw(t, addr)
	if got := c.do(t, "SELECT 3"); got != "+OK\r\n" {
		t.Fatalf("SELECT 3: %q", got)
	}
	srv := servers[keyOwner(t, ctx, addr, ds, "{t}probe")]
	d0, d3 := dbClient(t, srv.Addr, 0), dbClient(t, srv.Addr, 3)

	// A transaction, with a WATCH first.
	for _, step := range [][2]string{{"WATCH {t}w", "+OK\r\n"}, {"MULTI", "+OK\r\n"}, {"SET {t}tx in3", "+QUEUED\r\n"},
		{"INCR {t}n", "+QUEUED\r\n"}, {"EXEC", "*2\r\n+OK\r\n:1\r\n"}} {
		if got := c.do(t, step[0]); got != step[1] {
			t.Fatalf("%s: %q, want %q", step[0], got, step[1])
		}
	}
	if v, err := d3.Get(ctx, "{t}tx").Result(); err != nil || v != "in3" {
		t.Fatalf("database 3 of the server: {t}tx = %q, %v", v, err)
	}
	if n, _ := d0.Exists(ctx, "{t}tx", "{t}n").Result(); n != 0 {
		t.Fatalf("the transaction wrote %d keys to database 0", n)
	}

	// A blocking pop finds database 3's list, not database 0's.
	d0.RPush(ctx, "{t}list", "from0")
	d3.RPush(ctx, "{t}list", "from3")
	if got := c.do(t, "BLPOP {t}list 1"); got != "*2\r\n$7\r\n{t}list\r\n$5\r\nfrom3\r\n" {
		t.Fatalf("BLPOP in database 3: %q", show(got))
	}
	// And one that waits is woken by a push in database 3.
	c.send(t, cmd("BLMOVE {t}src {t}dst LEFT RIGHT 5"))
	if !waitFor(5*time.Second, func() bool {
		for _, l := range serverClients(t, ctx, d0) {
			if strings.Contains(l, " cmd=blmove ") && strings.Contains(l, " db=3 ") {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no BLMOVE blocked in database 3: %q", serverClients(t, ctx, d0))
	}
	d0.RPush(ctx, "{t}src", "wrong")
	d3.RPush(ctx, "{t}src", "right")
	if got := c.reply(t); got != "$5\r\nright\r\n" {
		t.Fatalf("BLMOVE: %q", show(got))
	}
	if v, _ := d3.LRange(ctx, "{t}dst", 0, -1).Result(); len(v) != 1 || v[0] != "right" {
		t.Fatalf("database 3's {t}dst: %q", v)
	}

	// A subscription: its connections are in database 3 (pub/sub itself
	// ignores databases, as in Redis).
	sub := dialRaw(t, addr)
	sub.do(t, "SELECT 3")
	sub.send(t, cmd("SUBSCRIBE {t}ch")+cmd("PSUBSCRIBE {t}*"))
	for _, want := range []string{"*3\r\n$9\r\nsubscribe\r\n$5\r\n{t}ch\r\n:1\r\n", "*3\r\n$10\r\npsubscribe\r\n$4\r\n{t}*\r\n:2\r\n"} {
		if got := sub.reply(t); got != want {
			t.Fatalf("subscribing: %q, want %q", show(got), show(want))
		}
	}
	for i, d := range ds {
		subs := 0
		for _, l := range serverClients(t, ctx, d) {
			if !strings.Contains(l, " sub=0 ") || !strings.Contains(l, " psub=0 ") {
				subs++
				if !strings.Contains(l, " db=3 ") {
					t.Errorf("server %d: a subscribed connection not in database 3: %s", i, l)
				}
			}
		}
		if subs == 0 {
			t.Errorf("server %d: no subscribed connection: %q", i, serverClients(t, ctx, d))
		}
	}
	pub := newClient(t, addr)
	if n, err := pub.Publish(ctx, "{t}ch", "hello").Result(); err != nil || n != 2 {
		t.Fatalf("PUBLISH: %d receivers, %v", n, err)
	}
	for _, want := range []string{"*3\r\n$7\r\nmessage\r\n$5\r\n{t}ch\r\n$5\r\nhello\r\n",
		"*4\r\n$8\r\npmessage\r\n$4\r\n{t}*\r\n$5\r\n{t}ch\r\n$5\r\nhello\r\n"} {
		if got := sub.reply(t); got != want {
			t.Fatalf("message: %q, want %q", show(got), show(want))
		}
	}
	// SELECT is refused in subscribed mode, as Redis refuses it.
	if got := sub.do(t, "SELECT 4"); got != "-ERR Can't execute 'select': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n" {
		t.Fatalf("SELECT while subscribed: %q", got)
	}
}

// keyOwner returns the index of the server that holds key once it is
// set through walnut at addr.
func keyOwner(t testing.TB, ctx context.Context, addr string, ds []*redis.Client, key string) int {
	t.Helper()
	c := newClient(t, addr)
	if err := c.Set(ctx, key, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	defer c.Del(ctx, key)
	o := owners(t, ctx, ds, key)
	if len(o) != 1 {
		t.Fatalf("%s is on servers %v", key, o)
	}
	return o[0]
}

// An idle dedicated connection handed from a client in one database to a
// client in another is switched first: nothing runs in the database the
// previous client left it in.
func TestDedicatedIdleAcrossDatabases(t *testing.T) {
	servers := testbed.Redises(t, 1)
	px, addrs := startWalnut(t, "[proxy]\nworkers = 1\n"+redisPool("p", servers, ""))
	ctx := context.Background()
	d0, d5, d7 := dbClient(t, servers[0].Addr, 0), dbClient(t, servers[0].Addr, 5), dbClient(t, servers[0].Addr, 7)
	leases := func() uint64 {
		for _, p := range px.Snapshot().Pools {
			if p.Name == "p" {
				return p.DedicatedLeases
			}
		}
		return 0
	}

	// A blocking pop in database 5 that times out leaves its connection
	// idle, in database 5.
	a := dialRaw(t, addrs["p"])
	a.do(t, "SELECT 5")
	if got := a.do(t, "BLPOP l 0.05"); got != "*-1\r\n" {
		t.Fatalf("BLPOP in database 5: %q", got)
	}
	if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "p") == 1 }) {
		t.Fatalf("%d dedicated connections after the first BLPOP", dedicatedOpen(px, "p"))
	}
	d0.RPush(ctx, "l", "db0")
	d5.RPush(ctx, "l", "db5")
	// A client in database 0 gets that connection back, and pops from
	// database 0; a client in database 5 from database 5.
	before := leases()
	b := dialRaw(t, addrs["p"])
	if got := b.do(t, "BLPOP l 1"); got != "*2\r\n$1\r\nl\r\n$3\r\ndb0\r\n" {
		t.Fatalf("BLPOP in database 0 on a connection left in database 5: %q", show(got))
	}
	if got := a.do(t, "BLPOP l 1"); got != "*2\r\n$1\r\nl\r\n$3\r\ndb5\r\n" {
		t.Fatalf("BLPOP in database 5 again: %q", show(got))
	}
	if n := dedicatedOpen(px, "p"); n != 1 || leases() != before+2 {
		t.Fatalf("%d dedicated connections, %d leases: the idle one was not reused", n, leases()-before)
	}

	// A transaction in database 7, then one in database 0, on the same
	// connection.
	a.do(t, "SELECT 7")
	for _, c := range []*rawConn{a, b} {
		c.send(t, cmd("MULTI")+cmd("SET k v")+cmd("INCR n")+cmd("EXEC"))
		for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "*2\r\n+OK\r\n:1\r\n"} {
			if got := c.reply(t); got != want {
				t.Fatalf("transaction: %q, want %q", show(got), show(want))
			}
		}
	}
	if n := dedicatedOpen(px, "p"); n != 1 {
		t.Fatalf("%d dedicated connections after the transactions", n)
	}
	for db, d := range map[int]*redis.Client{0: d0, 7: d7} {
		if v, err := d.Get(ctx, "n").Result(); err != nil || v != "1" {
			t.Errorf("database %d: n = %q, %v", db, v, err)
		}
	}
	if n, _ := d5.Exists(ctx, "k", "n").Result(); n != 0 {
		t.Errorf("database 5 got %d keys", n)
	}
}

// SELECT inside MULTI is refused, and the transaction with it: walnut
// switches databases per request, and a SELECT run by EXEC would change
// the transaction connection's database behind its back. The client
// stays in its database.
func TestSelectInsideMulti(t *testing.T) {
	servers, addr := redisWalnut(t, 1, "p", "")
	ctx := context.Background()
	c := dialRaw(t, addr)
	c.do(t, "SELECT 2")
	for _, step := range [][2]string{
		{"MULTI", "+OK\r\n"},
		{"SET k v", "+QUEUED\r\n"},
		{"SELECT 4", "-ERR walnut does not run SELECT inside a transaction: send it before MULTI\r\n"},
		{"EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n"},
		{"SET k after", "+OK\r\n"},
		{"CLIENT INFO", ""},
	} {
		got := c.do(t, step[0])
		if step[1] == "" {
			if !strings.Contains(got, " db=2 ") {
				t.Fatalf("%s: %q: not in database 2", step[0], got)
			}
			continue
		}
		if got != step[1] {
			t.Fatalf("%s: %q, want %q", step[0], got, step[1])
		}
	}
	if v, _ := dbClient(t, servers[0].Addr, 2).Get(ctx, "k").Result(); v != "after" {
		t.Fatalf("database 2: k = %q", v)
	}
}

// A database the server does not have (databases set larger than the
// servers'): the SELECT that starts a dedicated connection in it goes
// out alone, as on a shared connection, and its refusal fails what
// waited behind it; nothing runs in the database the connection was in.
func TestDedicatedSelectRefused(t *testing.T) {
	servers := testbed.Redises(t, 1)
	px, addrs := startWalnut(t, redisPool("p", servers, "databases = 32"))
	ctx := context.Background()
	refused := "-ERR SELECT 20 refused by the server: ERR DB index is out of range (pool p, server " + servers[0].Addr + ")\r\n"
	c := dialRaw(t, addrs["p"])
	c.do(t, "SELECT 20")
	c.send(t, cmd("MULTI")+cmd("SET leaked v")+cmd("EXEC"))
	for _, want := range []string{"+OK\r\n", refused, refused} {
		if got := c.reply(t); got != want {
			t.Fatalf("transaction in database 20: %q, want %q", got, want)
		}
	}
	if got := c.do(t, "BLPOP l 0.1"); got != refused {
		t.Fatalf("BLPOP in database 20: %q", got)
	}
	c.send(t, cmd("SUBSCRIBE ch"))
	if got := c.reply(t); got != refused {
		t.Fatalf("SUBSCRIBE in database 20: %q", got)
	}
	if !c.closed() {
		t.Fatal("the client whose subscription failed was not closed")
	}
	if n, err := dbClient(t, servers[0].Addr, 0).DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("database 0 holds %d keys (%v)", n, err)
	}
	if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "p") == 0 }) {
		t.Fatalf("%d dedicated connections left", dedicatedOpen(px, "p"))
	}
}

// Commands over the whole keyspace are refused inside MULTI, saying why,
// and the transaction aborts as for any command refused while queuing;
// the connection commands walnut answers itself are queued.
func TestKeyspaceInsideMulti(t *testing.T) {
	_, addr := redisWalnut(t, 2, "p", "allow_flush = true")
	c := dialRaw(t, addr)
	why := " inside a transaction: a transaction runs on the server of its keys, and it has none\r\n"
	for _, step := range [][2]string{
		{"MULTI", "+OK\r\n"},
		{"SET k v", "+QUEUED\r\n"},
		{"ECHO hi", "+QUEUED\r\n"},
		{"KEYS *", "-ERR walnut does not run KEYS" + why},
		{"DBSIZE", "-ERR walnut does not run DBSIZE" + why},
		{"SCAN 0", "-ERR walnut does not run SCAN" + why},
		{"RANDOMKEY", "-ERR walnut does not run RANDOMKEY" + why},
		{"SCRIPT LOAD return", "-ERR walnut does not run SCRIPT LOAD" + why},
		{"INFO servers", "-ERR walnut does not run INFO" + why},
		{"FLUSHDB", "-ERR walnut does not run FLUSHDB" + why},
		{"TIME", "-ERR walnut does not run TIME" + why},
		{"EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n"},
		{"GET k", "$-1\r\n"},
		{"DBSIZE", ":0\r\n"},
	} {
		if got := c.do(t, step[0]); got != step[1] {
			t.Fatalf("%s: %q, want %q", step[0], got, step[1])
		}
	}
}

// A server that never answers the SELECT ahead of a blocking command:
// the pool's timeout applies to the SELECT (a blocking command's own
// timeout extends only its own wait), and the client is told.
func TestDedicatedSelectTimesOut(t *testing.T) {
	addr := fakeServer(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // reads, never answers
	_, addrs := startWalnut(t, "[pools.p]\nlisten = \"127.0.0.1:0\"\ntimeout = \"200ms\"\nservers = [\""+addr+":1\"]\n")
	c := dialRaw(t, addrs["p"])
	c.do(t, "SELECT 3")
	start := time.Now()
	got := c.do(t, "BLPOP l 0")
	if want := "-ERR Connection timed out (pool p, server " + addr + ": no reply within 200ms)\r\n"; got != want {
		t.Fatalf("BLPOP behind a SELECT that is never answered: %q, want %q", got, want)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the timeout took %v", took)
	}
}
