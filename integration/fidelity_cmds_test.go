package integration

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// Issue 16's client and keyspace commands, each compared with what one
// redis-server 7.0 answers: a pool of one server is that server, and a
// pool of several answers as one server would wherever it can.

// rawExchange sends each RESP request on a new connection to addr and
// returns one reply per request.
func rawExchange(t testing.TB, addr string, reqs []string) []string {
	t.Helper()
	c := dialRaw(t, addr)
	var out []string
	for _, r := range reqs {
		c.send(t, r)
		v, err := readValue(c.r)
		if err != nil {
			t.Fatalf("%s: reading the reply to %q: %v", addr, r, err)
		}
		out = append(out, v)
	}
	return out
}

// hello3 dials addr as a RESP3 client: one that said HELLO 3.
func hello3(t testing.TB, addr string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	if got := c.call(t, "HELLO", "3"); !strings.HasPrefix(got, "%") {
		t.Fatalf("%s: HELLO 3: %q", addr, got)
	}
	return c
}

// exchange3 is exchange, one command at a time, for a RESP3 client.
func exchange3(t testing.TB, addr string, cmds []string) []string {
	t.Helper()
	c := hello3(t, addr)
	var out []string
	for _, s := range cmds {
		c.send(t, cmd(s))
		v, err := readValue(c.r)
		if err != nil {
			t.Fatalf("%s: reading the reply to %q: %v (got %q so far)", addr, s, err, out)
		}
		out = append(out, v)
	}
	return out
}

// stream sends all of reqs, then a PING with a marker, and returns every
// byte that came before the marker's answer: for requests that may have
// no reply at all.
func stream(t testing.TB, addr string, reqs []string) string {
	t.Helper()
	return streamOn(t, dialRaw(t, addr), reqs)
}

// streamOn is stream on a connection of the caller's.
func streamOn(t testing.TB, c *rawConn, reqs []string) string {
	t.Helper()
	const marker = "--end-of-stream--"
	c.send(t, strings.Join(reqs, "")+resp("PING", marker))
	var got string
	for {
		v, err := readValue(c.r)
		if err != nil {
			t.Fatalf("%s: reading: %v (got %q)", c.RemoteAddr(), err, got)
		}
		if v == "$17\r\n"+marker+"\r\n" {
			return got
		}
		got += v
	}
}

// The same commands through walnut and on one redis-server, inline.
func compareInline(t *testing.T, name, walnut, server string, cmds []string) {
	t.Helper()
	compareReplies(t, name, cmds, exchange(t, walnut, cmds, false), exchange(t, server, cmds, false))
}

// compareInline3 is compareInline for RESP3 clients.
func compareInline3(t *testing.T, name, walnut, server string, cmds []string) {
	t.Helper()
	compareReplies(t, name+" RESP3", cmds, exchange3(t, walnut, cmds), exchange3(t, server, cmds))
}

// A pool of one server answers what walnut refuses across servers as
// the server does: keyless commands, HELP texts, unknown commands (a
// module's), argument errors; only server administration is refused.
func TestOneServerIsTheServer(t *testing.T) {
	servers, addr := redisWalnut(t, 1, "p", "")
	ref := testbed.Redis(t)
	setup := []string{"SET a 1", "RPUSH l 3 1 2", "ZADD z 1 m", "XADD st 1-1 f v", "HSET h f v", "SET w_1 5"}
	exchange(t, addr, setup, true)
	exchange(t, ref.Addr, setup, true)
	same := []string{
		"CONFIG GET maxmemory", "CONFIG GET lua-time-limit", "SLOWLOG LEN", "SLOWLOG GET 0", "LATENCY LATEST",
		"MEMORY DOCTOR", "MEMORY USAGE a", "OBJECT ENCODING l", "OBJECT FREQ a", "ACL WHOAMI", "ACL CAT", "ACL USERS",
		"ACL LOG", "MODULE LIST", "COMMAND COUNT", "COMMAND INFO get", "COMMAND GETKEYS SORT k STORE d",
		"OBJECT HELP", "CLIENT HELP", "CONFIG HELP", "XINFO HELP", "XGROUP HELP", "MEMORY HELP", "PUBSUB HELP",
		"SLOWLOG HELP", "LATENCY HELP", "COMMAND HELP",
		"NOSUCH a b", "OBJECT NOPE", "JSON.GET k", "READONLY",
		"ZUNION 0 x", "LMPOP 0 LEFT x", "SINTERCARD 0 x", "ZMPOP 0 x MIN", "BZMPOP 0 0 x MIN", "ZINTER 0 x",
		"ZDIFF 0 x", "ZUNIONSTORE d 0 x", "ZINTERCARD 0 x", "BLMPOP 0 0 LEFT x",
		"PING", "PING hi", "ECHO x", "DBSIZE", "KEYS a", "SCAN 0 MATCH a", "EXISTS a l nope", "TYPE st",
		"SORT l BY w_* GET #", "SORT l BY nosort", "SELECT 20", "PUBSUB NUMSUB a", "PUBSUB NUMPAT",
		"CLIENT TRACKINGINFO", "CLIENT GETREDIR", "CLIENT NO-EVICT on", "CLIENT CACHING yes", "CLIENT TRACKING off",
		"CLIENT NO-TOUCH on", "INFO nosuch", "FUNCTION NOPE", "SCRIPT NOPE x", "FUNCTION HELP", "SCRIPT HELP",
		"FUNCTION LIST", "SCRIPT EXISTS abc", "SCRIPT FLUSH x",
	}
	compareInline(t, "one server", addr, ref.Addr, same)
	// A RESP3 client's requests reach the server on a connection in
	// RESP3, so the server's own RESP3 forms come back (CONFIG GET's map,
	// COMMAND's sets...); a RESP2 client's, on the same shared
	// connection, still get RESP2.
	compareInline3(t, "one server", addr, ref.Addr, same)
	if got := hello3(t, addr).do(t, "CONFIG GET maxmemory"); !strings.HasPrefix(got, "%1\r\n") {
		t.Errorf("CONFIG GET for a RESP3 client: %q, want a map", got)
	}
	if got := dialRaw(t, addr).do(t, "CONFIG GET maxmemory"); !strings.HasPrefix(got, "*2\r\n") {
		t.Errorf("CONFIG GET for a RESP2 client after a RESP3 one: %q, want an array", got)
	}
	// Server administration stays refused, and the server untouched.
	c := dialRaw(t, addr)
	for _, cmd := range []string{"CONFIG SET maxmemory 1", "CONFIG REWRITE", "CONFIG RESETSTAT", "DEBUG SLEEP 0",
		"SHUTDOWN", "MONITOR", "SAVE", "BGSAVE", "BGREWRITEAOF", "REPLICAOF no one", "SLAVEOF no one", "FAILOVER",
		"ACL SETUSER x", "ACL DELUSER x", "ACL LOG RESET", "CLUSTER INFO", "MODULE LOAD x", "SWAPDB 0 1", "MOVE a 1",
		"COPY a b DB 1", "CLIENT KILL ID 1", "CLIENT PAUSE 1", "SYNC", "SCRIPT DEBUG yes"} {
		name, sub, _ := strings.Cut(strings.ToUpper(cmd), " ")
		if i := strings.IndexByte(sub, ' '); i >= 0 {
			sub = sub[:i]
		}
		want := "-ERR unsupported command '" + name + "'\r\n"
		if got := c.do(t, cmd); got != want && got != "-ERR unsupported command '"+name+" "+sub+"'\r\n" {
			t.Errorf("one server: %s: %q, want it refused", cmd, got)
		}
	}
	d := newClient(t, servers[0].Addr)
	if v, err := d.ConfigGet(context.Background(), "maxmemory").Result(); err != nil || v["maxmemory"] != "0" {
		t.Errorf("the server's maxmemory: %v %v", v, err)
	}
	if got := c.do(t, "GET a"); got != "$1\r\n1\r\n" {
		t.Errorf("after the refusals: %q", got)
	}
}

// Inside a transaction on a pool of one server, commands without keys
// are queued on the server as it queues them, and what Redis refuses
// while queuing is refused in its words.
func TestOneServerTransaction(t *testing.T) {
	_, addr := redisWalnut(t, 1, "p", "")
	ref := testbed.Redis(t)
	cmds := []string{"MULTI", "CONFIG GET maxmemory", "DBSIZE", "PING", "KEYS a", "SET a 1", "ZUNION 0 x", "NOSUCH",
		"EXEC", "MULTI", "DBSIZE", "EXEC", "MULTI", "SET b 2", "SAVE", "EXEC", "GET b",
		"MULTI", "CONFIG GET maxmemory", "HSET h f v", "HGETALL h", "GET nokey", "EXEC"}
	compareReplies(t, "one server MULTI", cmds, exchange(t, addr, cmds, false), exchange(t, ref.Addr, cmds, false))
	// EXEC's reply in RESP3 holds the server's RESP3 forms (maps, nulls).
	compareInline3(t, "one server MULTI", addr, ref.Addr, cmds)
}

// A script that keeps a one-server pool's server busy makes PING answer
// BUSY through walnut, as a client of the server would be answered.
func TestOneServerPingBusy(t *testing.T) {
	servers, addr := redisWalnut(t, 1, "p", "")
	ctx := context.Background()
	d := newClient(t, servers[0].Addr, func(o *redis.Options) { o.ReadTimeout = 10 * time.Second })
	if err := d.ConfigSet(ctx, "lua-time-limit", "100").Err(); err != nil {
		t.Fatal(err)
	}
	const busy = `local s = redis.call('TIME')
while true do
  local n = redis.call('TIME')
  if (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 1500000 then return 1 end
end`
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.Eval(ctx, busy, nil)
	}()
	defer wg.Wait()
	c := dialRaw(t, addr)
	if !waitFor(time.Second, func() bool { return strings.HasPrefix(c.do(t, "PING"), "-BUSY ") }) {
		t.Fatal("PING through a one-server pool never answered BUSY while a script ran")
	}
	wg.Wait()
	if got := c.do(t, "PING"); got != "+PONG\r\n" {
		t.Errorf("PING after the script: %q", got)
	}
}

// On a pool of several servers, what any server answers the same (HELP
// texts, argument errors without a key to route by) is relayed to one,
// and what no server knows gets Redis 7's words.
func TestManyServersAnswerAsOne(t *testing.T) {
	_, addr := redisWalnut(t, 3, "p", "")
	ref := testbed.Redis(t)
	setup := []string{"XADD st 1-1 f v", "XADD st 2-1 g w", "RPUSH l a b", "SET n 12"}
	exchange(t, addr, setup, true)
	exchange(t, ref.Addr, setup, true)
	same := []string{
		// Subcommands with a key go to its server.
		"OBJECT ENCODING l", "OBJECT ENCODING n", "OBJECT REFCOUNT l", "OBJECT FREQ l", "MEMORY USAGE n",
		"XGROUP CREATE st g 0", "XGROUP CREATECONSUMER st g c", "XREADGROUP GROUP g c COUNT 1 STREAMS st >",
		"XINFO GROUPS st", "XINFO CONSUMERS st nog", "XGROUP SETID st g $", "XGROUP DELCONSUMER st g c",
		"XGROUP DESTROY st g", "XINFO STREAM nosuch", "OBJECT ENCODING nosuch",
		"ZUNION 0 x", "LMPOP 0 LEFT x", "LMPOP abc LEFT x", "SINTERCARD 0 x", "ZMPOP 0 x MIN", "BZMPOP 0 0 x MIN",
		"ZINTER 0 x", "ZDIFF 0 x", "ZUNIONSTORE d 0 x", "ZINTERSTORE d 0 x", "ZDIFFSTORE d 0 x", "ZINTERCARD 0 x",
		"BLMPOP 0 0 LEFT x", "ZUNION -1 a", "ZUNION abc a",
		"OBJECT HELP", "XINFO HELP", "XGROUP HELP", "MEMORY HELP", "CLIENT HELP", "PUBSUB HELP", "CONFIG HELP",
		"COMMAND HELP", "ACL HELP", "SCRIPT HELP", "FUNCTION HELP", "FUNCTION NOPE", "SCRIPT NOPE x", "SCRIPT FLUSH x",
		"NOSUCH", "NOSUCH a b", "nosuch 1 2 3 4", "OBJECT NOPE", "object nope k", "CONFIG", "OBJECT", "CLIENT NOPE",
		"CLIENT TRACKINGINFO", "CLIENT GETREDIR", "CLIENT CACHING no", "CLIENT NO-EVICT off", "CLIENT NO-EVICT x",
		"CLIENT REPLY x", "CLIENT UNBLOCK 99999", "CLIENT UNBLOCK x", "CLIENT UNBLOCK 1 later", "CLIENT UNBLOCK 1 error x",
		"GET", "SET k", "PING",
	}
	compareInline(t, "3 servers", addr, ref.Addr, same)
	// For RESP3 clients: TRACKINGINFO's map and the relayed replies as
	// servers in RESP3 send them (the XINFO and XREADGROUP maps...).
	for _, at := range []string{addr, ref.Addr} {
		exchange(t, at, []string{"DEL st", "XADD st 1-1 f v", "XADD st 2-1 g w"}, true)
	}
	compareInline3(t, "3 servers", addr, ref.Addr, same)
	// Unknown commands with arguments that Redis cuts, quotes and cleans.
	long := strings.Repeat("x", 200)
	reqs := []string{resp("NOSUCH", "a\r\nb", "c\x00d", "e"), resp(long, long), resp("n", long, "b"),
		resp("n", strings.Repeat("y", 100), strings.Repeat("z", 100), "w"), resp("OBJECT", "n\nope"),
		resp("OBJECT", long), resp("n", "", "''")}
	compareReplies(t, "unknown", reqs, rawExchange(t, addr, reqs), rawExchange(t, ref.Addr, reqs))
	// Multibulk counts of 0 or less are skipped without a reply.
	reqs = []string{"*0\r\n", "*-1\r\n", "*-10\r\n", resp("PING", "x"), "*-999\r\n"}
	if w, r := stream(t, addr, reqs), stream(t, ref.Addr, reqs); w != r || w != "$1\r\nx\r\n" {
		t.Errorf("empty multibulks: walnut %q, redis-server %q", w, r)
	}
}

// Commands Redis refuses inside MULTI (flagged no-multi) get its words,
// and abort the transaction as there.
func TestMultiRefusals(t *testing.T) {
	_, addr := redisWalnut(t, 3, "p", "")
	ref := testbed.Redis(t)
	cmds := []string{"MULTI", "SET a 1", "SAVE", "SHUTDOWN", "SYNC", "PSYNC ? -1", "WATCH a", "EXEC", "GET a",
		"MULTI", "SAVE x", "EXEC"}
	compareReplies(t, "MULTI", cmds, exchange(t, addr, cmds, false), exchange(t, ref.Addr, cmds, false))
}

// Commands of two keys work when their keys share a server, and are
// refused, naming the keys, when they do not.
func TestTwoKeyCommands(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", "hash_tag = \"{}\"")
	ref := testbed.Redis(t)
	ctx := context.Background()
	setup := []string{"SET {t}a v", "SADD {t}s1 m n", "SADD {t}s2 x", "RPUSH {t}l1 1 2 3", "GEOADD {t}g 0 0 p",
		"ZADD {t}z 1 a 2 b"}
	exchange(t, addr, setup, true)
	exchange(t, ref.Addr, setup, true)
	compareInline(t, "two keys", addr, ref.Addr, []string{
		"COPY {t}a {t}b", "COPY {t}a {t}b", "COPY {t}a {t}b REPLACE", "GET {t}b", "SMOVE {t}s1 {t}s2 m",
		"SCARD {t}s2", "SISMEMBER {t}s2 m", "LMOVE {t}l1 {t}l2 LEFT RIGHT", "RPOPLPUSH {t}l1 {t}l2", "LRANGE {t}l2 0 -1",
		"RENAME {t}a {t}r", "RENAMENX {t}r {t}b", "GEOSEARCHSTORE {t}gd {t}g FROMLONLAT 0 0 BYRADIUS 100 km",
		"ZRANGESTORE {t}zd {t}z 0 -1", "SINTERSTORE {t}sd {t}s1 {t}s2", "SDIFFSTORE {t}sd {t}s2 {t}s1",
		"BLMOVE {t}l1 {t}l2 LEFT LEFT 0.1", "LRANGE {t}l2 0 -1", "BRPOPLPUSH {t}l2 {t}l1 0.1", "LMOVE {t}l1 {t}l1 LEFT RIGHT",
	})
	// The same in RESP3, from the state the commands left on both sides.
	compareInline3(t, "two keys", addr, ref.Addr, []string{
		"COPY {t}b {t}c", "SMOVE {t}s2 {t}s1 m", "SISMEMBER {t}s1 m", "SMISMEMBER {t}s1 m x", "LMOVE {t}l1 {t}l2 LEFT RIGHT", "GET {t}nokey",
		"BLMOVE {t}nol {t}l2 LEFT LEFT 0.1", "BRPOPLPUSH {t}nol {t}l1 0.1", "ZRANGESTORE {t}zd {t}z 0 -1", "ZRANGE {t}zd 0 -1 WITHSCORES",
	})
	k := keysApart(t, ctx, newClient(t, addr), direct(t, servers), 2)
	c := dialRaw(t, addr)
	c.do(t, "SET "+k[0]+" v")
	for _, tc := range []struct{ cmd, name string }{
		{"COPY %0 %1", "COPY"}, {"SMOVE %0 %1 m", "SMOVE"}, {"LMOVE %0 %1 LEFT RIGHT", "LMOVE"},
		{"RPOPLPUSH %0 %1", "RPOPLPUSH"}, {"RENAME %0 %1", "RENAME"}, {"RENAMENX %0 %1", "RENAMENX"},
		{"GEOSEARCHSTORE %1 %0 FROMLONLAT 0 0 BYRADIUS 1 km", "GEOSEARCHSTORE"}, {"ZRANGESTORE %1 %0 0 -1", "ZRANGESTORE"},
		{"SINTERSTORE %1 %0", "SINTERSTORE"},
	} {
		cmd := strings.NewReplacer("%0", k[0], "%1", k[1]).Replace(tc.cmd)
		got := c.do(t, cmd)
		if !strings.HasPrefix(got, "-ERR keys of "+tc.name+" are on different servers: ") || !strings.Contains(got, "(use a hash tag)") {
			t.Errorf("%s across servers: %q", cmd, got)
		}
	}
	if got := c.do(t, "BLMOVE "+k[0]+" "+k[1]+" LEFT LEFT 0.1"); !strings.HasPrefix(got, "-ERR keys of a blocking command must live on one server") {
		t.Errorf("BLMOVE across servers: %q", got)
	}
}

// CLIENT REPLY OFF and SKIP silence walnut's replies as Redis silences
// its own, errors included; the requests still run.
func TestClientReply(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", "")
	ref := testbed.Redis(t)
	k := keysApart(t, context.Background(), newClient(t, addr), direct(t, servers), 2)
	reqs := []string{cmd("CLIENT REPLY SKIP"), cmd("SET a 1"), cmd("GET a"), cmd("CLIENT REPLY OFF"), cmd("SET a 2"),
		cmd("GET a"), cmd("NOSUCH"), cmd("MGET a b"), cmd("KEYS nothing*"), cmd("CLIENT REPLY SKIP"),
		cmd("CLIENT REPLY ON"), cmd("GET a"), cmd("CLIENT REPLY SKIP"), "*0\r\n", cmd("GET a"),
		cmd("CLIENT REPLY SKIP"), cmd("CLIENT REPLY SKIP"), cmd("GET a"), cmd("ECHO e"),
		cmd("CLIENT REPLY OFF"), cmd("RENAME " + k[0] + " " + k[1]), cmd("CLIENT REPLY ON")}
	w, r := stream(t, addr, reqs), stream(t, ref.Addr, reqs)
	if w != r {
		t.Errorf("CLIENT REPLY: walnut %q, redis-server %q", show(w), show(r))
	}
	w, r = streamOn(t, hello3(t, addr), reqs), streamOn(t, hello3(t, ref.Addr), reqs)
	if w != r {
		t.Errorf("CLIENT REPLY, RESP3: walnut %q, redis-server %q", show(w), show(r))
	}
	if got := exchange(t, addr, []string{"GET a"}, false)[0]; got != "$1\r\n2\r\n" {
		t.Errorf("the silenced SET did not run: %q", got)
	}
}

// CLIENT UNBLOCK wakes a client blocked through walnut, by the id CLIENT
// ID gave it, with a timeout or an error, as Redis does: for RESP2 and
// RESP3 clients alike (a RESP3 one blocks on a connection in RESP3,
// whose CLIENT ID walnut reads all the same).
func TestClientUnblock(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+itoa(proto), func(t *testing.T) { clientUnblock(t, proto) })
	}
}

func clientUnblock(t *testing.T, proto int) {
	_, addr := redisWalnut(t, 3, "p", "")
	ctx := context.Background()
	a := newClient(t, addr, func(o *redis.Options) { o.PoolSize = 1; o.ReadTimeout = 30 * time.Second; o.Protocol = proto })
	id, err := a.ClientID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	b := dialRaw(t, addr)
	if proto == 3 {
		b = hello3(t, addr)
	}
	for _, tc := range []struct {
		reason string
		want   func(error) bool
	}{
		{"", func(err error) bool { return errors.Is(err, redis.Nil) }},
		{" TIMEOUT", func(err error) bool { return errors.Is(err, redis.Nil) }},
		{" ERROR", func(err error) bool {
			return err != nil && err.Error() == "UNBLOCKED client unblocked via CLIENT UNBLOCK"
		}},
	} {
		done := make(chan error, 1)
		go func() { done <- a.BLPop(ctx, 0, "q").Err() }()
		unblock := "CLIENT UNBLOCK " + itoa(int(id)) + tc.reason
		if !waitFor(5*time.Second, func() bool { return b.do(t, unblock) == ":1\r\n" }) {
			t.Fatalf("%s never answered 1", unblock)
		}
		select {
		case err := <-done:
			if !tc.want(err) {
				t.Errorf("%s: the blocked client got %v", unblock, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s answered 1, yet the client is still blocked", unblock)
		}
		if got := b.do(t, unblock); got != ":0\r\n" {
			t.Errorf("%s once the client is awake: %q, want :0", unblock, got)
		}
	}
	// blocked_clients counts it meanwhile.
	done := make(chan error, 1)
	go func() { done <- a.BLPop(ctx, 0, "q").Err() }()
	if !waitFor(5*time.Second, func() bool {
		return strings.Contains(b.do(t, "INFO clients"), "blocked_clients:1\r\n")
	}) {
		t.Error("INFO never showed the blocked client")
	}
	newClient(t, addr).RPush(ctx, "q", "v")
	if err := <-done; err != nil {
		t.Errorf("BLPOP: %v", err)
	}
	if got := b.do(t, "CLIENT UNBLOCK "+itoa(int(id))); got != ":0\r\n" {
		t.Errorf("CLIENT UNBLOCK of a client no longer blocked: %q", got)
	}
}

// PUBSUB's introspection answers for the whole pool what one Redis
// answers for its clients.
func TestPubSubIntrospection(t *testing.T) {
	_, addr := redisWalnut(t, 3, "p", "")
	ref := testbed.Redis(t)
	subs := [][]string{
		{"SUBSCRIBE a b c news", "SSUBSCRIBE s1 s2"},
		{"SUBSCRIBE a", "PSUBSCRIBE p*"},
		{"PSUBSCRIBE p* q*", "SSUBSCRIBE s1"},
	}
	for _, at := range []string{addr, ref.Addr} {
		for _, s := range subs {
			exchangeMarked(t, dialRaw(t, at), s)
		}
	}
	same := []string{"PUBSUB NUMSUB a b c news nosuch", "PUBSUB NUMPAT", "PUBSUB SHARDNUMSUB s1 s2 x",
		"PUBSUB NUMSUB", "PUBSUB CHANNELS nothing*"}
	compareInline(t, "PUBSUB", addr, ref.Addr, same)
	compareInline3(t, "PUBSUB", addr, ref.Addr, same)
	ctx := context.Background()
	w, r := newClient(t, addr), newClient(t, ref.Addr)
	for _, pattern := range []string{"", "*", "n*", "[ab]"} {
		wl, err1 := w.PubSubChannels(ctx, pattern).Result()
		rl, err2 := r.PubSubChannels(ctx, pattern).Result()
		slices.Sort(wl)
		slices.Sort(rl)
		if err1 != nil || err2 != nil || !slices.Equal(wl, rl) {
			t.Errorf("PUBSUB CHANNELS %q: walnut %q %v, redis-server %q %v", pattern, wl, err1, rl, err2)
		}
		wl, err1 = w.PubSubShardChannels(ctx, pattern).Result()
		rl, err2 = r.PubSubShardChannels(ctx, pattern).Result()
		slices.Sort(wl)
		slices.Sort(rl)
		if err1 != nil || err2 != nil || !slices.Equal(wl, rl) {
			t.Errorf("PUBSUB SHARDCHANNELS %q: walnut %q %v, redis-server %q %v", pattern, wl, err1, rl, err2)
		}
	}
}

// SORT's BY and GET patterns are served across servers when their hash
// tag keeps the keys they name with the sorted key, and refused saying
// why when it cannot; a pool of one server serves them all.
func TestSortPatterns(t *testing.T) {
	_, addr := redisWalnut(t, 3, "p", "hash_tag = \"{}\"")
	ref := testbed.Redis(t)
	setup := []string{"RPUSH {u}l 3 1 2", "SET {u}w_1 30", "SET {u}w_2 20", "SET {u}w_3 10", "HSET {u}o_1 f one",
		"HSET {u}o_2 f two", "HSET {u}o_3 f three"}
	exchange(t, addr, setup, true)
	exchange(t, ref.Addr, setup, true)
	sorts := []string{"SORT {u}l BY {u}w_*", "SORT {u}l BY {u}w_* GET # GET {u}o_*->f",
		"SORT_RO {u}l BY {u}w_* DESC GET {u}o_*->f", "SORT {u}l BY nosort GET #", "SORT {u}l BY {u}w_* STORE {u}d",
		"LRANGE {u}d 0 -1", "SORT {u}l GET nokey"}
	compareInline(t, "SORT", addr, ref.Addr, sorts)
	compareInline3(t, "SORT", addr, ref.Addr, sorts)
	c := dialRaw(t, addr)
	if got := c.do(t, "SORT {u}l BY w_*"); !strings.HasPrefix(got, "-ERR walnut does not run SORT with the pattern 'w_*' on a pool of several servers") {
		t.Errorf("SORT with an untagged pattern: %q", got)
	}
	_, one := redisWalnut(t, 1, "p", "")
	setup = []string{"RPUSH l 3 1 2", "SET w_1 30", "SET w_2 20", "SET w_3 10"}
	exchange(t, one, setup, true)
	exchange(t, ref.Addr, setup, true)
	compareInline(t, "SORT on one server", one, ref.Addr, []string{"SORT l BY w_*", "SORT l BY w_* GET w_*"})
	compareInline3(t, "SORT on one server", one, ref.Addr, []string{"SORT l BY w_*", "SORT l BY w_* GET w_*"})
}

// INFO has Redis' sections in Redis' order, walnut's figures, and the
// servers' keyspace, errors and scripts merged.
func TestInfoSections(t *testing.T) {
	_, addr := redisWalnut(t, 3, "p", "")
	ref := testbed.Redis(t)
	ctx := context.Background()
	w, r := newClient(t, addr), newClient(t, ref.Addr)
	headers := func(s string) []string {
		var h []string
		for _, l := range strings.Split(s, "\r\n") {
			if strings.HasPrefix(l, "# ") {
				h = append(h, l)
			}
		}
		return h
	}
	for _, args := range [][]string{nil, {"default"}, {"Keyspace", "CPU"}, {"clients", "server"}, {"errorstats"}} {
		wi, err1 := w.Info(ctx, args...).Result()
		ri, err2 := r.Info(ctx, args...).Result()
		if err1 != nil || err2 != nil || !slices.Equal(headers(wi), headers(ri)) {
			t.Errorf("INFO %q sections: walnut %q %v, redis-server %q %v", args, headers(wi), err1, headers(ri), err2)
		}
	}
	// A RESP3 client gets the same sections as verbatim strings.
	w3, r3 := hello3(t, addr), hello3(t, ref.Addr)
	for _, args := range [][]string{{"INFO"}, {"INFO", "keyspace"}, {"INFO", "server", "errorstats"}, {"INFO", "nosuch"}} {
		wi, ri := w3.call(t, args...), r3.call(t, args...)
		if !strings.HasPrefix(wi, "=") || !strings.HasPrefix(ri, "=") || !slices.Equal(headers(wi), headers(ri)) {
			t.Errorf("%q in RESP3: walnut %q, redis-server %q", args, show(wi), show(ri))
		}
	}
	for i := range 20 {
		w.Set(ctx, "k"+itoa(i), "v", time.Hour)
		w.Set(ctx, "p"+itoa(i), "v", 0)
	}
	w.ScriptLoad(ctx, "return 1")
	w.Incr(ctx, "p1")            // ERR: not an integer
	w.Do(ctx, "HGET", "k1", "f") // WRONGTYPE
	info, err := w.Info(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"db0:keys=40,expires=20,avg_ttl=", "\r\nerrorstat_ERR:count=1\r\nerrorstat_WRONGTYPE:count=1\r\n",
		"number_of_cached_scripts:1\r\n", "used_cpu_user:", "used_cpu_sys:", "blocked_clients:0\r\n",
		"used_memory:", "used_memory_rss:", "executable:", "run_id:", "role:master\r\n", "cluster_enabled:0\r\n",
		"loading:0\r\n", "instantaneous_ops_per_sec:"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	if got := w3.call(t, "INFO", "keyspace"); !strings.HasPrefix(got, "=") || !strings.Contains(got, "\r\ntxt:# Keyspace\r\ndb0:keys=40,expires=20,avg_ttl=") {
		t.Errorf("INFO keyspace in RESP3: %q", show(got))
	}
}
