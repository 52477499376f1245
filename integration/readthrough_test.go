package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/internal/testbed"
)

// serverList renders servers for a TOML array.
func serverList(servers []*testbed.Process) string {
	var list []string
	for _, s := range servers {
		list = append(list, fmt.Sprintf("%q", s.Addr+":1"))
	}
	return "[" + strings.Join(list, ", ") + "]"
}

// migrationTable renders a pool's migration from the old servers.
func migrationTable(pool string, old []*testbed.Process) string {
	return fmt.Sprintf("[pools.%s.migration]\nservers = %s\n", pool, serverList(old))
}

// startMigrating starts walnut with pool alpha on three servers,
// migrating from the first two; extra are the pool's further keys. It
// returns the three servers, the two old ones and the pool's address.
func startMigrating(t *testing.T, extra string) (all, old []*testbed.Process, addr string) {
	t.Helper()
	all = testbed.Redises(t, 3)
	old = all[:2]
	_, addrs := startWalnut(t, redisPool("alpha", all, extra)+migrationTable("alpha", old))
	return all, old, addrs["alpha"]
}

// TestReshardReadThroughRedis: walnut reloaded onto a bigger server list
// with a migration finds every key on its old server, for single-key
// reads, MGET and EXISTS split over servers, and deletes a key that has
// not moved on its old server too; without the migration, the keys that
// changed server are missing.
func TestReshardReadThroughRedis(t *testing.T) {
	ctx := context.Background()
	servers := testbed.Redises(t, 3)
	old, all := servers[:2], servers
	px, addrs := startWalnut(t, redisPool("alpha", old, ""))
	c := newClient(t, addrs["alpha"])
	const n = 300
	for i := range n {
		k := fmt.Sprintf("rt:%d:k", i)
		if err := c.Set(ctx, k, "v"+k, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.HSet(ctx, "h"+k, "f", k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	reload := func(conf string) {
		t.Helper()
		cfg, err := config.Parse("test.toml", []byte(conf))
		if err != nil {
			t.Fatal(err)
		}
		if err := px.Reload(cfg); err != nil {
			t.Fatal(err)
		}
	}
	reload(redisPool("alpha", all, "") + migrationTable("alpha", old))

	keys := make([]string, n)
	for i := range n {
		k := fmt.Sprintf("rt:%d:k", i)
		keys[i] = k
		if v, err := c.Get(ctx, k).Result(); err != nil || v != "v"+k {
			t.Fatalf("GET %s = %q, %v", k, v, err)
		}
		if v, err := c.HGet(ctx, "h"+k, "f").Result(); err != nil || v != k {
			t.Fatalf("HGET h%s = %q, %v", k, v, err)
		}
		if ttl, err := c.TTL(ctx, k).Result(); err != nil || ttl < 50*time.Minute {
			t.Fatalf("TTL %s = %v, %v", k, ttl, err)
		}
	}
	vals, err := c.MGet(ctx, keys...).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != "v"+keys[i] {
			t.Fatalf("MGET: %s = %v", keys[i], v)
		}
	}
	if got, err := c.Exists(ctx, keys...).Result(); err != nil || got != n {
		t.Fatalf("EXISTS = %d, %v", got, err)
	}

	// A key that changed server and has not moved: DEL reaches its old
	// server, so it does not come back.
	ds := direct(t, all)
	var movedKey string
	for _, k := range keys {
		if owners(t, ctx, ds, k)[0] != 2 && routeOf(t, all, k) == 2 {
			movedKey = k
			break
		}
	}
	if movedKey == "" {
		t.Fatal("no key changed server")
	}
	if got, err := c.Del(ctx, movedKey).Result(); err != nil || got != 1 {
		t.Fatalf("DEL %s = %d, %v", movedKey, got, err)
	}
	if o := owners(t, ctx, ds, movedKey); len(o) != 0 {
		t.Fatalf("%s still on servers %v after DEL", movedKey, o)
	}
	if err := c.Get(ctx, movedKey).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET %s after DEL: %v", movedKey, err)
	}

	// Without the migration, the keys whose server changed are missing.
	reload(redisPool("alpha", all, ""))
	missing := 0
	for _, k := range keys {
		if err := c.Get(ctx, k).Err(); errors.Is(err, redis.Nil) {
			missing++
		}
	}
	if missing == 0 || missing == n {
		t.Fatalf("%d of %d keys missing without the migration", missing, n)
	}
	t.Logf("%d of %d keys changed server", missing, n)
}

// routeOf returns the index in servers of the server a walnut pool over
// servers (ketama, fnv1a_64) puts key on.
func routeOf(t testing.TB, servers []*testbed.Process, key string) int {
	t.Helper()
	cfg, err := config.Parse("r.toml", []byte(redisPool("r", servers, "")))
	if err != nil {
		t.Fatal(err)
	}
	r, err := core.NewRouter(cfg.Pools[0])
	if err != nil {
		t.Fatal(err)
	}
	i := r.Route([]byte(key))
	addr := cfg.Pools[0].Servers[i].Addr
	for j, s := range servers {
		if s.Addr == addr {
			return j
		}
	}
	t.Fatalf("server %s not found", addr)
	return -1
}

// TestReshardReadThroughMemcached: the same for memcached's get of many
// keys, gets, mg and delete.
func TestReshardReadThroughMemcached(t *testing.T) {
	servers := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t), testbed.Memcached(t)}
	old := servers[:2]
	oldConf := mcPool("cache", old, "")
	newConf := mcPool("cache", servers, "") + migrationTable("cache", old)
	_, oldAddrs := startWalnut(t, oldConf)
	_, newAddrs := startWalnut(t, newConf)
	mc := newMC(t, oldAddrs["cache"])
	const n = 300
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("mrt:%d:k", i)
		if err := mc.Set(&memcache.Item{Key: keys[i], Value: []byte("v" + keys[i]), Flags: uint32(i), Expiration: 3600}); err != nil {
			t.Fatal(err)
		}
	}
	nc := newMC(t, newAddrs["cache"])
	got, err := nc.GetMulti(keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		it := got[k]
		if it == nil || string(it.Value) != "v"+k || it.Flags != uint32(i) {
			t.Fatalf("get %s = %+v", k, it)
		}
	}
	raw := dialRaw(t, newAddrs["cache"])
	for _, k := range keys[:20] {
		raw.send(t, "mg "+k+" v\r\n")
		if l := raw.line(t); !strings.HasPrefix(l, "VA ") {
			t.Fatalf("mg %s: %q", k, l)
		}
		raw.line(t)
	}
	for _, k := range keys {
		if err := nc.Delete(k); err != nil {
			t.Fatalf("delete %s: %v", k, err)
		}
	}
	for i, d := range mcDirect(t, servers) {
		for _, k := range keys {
			if _, err := d.Get(k); !errors.Is(err, memcache.ErrCacheMiss) {
				t.Fatalf("%s still on server %d after delete: %v", k, i, err)
			}
		}
	}
}

// movedKeys returns n keys named prefix:i:k whose server changes from the
// placement over old to the one over all (old a prefix of all), with the
// index in all of each key's old and new server.
func movedKeys(t testing.TB, old, all []*testbed.Process, prefix string, n int) (keys []string, from, to []int) {
	t.Helper()
	for i := 0; len(keys) < n; i++ {
		if i > 10000 {
			t.Fatalf("fewer than %d keys change server", n)
		}
		k := fmt.Sprintf("%s:%d:k", prefix, i)
		if o, nw := routeOf(t, old, k), routeOf(t, all, k); o != nw {
			keys, from, to = append(keys, k), append(from, o), append(to, nw)
		}
	}
	return keys, from, to
}

// TestReshardReadThroughLarge: responses large enough for the server
// connection to hand its read buffer over (rather than copy them) go
// through the read-through steps like any other: a big value on the old
// server is the answer of the second step, one on the new server of the
// first, each to its own request in a pipeline and in an MGET split key
// by key, and a delete after them still reaches both servers.
func TestReshardReadThroughLarge(t *testing.T) {
	ctx := context.Background()
	all, old, addr := startMigrating(t, "")
	ds := direct(t, all)
	keys, from, to := movedKeys(t, old, all, "big", 4)
	big := func(i int) string { return strings.Repeat(fmt.Sprintf("%c", 'a'+i), 600<<10+i) }
	// keys[0], keys[1]: big, on the old server only; keys[2]: big, on
	// the new server only; keys[3]: small, on the old server only.
	want := []string{big(0), big(1), big(2), "small"}
	for i, k := range keys {
		srv := from[i]
		if i == 2 {
			srv = to[i]
		}
		if err := ds[srv].Set(ctx, k, want[i], 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, addr)
	for round := range 3 {
		pipe := c.Pipeline()
		gets := make([]*redis.StringCmd, 0, 2*len(keys))
		for range 2 {
			for _, k := range keys {
				gets = append(gets, pipe.Get(ctx, k))
			}
		}
		mget := pipe.MGet(ctx, keys[3], keys[0], keys[2], keys[1])
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for i, g := range gets {
			if v := g.Val(); v != want[i%len(keys)] {
				t.Fatalf("round %d: GET %s: %d bytes starting %.10q, want %d bytes starting %.10q",
					round, keys[i%len(keys)], len(v), v, len(want[i%len(keys)]), want[i%len(keys)])
			}
		}
		for i, j := range []int{3, 0, 2, 1} {
			if v, _ := mget.Val()[i].(string); v != want[j] {
				t.Fatalf("round %d: MGET value %d (%s): %d bytes starting %.10q", round, i, keys[j], len(v), v)
			}
		}
	}
	if n, err := c.Del(ctx, keys[0]).Result(); err != nil || n != 1 {
		t.Fatalf("DEL %s = %d, %v", keys[0], n, err)
	}
	if o := owners(t, ctx, ds, keys[0]); len(o) != 0 {
		t.Fatalf("%s still on servers %v after DEL", keys[0], o)
	}
	if v, err := c.Get(ctx, keys[1]).Result(); err != nil || v != want[1] {
		t.Fatalf("GET %s after the DEL of %s: %d bytes, %v", keys[1], keys[0], len(v), err)
	}
}

// TestReshardReadThroughDedicated: requests on a dedicated connection do
// not read through. Inside MULTI a key that has not moved is missing (the
// transaction runs on the key's new server), and the same connection
// reads through again once EXEC ended it; a blocking pop waits on the
// list's new server, leaving the old copy alone, and the mover's copy
// wakes it.
func TestReshardReadThroughDedicated(t *testing.T) {
	ctx := context.Background()
	all, old, addr := startMigrating(t, "")
	ds := direct(t, all)
	keys, from, to := movedKeys(t, old, all, "ded", 2)
	k, l := keys[0], keys[1]
	if err := ds[from[0]].Set(ctx, k, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := ds[from[1]].RPush(ctx, l, "a", "b", "c").Err(); err != nil {
		t.Fatal(err)
	}

	r := dialRaw(t, addr)
	replies := func(cmds ...string) []string {
		t.Helper()
		for _, c := range cmds {
			r.send(t, cmd(c))
		}
		var got []string
		for range cmds {
			v, err := readValue(r.r)
			if err != nil {
				t.Fatalf("%q: %v (got %q)", cmds, err, got)
			}
			got = append(got, v)
		}
		return got
	}
	got := replies("GET "+k, "MULTI", "GET "+k, "EXEC", "GET "+k)
	if want := []string{"$1\r\nv\r\n", "+OK\r\n", "+QUEUED\r\n", "*1\r\n$-1\r\n", "$1\r\nv\r\n"}; !slices.Equal(got, want) {
		t.Fatalf("GET, MULTI, GET, EXEC, GET of a key not moved:\n got %q\nwant %q", got, want)
	}

	got = replies("BLPOP "+l+" 0.2", "LRANGE "+l+" 0 -1")
	if want := []string{"*-1\r\n", "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"}; !slices.Equal(got, want) {
		t.Fatalf("BLPOP, LRANGE of a list not moved:\n got %q\nwant %q", got, want)
	}
	if n, err := ds[from[1]].LLen(ctx, l).Result(); err != nil || n != 3 {
		t.Fatalf("the old server's list has %d elements (%v), want 3", n, err)
	}

	r.send(t, cmd("BLPOP "+l+" 5"))
	if !waitFor(5*time.Second, func() bool {
		info, _ := ds[to[1]].Info(ctx, "clients").Result()
		return strings.Contains(info, "blocked_clients:1")
	}) {
		t.Fatal("BLPOP does not block on the list's new server")
	}
	host, port, _ := strings.Cut(all[to[1]].Addr, ":")
	if err := ds[from[1]].Do(ctx, "MIGRATE", host, port, l, 0, 5000, "COPY").Err(); err != nil {
		t.Fatal(err)
	}
	v, err := readValue(r.r)
	if want := "*2\r\n$" + fmt.Sprint(len(l)) + "\r\n" + l + "\r\n$1\r\na\r\n"; err != nil || v != want {
		t.Fatalf("BLPOP woken by the move: %q, %v; want %q", v, err, want)
	}
}

// TestReshardReadThroughNoServer: an MGET split key by key for the steps
// answers, when every server of the pool is ejected, in nutcracker's
// words as any other request does.
func TestReshardReadThroughNoServer(t *testing.T) {
	old := testbed.Redises(t, 2)
	dead1, dead2 := deadAddr(t), deadAddr(t)
	_, addrs := startWalnut(t, fmt.Sprintf("[pools.e]\nlisten = \"127.0.0.1:0\"\nauto_eject_hosts = true\n"+
		"server_failure_limit = 1\nserver_retry_timeout = \"60s\"\nservers = [%q, %q]\n", dead1+":1", dead2+":1")+
		migrationTable("e", old))
	r := dialRaw(t, addrs["e"])
	const want = "-ERR Connection refused (pool e: every server is ejected)\r\n"
	deadline := time.Now().Add(5 * time.Second)
	var last []string
	for {
		last = exchangeMarked(t, r, []string{"MGET a b c d e f g h", "GET a", "DEL a b c"})
		if slices.Equal(last, []string{want, want, want}) {
			return
		}
		for _, v := range last {
			if !strings.HasPrefix(v, "-ERR Connection refused (pool e") {
				t.Fatalf("MGET, GET, DEL: %q", last)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("MGET, GET, DEL with every server ejected: %q, want %q each", last, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// selectDB makes a go-redis client SELECT db on each new connection,
// 0 included, which go-redis leaves out: walnut's clients start in the
// pool's redis_db.
func selectDB(db int) func(*redis.Options) {
	return func(o *redis.Options) {
		o.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
			return cn.Select(ctx, db).Err()
		}
	}
}

// TestReshardReadThroughSelect: a read or delete that goes on to a key's
// old server runs in the client's database there, whether that is the
// pool's redis_db or one it SELECTed, in a pipeline that changes
// database between requests too: the old server's connection gets the
// request's SELECT as the new server's did.
func TestReshardReadThroughSelect(t *testing.T) {
	ctx := context.Background()
	all, old, addr := startMigrating(t, "redis_db = 2")
	keys, from, _ := movedKeys(t, old, all, "seldb", 4)
	inDB := func(srv, db int) *redis.Client {
		return newClient(t, all[srv].Addr, func(o *redis.Options) { o.DB = db })
	}
	// Every key, on its old server only, with another value per
	// database; database 5 has none.
	for i, k := range keys {
		for _, db := range []int{0, 2, 3} {
			if err := inDB(from[i], db).Set(ctx, k, fmt.Sprintf("db%d:%s", db, k), 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	client := func(db int) *redis.Client {
		return newClient(t, addr, selectDB(db))
	}
	for _, db := range []int{0, 2, 3, 5} {
		c := client(db)
		for _, k := range keys {
			v, err := c.Get(ctx, k).Result()
			if db == 5 {
				if !errors.Is(err, redis.Nil) {
					t.Fatalf("db 5: GET %s = %q, %v; want nil", k, v, err)
				}
				continue
			}
			if want := fmt.Sprintf("db%d:%s", db, k); err != nil || v != want {
				t.Fatalf("db %d: GET %s = %q, %v; want %q", db, k, v, err, want)
			}
		}
		vals, err := c.MGet(ctx, keys...).Result()
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			want := any(fmt.Sprintf("db%d:%s", db, keys[i]))
			if db == 5 {
				want = nil
			}
			if v != want {
				t.Fatalf("db %d: MGET %s = %v, want %v", db, keys[i], v, want)
			}
		}
	}

	// One connection, its database changing between pipelined requests.
	r := dialRaw(t, addr)
	k := keys[0]
	got := exchangeMarked(t, r, []string{"GET " + k, "SELECT 3", "GET " + k, "EXISTS " + k + " " + keys[1], "SELECT 2", "GET " + k})
	want := []string{
		fmt.Sprintf("$%d\r\ndb2:%s\r\n", len(k)+4, k), "+OK\r\n", fmt.Sprintf("$%d\r\ndb3:%s\r\n", len(k)+4, k),
		":2\r\n", "+OK\r\n", fmt.Sprintf("$%d\r\ndb2:%s\r\n", len(k)+4, k),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("GET, SELECT 3, GET, EXISTS, SELECT 2, GET:\n got %q\nwant %q", got, want)
	}

	// DEL in database 3 reaches the old server's database 3 alone.
	if n, err := client(3).Del(ctx, k).Result(); err != nil || n != 1 {
		t.Fatalf("db 3: DEL %s = %d, %v", k, n, err)
	}
	if n, err := inDB(from[0], 3).Exists(ctx, k).Result(); err != nil || n != 0 {
		t.Fatalf("old server, db 3: EXISTS %s after DEL = %d, %v", k, n, err)
	}
	for _, db := range []int{0, 2} {
		if v, err := inDB(from[0], db).Get(ctx, k).Result(); err != nil || v != fmt.Sprintf("db%d:%s", db, k) {
			t.Fatalf("old server, db %d: GET %s after DEL in db 3 = %q, %v", db, k, v, err)
		}
	}
	if v, err := client(2).Get(ctx, k).Result(); err != nil || v != "db2:"+k {
		t.Fatalf("db 2: GET %s after DEL in db 3 = %q, %v", k, v, err)
	}
}

// TestReshardKeyspaceCommands: KEYS, DBSIZE and SCAN are not read
// through. During a migration they list the keys the pool's servers (the
// new ones) hold, wherever those keys belong: keys still on a server the
// reshard removes are left out, though GET reads them through, and keys
// on a server that stays are listed from there until they move.
func TestReshardKeyspaceCommands(t *testing.T) {
	ctx := context.Background()
	all := testbed.Redises(t, 3)
	old, next := all[:2], all[1:]
	px, addrs := startWalnut(t, redisPool("alpha", old, ""))
	c := newClient(t, addrs["alpha"])
	const n = 200
	for i := range n {
		// Keys that differ in more than their last bytes: fnv1a_64 puts
		// ks:0 to ks:199 close together on the ketama ring.
		if err := c.Set(ctx, fmt.Sprintf("ks:%d:%x", i, i*2654435761), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Parse("test.toml", []byte(redisPool("alpha", next, "")+migrationTable("alpha", old)))
	if err != nil {
		t.Fatal(err)
	}
	if err := px.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	ds := direct(t, all)
	removed, _ := ds[0].Keys(ctx, "*").Result()
	if len(removed) == 0 || len(removed) == n {
		t.Fatalf("%d of %d keys on the removed server", len(removed), n)
	}
	var listed []string
	var size int64
	for _, d := range ds[1:] {
		ks, err := d.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, ks...)
		size += int64(len(ks))
	}
	slices.Sort(listed)
	for _, k := range removed {
		if v, err := c.Get(ctx, k).Result(); err != nil || v != "v" {
			t.Fatalf("GET %s (on the removed server) = %q, %v", k, v, err)
		}
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, listed) {
		t.Errorf("KEYS * during the migration: %d keys, want the %d on the new servers", len(keys), len(listed))
	}
	if got, err := c.DBSize(ctx).Result(); err != nil || got != size {
		t.Errorf("DBSIZE during the migration = %d, %v; want %d", got, err, size)
	}
	var scanned []string
	it := c.Scan(ctx, 0, "", 50).Iterator()
	for it.Next(ctx) {
		scanned = append(scanned, it.Val())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(scanned)
	scanned = slices.Compact(scanned)
	if !slices.Equal(scanned, listed) {
		t.Errorf("SCAN during the migration: %d keys, want the %d on the new servers", len(scanned), len(listed))
	}
}
