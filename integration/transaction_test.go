package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// Transactions through walnut answer what one redis-server answers,
// byte for byte, whether the commands come one at a time or pipelined
// in one write (which cuts walnut's rounds where the connection
// changes: shared, then the transaction's, then shared).
func TestTransactionsLikeRedis(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "alpha", "hash = \"md5\"\nhash_tag = \"{}\"")
	single := testbed.Redis(t)
	sequences := map[string][]string{
		"basic":            {"MULTI", "SET {t}a 1", "INCR {t}a", "GET {t}a", "EXEC", "GET {t}a"},
		"empty":            {"MULTI", "EXEC"},
		"nested":           {"MULTI", "MULTI", "SET {t}b 1", "EXEC"},
		"without multi":    {"EXEC", "DISCARD", "UNWATCH"},
		"watch in multi":   {"MULTI", "WATCH {t}a", "SET {t}c 1", "EXEC"},
		"queuing error":    {"MULTI", "SET {t}d 1", "GET", "SET {t}d 2", "EXEC", "GET {t}d"},
		"error first":      {"MULTI", "GET", "SET {t}d2 1", "EXEC", "GET {t}d2"},
		"discard":          {"MULTI", "SET {t}e 1", "DISCARD", "GET {t}e", "DISCARD"},
		"discard empty":    {"MULTI", "DISCARD", "EXEC"},
		"watch":            {"WATCH {t}f", "MULTI", "SET {t}f 1", "EXEC", "GET {t}f"},
		"watch empty":      {"WATCH {t}f", "MULTI", "EXEC"},
		"watch discard":    {"WATCH {t}f", "MULTI", "SET {t}f 2", "DISCARD", "GET {t}f"},
		"unwatch":          {"WATCH {t}g", "UNWATCH", "UNWATCH", "MULTI", "SET {t}g x", "PING", "PING hi", "GET {t}g", "EXEC"},
		"blocking in tx":   {"MULTI", "DEL {t}list", "BLPOP {t}list 0", "BRPOP {t}list {t}other 0", "EXEC"},
		"split in tx":      {"MULTI", "MSET {t}j 1 {t}k 2", "MGET {t}j {t}missing {t}k", "DEL {t}j {t}k", "EXEC"},
		"runtime error":    {"MULTI", "SET {t}s str", "INCR {t}s", "GET {t}s", "EXEC"},
		"exec arity":       {"MULTI", "SET {t}x 1", "EXEC extra", "EXEC"},
		"mixed":            {"SET {t}m 1", "GET {t}m", "MULTI", "INCR {t}m", "EXEC", "GET {t}m", "WATCH {t}m", "GET {t}m", "MULTI", "INCR {t}m", "EXEC", "GET {t}m"},
		"two transactions": {"MULTI", "SET {t}n 1", "EXEC", "MULTI", "INCR {t}n", "EXEC", "WATCH {t}n", "UNWATCH", "MULTI", "INCR {t}n", "EXEC"},
		"publish in tx":    {"MULTI", "SET {t}p 1", "PUBLISH {t}chan hello", "EXEC"},
		"wait in tx":       {"MULTI", "SET {t}w 1", "WAIT 0 0", "EXEC"},
		// Commands walnut answers itself are queued, and answered by
		// EXEC in their place, with or without a server.
		"local only":       {"MULTI", "ECHO x", "PING", "PING hi", "CLIENT GETNAME", "EXEC"},
		"local and server": {"MULTI", "ECHO a", "SET {t}q 1", "ECHO b", "INCR {t}q", "COMMAND GETKEYS SET k v", "PING", "EXEC"},
		"local errors":     {"MULTI", "COMMAND GETKEYS PING x", "AUTH pw", "SET {t}q 2", "EXEC"},
		"local watched":    {"SET {t}f 0", "WATCH {t}f", "MULTI", "ECHO x", "EXEC", "WATCH {t}f", "MULTI", "ECHO y", "EXEC"},
		"local discard":    {"MULTI", "ECHO x", "DISCARD", "EXEC"},
		"local arity":      {"MULTI", "ECHO", "SET {t}q 3", "EXEC", "GET {t}q"},
		"reset in tx":      {"MULTI", "SET {t}r 1", "ECHO x", "RESET", "GET {t}r", "EXEC"},
		"reset watching":   {"WATCH {t}r", "RESET", "EXEC", "MULTI", "SET {t}r 2", "EXEC"},
		// SELECT between WATCH and MULTI: the watch stays, the
		// transaction runs in the new database.
		"select after watch": {"SET {t}z 0", "WATCH {t}z", "SELECT 1", "MULTI", "SET {t}z 1", "EXEC", "GET {t}z", "SELECT 0", "GET {t}z"},
		"select in tx":       {"SELECT 2", "MULTI", "SET {t}y 1", "EXEC", "GET {t}y", "RESET", "GET {t}y"},
	}
	for name, cmds := range sequences {
		for _, pipelined := range []bool{false, true} {
			// Each run starts from the same data.
			for _, s := range append(servers, single) {
				exchange(t, s.Addr, []string{"FLUSHALL"}, false)
			}
			got := exchange(t, addr, cmds, pipelined)
			want := exchange(t, single.Addr, cmds, pipelined)
			compareReplies(t, fmt.Sprintf("%s (pipelined %v)", name, pipelined), cmds, got, want)
		}
	}
}

// go-redis' TxPipelined (MULTI/EXEC) with hash-tagged keys, over three
// servers: each transaction runs where its tag lives.
func TestTxPipelineHashTag(t *testing.T) {
	servers := testbed.Redises(t, 3)
	px, addrs := startWalnut(t, redisPool("alpha", servers, "hash = \"md5\"\nhash_tag = \"{}\""))
	ctx := context.Background()
	c := newClient(t, addrs["alpha"])
	ds := direct(t, servers)
	used := map[int]bool{}
	for user := 0; user < 20 || len(used) < 3 && user < 200; user++ {
		tag := fmt.Sprintf("{user%d}", user)
		cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, tag+":name", "ann", 0)
			p.Incr(ctx, tag+":visits")
			p.HSet(ctx, tag+":profile", "age", user)
			p.Get(ctx, tag+":name")
			return nil
		})
		if err != nil {
			t.Fatalf("TxPipelined %s: %v", tag, err)
		}
		if got := cmds[3].(*redis.StringCmd).Val(); got != "ann" {
			t.Fatalf("GET in the transaction = %q", got)
		}
		if n := cmds[1].(*redis.IntCmd).Val(); n != 1 {
			t.Fatalf("INCR in the transaction = %d", n)
		}
		o := owners(t, ctx, ds, tag+":name")
		for _, k := range []string{":visits", ":profile"} {
			if o2 := owners(t, ctx, ds, tag+k); len(o) != 1 || fmt.Sprint(o2) != fmt.Sprint(o) {
				t.Fatalf("%s keys on servers %v and %v", tag, o, o2)
			}
		}
		used[o[0]] = true
	}
	if len(used) != 3 {
		t.Errorf("transactions ran on servers %v, want all 3", used)
	}
	// The transactions' connections went back to the idle set, and no
	// more were made than a few.
	snap := px.Snapshot().Pools[0]
	if snap.DedicatedLeases < 20 || snap.DedicatedConnections > 3 {
		t.Errorf("after 20 transactions: %d leases, %d dedicated connections open", snap.DedicatedLeases, snap.DedicatedConnections)
	}
}

// WATCH: another client changing the key makes EXEC answer nil, which
// go-redis reports as TxFailedErr; without a change, it commits.
func TestTransactionWatchConflict(t *testing.T) {
	_, addr := redisWalnut(t, 3, "alpha", "hash = \"md5\"\nhash_tag = \"{}\"")
	ctx := context.Background()
	c := newClient(t, addr)
	other := newClient(t, addr)
	const key = "{acct}:balance"
	if err := c.Set(ctx, key, 100, 0).Err(); err != nil {
		t.Fatal(err)
	}
	withdraw := func(amount int, meddle bool) error {
		return c.Watch(ctx, func(tx *redis.Tx) error {
			n, err := tx.Get(ctx, key).Int()
			if err != nil {
				return err
			}
			if meddle {
				if err := other.IncrBy(ctx, key, 1000).Err(); err != nil {
					return err
				}
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, n-amount, 0)
				p.Set(ctx, "{acct}:log", fmt.Sprintf("withdrew %d", amount), 0)
				return nil
			})
			return err
		}, key)
	}
	if err := withdraw(10, true); !errors.Is(err, redis.TxFailedErr) {
		t.Fatalf("WATCH with a concurrent change: %v, want %v", err, redis.TxFailedErr)
	}
	if n, _ := c.Get(ctx, key).Int(); n != 1100 {
		t.Fatalf("balance after the failed transaction = %d, want 1100", n)
	}
	if err := c.Get(ctx, "{acct}:log").Err(); err != redis.Nil {
		t.Fatalf("the failed transaction wrote its log: %v", err)
	}
	if err := withdraw(10, false); err != nil {
		t.Fatalf("WATCH without a change: %v", err)
	}
	if n, _ := c.Get(ctx, key).Int(); n != 1090 {
		t.Fatalf("balance = %d, want 1090", n)
	}
	// Raw: the change comes from a client of another server connection
	// type (a plain SET, shared pipeline); EXEC answers a nil array.
	raw := dialRaw(t, addr)
	for _, step := range []struct{ send, want string }{
		{"WATCH {acct}:balance", "+OK\r\n"},
		{"MULTI", "+OK\r\n"},
		{"INCR {acct}:balance", "+QUEUED\r\n"},
	} {
		raw.send(t, cmd(step.send))
		if got, _ := readValue(raw.r); got != step.want {
			t.Fatalf("%s: %q", step.send, got)
		}
	}
	if err := other.Set(ctx, key, 0, 0).Err(); err != nil {
		t.Fatal(err)
	}
	raw.send(t, cmd("EXEC"))
	if got, _ := readValue(raw.r); got != "*-1\r\n" {
		t.Fatalf("EXEC after a change to a watched key: %q, want *-1", got)
	}
}

// A transaction whose keys live on two servers: the command that names
// the other server's key is refused with a clear error, EXEC answers
// EXECABORT as Redis does for a queuing error, nothing is written, and
// the connection goes on.
func TestTransactionAcrossServers(t *testing.T) {
	servers := testbed.Redises(t, 3)
	px, addrs := startWalnut(t, redisPool("alpha", servers, "hash = \"md5\"\nhash_tag = \"{}\""))
	ctx := context.Background()
	c := newClient(t, addrs["alpha"])
	keys := keysApart(t, ctx, c, direct(t, servers), 2)
	a, b := keys[0], keys[1]
	wantErr := fmt.Sprintf("ERR keys in a transaction must live on one server: %q is not with %q (use a hash tag)", b, a)

	cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, a, "1", 0)
		p.Set(ctx, b, "2", 0)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "EXECABORT") {
		t.Fatalf("TxPipelined across servers: %v, want EXECABORT", err)
	}
	if len(cmds) != 2 || cmds[1].Err() == nil || cmds[1].Err().Error() != wantErr {
		t.Fatalf("the command naming %s: %v, want %q", b, cmds, wantErr)
	}
	if n, err := c.Exists(ctx, a, b).Result(); err != nil || n != 0 {
		t.Fatalf("after the refused transaction, EXISTS = %d, %v", n, err)
	}
	if err := c.Set(ctx, a, "still usable", 0).Err(); err != nil {
		t.Fatalf("the connection after a refused transaction: %v", err)
	}

	// Raw, step by step, with WATCH too.
	raw := dialRaw(t, addrs["alpha"])
	steps := []struct{ send, want string }{
		{"MULTI", "+OK\r\n"},
		{"SET " + a + " x", "+QUEUED\r\n"},
		{"SET " + b + " y", "-" + wantErr + "\r\n"},
		{"GET " + a, "+QUEUED\r\n"},
		{"EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n"},
		{"GET " + a, "$12\r\nstill usable\r\n"},
		// A first command over two servers names its own keys.
		{"MULTI", "+OK\r\n"},
		{"MSET " + a + " 1 " + b + " 2", fmt.Sprintf("-ERR keys in a transaction must live on one server: %q is not with %q (use a hash tag)\r\n", b, a)},
		{"EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n"},
		// WATCH pins the transaction's server too.
		{"WATCH " + a, "+OK\r\n"},
		{"WATCH " + b, "-" + wantErr + "\r\n"},
		{"MULTI", "+OK\r\n"},
		{"SET " + b + " y", "-" + wantErr + "\r\n"},
		{"EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n"},
		// And then a transaction on the other server is free to run.
		{"MULTI", "+OK\r\n"},
		{"SET " + b + " z", "+QUEUED\r\n"},
		{"EXEC", "*1\r\n+OK\r\n"},
		{"GET " + b, "$1\r\nz\r\n"},
		// A keyless command for a server before the transaction's first
		// key (PING, which walnut answers, is queued without one).
		{"MULTI", "+OK\r\n"},
		{"PING", "+QUEUED\r\n"},
		{"LOLWUT", "-ERR walnut cannot queue LOLWUT before a command with a key: the transaction's server is not chosen yet\r\n"},
		{"SET " + a + " never", "+QUEUED\r\n"},
		{"EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n"},
		{"GET " + a, "$12\r\nstill usable\r\n"},
	}
	for _, s := range steps {
		raw.send(t, cmd(s.send))
		if got, err := readValue(raw.r); got != s.want {
			t.Fatalf("%s: got %q (%v), want %q", s.send, show(got), err, show(s.want))
		}
	}
	// Every transaction's connection is clean and back in the idle set:
	// a later blocking command on one is not answered QUEUED.
	if v, err := c.Do(ctx, "BLPOP", a+"list", "0.05").Result(); err != redis.Nil {
		t.Fatalf("BLPOP after the transactions: %v, %v", v, err)
	}
	if snap := px.Snapshot().Pools[0]; snap.DedicatedConnections > 3 {
		t.Errorf("%d dedicated connections open after the transactions", snap.DedicatedConnections)
	}
}
