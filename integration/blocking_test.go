package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// Blocking commands wait at their server as long as their own timeout
// says, however short the pool's timeout, and wake when another client
// feeds them.
func TestBlockingCommands(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "alpha", "hash = \"md5\"\nhash_tag = \"{}\"\ntimeout = \"100ms\"")
	ctx := context.Background()
	c := newClient(t, addr)
	other := newClient(t, addr)

	// Times out by its own timeout (0.5s), not the pool's (100ms).
	start := time.Now()
	v, err := c.Do(ctx, "BLPOP", "empty", "0.5").Result()
	if took := time.Since(start); err != redis.Nil || took < 450*time.Millisecond || took > 3*time.Second {
		t.Fatalf("BLPOP empty 0.5 = %v, %v after %v; want nil after 0.5s", v, err, took)
	}

	// Woken by another client, with no timeout.
	wake := func(name string, block func() (any, error), feed func() error, want string) {
		t.Helper()
		done := make(chan string, 1)
		go func() {
			v, err := block()
			done <- fmt.Sprintf("%v %v", v, err)
		}()
		time.Sleep(200 * time.Millisecond)
		select {
		case got := <-done:
			t.Fatalf("%s returned before it was fed: %s", name, got)
		default:
		}
		if err := feed(); err != nil {
			t.Fatalf("%s: feeding it: %v", name, err)
		}
		select {
		case got := <-done:
			if got != want {
				t.Fatalf("%s = %s, want %s", name, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s not woken", name)
		}
	}
	wake("BLPOP", func() (any, error) { return c.BLPop(ctx, 0, "q").Result() },
		func() error { return other.LPush(ctx, "q", "x").Err() }, "[q x] <nil>")
	wake("BRPOPLPUSH", func() (any, error) { return c.Do(ctx, "BRPOPLPUSH", "{l}src", "{l}dst", "0").Result() },
		func() error { return other.RPush(ctx, "{l}src", "y").Err() }, "y <nil>")
	wake("BLMOVE", func() (any, error) { return c.BLMove(ctx, "{l}empty", "{l}src", "LEFT", "RIGHT", 0).Result() },
		func() error { return other.RPush(ctx, "{l}empty", "w").Err() }, "w <nil>")
	wake("BZPOPMIN", func() (any, error) {
		z, err := c.BZPopMin(ctx, 0, "zs").Result()
		if err != nil {
			return nil, err
		}
		return fmt.Sprintf("%s:%v:%v", z.Key, z.Member, z.Score), nil
	}, func() error { return other.ZAdd(ctx, "zs", redis.Z{Score: 2, Member: "m"}).Err() }, "zs:m:2 <nil>")
	wake("BLMPOP", func() (any, error) {
		k, vals, err := c.BLMPop(ctx, 0, "left", 1, "{m}a", "{m}b").Result()
		return fmt.Sprintf("%s %v", k, vals), err
	}, func() error { return other.RPush(ctx, "{m}b", "z").Err() }, "{m}b [z] <nil>")
	wake("XREAD BLOCK", func() (any, error) {
		s, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{"st", "$"}, Block: 0}).Result()
		if err != nil {
			return nil, err
		}
		return fmt.Sprintf("%s %v", s[0].Stream, s[0].Messages[0].Values), nil
	}, func() error { return other.XAdd(ctx, &redis.XAddArgs{Stream: "st", Values: []string{"f", "v"}}).Err() },
		"st map[f:v] <nil>")

	// XREAD with BLOCK and a timeout returns nil when it ends.
	start = time.Now()
	if _, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{"st", "$"}, Block: 300 * time.Millisecond}).Result(); err != redis.Nil || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("XREAD BLOCK 300: %v after %v", err, time.Since(start))
	}
	// Keys on two servers cannot block together.
	keys := keysApart(t, ctx, c, direct(t, servers), 2)
	want := fmt.Sprintf("ERR keys of a blocking command must live on one server: %q is not with %q (use a hash tag)", keys[1], keys[0])
	if _, err := c.BLPop(ctx, time.Second, keys[0], keys[1]).Result(); err == nil || err.Error() != want {
		t.Fatalf("BLPOP over two servers: %v, want %q", err, want)
	}
	if n, err := c.Do(ctx, "WAIT", "0", "0").Int(); err != nil || n != 0 {
		t.Fatalf("WAIT = %d, %v", n, err)
	}
	if err := c.Set(ctx, "after", "ok", 0).Err(); err != nil {
		t.Fatalf("the connection after: %v", err)
	}
}

// Clients blocked on every server do not stall other clients' requests:
// they are on connections of their own, not on the one shared pipelined
// connection each server has here.
func TestBlockingDoesNotStallOthers(t *testing.T) {
	servers := testbed.Redises(t, 3)
	px, addrs := startWalnut(t, redisPool("alpha", servers, "hash = \"md5\"\nhash_tag = \"{}\"\nserver_connections = 1"))
	ctx := context.Background()
	c := newClient(t, addrs["alpha"])
	keys := keysApart(t, ctx, c, direct(t, servers), 3)
	for _, k := range keys {
		if err := c.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	const blockers = 30
	var wg sync.WaitGroup
	results := make(chan error, blockers)
	for i := range blockers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bc := newClient(t, addrs["alpha"], func(o *redis.Options) { o.PoolSize = 1 })
			_, err := bc.BLPop(ctx, 2*time.Second, "{"+keys[i%3]+"}:list").Result()
			results <- err
		}()
	}
	// Wait until they all block at their servers.
	ds := direct(t, servers)
	if !waitFor(5*time.Second, func() bool {
		n := 0
		for _, d := range ds {
			info, _ := d.Info(ctx, "clients").Result()
			var b int
			for _, l := range strings.Split(info, "\r\n") {
				fmt.Sscanf(l, "blocked_clients:%d", &b)
			}
			n += b
		}
		return n == blockers
	}) {
		t.Fatal("the clients did not all block")
	}
	var lat []time.Duration
	start := time.Now()
	for time.Since(start) < time.Second {
		for _, k := range keys {
			t0 := time.Now()
			if v, err := c.Get(ctx, k).Result(); err != nil || v != "v" {
				t.Fatalf("GET %s while others block: %q, %v", k, v, err)
			}
			lat = append(lat, time.Since(t0))
		}
	}
	wg.Wait()
	close(results)
	for err := range results {
		if err != redis.Nil {
			t.Fatalf("a blocked client: %v, want nil after its timeout", err)
		}
	}
	slices.Sort(lat)
	p50, p99, worst := lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	t.Logf("%d GETs while %d clients blocked: p50 %v, p99 %v, max %v", len(lat), blockers, p50, p99, worst)
	if worst > time.Second {
		t.Errorf("a GET took %v while clients blocked for 2s on the same servers", worst)
	}
	snap := px.Snapshot().Pools[0]
	t.Logf("dedicated: %d leases, %d open after", snap.DedicatedLeases, snap.DedicatedConnections)
	if snap.DedicatedLeases < blockers || snap.DedicatedConnections > blockers {
		t.Errorf("%d leases, %d dedicated connections open", snap.DedicatedLeases, snap.DedicatedConnections)
	}
}

// A client that goes away mid-transaction, mid-block or subscribed takes
// its dedicated connection with it: walnut closes it, and the server
// sees the client leave.
func TestDedicatedFreedOnClientClose(t *testing.T) {
	servers := testbed.Redises(t, 3)
	px, addrs := startWalnut(t, redisPool("alpha", servers, "hash = \"md5\"\nhash_tag = \"{}\""))
	ctx := context.Background()
	ds := direct(t, servers)
	serverState := func(field string) int {
		n := 0
		for _, d := range ds {
			info, _ := d.Info(ctx, "clients").Result()
			for _, l := range strings.Split(info, "\r\n") {
				var v int
				if _, err := fmt.Sscanf(l, field+":%d", &v); err == nil {
					n += v
				}
			}
		}
		return n
	}
	inMulti := func() int {
		n := 0
		for _, d := range ds {
			list, _ := d.ClientList(ctx).Result()
			n += strings.Count(list, " multi=1 ") + strings.Count(list, " multi=2 ")
		}
		return n
	}
	lastCmd := func(name string) int {
		n := 0
		for _, d := range ds {
			list, _ := d.ClientList(ctx).Result()
			n += strings.Count(list, " cmd="+name+" ")
		}
		return n
	}
	numsub := func(ch string) int64 {
		var n int64
		for _, d := range ds {
			m, _ := d.PubSubNumSub(ctx, ch).Result()
			n += m[ch]
		}
		return n
	}
	for _, tc := range []struct {
		name  string
		send  []string
		held  func() bool // what the server holds for the client
		reply bool        // whether the last command is answered before the close
	}{
		{"blocked", []string{"BLPOP {b}list 0"}, func() bool { return serverState("blocked_clients") == 1 }, false},
		{"in a transaction", []string{"MULTI", "SET {x}a 1", "INCR {x}b"}, func() bool { return inMulti() == 1 }, true},
		{"watching", []string{"WATCH {x}a"}, func() bool { return lastCmd("watch") == 1 }, true},
		{"subscribed", []string{"SUBSCRIBE news", "PSUBSCRIBE n*"}, func() bool { return numsub("news") == 1 }, true},
	} {
		raw := dialRaw(t, addrs["alpha"])
		for _, s := range tc.send {
			raw.send(t, cmd(s))
		}
		if !waitFor(5*time.Second, tc.held) {
			t.Fatalf("%s: the server never held the client's state", tc.name)
		}
		if dedicatedOpen(px, "alpha") == 0 {
			t.Fatalf("%s: no dedicated connection open", tc.name)
		}
		raw.Close()
		if !waitFor(5*time.Second, func() bool { return !tc.held() && dedicatedOpen(px, "alpha") == 0 }) {
			t.Fatalf("%s: after the client closed: server still holds it %v, %d dedicated connections open",
				tc.name, tc.held(), dedicatedOpen(px, "alpha"))
		}
	}
	// Nothing popped on the abandoned BLPOP's behalf: a later push stays.
	c := newClient(t, addrs["alpha"])
	if err := c.LPush(ctx, "{b}list", "kept").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if v, err := c.LPop(ctx, "{b}list").Result(); err != nil || v != "kept" {
		t.Fatalf("the element pushed after the blocked client left: %q, %v", v, err)
	}
}

// max_dedicated bounds the dedicated connections; past it a request is
// refused with an error that says so, and counted.
func TestMaxDedicated(t *testing.T) {
	servers := testbed.Redises(t, 1)
	px, addrs := startWalnut(t, "[stats]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\n"+
		redisPool("alpha", servers, "max_dedicated = 2"))
	ctx := context.Background()
	a, b := dialRaw(t, addrs["alpha"]), dialRaw(t, addrs["alpha"])
	a.send(t, cmd("BLPOP qa 0"))
	b.send(t, cmd("BLPOP qb 0"))
	if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "alpha") == 2 }) {
		t.Fatal("the two blocked clients do not hold two dedicated connections")
	}
	c := newClient(t, addrs["alpha"])
	_, err := c.BLPop(ctx, time.Second, "qc").Result()
	if want := "ERR pool alpha: too many dedicated server connections (max_dedicated 2)"; err == nil || err.Error() != want {
		t.Fatalf("a third blocked client: %v, want %q", err, want)
	}
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error { p.Incr(ctx, "n"); return nil }); err == nil {
		t.Fatal("a transaction past max_dedicated: no error")
	}
	if snap := px.Snapshot().Pools[0]; snap.DedicatedRefused != 2 {
		t.Fatalf("refused %d, want 2", snap.DedicatedRefused)
	}
	doc, raw := readStats(t, addrs["stats"])
	pool := doc["alpha"].(map[string]any)
	if pool["dedicated_connections"] != 2.0 || pool["dedicated_refused"] != 2.0 || pool["dedicated_leases"] != 2.0 {
		t.Fatalf("stats: %s", raw)
	}
	fams := scrape(t, addrs["metrics"])
	for name, want := range map[string]float64{"walnut_pool_dedicated_connections": 2, "walnut_pool_dedicated_refused_total": 2} {
		if v, ok := metric(fams, name, map[string]string{"pool": "alpha"}); !ok || v != want {
			t.Fatalf("%s = %v (%v), want %v", name, v, ok, want)
		}
	}
	// Once a blocked client is served, its connection is idle, and
	// serves the next one.
	if err := c.LPush(ctx, "qa", "x").Err(); err != nil {
		t.Fatal(err)
	}
	if got, _ := readValue(a.r); got != "*2\r\n$2\r\nqa\r\n$1\r\nx\r\n" {
		t.Fatalf("the first blocked client got %q", got)
	}
	if v, err := c.Do(ctx, "BLPOP", "qc", "0.1").Result(); err != redis.Nil {
		t.Fatalf("BLPOP once a connection is idle: %v, %v", v, err)
	}
	if n := dedicatedOpen(px, "alpha"); n != 2 {
		t.Fatalf("%d dedicated connections, want 2", n)
	}
}

// Stopping walnut does not wait for a blocked client: its command fails
// with an error and the client is closed.
func TestShutdownWithBlockedClient(t *testing.T) {
	servers := testbed.Redises(t, 1)
	px, addrs := startWalnut(t, "[proxy]\nshutdown_timeout = \"10s\"\n"+redisPool("alpha", servers, ""))
	raw := dialRaw(t, addrs["alpha"])
	raw.send(t, cmd("BLPOP q 0"))
	if !waitFor(5*time.Second, func() bool { return dedicatedOpen(px, "alpha") == 1 }) {
		t.Fatal("not blocked")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := px.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("shutdown took %v with a client blocked", took)
	}
	got, _ := readValue(raw.r)
	if !strings.HasPrefix(got, "-ERR") || !strings.Contains(strings.ToLower(got), "shutting down") {
		t.Errorf("the blocked client got %q", got)
	}
	if !raw.closed() {
		t.Error("the blocked client was not closed")
	}
}
