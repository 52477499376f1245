package integration

import (
	"context"
	"errors"
	"fmt"
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
