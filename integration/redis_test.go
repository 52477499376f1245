package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

func TestRedisCommandsAcrossShards(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "alpha", `hash = "md5"`)
	ctx := context.Background()
	c := newClient(t, addr)
	ds := direct(t, servers)

	// Single-key commands of several types land on exactly one server
	// and answer as Redis does.
	for i := range 200 {
		key := fmt.Sprintf("key:%d", i)
		if err := c.Set(ctx, key, "v-"+key, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		if got, err := c.Get(ctx, key).Result(); err != nil || got != "v-"+key {
			t.Fatalf("GET %s = %q, %v", key, got, err)
		}
		if o := owners(t, ctx, ds, key); len(o) != 1 {
			t.Fatalf("%s is on servers %v, want exactly one", key, o)
		}
	}
	used := map[int]int{}
	for i := range 200 {
		used[owners(t, ctx, ds, fmt.Sprintf("key:%d", i))[0]]++
	}
	if len(used) != 3 {
		t.Fatalf("200 keys spread over servers as %v, want all 3 used", used)
	}

	if n, err := c.Incr(ctx, "counter").Result(); err != nil || n != 1 {
		t.Fatalf("INCR = %d, %v", n, err)
	}
	if err := c.HSet(ctx, "h", "f1", "a", "f2", "b").Err(); err != nil {
		t.Fatal(err)
	}
	if m, err := c.HGetAll(ctx, "h").Result(); err != nil || m["f1"] != "a" || m["f2"] != "b" {
		t.Fatalf("HGETALL = %v, %v", m, err)
	}
	if err := c.RPush(ctx, "list", "x", "y", "z").Err(); err != nil {
		t.Fatal(err)
	}
	if l, err := c.LRange(ctx, "list", 0, -1).Result(); err != nil || strings.Join(l, ",") != "x,y,z" {
		t.Fatalf("LRANGE = %v, %v", l, err)
	}
	if err := c.Expire(ctx, "list", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if ttl, err := c.TTL(ctx, "list").Result(); err != nil || ttl < 59*time.Minute {
		t.Fatalf("TTL = %v, %v", ttl, err)
	}
	if err := c.ZAdd(ctx, "z", redis.Z{Score: 2, Member: "b"}, redis.Z{Score: 1, Member: "a"}).Err(); err != nil {
		t.Fatal(err)
	}
	if z, err := c.ZRange(ctx, "z", 0, -1).Result(); err != nil || strings.Join(z, ",") != "a,b" {
		t.Fatalf("ZRANGE = %v, %v", z, err)
	}
	if typ, err := c.Type(ctx, "z").Result(); err != nil || typ != "zset" {
		t.Fatalf("TYPE = %q, %v", typ, err)
	}

	// Multi-key commands are split per server and merged.
	if err := c.MSet(ctx, "m:1", "one", "m:2", "two", "m:3", "three", "m:4", "four", "m:5", "five").Err(); err != nil {
		t.Fatalf("MSET: %v", err)
	}
	vals, err := c.MGet(ctx, "m:5", "missing", "m:1", "m:3", "m:2", "m:1", "m:4").Result()
	if err != nil {
		t.Fatalf("MGET: %v", err)
	}
	want := []any{"five", nil, "one", "three", "two", "one", "four"}
	if fmt.Sprint(vals) != fmt.Sprint(want) {
		t.Fatalf("MGET = %v, want %v", vals, want)
	}
	// EXISTS counts every occurrence, as Redis does (nutcracker does not).
	if n, err := c.Exists(ctx, "m:1", "m:1", "m:2", "missing", "m:3").Result(); err != nil || n != 4 {
		t.Fatalf("EXISTS = %d, %v; want 4", n, err)
	}
	if n, err := c.Touch(ctx, "m:1", "m:2", "nope").Result(); err != nil || n != 2 {
		t.Fatalf("TOUCH = %d, %v; want 2", n, err)
	}
	if n, err := c.Del(ctx, "m:1", "m:2", "m:3", "nope").Result(); err != nil || n != 3 {
		t.Fatalf("DEL = %d, %v; want 3", n, err)
	}
	if n, err := c.Unlink(ctx, "m:4", "m:5", "m:4").Result(); err != nil || n != 2 {
		t.Fatalf("UNLINK = %d, %v; want 2", n, err)
	}
	if n, err := c.Exists(ctx, "m:1", "m:2", "m:3", "m:4", "m:5").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS after DEL = %d, %v", n, err)
	}

	// Answered locally, and commands walnut does not route.
	if s, err := c.Ping(ctx).Result(); err != nil || s != "PONG" {
		t.Fatalf("PING = %q, %v", s, err)
	}
	if s, err := c.Echo(ctx, "x").Result(); err != nil || s != "x" {
		t.Fatalf("ECHO = %q, %v", s, err)
	}
	err = c.Do(ctx, "MONITOR").Err()
	if err == nil || err.Error() != "ERR unsupported command 'MONITOR'" {
		t.Fatalf("MONITOR error = %v, want ERR unsupported command 'MONITOR'", err)
	}
	if got, err := c.Get(ctx, "key:1").Result(); err != nil || got != "v-key:1" {
		t.Fatalf("connection unusable after an unsupported command: %q, %v", got, err)
	}
}

func TestRedisEvalNeedsKeysOnOneServer(t *testing.T) {
	_, addr := redisWalnut(t, 3, "alpha", "hash = \"md5\"\nhash_tag = \"{}\"")
	ctx := context.Background()
	c := newClient(t, addr)
	script := "redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[2])"
	if err := c.Set(ctx, "{u1}:b", "bee", 0).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := c.Eval(ctx, script, []string{"{u1}:a", "{u1}:b"}, "ay").Result()
	if err != nil || got != "bee" {
		t.Fatalf("EVAL with hash-tagged keys = %v, %v", got, err)
	}
	// Keys that hash apart are refused with a precise error, not run on
	// the wrong server.
	var crossed bool
	for i := range 50 {
		a, b := fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
		_, err := c.Eval(ctx, script, []string{a, b}, "x").Result()
		if err != nil && strings.Contains(err.Error(), "different servers") {
			want := fmt.Sprintf("ERR keys of EVAL are on different servers: %q is not with %q (use a hash tag)", b, a)
			if err.Error() != want {
				t.Fatalf("EVAL across servers: %v, want %s", err, want)
			}
			crossed = true
			break
		}
	}
	if !crossed {
		t.Fatal("EVAL over keys on different servers was never refused")
	}
	if _, err := c.Eval(ctx, "return 1", nil).Result(); err == nil || !strings.HasPrefix(err.Error(), "ERR walnut cannot route EVAL without keys: the script may write") {
		t.Fatalf("EVAL without keys: %v", err)
	}
}

// Many clients pipeline random commands over the shared server
// connections; every reply must be the one for its own request.
func TestRedisPipelinesNeverMixReplies(t *testing.T) {
	_, addr := redisWalnut(t, 3, "alpha", "")
	ctx := context.Background()
	concurrently(t, 16, func(w int) error {
		c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, PoolSize: 1})
		defer c.Close()
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		for round := range 40 {
			pipe := c.Pipeline()
			var gets []*redis.StringCmd
			var keys []string
			for i := range 1 + rng.IntN(30) {
				k := fmt.Sprintf("w%d:r%d:k%d", w, round, i)
				pipe.Set(ctx, k, "value-of-"+k, 0)
				keys = append(keys, k)
			}
			for _, k := range keys {
				gets = append(gets, pipe.Get(ctx, k))
			}
			mget := pipe.MGet(ctx, keys...)
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
			for i, g := range gets {
				if g.Val() != "value-of-"+keys[i] {
					return fmt.Errorf("GET %s = %q", keys[i], g.Val())
				}
			}
			for i, v := range mget.Val() {
				if v != "value-of-"+keys[i] {
					return fmt.Errorf("MGET[%d] %s = %v", i, keys[i], v)
				}
			}
		}
		return nil
	})
}

func TestRedisUnreachableServer(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "alpha", "hash = \"md5\"\ntimeout = \"1s\"")
	ctx := context.Background()
	c := newClient(t, addr, func(o *redis.Options) { o.PoolSize = 1 })
	ds := direct(t, servers)
	keyOn := keyPerServer(t, ctx, c, ds)
	servers[1].Kill()
	err := c.Get(ctx, keyOn[1]).Err()
	if err == nil || !strings.Contains(err.Error(), "ERR") || !strings.Contains(err.Error(), servers[1].Addr) {
		t.Fatalf("GET for a dead server: err = %v, want -ERR naming %s", err, servers[1].Addr)
	}
	t.Logf("dead server error: %v", err)
	for _, i := range []int{0, 2} {
		if got, err := c.Get(ctx, keyOn[i]).Result(); err != nil || got != keyOn[i] {
			t.Fatalf("GET %s on live server %d = %q, %v", keyOn[i], i, got, err)
		}
	}
	// An MGET that touches the dead server fails as a whole, not with
	// silent nils.
	if _, err := c.MGet(ctx, keyOn[0], keyOn[1], keyOn[2]).Result(); err == nil {
		t.Fatal("MGET touching a dead server succeeded")
	}
	// The server comes back: walnut reconnects by itself.
	servers[1].Restart()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := c.Set(ctx, keyOn[1], "back", 0).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server restarted but walnut still fails: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisTimeoutOnHungServer(t *testing.T) {
	servers, addr := redisWalnut(t, 2, "alpha", "hash = \"md5\"\ntimeout = \"300ms\"")
	ctx := context.Background()
	c := newClient(t, addr, func(o *redis.Options) { o.PoolSize = 1 })
	ds := direct(t, servers)
	keyOn := keyPerServer(t, ctx, c, ds)
	servers[0].Stop()
	start := time.Now()
	err := c.Get(ctx, keyOn[0]).Err()
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("GET on a hung server: %v, want a timeout error", err)
	}
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Fatalf("timeout fired after %v, want about 300ms", took)
	}
	t.Logf("timeout fired after %v: %v", took, err)
	if got, err := c.Get(ctx, keyOn[1]).Result(); err != nil || got != keyOn[1] {
		t.Fatalf("other server while one hangs: %q, %v", got, err)
	}
	servers[0].Continue()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := c.Get(ctx, keyOn[0]).Result()
		if err == nil && got == keyOn[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGCONT: %q, %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisCLI(t *testing.T) {
	_, addr := redisWalnut(t, 2, "alpha", "")
	cli := testbed.Need(t, "redis-cli")
	host, port := splitAddr(addr)
	run := func(args ...string) string {
		t.Helper()
		out, err := runCmd(cli, append([]string{"-h", host, "-p", port}, args...)...)
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(out)
	}
	if got := run("set", "hello", "world"); got != "OK" {
		t.Fatalf("set: %q", got)
	}
	if got := run("get", "hello"); got != "world" {
		t.Fatalf("get: %q", got)
	}
	if got := run("mget", "hello", "nope", "hello"); got != "world\n\nworld" {
		t.Fatalf("mget: %q", got)
	}
	if got := run("ping"); got != "PONG" {
		t.Fatalf("ping: %q", got)
	}
}

var _ = errors.New
