package integration

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/internal/testbed"
	"github.com/walnutproxy/walnut/reshard"
)

// The resharding tests fill servers through walnut with one server
// list, move the keys with walnut reshard (in process, or the binary),
// and check every key through walnut with the other list, and on the
// servers themselves that each key is on the one server that owns it.

const reshardKeys = 3000

// redisKey is what a test wrote under a key.
type redisKey struct {
	typ string
	ttl bool // set to expire in an hour
}

// fillRedis writes n keys of five types through c, a third of them
// with an hour to live.
func fillRedis(t testing.TB, c *redis.Client, n int) map[string]redisKey {
	t.Helper()
	ctx := context.Background()
	keys := map[string]redisKey{}
	pipe := c.Pipeline()
	for i := range n {
		typ := []string{"string", "hash", "list", "set", "zset"}[i%5]
		k := fmt.Sprintf("rs:%s:%d:%x", typ, i, i*2654435761)
		switch typ {
		case "string":
			pipe.Set(ctx, k, "value of "+k, 0)
		case "hash":
			pipe.HSet(ctx, k, "a", k, "b", strconv.Itoa(i))
		case "list":
			pipe.RPush(ctx, k, "x", k, strconv.Itoa(i))
		case "set":
			pipe.SAdd(ctx, k, "x", k, strconv.Itoa(i))
		case "zset":
			pipe.ZAdd(ctx, k, redis.Z{Score: 1, Member: k}, redis.Z{Score: float64(i), Member: "i"})
		}
		ttl := i%3 == 0
		if ttl {
			pipe.Expire(ctx, k, time.Hour)
		}
		keys[k] = redisKey{typ: typ, ttl: ttl}
		if i%200 == 199 {
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	return keys
}

// checkRedisKey reads k through c and compares it with what fillRedis
// wrote; it returns what differs, "" if nothing.
func checkRedisKey(ctx context.Context, c *redis.Client, k string, want redisKey) string {
	typ, err := c.Type(ctx, k).Result()
	if err != nil || typ != want.typ {
		return fmt.Sprintf("TYPE %s = %q, %v; want %s", k, typ, err, want.typ)
	}
	i := strings.Split(k, ":")[2]
	var got, exp string
	switch typ {
	case "string":
		got, err = c.Get(ctx, k).Result()
		exp = "value of " + k
	case "hash":
		var m map[string]string
		m, err = c.HGetAll(ctx, k).Result()
		got, exp = fmt.Sprint(m), fmt.Sprint(map[string]string{"a": k, "b": i})
	case "list":
		var l []string
		l, err = c.LRange(ctx, k, 0, -1).Result()
		got, exp = strings.Join(l, ","), "x,"+k+","+i
	case "set":
		var l []string
		l, err = c.SMembers(ctx, k).Result()
		slices.Sort(l)
		e := []string{"x", k, i}
		slices.Sort(e)
		got, exp = strings.Join(l, ","), strings.Join(e, ",")
	case "zset":
		var l []string
		l, err = c.ZRange(ctx, k, 0, -1).Result()
		got = strings.Join(l, ",")
		if n, _ := strconv.Atoi(i); n < 1 {
			exp = "i," + k
		} else {
			exp = k + ",i"
		}
	}
	if err != nil || got != exp {
		return fmt.Sprintf("%s %s = %q, %v; want %q", typ, k, got, err, exp)
	}
	ttl, err := c.TTL(ctx, k).Result()
	switch {
	case err != nil:
		return fmt.Sprintf("TTL %s: %v", k, err)
	case want.ttl && (ttl < 50*time.Minute || ttl > time.Hour):
		return fmt.Sprintf("TTL %s = %v, want about an hour", k, ttl)
	case !want.ttl && ttl != -1:
		return fmt.Sprintf("TTL %s = %v, want none", k, ttl)
	}
	return ""
}

// checkRedisAll checks every key through c, and on the servers that each
// key is on the server the pool places it on, and nowhere else.
func checkRedisAll(t testing.TB, c *redis.Client, keys map[string]redisKey, pool *config.Pool, servers []*testbed.Process) {
	t.Helper()
	ctx := context.Background()
	for k, want := range keys {
		if msg := checkRedisKey(ctx, c, k, want); msg != "" {
			t.Fatal(msg)
		}
	}
	r, err := core.NewRouter(pool)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, s := range servers {
		d := newClient(t, s.Addr)
		var cursor uint64
		for {
			ks, next, err := d.Scan(ctx, cursor, "*", 1000).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range ks {
				if other, dup := seen[k]; dup {
					t.Fatalf("%s is on %s and on %s", k, other, s.Addr)
				}
				seen[k] = s.Addr
				if owner := pool.Servers[r.Route([]byte(k))].Addr; owner != s.Addr {
					t.Fatalf("%s is on %s, which no longer owns it (%s does)", k, s.Addr, owner)
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	if len(seen) != len(keys) {
		t.Fatalf("%d keys on the servers, want %d", len(seen), len(keys))
	}
}

// parse reads TOML text as a configuration.
func parse(t testing.TB, conf string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(conf))
	if err != nil {
		t.Fatalf("%v\n%s", err, conf)
	}
	return cfg
}

// reader reads random keys through addr until stopped and counts the
// ones it did not find.
type reader struct {
	reads, missing atomic.Int64
	first          atomic.Value
	stop           chan struct{}
	done           sync.WaitGroup
}

func startReader(t testing.TB, read func(k string) error, keys []string) *reader {
	r := &reader{stop: make(chan struct{})}
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			k := keys[rand.IntN(len(keys))]
			r.reads.Add(1)
			if err := read(k); err != nil {
				r.missing.Add(1)
				r.first.CompareAndSwap(nil, fmt.Sprintf("%s: %v", k, err))
			}
		}
	}()
	return r
}

func (r *reader) end(t testing.TB) {
	t.Helper()
	close(r.stop)
	r.done.Wait()
	t.Logf("reader during the reshard: %d reads, %d missing", r.reads.Load(), r.missing.Load())
	if r.missing.Load() > 0 || r.reads.Load() == 0 {
		t.Fatalf("reader during the reshard: %d of %d reads failed; first: %v", r.missing.Load(), r.reads.Load(), r.first.Load())
	}
}

// samePairs fails unless the dry run predicted exactly what the run
// moved, pair by pair.
func samePairs(t testing.TB, dry, real *reshard.PoolReport) {
	t.Helper()
	if len(dry.Pairs) != len(real.Pairs) {
		t.Fatalf("dry run: %d pairs, run: %d", len(dry.Pairs), len(real.Pairs))
	}
	for i, d := range dry.Pairs {
		r := real.Pairs[i]
		if d.From != r.From || d.To != r.To || d.Keys != r.Keys || d.Bytes != r.Bytes {
			t.Fatalf("dry run said %s -> %s: %d keys, %d bytes; the run moved %s -> %s: %d keys, %d bytes",
				d.From, d.To, d.Keys, d.Bytes, r.From, r.To, r.Keys, r.Bytes)
		}
	}
}

// pacedRun reshards as o says, paced to move what the dry run dry
// predicted in about a second, for the reader rd (if any) to overlap,
// and then ends rd. It fails unless the run moved what dry said, found
// no key already moved and had no error; it returns the pool's report.
func pacedRun(t testing.TB, o reshard.Options, dry *reshard.PoolReport, rd *reader) *reshard.PoolReport {
	t.Helper()
	dk, _ := dry.Moved()
	o.Rate = int(dk)
	rep, err := reshard.Run(context.Background(), o)
	if rd != nil {
		rd.end(t)
	}
	if err != nil {
		t.Fatal(err)
	}
	logReport(t, "run", rep)
	rp := rep.Pools[0]
	samePairs(t, dry, rp)
	if rp.Kept() != 0 || rp.Errors != 0 {
		t.Fatalf("run: %d kept, %d errors", rp.Kept(), rp.Errors)
	}
	return rp
}

// dryRun reports, and logs, what resharding from to to would move.
func dryRun(t testing.TB, from, to *config.Config) *reshard.Report {
	t.Helper()
	dry, err := reshard.Run(context.Background(), reshard.Options{From: from, To: to, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	logReport(t, "dry run", dry)
	return dry
}

// logReport logs rep as walnut reshard prints it.
func logReport(t testing.TB, what string, rep *reshard.Report) {
	t.Helper()
	var buf strings.Builder
	rep.Print(&buf)
	t.Logf("%s:\n%s", what, buf.String())
}

// loadState loads the reshard state file at path, a new state if there
// is none yet.
func loadState(t testing.TB, path string) *reshard.State {
	t.Helper()
	state, err := reshard.LoadState(path, "old", "new")
	if err != nil {
		t.Fatal(err)
	}
	return state
}

// redisReshard fills the servers of before through walnut, predicts with
// a dry run, switches walnut to after with a migration, reshards while a
// reader reads random keys through it, then checks every key through
// walnut without the migration, and where each key is.
func redisReshard(t *testing.T, before, after []*testbed.Process) {
	ctx := context.Background()
	all := before
	for _, s := range after {
		if !slices.Contains(all, s) {
			all = append(all, s)
		}
	}
	oldConf, newConf := redisPool("alpha", before, ""), redisPool("alpha", after, "")
	px, addrs := startWalnut(t, oldConf)
	c := newClient(t, addrs["alpha"])
	keys := fillRedis(t, c, reshardKeys)
	oldCfg, newCfg := parse(t, oldConf), parse(t, newConf)

	dry := dryRun(t, oldCfg, newCfg)
	dp := dry.Pools[0]
	dk, _ := dp.Moved()
	if dp.Scanned != reshardKeys || dk == 0 {
		t.Fatalf("dry run scanned %d keys, would move %d", dp.Scanned, dk)
	}

	if err := px.Reload(parse(t, newConf+migrationTable("alpha", before))); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	rd := startReader(t, func(k string) error {
		if msg := checkRedisKey(ctx, c, k, keys[k]); msg != "" {
			return errors.New(msg)
		}
		return nil
	}, names)
	state := loadState(t, filepath.Join(t.TempDir(), "state.json"))
	if rp := pacedRun(t, reshard.Options{From: oldCfg, To: newCfg, State: state}, dp, rd); !rp.Done {
		t.Fatal("run: not done")
	}

	if err := px.Reload(newCfg); err != nil {
		t.Fatal(err)
	}
	checkRedisAll(t, c, keys, newCfg.Pools[0], all)

	// Unpaced, for the rate: back to the old servers.
	if err := px.Reload(parse(t, oldConf+migrationTable("alpha", after))); err != nil {
		t.Fatal(err)
	}
	rep, err := reshard.Run(ctx, reshard.Options{From: newCfg, To: oldCfg})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := rep.Pools[0].Moved()
	t.Logf("back: %d keys in %v, %.0f keys/s", n, rep.Duration, float64(n)/rep.Duration.Seconds())
	if err := px.Reload(oldCfg); err != nil {
		t.Fatal(err)
	}
	checkRedisAll(t, c, keys, oldCfg.Pools[0], all)
}

// TestReshardRedisAddServer: 4 servers to 5.
func TestReshardRedisAddServer(t *testing.T) {
	servers := testbed.Redises(t, 5)
	redisReshard(t, servers[:4], servers)
}

// TestReshardRedisRemoveServer: 4 servers to 3.
func TestReshardRedisRemoveServer(t *testing.T) {
	servers := testbed.Redises(t, 4)
	redisReshard(t, servers, servers[1:])
}

// TestReshardResume interrupts a run mid-way (its context is cancelled
// after a few batches), runs again with the same state file, and checks
// that the two runs together moved each key once: as many as the dry
// run predicted, none found already moved.
func TestReshardResume(t *testing.T) {
	ctx := context.Background()
	servers := testbed.Redises(t, 5)
	oldConf, newConf := redisPool("alpha", servers[:4], ""), redisPool("alpha", servers, "")
	px, addrs := startWalnut(t, oldConf)
	c := newClient(t, addrs["alpha"])
	keys := fillRedis(t, c, reshardKeys)
	oldCfg, newCfg := parse(t, oldConf), parse(t, newConf)
	want, wantBytes := dryRun(t, oldCfg, newCfg).Pools[0].Moved()

	statePath := filepath.Join(t.TempDir(), "state.json")
	state := loadState(t, statePath)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	first, err := reshard.Run(cctx, reshard.Options{From: oldCfg, To: newCfg, State: state, Batch: 10, ScanCount: 100, Parallel: 2,
		OnBatch: func(_ string, moved int64) {
			if moved >= want/2 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) || !first.Interrupted {
		t.Fatalf("first run: %v, interrupted %v", err, first.Interrupted)
	}
	m1, b1 := first.Pools[0].Moved()
	if m1 < want/2 || m1 >= want {
		t.Fatalf("first run moved %d of %d keys", m1, want)
	}

	second, err := reshard.Run(ctx, reshard.Options{From: oldCfg, To: newCfg, State: loadState(t, statePath), Batch: 10, ScanCount: 100, Parallel: 2})
	if err != nil {
		t.Fatal(err)
	}
	m2, b2 := second.Pools[0].Moved()
	t.Logf("first run %d keys, second %d, dry run %d", m1, m2, want)
	logReport(t, "second run", second)
	if len(second.Pools[0].Resumed) == 0 {
		t.Fatal("the second run resumed nothing")
	}
	if m1+m2 != want || b1+b2 != wantBytes || second.Pools[0].Kept() != 0 {
		t.Fatalf("moved %d+%d keys (%d+%d bytes), %d found already there; the dry run said %d keys (%d bytes)",
			m1, m2, b1, b2, second.Pools[0].Kept(), want, wantBytes)
	}
	if err := px.Reload(newCfg); err != nil {
		t.Fatal(err)
	}
	checkRedisAll(t, c, keys, newCfg.Pools[0], servers)

	// A third run finds the state complete, scans again, moves nothing.
	third, err := reshard.Run(ctx, reshard.Options{From: oldCfg, To: newCfg, State: loadState(t, statePath)})
	if n, _ := third.Pools[0].Moved(); err != nil || n != 0 || third.Pools[0].Scanned == 0 {
		t.Fatalf("third run: %v, moved %d, scanned %d", err, n, third.Pools[0].Scanned)
	}
}

// mcTTL reads a key's flags, value and remaining TTL through a raw
// connection with mg.
func mcMeta(t testing.TB, raw *rawConn, k string) (value string, flags, ttl int64, found bool) {
	t.Helper()
	raw.send(t, "mg "+k+" v f t\r\n")
	l := strings.TrimRight(raw.line(t), "\r\n")
	if l == "EN" {
		return "", 0, 0, false
	}
	f := strings.Fields(l)
	if len(f) < 2 || f[0] != "VA" {
		t.Fatalf("mg %s: %q", k, l)
	}
	for _, x := range f[2:] {
		n, _ := strconv.ParseInt(x[1:], 10, 64)
		switch x[0] {
		case 'f':
			flags = n
		case 't':
			ttl = n
		}
	}
	v := raw.line(t)
	return strings.TrimRight(v, "\r\n"), flags, ttl, true
}

// TestReshardMemcached: 4 servers to 5 and back to 3 of them, values,
// flags and TTLs kept, with a reader during the first move.
func TestReshardMemcached(t *testing.T) {
	servers := make([]*testbed.Process, 5)
	for i := range servers {
		servers[i] = testbed.Memcached(t)
	}
	four, five, three := servers[:4], servers, servers[1:4]
	confOf := func(ss []*testbed.Process) string { return mcPool("cache", ss, "") }
	px, addrs := startWalnut(t, confOf(four))
	mc := newMC(t, addrs["cache"])
	keys := make([]string, reshardKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("mc:%d:%x", i, i*2654435761)
		exp := int32(0)
		if i%3 == 0 {
			exp = 3600
		}
		if err := mc.Set(&memcache.Item{Key: keys[i], Value: []byte("value of " + keys[i]), Flags: uint32(i), Expiration: exp}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(ss []*testbed.Process) {
		t.Helper()
		cfg := parse(t, confOf(ss))
		if err := px.Reload(cfg); err != nil {
			t.Fatal(err)
		}
		raw := dialRaw(t, addrs["cache"])
		for i, k := range keys {
			v, flags, ttl, ok := mcMeta(t, raw, k)
			if !ok || v != "value of "+k || flags != int64(i) {
				t.Fatalf("%s = %q flags %d (found %v)", k, v, flags, ok)
			}
			if (i%3 == 0 && (ttl < 3000 || ttl > 3600)) || (i%3 != 0 && ttl != -1) {
				t.Fatalf("%s: TTL %d", k, ttl)
			}
		}
		// Each key on its owner alone.
		r, err := core.NewRouter(cfg.Pools[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			d := dialRaw(t, s.Addr)
			for _, k := range keys {
				_, _, _, ok := mcMeta(t, d, k)
				if owner := cfg.Pools[0].Servers[r.Route([]byte(k))].Addr; ok != (owner == s.Addr) {
					t.Fatalf("%s on %s: %v; its owner is %s", k, s.Addr, ok, owner)
				}
			}
		}
	}
	move := func(from, to []*testbed.Process, withReader bool) {
		t.Helper()
		oldCfg, newCfg := parse(t, confOf(from)), parse(t, confOf(to))
		dry := dryRun(t, oldCfg, newCfg)
		if err := px.Reload(parse(t, confOf(to)+migrationTable("cache", from))); err != nil {
			t.Fatal(err)
		}
		var rd *reader
		if withReader {
			rc := newMC(t, addrs["cache"])
			rd = startReader(t, func(k string) error {
				it, err := rc.Get(k)
				if err == nil && string(it.Value) != "value of "+k {
					err = fmt.Errorf("value %q", it.Value)
				}
				return err
			}, keys)
		}
		pacedRun(t, reshard.Options{From: oldCfg, To: newCfg}, dry.Pools[0], rd)
		check(to)
	}
	move(four, five, true)
	move(five, three, false)
}

// TestReshardCommand runs walnut reshard as an operator would: a dry
// run, then a run against walnut serving the new file with a migration
// from the old one, killed (SIGKILL) mid-way, then run again to the end;
// and checks every key through walnut once the migration is removed.
func TestReshardCommand(t *testing.T) {
	ctx := context.Background()
	servers := testbed.Redises(t, 5)
	dir := t.TempDir()
	port := testbed.FreePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	body := func(ss []*testbed.Process) string {
		return fmt.Sprintf("[pools.alpha]\nlisten = %q\nservers = %s\n", listen, serverList(ss))
	}
	oldPath := write("old.toml", body(servers[:4]))
	newBody := body(servers)
	newPath := write("new.toml", newBody+"[pools.alpha.migration]\nfrom = \"old.toml\"\n")

	w := testbed.WalnutArgs(t, body(servers[:4]), nil, listen)
	c := newClient(t, listen)
	keys := fillRedis(t, c, reshardKeys)
	// walnut now serves the new file, migration included.
	if err := os.WriteFile(w.Config, []byte(newBody+fmt.Sprintf("[pools.alpha.migration]\nfrom = %q\n", oldPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Signal(syscall.SIGHUP)
	if !waitFor(10*time.Second, func() bool { return strings.Contains(w.Log(), "reload applied") }) {
		t.Fatalf("no reload:\n%s", w.Log())
	}

	bin := testbed.WalnutBinary(t)
	out, err := exec.Command(bin, "reshard", "--from", oldPath, "--to", newPath, "--dry-run").CombinedOutput()
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	t.Logf("walnut reshard --dry-run:\n%s", out)
	if !strings.Contains(string(out), "pool alpha (redis): would move") || !strings.Contains(string(out), "of a uniform keyspace") {
		t.Fatalf("dry run output:\n%s", out)
	}

	// Paced, and killed a moment in.
	run := exec.Command(bin, "reshard", "--to", newPath, "--rate", "300", "--batch", "20", "--scan-count", "50", "--progress-every", "200ms")
	var runOut strings.Builder
	run.Stdout, run.Stderr = &runOut, &runOut
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	run.Process.Kill()
	run.Wait()
	t.Logf("killed run:\n%s", runOut.String())
	statePath := newPath + ".reshard.json"
	if _, err := os.Stat(statePath); err != nil {
		t.Fatalf("no state file: %v", err)
	}
	for k, want := range keys {
		if msg := checkRedisKey(ctx, c, k, want); msg != "" {
			t.Fatalf("after the kill, through walnut with the migration: %s", msg)
		}
	}

	out, err = exec.Command(bin, "reshard", "--to", newPath).CombinedOutput()
	if err != nil {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	t.Logf("resumed run:\n%s", out)
	if !strings.Contains(string(out), "resumed from the state file") || !strings.Contains(string(out), "done: every key of pool alpha") {
		t.Fatalf("resumed run output:\n%s", out)
	}
	if err := os.WriteFile(w.Config, []byte(newBody), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Signal(syscall.SIGHUP)
	if !waitFor(10*time.Second, func() bool { return strings.Count(w.Log(), "reload applied") >= 2 }) {
		t.Fatalf("no reload:\n%s", w.Log())
	}
	checkRedisAll(t, c, keys, parse(t, newBody).Pools[0], servers)
}

// TestReshardWithPluginDistribution: a pool placed by an external
// distribution (the jump example plugin) is resharded by the binary,
// which starts the plugin as walnut does. Once walnut drops the
// migration, every key is found where walnut looks for it.
func TestReshardWithPluginDistribution(t *testing.T) {
	ctx := context.Background()
	jump := buildPlugin(t, "jump")
	servers := testbed.Redises(t, 4)
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", testbed.FreePort(t))
	body := func(ss []*testbed.Process) string {
		return pluginSection("jump", jump) +
			fmt.Sprintf("[pools.alpha]\nlisten = %q\ndistribution = \"jump\"\nservers = %s\n", listen, serverList(ss))
	}
	oldPath := filepath.Join(dir, "old.toml")
	newPath := filepath.Join(dir, "new.toml")
	migration := fmt.Sprintf("[pools.alpha.migration]\nfrom = %q\n", oldPath)
	if err := os.WriteFile(oldPath, []byte(body(servers[:3])), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(newPath, []byte(body(servers)+migration), 0o644); err != nil {
		t.Fatal(err)
	}
	w := testbed.WalnutArgs(t, body(servers[:3]), nil, listen)
	c := newClient(t, listen)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("jump:%d", i)
		if err := c.Set(ctx, keys[i], keys[i], 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	reload := func(conf string, n int) {
		t.Helper()
		if err := os.WriteFile(w.Config, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		w.Signal(syscall.SIGHUP)
		if !waitFor(10*time.Second, func() bool { return strings.Count(w.Log(), "reload applied") >= n }) {
			t.Fatalf("no reload:\n%s", w.Log())
		}
	}
	reload(body(servers)+migration, 1)
	out, err := exec.Command(testbed.WalnutBinary(t), "reshard", "--to", newPath).CombinedOutput()
	if err != nil {
		t.Fatalf("walnut reshard: %v\n%s", err, out)
	}
	t.Logf("walnut reshard:\n%s", out)
	if !strings.Contains(string(out), "done: every key") {
		t.Fatalf("output:\n%s", out)
	}
	reload(body(servers), 2)
	for _, k := range keys {
		if v, err := c.Get(ctx, k).Result(); err != nil || v != k {
			t.Fatalf("GET %s = %q, %v", k, v, err)
		}
	}
	if n, err := newClient(t, servers[3].Addr).DBSize(ctx).Result(); err != nil || n == 0 {
		t.Fatalf("the new server holds %d keys (%v)", n, err)
	}
}

// checkRedisDB checks, in database db of every server, that the keys
// there are those of want, each on the server pool places it on.
func checkRedisDB(t testing.TB, db int, want map[string]string, pool *config.Pool, servers []*testbed.Process) {
	t.Helper()
	ctx := context.Background()
	r, err := core.NewRouter(pool)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, s := range servers {
		d := newClient(t, s.Addr, func(o *redis.Options) { o.DB = db })
		ks, err := d.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			v, err := d.Get(ctx, k).Result()
			if err != nil || v != want[k] {
				t.Fatalf("db %d of %s: %s = %q, %v; want %q", db, s.Addr, k, v, err, want[k])
			}
			if owner := pool.Servers[r.Route([]byte(k))].Addr; owner != s.Addr {
				t.Fatalf("db %d: %s is on %s, which does not own it (%s does)", db, k, s.Addr, owner)
			}
			seen++
		}
	}
	if seen != len(want) {
		t.Fatalf("db %d: %d keys on the servers, want %d", db, seen, len(want))
	}
}

// TestReshardRedisDatabases: a pool whose clients SELECT other databases
// than its redis_db has its keys moved in each, database n of an old
// server to database n of the new one, redis_db included, while a reader
// in a SELECTed database reads every key through walnut; the same key
// name in two databases moves as two keys. Empty databases are left
// alone, and the state file records each database apart.
func TestReshardRedisDatabases(t *testing.T) {
	ctx := context.Background()
	all := testbed.Redises(t, 3)
	old := all[:2]
	const extra = "redis_db = 2\ndatabases = 8"
	oldConf, newConf := redisPool("alpha", old, extra), redisPool("alpha", all, extra)
	px, addrs := startWalnut(t, oldConf)
	contents := map[int]map[string]string{}
	clients := map[int]*redis.Client{}
	for db, n := range map[int]int{0: 300, 2: 500, 5: 400} {
		c := newClient(t, addrs["alpha"], selectDB(db))
		clients[db] = c
		contents[db] = map[string]string{}
		pipe := c.Pipeline()
		for i := range n {
			k := fmt.Sprintf("dbs:%d:%x", i, i*2654435761)
			v := fmt.Sprintf("db %d value %d", db, i)
			pipe.Set(ctx, k, v, 0)
			contents[db][k] = v
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	oldCfg, newCfg := parse(t, oldConf), parse(t, newConf)

	dp := dryRun(t, oldCfg, newCfg).Pools[0]
	if dp.Scanned != 1200 {
		t.Fatalf("dry run scanned %d keys, want 1200", dp.Scanned)
	}
	if err := px.Reload(parse(t, newConf+migrationTable("alpha", old))); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range contents[5] {
		names = append(names, k)
	}
	rd := startReader(t, func(k string) error {
		v, err := clients[5].Get(ctx, k).Result()
		if err != nil || v != contents[5][k] {
			return fmt.Errorf("db 5: GET = %q, %v", v, err)
		}
		return nil
	}, names)
	statePath := filepath.Join(t.TempDir(), "state.json")
	rp := pacedRun(t, reshard.Options{From: oldCfg, To: newCfg, State: loadState(t, statePath)}, dp, rd)
	if !rp.Done || rp.Scanned != 1200 {
		t.Fatalf("run: %d scanned, done %v", rp.Scanned, rp.Done)
	}
	pairDBs := map[string]bool{}
	for _, p := range rp.Pairs {
		_, db, _ := strings.Cut(p.From, "/")
		_, todb, _ := strings.Cut(p.To, "/")
		if db != todb {
			t.Fatalf("pair %s -> %s changes database", p.From, p.To)
		}
		pairDBs[db] = true
	}
	if !pairDBs[""] || !pairDBs["db2"] || !pairDBs["db5"] || len(pairDBs) != 3 {
		t.Fatalf("pairs in databases %v, want db0 (no suffix), db2, db5", pairDBs)
	}
	saved, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range old {
		for _, id := range []string{s.Addr, s.Addr + "/db2", s.Addr + "/db5"} {
			if !strings.Contains(string(saved), fmt.Sprintf("%q", id)) {
				t.Fatalf("state file has no %s:\n%s", id, saved)
			}
		}
		if strings.Contains(string(saved), s.Addr+"/db7") {
			t.Fatalf("state file has the empty database 7:\n%s", saved)
		}
	}

	if err := px.Reload(newCfg); err != nil {
		t.Fatal(err)
	}
	for db, want := range contents {
		for k, v := range want {
			if got, err := clients[db].Get(ctx, k).Result(); err != nil || got != v {
				t.Fatalf("db %d after the reshard: GET %s = %q, %v; want %q", db, k, got, err, v)
			}
		}
		checkRedisDB(t, db, want, newCfg.Pools[0], all)
	}
	checkRedisDB(t, 7, nil, newCfg.Pools[0], all)
}

// TestReshardRedisDatabaseClash: a reshard that changes redis_db into a
// database the old servers also hold keys in would merge two databases:
// it stops on that server and says why, moving nothing there.
func TestReshardRedisDatabaseClash(t *testing.T) {
	ctx := context.Background()
	all := testbed.Redises(t, 2)
	for _, db := range []int{0, 1} {
		d := newClient(t, all[0].Addr, func(o *redis.Options) { o.DB = db })
		if err := d.Set(ctx, "clash", db, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	oldCfg, newCfg := parse(t, redisPool("alpha", all[:1], "")), parse(t, redisPool("alpha", all, "redis_db = 1"))
	rep, err := reshard.Run(ctx, reshard.Options{From: oldCfg, To: newCfg})
	if err == nil || !strings.Contains(err.Error(), "database 1 holds keys, and redis_db 0 moves into it too") {
		t.Fatalf("reshard into a redis_db in use: %v", err)
	}
	if n, _ := rep.Pools[0].Moved(); n != 0 {
		t.Fatalf("%d keys moved", n)
	}
}
