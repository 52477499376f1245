package integration

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// reply reads one whole value, RESP2 or RESP3, as the bytes that make
// it.
func (c *rawConn) reply(t testing.TB) string {
	t.Helper()
	v, err := readValue(c.r)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, v)
	}
	return v
}

// do sends one inline command and returns the raw reply.
func (c *rawConn) do(t testing.TB, cmd string) string {
	t.Helper()
	c.send(t, cmd+"\r\n")
	return c.reply(t)
}

// fill sets n keys of each kind through c: strings user:i, hashes
// item:i and sets tag:i.
func fill(t testing.TB, ctx context.Context, c redis.Cmdable, n int) {
	t.Helper()
	for i := 0; i < n; i += 100 {
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := i; j < min(i+100, n); j++ {
				p.Set(ctx, fmt.Sprintf("user:%d", j), j, 0)
				p.HSet(ctx, fmt.Sprintf("item:%d", j), "f", j)
				p.SAdd(ctx, fmt.Sprintf("tag:%d", j), j)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// scanAll iterates SCAN with go-redis' iterator and fails on a key seen
// twice.
func scanAll(t testing.TB, ctx context.Context, c *redis.Client, match string, count int64, typ string) []string {
	t.Helper()
	var it *redis.ScanIterator
	if typ != "" {
		it = c.ScanType(ctx, 0, match, count, typ).Iterator()
	} else {
		it = c.Scan(ctx, 0, match, count).Iterator()
	}
	seen := map[string]bool{}
	var keys []string
	for it.Next(ctx) {
		k := it.Val()
		if seen[k] {
			t.Fatalf("SCAN MATCH %q COUNT %d TYPE %q returned %q twice", match, count, typ, k)
		}
		seen[k] = true
		keys = append(keys, k)
	}
	if err := it.Err(); err != nil {
		t.Fatalf("SCAN MATCH %q: %v", match, err)
	}
	slices.Sort(keys)
	return keys
}

// The seed workflow, verbatim: delete every user* key with redis-cli's
// --scan piped into DEL, then list what KEYS finds.
func TestKeyspaceRedisCliScanDel(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", `hash = "md5"`)
	cli := testbed.Need(t, "redis-cli")
	_, port := splitAddr(addr)
	ctx := context.Background()
	c := newClient(t, addr)
	fill(t, ctx, c, 500)
	ds := direct(t, servers)
	for i, d := range ds {
		if n, err := d.DBSize(ctx).Result(); err != nil || n == 0 {
			t.Fatalf("server %d holds %d keys (%v): the test wants keys on every server", i, n, err)
		}
	}
	keys := func() []string {
		out, err := exec.Command(cli, "-p", port, "keys", "user*").CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli keys: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	if got := keys(); len(got) != 500 {
		t.Fatalf("redis-cli keys 'user*' listed %d keys, want 500", len(got))
	}
	script := fmt.Sprintf("%s -p %s --scan --pattern 'user*' | xargs %s -p %s del", cli, port, cli, port)
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	deleted := 0
	for _, f := range strings.Fields(string(out)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("del printed %q", out)
		}
		deleted += n
	}
	if deleted != 500 {
		t.Fatalf("del deleted %d keys, want 500", deleted)
	}
	if got := keys(); len(got) != 0 {
		t.Fatalf("after the delete, keys 'user*' lists %d keys: %v", len(got), got[:min(5, len(got))])
	}
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 1000 {
		t.Fatalf("DBSIZE after deleting the users = %d, %v; want the 1000 others", n, err)
	}
}

// go-redis' SCAN iterator over 3 servers sees every key exactly once,
// with MATCH, COUNT and TYPE, and finds what one redis-server holding the
// same keys finds.
func TestKeyspaceScanIterator(t *testing.T) {
	_, addr := redisWalnut(t, 3, "p", `hash = "md5"`)
	ctx := context.Background()
	c := newClient(t, addr)
	ref := newClient(t, testbed.Redis(t).Addr)
	fill(t, ctx, c, 1500)
	fill(t, ctx, ref, 1500)
	for _, tc := range []struct {
		match string
		count int64
		typ   string
		want  int
	}{
		{"", 0, "", 4500},
		{"*", 1000, "", 4500},
		{"user:*", 10, "", 1500},
		{"item:1?", 50, "", 10},
		{"*", 100, "hash", 1500},
		{"*:7*", 100, "set", 111},
		{"nope*", 100, "", 0},
	} {
		got := scanAll(t, ctx, c, tc.match, tc.count, tc.typ)
		want := scanAll(t, ctx, ref, tc.match, tc.count, tc.typ)
		if len(got) != tc.want || !slices.Equal(got, want) {
			t.Errorf("SCAN MATCH %q COUNT %d TYPE %q: %d keys through walnut, %d from one redis-server, want %d",
				tc.match, tc.count, tc.typ, len(got), len(want), tc.want)
		}
	}
	// The cursor names the server in its top bits: the first page of the
	// second server starts at 1<<47.
	rc := dialRaw(t, addr)
	got := rc.do(t, fmt.Sprintf("SCAN %d COUNT 5000", uint64(1)<<47))
	if !strings.HasPrefix(got, fmt.Sprintf("*2\r\n$%d\r\n%d\r\n", len(strconv.FormatUint(2<<47, 10)), uint64(2)<<47)) {
		t.Fatalf("SCAN of the whole second server: cursor does not move to the third: %.80q", got)
	}
	if got := rc.do(t, "SCAN notanumber"); got != "-ERR invalid cursor\r\n" {
		t.Fatalf("bad cursor: %q", got)
	}
	if got := rc.do(t, fmt.Sprintf("SCAN %d", uint64(9)<<47)); got != "*2\r\n$1\r\n0\r\n*0\r\n" {
		t.Fatalf("cursor past the last server: %q", got)
	}
}

// An ejected server's keys are skipped while it is out: a SCAN started
// before its ejection carries on over the others, and a cursor naming it
// moves on to the next server.
func TestKeyspaceScanSkipsEjectedServer(t *testing.T) {
	servers := testbed.Redises(t, 3)
	px, addrs := startWalnut(t, redisPool("p", servers, "hash = \"md5\"\nauto_eject_hosts = true\nserver_failure_limit = 1\nserver_retry_timeout = \"60s\"\ntimeout = \"500ms\""))
	ctx := context.Background()
	c := newClient(t, addrs["p"])
	fill(t, ctx, c, 300)
	// Which process is the pool's second server?
	second := px.Pool("p").Servers()[1].Addr
	var victim *testbed.Process
	var others []*redis.Client
	for _, s := range servers {
		if s.Addr == second {
			victim = s
		} else {
			others = append(others, newClient(t, s.Addr))
		}
	}
	var want int64
	for _, d := range others {
		n, err := d.DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		want += n
	}
	// A page from the first server, then the second goes away.
	rc := dialRaw(t, addrs["p"])
	rc.do(t, "SCAN 0 COUNT 10")
	victim.Kill()
	if !waitFor(5*time.Second, func() bool {
		for i := range 30 {
			c.Get(ctx, fmt.Sprintf("user:%d", i))
		}
		return px.Pool("p").Servers()[1].Ejected
	}) {
		t.Fatal("the killed server was not ejected")
	}
	got := scanAll(t, ctx, c, "*", 100, "")
	if int64(len(got)) != want {
		t.Fatalf("SCAN with the second server ejected: %d keys, want the others' %d", len(got), want)
	}
	if n, err := c.DBSize(ctx).Result(); err != nil || n != want {
		t.Fatalf("DBSIZE with the second server ejected: %d, %v; want %d", n, err, want)
	}
	// A cursor into the ejected server goes on with the third.
	r := rc.do(t, fmt.Sprintf("SCAN %d COUNT 10000", uint64(1)<<47|12345))
	if !strings.HasPrefix(r, "*2\r\n$1\r\n0\r\n") {
		t.Fatalf("SCAN from a cursor into the ejected server: %.60q; want the third server's whole keyspace and the end", r)
	}
}

// KEYS, DBSIZE, RANDOMKEY, TIME and LASTSAVE through walnut answer what
// one redis-server holding the same keys answers.
func TestKeyspaceCommandsMatchOneServer(t *testing.T) {
	_, addr := redisWalnut(t, 3, "p", `hash = "md5"`)
	ctx := context.Background()
	c := newClient(t, addr)
	ref := newClient(t, testbed.Redis(t).Addr)
	if k, err := c.RandomKey(ctx).Result(); err != redis.Nil {
		t.Fatalf("RANDOMKEY of an empty pool = %q, %v; want nil", k, err)
	}
	fill(t, ctx, c, 200)
	fill(t, ctx, ref, 200)
	for _, pattern := range []string{"*", "user:*", "item:1*", "*:19?", "none"} {
		got, err := c.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ref.Keys(ctx, pattern).Result()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("KEYS %s: %d keys through walnut, %d from one server", pattern, len(got), len(want))
		}
	}
	n, err := c.DBSize(ctx).Result()
	if want, _ := ref.DBSize(ctx).Result(); err != nil || n != want {
		t.Errorf("DBSIZE = %d, %v; one server says %d", n, err, want)
	}
	seen := map[string]bool{}
	for range 50 {
		k, err := c.RandomKey(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := ref.Exists(ctx, k).Result(); n != 1 {
			t.Fatalf("RANDOMKEY gave %q, which does not exist", k)
		}
		seen[k] = true
	}
	if len(seen) < 10 {
		t.Errorf("RANDOMKEY gave %d distinct keys in 50 calls", len(seen))
	}
	tm, err := c.Time(ctx).Result()
	if err != nil || time.Since(tm).Abs() > 5*time.Second {
		t.Errorf("TIME = %v, %v", tm, err)
	}
	ls, err := c.LastSave(ctx).Result()
	if err != nil || ls <= 0 || ls > time.Now().Unix()+1 {
		t.Errorf("LASTSAVE = %d, %v", ls, err)
	}
}

// FLUSHDB and FLUSHALL empty every server, and are refused unless the
// pool sets allow_flush.
func TestKeyspaceFlush(t *testing.T) {
	servers := testbed.Redises(t, 3)
	_, addrs := startWalnut(t, redisPool("safe", servers, `hash = "md5"`)+redisPool("open", servers, "hash = \"md5\"\nallow_flush = true"))
	ctx := context.Background()
	safe, open := newClient(t, addrs["safe"]), newClient(t, addrs["open"])
	fill(t, ctx, safe, 100)
	for _, cmd := range []string{"FLUSHDB", "FLUSHALL"} {
		err := safe.Do(ctx, cmd).Err()
		want := "ERR " + cmd + " is refused: it would empty every server of the pool; set allow_flush = true in the pool's configuration to allow it"
		if err == nil || err.Error() != want {
			t.Fatalf("%s without allow_flush: %v, want %s", cmd, err, want)
		}
	}
	if n, err := safe.DBSize(ctx).Result(); err != nil || n != 300 {
		t.Fatalf("DBSIZE after refused flushes = %d, %v", n, err)
	}
	if err := open.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("FLUSHDB with allow_flush: %v", err)
	}
	for i, d := range direct(t, servers) {
		if n, _ := d.DBSize(ctx).Result(); n != 0 {
			t.Fatalf("server %d holds %d keys after FLUSHDB", i, n)
		}
	}
	fill(t, ctx, open, 10)
	if err := open.FlushAllAsync(ctx).Err(); err != nil {
		t.Fatalf("FLUSHALL ASYNC: %v", err)
	}
	if !waitFor(2*time.Second, func() bool { n, _ := open.DBSize(ctx).Result(); return n == 0 }) {
		t.Fatal("keys left after FLUSHALL ASYNC")
	}
}

// SCRIPT LOAD puts a script on every server, so EVALSHA works whichever
// server its keys are on; SCRIPT EXISTS and FLUSH see every server.
func TestKeyspaceScripts(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", `hash = "md5"`)
	ctx := context.Background()
	c := newClient(t, addr)
	ds := direct(t, servers)
	keyOn := keyPerServer(t, ctx, c, ds)
	sha, err := c.ScriptLoad(ctx, "return redis.call('get', KEYS[1])").Result()
	if err != nil || len(sha) != 40 {
		t.Fatalf("SCRIPT LOAD = %q, %v", sha, err)
	}
	for srv, k := range keyOn {
		got, err := c.EvalSha(ctx, sha, []string{k}).Result()
		if err != nil || got != k {
			t.Fatalf("EVALSHA on server %d's key %s = %v, %v", srv, k, got, err)
		}
	}
	other := "e0e1f9fabfc9d4800c877a703b823ac0578ff8db" // return 1, loaded on one server only
	if err := ds[1].ScriptLoad(ctx, "return 1").Err(); err != nil {
		t.Fatal(err)
	}
	ex, err := c.ScriptExists(ctx, sha, other, "0000000000000000000000000000000000000000").Result()
	if err != nil || !slices.Equal(ex, []bool{true, false, false}) {
		t.Fatalf("SCRIPT EXISTS = %v, %v; want loaded everywhere, partly, nowhere", ex, err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if ex, _ := d.ScriptExists(ctx, sha, other).Result(); ex[0] || ex[1] {
			t.Fatalf("server %d still has scripts after SCRIPT FLUSH", i)
		}
	}
	// go-redis' Script.Run falls back from EVALSHA to EVAL on NOSCRIPT,
	// which walnut passes on unchanged.
	s := redis.NewScript("return redis.call('strlen', KEYS[1])")
	for srv, k := range keyOn {
		if n, err := s.Run(ctx, c, []string{k}).Int(); err != nil || n != len(k) {
			t.Fatalf("Script.Run on server %d = %d, %v", srv, n, err)
		}
	}
}

// A server that fails makes a whole-keyspace command fail with an error
// that names it, never a partial result.
func TestKeyspaceErrorNamesServer(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", "hash = \"md5\"\ntimeout = \"300ms\"")
	ctx := context.Background()
	c := newClient(t, addr)
	fill(t, ctx, c, 50)
	servers[2].Stop()
	defer servers[2].Continue()
	for _, cmd := range [][]any{{"KEYS", "*"}, {"DBSIZE"}, {"SCRIPT", "LOAD", "return 1"}} {
		err := c.Do(ctx, cmd...).Err()
		if err == nil || !strings.Contains(err.Error(), "server "+servers[2].Addr) {
			t.Fatalf("%v with a hung server: %v, want an error naming %s", cmd, err, servers[2].Addr)
		}
	}
	servers[2].Continue()
	// A server's own error reply is passed on with its name and code.
	locked := testbed.Redis(t, "--requirepass", "x")
	_, addrs := startWalnut(t, redisPool("p", []*testbed.Process{servers[0], locked}, ""))
	err := newClient(t, addrs["p"]).Do(ctx, "DBSIZE").Err()
	if want := "NOAUTH Authentication required. (server " + locked.Addr + ")"; err == nil || err.Error() != want {
		t.Fatalf("DBSIZE with a server refusing walnut: %v, want %s", err, want)
	}
}

// INFO reports walnut's own figures in Redis' format; INFO servers puts
// every server's INFO one after another.
func TestKeyspaceInfo(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", "")
	ctx := context.Background()
	c := newClient(t, addr)
	c.Set(ctx, "a", "b", 0)
	info, err := c.Info(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	_, port := splitAddr(addr)
	for _, want := range []string{"# Server\r\n", "redis_version:7.0.15\r\n", "walnut_version:test\r\n", "walnut_pool:p\r\n",
		"tcp_port:" + port + "\r\n", "# Clients\r\n", "connected_clients:", "# Stats\r\n", "total_commands_processed:",
		"walnut_servers:3\r\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	if got, _ := c.Info(ctx, "clients").Result(); strings.Contains(got, "# Server") || !strings.Contains(got, "# Clients") {
		t.Errorf("INFO clients:\n%s", got)
	}
	all, err := c.Info(ctx, "servers").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		if !strings.Contains(all, "# walnut server "+s.Addr+"\r\n# Server\r\nredis_version:") {
			t.Errorf("INFO servers lacks server %s:\n%.300s", s.Addr, all)
		}
	}
	if strings.Count(all, "tcp_port:") != 3 {
		t.Errorf("INFO servers has %d servers' tcp_port", strings.Count(all, "tcp_port:"))
	}
	mem, _ := c.Info(ctx, "servers", "memory").Result()
	if strings.Count(mem, "# Memory") != 3 || strings.Contains(mem, "tcp_port:") {
		t.Errorf("INFO servers memory:\n%.300s", mem)
	}
}
