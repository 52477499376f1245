package integration

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// RESP3 through walnut: what a client that says HELLO 3 gets, compared
// byte for byte with what one redis-server 7.0 sends it, and go-redis
// v9 with Protocol 3 next to Protocol 2.

// call sends one command, its arguments as given, and reads one value.
func (c *rawConn) call(t testing.TB, args ...string) string {
	t.Helper()
	c.send(t, resp(args...))
	v, err := readValue(c.r)
	if err != nil {
		t.Fatalf("%q: %v (got %q)", args, err, v)
	}
	return v
}

// helloID masks the client id in HELLO's reply, which differs between
// walnut and a server.
var helloID = regexp.MustCompile(`\$2\r\nid\r\n:\d+\r\n`)

// resp3Script are commands whose RESP3 replies walnut relays or builds
// as one Redis would: every RESP3 type, and the commands walnut merges.
// Keys are hash-tagged per command where they must share a server.
var resp3Script = [][]string{
	{"HELLO", "3"},
	{"HSET", "h", "a", "1", "b", "2"},
	{"HGETALL", "h"},
	{"HGETALL", "nohash"},
	{"SADD", "s", "x"},
	{"SMEMBERS", "s"},
	{"SMEMBERS", "noset"},
	{"ZADD", "z", "1.5", "m", "2", "n"},
	{"ZSCORE", "z", "m"},
	{"ZRANGE", "z", "0", "-1", "WITHSCORES"},
	{"ZPOPMIN", "z"},
	{"HSET", "h1", "a", "1"},
	{"HRANDFIELD", "h1", "-1", "WITHVALUES"},
	{"GET", "nokey"},
	{"SET", "k1", "v1"},
	{"SET", "k2", "v2"},
	{"MGET", "k1", "nokey", "k2", "h"},
	{"EXISTS", "k1", "k2", "nokey", "h"},
	{"DEL", "k2", "nokey"},
	{"TYPE", "h"},
	{"TTL", "h"},
	{"OBJECT", "ENCODING", "h"},
	{"EVAL", "redis.setresp(3); return true", "1", "k1"},
	{"EVAL", "redis.setresp(3); return false", "1", "k1"},
	{"EVAL", "redis.setresp(3); return {big_number='1234567890123456789012345'}", "1", "k1"},
	{"EVAL", "redis.setresp(3); return {verbatim_string={format='txt', string='hi there'}}", "1", "k1"},
	{"EVAL", "redis.setresp(3); return {double=3.25}", "1", "k1"},
	{"EVAL", "redis.setresp(3); return redis.call('hgetall', KEYS[1])", "1", "h"},
	{"EVAL", "redis.setresp(3); return {map={a=1}}", "1", "k1"},
	{"EVAL", "return nil", "1", "k1"},
	{"EVAL", "return redis.error_reply('MYERR no')", "1", "k1"},
	{"XADD", "x", "1-1", "f", "v"},
	{"XRANGE", "x", "-", "+"},
	{"XINFO", "STREAM", "x"},
	{"LPUSH", "l", "a"},
	{"BLPOP", "l", "1"},
	{"BLPOP", "l", "0.01"},
	{"MULTI"},
	{"ECHO", "e"},
	{"CLIENT", "GETNAME"},
	{"HGETALL", "{t}h"},
	{"SET", "{t}k", "v"},
	{"ZSCORE", "{t}z", "m"},
	{"INCR", "{t}k"},
	{"EXEC"},
	{"CLIENT", "GETNAME"},
	{"CLIENT", "SETNAME", "app"},
	{"CLIENT", "GETNAME"},
	{"COMMAND", "INFO", "get", "nosuch"},
	{"COMMAND", "DOCS", "nosuch"},
	{"ECHO", "x"},
	{"PING"},
	{"GET", "h"},
	{"HELLO", "2"},
	{"HGETALL", "h"},
	{"GET", "nokey"},
	{"MGET", "k1", "nokey"},
	{"HELLO", "3"},
	{"GET", "nokey"},
	{"RESET"},
	{"GET", "nokey"},
	{"HGETALL", "h"},
}

// Walnut relays and merges RESP3 as one redis-server sends it, with one
// server and with three.
func TestResp3LikeRedis(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n)+" servers", func(t *testing.T) {
			_, addr := redisWalnut(t, n, "p", "")
			ref := testbed.Redis(t)
			w, r := dialRaw(t, addr), dialRaw(t, ref.Addr)
			for _, args := range resp3Script {
				got, want := w.call(t, args...), r.call(t, args...)
				if args[0] == "HELLO" {
					got, want = helloID.ReplaceAllString(got, "id"), helloID.ReplaceAllString(want, "id")
				}
				if args[0] == "XINFO" {
					// Its radix tree sizes may differ; its shape may not.
					if !strings.HasPrefix(got, "%") || strings.Count(got, "\r\n") != strings.Count(want, "\r\n") {
						t.Errorf("XINFO: walnut %q, redis-server %q", show(got), show(want))
					}
					continue
				}
				if got != want {
					t.Errorf("%q:\n walnut       %q\n redis-server %q", args, show(got), show(want))
				}
			}
		})
	}
}

// What walnut builds or merges in RESP3, next to one redis-server's:
// KEYS, SCAN, DBSIZE, RANDOMKEY, INFO and CLIENT INFO (their texts
// differ: compared for their form).
func TestResp3LocalReplies(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n)+" servers", func(t *testing.T) {
			servers, addr := redisWalnut(t, n, "p", "")
			ref := testbed.Redis(t)
			w, r := dialRaw(t, addr), dialRaw(t, ref.Addr)
			for _, c := range []*rawConn{w, r} {
				c.call(t, "HELLO", "3")
				c.call(t, "SET", "only", "1")
			}
			for _, args := range [][]string{{"KEYS", "on*"}, {"DBSIZE"}, {"RANDOMKEY"}, {"SCAN", "0", "MATCH", "nomatch*", "COUNT", "1000"}} {
				got, want := w.call(t, args...), r.call(t, args...)
				if args[0] == "SCAN" && n > 1 {
					// The cursor names the next server.
					want = strings.Replace(want, "$1\r\n0\r\n", "$15\r\n140737488355328\r\n", 1)
				}
				if got != want {
					t.Errorf("%q: walnut %q, redis-server %q", args, show(got), show(want))
				}
			}
			for _, c := range []*rawConn{w, r} {
				c.call(t, "DEL", "only")
			}
			if got, want := w.call(t, "RANDOMKEY"), r.call(t, "RANDOMKEY"); got != "_\r\n" || got != want {
				t.Errorf("RANDOMKEY of no keys: walnut %q, redis-server %q", got, want)
			}
			for _, args := range [][]string{{"INFO"}, {"INFO", "server"}, {"CLIENT", "INFO"}, {"INFO", "servers", "server"}} {
				got, want := w.call(t, args...), r.call(t, args...)
				if !strings.HasPrefix(got, "=") || !strings.Contains(got, "\r\ntxt:") || !strings.HasPrefix(want, "=") {
					t.Errorf("%q: walnut %q, redis-server %q", args, show(got), show(want))
				}
			}
			if got := w.call(t, "CLIENT", "INFO"); !strings.Contains(got, " resp=3\n") {
				t.Errorf("CLIENT INFO: %q", got)
			}
			if got := w.call(t, "INFO", "servers", "server"); strings.Count(got, "# walnut server ") != len(servers) {
				t.Errorf("INFO servers: %q", show(got))
			}
			// Client tracking stays refused (docs/redis.md, RESP3): its
			// invalidations would come on shared connections.
			if got := w.call(t, "CLIENT", "TRACKING", "ON"); !strings.HasPrefix(got, "-") {
				t.Errorf("CLIENT TRACKING ON: %q", got)
			}
			w.call(t, "HELLO", "2")
			if got := w.call(t, "INFO", "servers", "server"); !strings.HasPrefix(got, "$") {
				t.Errorf("INFO servers in RESP2: %q", show(got))
			}
		})
	}
}

// Pub/sub in RESP3, through three servers and on one redis-server: the
// confirmations and messages are pushes, and a subscriber runs other
// commands meanwhile, as Redis allows in RESP3.
func TestResp3PubSubLikeRedis(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "alpha", `hash = "md5"`)
	single := testbed.Redis(t)
	ctx := context.Background()
	ch := keysApart(t, ctx, newClient(t, addr), direct(t, servers), 3)
	type target struct {
		name     string
		sub, pub *rawConn
	}
	targets := []target{
		{"walnut", dialRaw(t, addr), dialRaw(t, addr)},
		{"redis-server", dialRaw(t, single.Addr), dialRaw(t, single.Addr)},
	}
	for _, tg := range targets {
		tg.sub.call(t, "HELLO", "3")
	}
	steps := []struct {
		sub      []string
		pub      []string
		messages int
	}{
		{sub: []string{"UNSUBSCRIBE"}},
		{sub: []string{"SUBSCRIBE", ch[0], ch[1]}},
		{sub: []string{"PSUBSCRIBE", "k*"}},
		{sub: []string{"SSUBSCRIBE", ch[2]}},
		{pub: []string{"PUBLISH", ch[0], "hello"}, messages: 2},
		{pub: []string{"SPUBLISH", ch[2], "shard"}, messages: 1},
		{sub: []string{"SET", "k", "v"}},
		{sub: []string{"GET", "k"}},
		{sub: []string{"GET", "nokey"}},
		{sub: []string{"HSET", "h", "f", "1"}},
		{sub: []string{"HGETALL", "h"}},
		{sub: []string{"PING"}},
		{sub: []string{"PING", "hi"}},
		{sub: []string{"ECHO", "x"}},
		{pub: []string{"PUBLISH", ch[1], "world"}, messages: 2},
		{sub: []string{"UNSUBSCRIBE", ch[0]}},
		{sub: []string{"PUNSUBSCRIBE"}},
		{sub: []string{"SUNSUBSCRIBE"}},
		{pub: []string{"PUBLISH", ch[0], "gone"}},
		{sub: []string{"UNSUBSCRIBE"}},
		{sub: []string{"GET", "k"}},
	}
	for _, st := range steps {
		var got []string
		for _, tg := range targets {
			var s string
			if st.sub != nil {
				s = tg.sub.call(t, st.sub...)
				if strings.HasSuffix(strings.ToLower(st.sub[0]), "subscribe") {
					// One confirmation per channel, or one when there is
					// none: read up to the count of the last.
					for want := len(st.sub) - 1; want > 1; want-- {
						v, err := readValue(tg.sub.r)
						if err != nil {
							t.Fatalf("%s: %q: %v", tg.name, st.sub, err)
						}
						s += v
					}
				}
			} else {
				s = tg.pub.call(t, st.pub...)
				for range st.messages {
					m, err := readValue(tg.sub.r)
					if err != nil {
						t.Fatalf("%s: a message after %q: %v", tg.name, st.pub, err)
					}
					s += " | " + m
				}
			}
			got = append(got, s)
		}
		if got[0] != got[1] {
			t.Errorf("%q%q:\n walnut       %q\n redis-server %q", st.sub, st.pub, show(got[0]), show(got[1]))
		}
	}
	// Nothing more came than Redis sends.
	for _, tg := range targets {
		if v := tg.sub.call(t, "PING", "end"); v != "$3\r\nend\r\n" {
			t.Errorf("%s: at the end: %q", tg.name, show(v))
		}
	}
}

// go-redis with Protocol 3 and Protocol 2, on one server and on three:
// every RESP3 type comes back as its Go value, and the same calls give
// the same results in both protocols.
func TestResp3GoRedis(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n)+" servers", func(t *testing.T) {
			_, addr := redisWalnut(t, n, "p", "")
			for _, proto := range []int{2, 3} {
				t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
					c := newClient(t, addr, func(o *redis.Options) { o.Protocol = proto; o.ClientName = "gr" })
					p := fmt.Sprintf("p%d:", proto)
					goRedisTypes(t, ctx, c, p, proto)
				})
			}
		})
	}
}

func goRedisTypes(t *testing.T, ctx context.Context, c *redis.Client, p string, proto int) {
	t.Helper()
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	check("HSET", c.HSet(ctx, p+"h", "a", "1", "b", "2").Err())
	if m, err := c.HGetAll(ctx, p+"h").Result(); err != nil || len(m) != 2 || m["a"] != "1" || m["b"] != "2" {
		t.Errorf("HGETALL: %v %v", m, err)
	}
	check("SADD", c.SAdd(ctx, p+"s", "x", "y").Err())
	if m, err := c.SMembers(ctx, p+"s").Result(); err != nil || len(m) != 2 {
		t.Errorf("SMEMBERS: %v %v", m, err)
	}
	check("ZADD", c.ZAdd(ctx, p+"z", redis.Z{Score: 1.5, Member: "m"}).Err())
	if f, err := c.ZScore(ctx, p+"z", "m").Result(); err != nil || f != 1.5 {
		t.Errorf("ZSCORE: %v %v", f, err)
	}
	if zs, err := c.ZRangeWithScores(ctx, p+"z", 0, -1).Result(); err != nil || len(zs) != 1 || zs[0].Score != 1.5 {
		t.Errorf("ZRANGE WITHSCORES: %v %v", zs, err)
	}
	if err := c.Get(ctx, p+"missing").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET missing: %v", err)
	}
	// A boolean: true in RESP3; Lua's true is 1 in RESP2.
	v, err := c.Eval(ctx, "redis.setresp(3); return true", []string{p + "k"}).Result()
	switch {
	case err != nil:
		t.Errorf("EVAL true: %v", err)
	case proto == 3 && v != true:
		t.Errorf("EVAL true in RESP3: %#v", v)
	case proto == 2 && v != int64(1):
		t.Errorf("EVAL true in RESP2: %#v", v)
	}
	v, err = c.Eval(ctx, "redis.setresp(3); return {big_number='1234567890123456789012345'}", []string{p + "k"}).Result()
	want, _ := new(big.Int).SetString("1234567890123456789012345", 10)
	switch {
	case err != nil:
		t.Errorf("EVAL big number: %v", err)
	case proto == 3:
		if b, ok := v.(*big.Int); !ok || b.Cmp(want) != 0 {
			t.Errorf("EVAL big number in RESP3: %#v", v)
		}
	case v != "1234567890123456789012345":
		t.Errorf("EVAL big number in RESP2: %#v", v)
	}
	v, err = c.Eval(ctx, "redis.setresp(3); return {double=3.25}", []string{p + "k"}).Result()
	if err != nil || (proto == 3 && v != 3.25) || (proto == 2 && v != "3.25") {
		t.Errorf("EVAL double: %#v %v", v, err)
	}
	// Verbatim strings: CLIENT INFO and INFO, walnut's own.
	if info, err := c.ClientInfo(ctx).Result(); err != nil || info.Name != "gr" || info.Resp != proto {
		t.Errorf("CLIENT INFO: %+v %v", info, err)
	}
	if s, err := c.Info(ctx, "server").Result(); err != nil || !strings.HasPrefix(s, "# Server\r\nredis_version:") {
		t.Errorf("INFO: %q %v", s, err)
	}
	v, err = c.Eval(ctx, "redis.setresp(3); return {verbatim_string={format='txt', string='hi'}}", []string{p + "k"}).Result()
	if err != nil || v != "hi" {
		t.Errorf("EVAL verbatim string: %#v %v", v, err)
	}
	check("SET", c.Set(ctx, p+"a", "1", 0).Err())
	check("SET", c.Set(ctx, p+"b", "2", 0).Err())
	if vs, err := c.MGet(ctx, p+"a", p+"missing", p+"b").Result(); err != nil || len(vs) != 3 || vs[0] != "1" || vs[1] != nil || vs[2] != "2" {
		t.Errorf("MGET: %#v %v", vs, err)
	}
	if k, err := c.Exists(ctx, p+"a", p+"b", p+"missing").Result(); err != nil || k != 2 {
		t.Errorf("EXISTS: %v %v", k, err)
	}
	if ks, err := c.Keys(ctx, p+"[ab]").Result(); err != nil || len(ks) != 2 {
		t.Errorf("KEYS: %v %v", ks, err)
	}
	var scanned []string
	iter := c.Scan(ctx, 0, p+"[ab]", 10).Iterator()
	for iter.Next(ctx) {
		scanned = append(scanned, iter.Val())
	}
	if err := iter.Err(); err != nil || len(scanned) != 2 {
		t.Errorf("SCAN: %v %v", scanned, err)
	}
	if d, err := c.DBSize(ctx).Result(); err != nil || d < 2 {
		t.Errorf("DBSIZE: %v %v", d, err)
	}
	if k, err := c.Del(ctx, p+"a", p+"b").Result(); err != nil || k != 2 {
		t.Errorf("DEL: %v %v", k, err)
	}
	// A transaction, and a blocking command.
	cmds, err := c.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.HGetAll(ctx, "{"+p+"}h")
		tx.HSet(ctx, "{"+p+"}h", "f", "v")
		tx.HGetAll(ctx, "{"+p+"}h")
		tx.ZScore(ctx, "{"+p+"}z", "m")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Errorf("MULTI/EXEC: %v", err)
	} else if m := cmds[2].(*redis.MapStringStringCmd).Val(); m["f"] != "v" {
		t.Errorf("HGETALL in a transaction: %v", m)
	}
	check("RPUSH", c.RPush(ctx, p+"l", "x").Err())
	if kv, err := c.BLPop(ctx, time.Second, p+"l").Result(); err != nil || len(kv) != 2 || kv[1] != "x" {
		t.Errorf("BLPOP: %v %v", kv, err)
	}
	if kv, err := c.Do(ctx, "BLPOP", p+"l", "0.01").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("BLPOP timed out: %v %v", kv, err)
	}
}

// go-redis' PubSub in RESP3 across servers: messages arrive as pushes,
// and the client keeps running commands on its other connections.
func TestResp3PubSubGoRedis(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", `hash = "md5"`)
	ctx := context.Background()
	ch := keysApart(t, ctx, newClient(t, addr), direct(t, servers), 3)
	for _, proto := range []int{2, 3} {
		c := newClient(t, addr, func(o *redis.Options) { o.Protocol = proto })
		ps := c.Subscribe(ctx, ch[0], ch[1])
		ps.PSubscribe(ctx, "k*")
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatalf("RESP%d: subscribe: %v", proto, err)
		}
		// The confirmations of the three subscriptions, in some order.
		for range 2 {
			if _, err := ps.Receive(ctx); err != nil {
				t.Fatalf("RESP%d: subscribe: %v", proto, err)
			}
		}
		pub := newClient(t, addr)
		for _, c := range ch[:2] {
			if n, err := pub.Publish(ctx, c, "m-"+c).Result(); err != nil || n != 2 {
				t.Fatalf("RESP%d: PUBLISH %s: %d %v", proto, c, n, err)
			}
		}
		got := map[string]int{}
		for range 4 {
			m, err := ps.ReceiveMessage(ctx)
			if err != nil {
				t.Fatalf("RESP%d: message: %v", proto, err)
			}
			got[m.Channel+" "+m.Pattern+" "+m.Payload]++
		}
		for _, c := range ch[:2] {
			if got[c+"  m-"+c] != 1 || got[c+" k* m-"+c] != 1 {
				t.Errorf("RESP%d: messages %v", proto, got)
			}
		}
		// Other commands go on meanwhile.
		if err := c.Set(ctx, "k", proto, 0).Err(); err != nil {
			t.Errorf("RESP%d: SET while subscribed: %v", proto, err)
		}
		if err := ps.Unsubscribe(ctx); err != nil {
			t.Errorf("RESP%d: UNSUBSCRIBE: %v", proto, err)
		}
		ps.Close()
	}
}

// RESP2 and RESP3 clients on one pool at once share its server
// connections, and their replies never mix: a RESP2 client never sees a
// RESP3 type, and a RESP3 client gets RESP3's forms.
func TestResp3MixedClients(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(strconv.Itoa(n)+" servers", func(t *testing.T) {
			_, addr := redisWalnut(t, n, "p", "server_connections = 1")
			setup := dialRaw(t, addr)
			setup.call(t, "HSET", "h", "a", "1")
			setup.call(t, "ZADD", "z", "2.5", "m")
			setup.call(t, "SET", "k", "v")
			const clients, rounds = 6, 200
			var mu sync.Mutex
			fail := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				t.Errorf(format, args...)
			}
			var wg sync.WaitGroup
			for i := range clients {
				r3 := i%2 == 1
				c := dialRaw(t, addr)
				wg.Go(func() {
					if r3 {
						c.send(t, resp("HELLO", "3"))
						if v, err := readValue(c.r); err != nil || !strings.HasPrefix(v, "%7") {
							fail("HELLO 3: %q %v", v, err)
							return
						}
					}
					for j := range rounds {
						// A pipeline, so that requests of both protocols
						// meet on the shared connections.
						var sb strings.Builder
						for _, args := range [][]string{{"HGETALL", "h"}, {"GET", "nokey"}, {"ZSCORE", "z", "m"}, {"MGET", "k", "nokey"}, {"SELECT", strconv.Itoa(j % 2)}} {
							sb.WriteString(resp(args...))
						}
						c.send(t, sb.String())
						var got []string
						for range 5 {
							v, err := readValue(c.r)
							if err != nil {
								fail("client %d: %v", i, err)
								return
							}
							got = append(got, v)
						}
						db := (j + 1) % 2 // the SELECT of the round before
						want := []string{"*2\r\n$1\r\na\r\n$1\r\n1\r\n", "$-1\r\n", "$3\r\n2.5\r\n", "*2\r\n$1\r\nv\r\n$-1\r\n", "+OK\r\n"}
						if r3 {
							want = []string{"%1\r\n$1\r\na\r\n$1\r\n1\r\n", "_\r\n", ",2.5\r\n", "*2\r\n$1\r\nv\r\n_\r\n", "+OK\r\n"}
						}
						if db == 1 && j > 0 {
							// Nothing in database 1.
							want[0], want[2], want[3] = "*0\r\n", want[1], "*2\r\n"+want[1]+want[1]
							if r3 {
								want[0] = "%0\r\n"
							}
						}
						for k := range got {
							if got[k] != want[k] {
								fail("client %d (RESP3 %v), round %d, reply %d: %q, want %q", i, r3, j, k, show(got[k]), show(want[k]))
								return
							}
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// A RESP3 client keeps its protocol, with its database and name, across
// a binary upgrade.
func TestResp3SurvivesUpgrade(t *testing.T) {
	servers := testbed.Redises(t, 2)
	w, addr := walnutAt(t, redisPool("p", servers, `hash = "md5"`))
	c := dialRaw(t, addr)
	c.call(t, "HELLO", "3", "SETNAME", "survivor")
	for _, args := range [][]string{{"SELECT", "4"}, {"HSET", "h", "f", "v"}} {
		c.call(t, args...)
	}
	oldPid := w.Pid()
	if upgrade(t, w) == oldPid {
		t.Fatal("no new process")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"HGETALL", "h"}, "%1\r\n$1\r\nf\r\n$1\r\nv\r\n"},
		{[]string{"GET", "nokey"}, "_\r\n"},
		{[]string{"CLIENT", "GETNAME"}, "$8\r\nsurvivor\r\n"},
	} {
		if got := c.call(t, tc.args...); got != tc.want {
			t.Errorf("after the upgrade, %q: %q, want %q", tc.args, got, tc.want)
		}
	}
	if got := dialRaw(t, addr).call(t, "GET", "nokey"); got != "$-1\r\n" {
		t.Errorf("a new client after the upgrade: %q", got)
	}
}
