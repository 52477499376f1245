package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

func newMC(t testing.TB, addr string) *memcache.Client {
	t.Helper()
	mc := memcache.New(addr)
	mc.Timeout = 5 * time.Second
	mc.MaxIdleConns = 4
	t.Cleanup(func() { mc.Close() })
	return mc
}

// mcOwners returns the indices of the memcached servers that hold key.
func mcOwners(t testing.TB, ds []*memcache.Client, key string) []int {
	t.Helper()
	var out []int
	for i, d := range ds {
		_, err := d.Get(key)
		switch {
		case err == nil:
			out = append(out, i)
		case !errors.Is(err, memcache.ErrCacheMiss):
			t.Fatalf("get %s on server %d: %v", key, i, err)
		}
	}
	return out
}

func mcDirect(t testing.TB, servers []*testbed.Process) []*memcache.Client {
	var ds []*memcache.Client
	for _, s := range servers {
		ds = append(ds, newMC(t, s.Addr))
	}
	return ds
}

func TestMemcachedCommandsAcrossShards(t *testing.T) {
	servers := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t), testbed.Memcached(t)}
	_, addrs := startWalnut(t, mcPool("cache", servers, `hash = "md5"`))
	mc := newMC(t, addrs["cache"])
	ds := mcDirect(t, servers)

	used := map[int]int{}
	for i := range 100 {
		k := fmt.Sprintf("key:%d", i)
		if err := mc.Set(&memcache.Item{Key: k, Value: []byte("v-" + k), Flags: uint32(i), Expiration: 3600}); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
		it, err := mc.Get(k)
		if err != nil || string(it.Value) != "v-"+k || it.Flags != uint32(i) {
			t.Fatalf("get %s: %+v, %v", k, it, err)
		}
		o := mcOwners(t, ds, k)
		if len(o) != 1 {
			t.Fatalf("%s on servers %v", k, o)
		}
		used[o[0]]++
	}
	if len(used) != 3 {
		t.Fatalf("keys spread as %v, want all 3 servers", used)
	}

	// Multi-get across shards, with misses.
	keys := []string{"key:5", "nope:1", "key:17", "key:3", "nope:2", "key:99", "key:42"}
	got, err := mc.GetMulti(keys)
	if err != nil {
		t.Fatalf("get_multi: %v", err)
	}
	if len(got) != 5 || string(got["key:99"].Value) != "v-key:99" || got["nope:1"] != nil {
		t.Fatalf("get_multi = %v", got)
	}

	// add/replace/append/prepend.
	if err := mc.Add(&memcache.Item{Key: "key:5", Value: []byte("x")}); !errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("add of an existing key: %v", err)
	}
	if err := mc.Replace(&memcache.Item{Key: "fresh", Value: []byte("x")}); !errors.Is(err, memcache.ErrNotStored) {
		t.Fatalf("replace of a missing key: %v", err)
	}
	if err := mc.Add(&memcache.Item{Key: "fresh", Value: []byte("mid")}); err != nil {
		t.Fatal(err)
	}
	if err := mc.Append(&memcache.Item{Key: "fresh", Value: []byte("-end")}); err != nil {
		t.Fatal(err)
	}
	if err := mc.Prepend(&memcache.Item{Key: "fresh", Value: []byte("start-")}); err != nil {
		t.Fatal(err)
	}
	if it, err := mc.Get("fresh"); err != nil || string(it.Value) != "start-mid-end" {
		t.Fatalf("after append/prepend: %v %v", it, err)
	}

	// cas round trip: a stale cas loses.
	it, err := mc.Get("fresh")
	if err != nil {
		t.Fatal(err)
	}
	it.Value = []byte("cas-1")
	if err := mc.CompareAndSwap(it); err != nil {
		t.Fatalf("cas: %v", err)
	}
	it.Value = []byte("cas-2")
	if err := mc.CompareAndSwap(it); !errors.Is(err, memcache.ErrCASConflict) {
		t.Fatalf("stale cas: %v, want a conflict", err)
	}

	// incr/decr.
	if err := mc.Set(&memcache.Item{Key: "n", Value: []byte("10")}); err != nil {
		t.Fatal(err)
	}
	if n, err := mc.Increment("n", 5); err != nil || n != 15 {
		t.Fatalf("incr = %d, %v", n, err)
	}
	if n, err := mc.Decrement("n", 20); err != nil || n != 0 {
		t.Fatalf("decr below 0 = %d, %v", n, err)
	}
	if _, err := mc.Increment("missing-n", 1); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("incr of a missing key: %v", err)
	}

	// touch, delete.
	if err := mc.Touch("n", 100); err != nil {
		t.Fatalf("touch: %v", err)
	}
	if err := mc.Delete("n"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := mc.Delete("n"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("delete again: %v", err)
	}
	if _, err := mc.Get("n"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := mc.Ping(); err != nil {
		t.Fatalf("version (ping): %v", err)
	}
}

// The VALUE blocks of a multi-get come back in the client's key order,
// misses simply absent, whichever servers hold them; twemproxy reorders
// them when keys are missing.
func TestMemcachedMultiGetOrder(t *testing.T) {
	servers := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t), testbed.Memcached(t), testbed.Memcached(t)}
	_, addrs := startWalnut(t, mcPool("cache", servers, `hash = "md5"`))
	c := dialRaw(t, addrs["cache"])
	var keys []string
	var b strings.Builder
	for i := range 3000 {
		k := fmt.Sprintf("k%d", i)
		keys = append(keys, k)
		if i%3 != 0 { // a third stay missing
			fmt.Fprintf(&b, "set %s %d 0 %d noreply\r\n%s\r\n", k, i, len(k)+2, "v-"+k)
		}
	}
	c.send(t, b.String())
	// Reverse order, thousands of keys in one get, and gets with cas.
	for _, cmd := range []string{"get", "gets"} {
		var want strings.Builder
		line := cmd
		for i := len(keys) - 1; i >= 0; i-- {
			line += " " + keys[i]
			if i%3 != 0 {
				fmt.Fprintf(&want, "VALUE %s %d %d", keys[i], i, len(keys[i])+2)
				if cmd == "gets" {
					want.WriteString(" ")
				}
				fmt.Fprintf(&want, "\r\nv-%s\r\n", keys[i])
			}
		}
		c.send(t, line+"\r\n")
		var got strings.Builder
		for {
			l := c.line(t)
			if l == "END\r\n" {
				break
			}
			if cmd == "gets" && strings.HasPrefix(l, "VALUE ") {
				// Drop the cas unique, which the test cannot predict.
				l = l[:strings.LastIndexByte(l, ' ')+1] + "\r\n"
			}
			got.WriteString(l)
		}
		if got.String() != want.String() {
			g, w := got.String(), want.String()
			n := 0
			for n < len(g) && n < len(w) && g[n] == w[n] {
				n++
			}
			t.Fatalf("%s: replies differ at byte %d: got %q, want %q", cmd, n, g[n:min(n+80, len(g))], w[n:min(n+80, len(w))])
		}
	}
}

// noreply requests produce no reply, even in a long pipeline, and their
// effects are there when a reply-bearing request follows.
func TestMemcachedNoreplyPipeline(t *testing.T) {
	servers := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t)}
	_, addrs := startWalnut(t, mcPool("cache", servers, ""))
	c := dialRaw(t, addrs["cache"])
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, "set nr%d 0 0 1 noreply\r\nx\r\n", i)
		fmt.Fprintf(&b, "append nr%d 0 0 1 noreply\r\ny\r\n", i)
		fmt.Fprintf(&b, "incr nr%d 1 noreply\r\n", i) // not a number: an error, suppressed too
		fmt.Fprintf(&b, "touch nr%d 100 noreply\r\n", i)
	}
	b.WriteString("delete nr0 noreply\r\nget nr0 nr1 nr199\r\n")
	c.send(t, b.String())
	for _, want := range []string{"VALUE nr1 0 2\r\n", "xy\r\n", "VALUE nr199 0 2\r\n", "xy\r\n", "END\r\n"} {
		if got := c.line(t); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestMemcachedLargeValues(t *testing.T) {
	servers := []*testbed.Process{testbed.Memcached(t, "-I", "32m", "-m", "256"), testbed.Memcached(t, "-I", "32m", "-m", "256")}
	_, addrs := startWalnut(t, mcPool("cache", servers, ""))
	mc := newMC(t, addrs["cache"])
	for _, size := range []int{100 << 10, 1 << 20, 16 << 20} {
		val := bytes.Repeat([]byte{'v'}, size)
		copy(val[size-8:], fmt.Sprintf("%08d", size))
		k := fmt.Sprintf("big%d", size)
		if err := mc.Set(&memcache.Item{Key: k, Value: val}); err != nil {
			t.Fatalf("set %d bytes: %v", size, err)
		}
		it, err := mc.Get(k)
		if err != nil || !bytes.Equal(it.Value, val) {
			t.Fatalf("get %d bytes: %v", size, err)
		}
	}
	got, err := mc.GetMulti([]string{"big102400", "big1048576", "big16777216", "none"})
	if err != nil || len(got) != 3 || len(got["big16777216"].Value) != 16<<20 {
		t.Fatalf("get_multi of large values: %d items, %v", len(got), err)
	}
}

// The same byte stream gets the same bytes back from walnut over two
// servers as from one memcached: text and meta commands, flags, opaque
// tokens, quiet mode (walnut strips q and suppresses what memcached
// would), mn, noreply.
func TestMemcachedSameAsDirect(t *testing.T) {
	oracle := testbed.Memcached(t)
	servers := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t)}
	_, addrs := startWalnut(t, mcPool("cache", servers, `hash = "md5"`))
	script := []string{
		"set a 1 0 3\r\nabc\r\n", "get a\r\n", "get a b a\r\n",
		"add a 0 0 1\r\nx\r\n", "add b 2 0 2\r\nbb\r\n", "replace c 0 0 1\r\nx\r\n",
		"append a 0 0 2\r\nde\r\n", "prepend a 0 0 2\r\nzz\r\n", "get a b c\r\n",
		"set n 0 0 2\r\n10\r\n", "incr n 5\r\n", "decr n 100\r\n", "incr nokey 1\r\n", "incr a 1\r\n",
		"touch a 100\r\n", "touch nokey 1\r\n", "gat 100 a b nokey\r\n",
		"delete b\r\n", "delete b\r\n", "delete a noreply\r\n", "get a b\r\n",
		"set q 0 0 1 noreply\r\nq\r\n", "get q\r\n",
		"ms mk 5 T0 F7 O123\r\nhello\r\n", "mg mk v f O9 k\r\n", "mg mk s v t\r\n", "mg missing v O5\r\n",
		"ma mcount N0 J13 v\r\n", "ma mcount v D4\r\n", "ma mcount MD D100 v\r\n", "ma nokey\r\n",
		"md mk q\r\n", "mg mk v\r\n", "md mk\r\n", "md mk q O7\r\n",
		"mg nothere v q O1\r\nms mq 1 q\r\nz\r\nmg mq v q O2\r\nmn\r\n",
		"ms mk 2 MA\r\nxx\r\n", "ms mk 2 ME\r\nxx\r\n", "ms mk 2 MA\r\nyy\r\n", "mg mk v\r\n",
		"mn\r\n",
	}
	run := func(addr string) string {
		c := dialRaw(t, addr)
		var out strings.Builder
		for _, cmd := range script {
			c.send(t, cmd+"mn\r\n")
			// Read up to the mn this loop added, past any the step has.
			for mns := strings.Count(cmd, "mn\r\n") + 1; mns > 0; {
				l := c.line(t)
				if l == "MN\r\n" {
					if mns--; mns == 0 {
						break
					}
				}
				out.WriteString(l)
			}
			out.WriteString("--\n")
		}
		return out.String()
	}
	want, got := run(oracle.Addr), run(addrs["cache"])
	if got != want {
		wl, gl := strings.Split(want, "--\n"), strings.Split(got, "--\n")
		for i := range wl {
			if i >= len(gl) || wl[i] != gl[i] {
				t.Fatalf("after %q:\nwalnut:    %q\nmemcached: %q", script[i], gl[i], wl[i])
			}
		}
	}
}

func TestMemcachedBadInput(t *testing.T) {
	servers := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t)}
	_, addrs := startWalnut(t, mcPool("cache", servers, "max_request_size = \"64KiB\"\nstrict_keys = true"))
	addr := addrs["cache"]
	bystander := newMC(t, addr)
	if err := bystander.Set(&memcache.Item{Key: "by", Value: []byte("stander")}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("k", 251)
	cases := []struct {
		name, input, wantPrefix string
		closes                  bool
	}{
		{"unknown command", "bogus a b\r\n", "ERROR", false},
		{"key too long", "get " + long + "\r\n", "CLIENT_ERROR", false},
		{"control character in key", "get a\x01b\r\n", "CLIENT_ERROR", false},
		{"bad number", "incr k notanumber\r\n", "CLIENT_ERROR", false},
		{"bad flags", "set k abc 0 1\r\nx\r\n", "CLIENT_ERROR", false},
		{"data longer than its header", "set k 0 0 2\r\nxyz\r\n", "CLIENT_ERROR", true},
		{"value larger than the limit", "set k 0 0 100000\r\n", "CLIENT_ERROR", true},
		{"line too long", "set " + strings.Repeat("x", 70000), "CLIENT_ERROR", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.send(t, "version\r\n"+tc.input)
			if got := c.line(t); !strings.HasPrefix(got, "VERSION ") {
				t.Fatalf("reply to version: %q", got)
			}
			got := c.line(t)
			if !strings.HasPrefix(got, tc.wantPrefix) {
				t.Fatalf("got %q, want %s", got, tc.wantPrefix)
			}
			if tc.closes {
				if !c.closed() {
					t.Fatal("connection still open where the stream cannot be trusted")
				}
				return
			}
			c.send(t, "get by\r\n")
			for _, w := range []string{"VALUE by 0 7\r\n", "stander\r\n", "END\r\n"} {
				if g := c.line(t); g != w {
					t.Fatalf("after %s: %q, want %q", tc.name, g, w)
				}
			}
		})
	}
	if it, err := bystander.Get("by"); err != nil || string(it.Value) != "stander" {
		t.Fatalf("bystander after bad input: %v %v", it, err)
	}
}

// Keys with control bytes, as memcaslap makes them, work as they do on
// memcached unless the pool asks for strict keys.
func TestMemcachedControlBytesInKeys(t *testing.T) {
	servers := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t)}
	_, addrs := startWalnut(t, mcPool("cache", servers, ""))
	c := dialRaw(t, addrs["cache"])
	c.send(t, "set \x10\x10key 3 0 2\r\nab\r\nget \x10\x10key a\x01b\r\n")
	for _, want := range []string{"STORED\r\n", "VALUE \x10\x10key 3 2\r\n", "ab\r\n", "END\r\n"} {
		if got := c.line(t); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestMemcachedServerFailure(t *testing.T) {
	servers := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t)}
	_, addrs := startWalnut(t, mcPool("cache", servers, "hash = \"md5\"\ntimeout = \"300ms\""))
	mc := newMC(t, addrs["cache"])
	ds := mcDirect(t, servers)
	keyOn := map[int]string{}
	for i := 0; len(keyOn) < 2 && i < 1000; i++ {
		k := fmt.Sprintf("k%d", i)
		if err := mc.Set(&memcache.Item{Key: k, Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
		keyOn[mcOwners(t, ds, k)[0]] = k
	}
	c := dialRaw(t, addrs["cache"])
	servers[0].Stop()
	c.send(t, "get "+keyOn[0]+"\r\n")
	if got := c.line(t); !strings.HasPrefix(got, "SERVER_ERROR") || !strings.Contains(got, "timed out") {
		t.Fatalf("get on a hung server: %q", got)
	}
	c.send(t, "get "+keyOn[1]+"\r\n")
	if got := c.line(t); got != fmt.Sprintf("VALUE %s 0 %d\r\n", keyOn[1], len(keyOn[1])) {
		t.Fatalf("get on the live server: %q", got)
	}
	c.line(t)
	c.line(t)
	servers[0].Continue()
	servers[0].Kill()
	c.send(t, "get "+keyOn[0]+"\r\n")
	if got := c.line(t); !strings.HasPrefix(got, "SERVER_ERROR") || !strings.Contains(got, servers[0].Addr) {
		t.Fatalf("get on a dead server: %q", got)
	}
}

// One walnut serves a Redis pool and a memcached pool together, each
// with its own clients, all at once.
func TestMixedPools(t *testing.T) {
	rs := testbed.Redises(t, 2)
	ms := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t)}
	_, addrs := startWalnut(t, "[proxy]\nworkers = 2\n"+redisPool("r", rs, "")+mcPool("m", ms, ""))
	ctx := context.Background()
	redisClient := func(w int) error {
		rc := redis.NewClient(&redis.Options{Addr: addrs["r"], Protocol: 2, DisableIdentity: true, PoolSize: 2})
		defer rc.Close()
		for i := range 300 {
			k := fmt.Sprintf("r%d:%d", w, i)
			if err := rc.Set(ctx, k, k, 0).Err(); err != nil {
				return err
			}
			if v, err := rc.Get(ctx, k).Result(); err != nil || v != k {
				return fmt.Errorf("redis %s = %q, %v", k, v, err)
			}
		}
		return nil
	}
	mcClient := func(w int) error {
		mc := memcache.New(addrs["m"])
		mc.Timeout = 5 * time.Second
		defer mc.Close()
		for i := range 300 {
			k := fmt.Sprintf("m%d:%d", w, i)
			if err := mc.Set(&memcache.Item{Key: k, Value: []byte(k)}); err != nil {
				return err
			}
			it, err := mc.Get(k)
			if err != nil || string(it.Value) != k {
				return fmt.Errorf("memcached %s = %v, %v", k, it, err)
			}
		}
		return nil
	}
	concurrently(t, 16, func(i int) error {
		if i%2 == 0 {
			return redisClient(i / 2)
		}
		return mcClient(i / 2)
	})
}
