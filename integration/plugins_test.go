package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/distributions/ketama"
	"github.com/walnutproxy/walnut/internal/testbed"
)

// buildPlugin builds an example plugin, as a user would build theirs,
// into the test's temporary directory.
func buildPlugin(t *testing.T, name string) string {
	t.Helper()
	return testbed.Build(t, "examples/plugins/"+name, false)
}

// pluginSection renders [plugins.NAME].
func pluginSection(name, path string, args ...string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = strconv.Quote(a)
	}
	return fmt.Sprintf("[plugins.%s]\npath = %q\nargs = [%s]\n\n", name, path, strings.Join(quoted, ", "))
}

// weightedPool is redisPool with a weight per server.
func weightedPool(name string, servers []*testbed.Process, weights []int, extra string) string {
	var list []string
	for i, s := range servers {
		list = append(list, fmt.Sprintf("%q", s.Addr+":"+strconv.Itoa(weights[i])))
	}
	return fmt.Sprintf("[pools.%s]\nlisten = \"127.0.0.1:0\"\nprotocol = \"redis\"\n%s\nservers = [%s]\n",
		name, extra, strings.Join(list, ", "))
}

// pluginPid waits for walnut's log to say msg (plugin started, plugin
// restarted) for the plugin and returns the pid it gives, the last one
// if several; it skips pids listed in not.
func pluginPid(t *testing.T, w *testbed.Process, plugin, msg string, not ...int) int {
	t.Helper()
	re := regexp.MustCompile(`msg="` + msg + `" plugin=` + plugin + ` .*pid=(\d+)`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		pid := 0
		for _, m := range re.FindAllStringSubmatch(w.Log(), -1) {
			pid, _ = strconv.Atoi(m[1])
		}
		fresh := pid != 0
		for _, n := range not {
			fresh = fresh && pid != n
		}
		if fresh {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("walnut did not log %q for plugin %s:\n%s", msg, plugin, w.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie (exited, not yet reaped) counts as gone.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still running", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jumpHash is Lamping and Veach's jump consistent hash, written here
// again from the paper rather than taken from the plugin.
func jumpHash(key uint64, buckets int) int {
	var b, j int64 = -1, 0
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * float64(1<<31) / float64(key>>33+1))
	}
	return int(b)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// expectedJump is examples/plugins/jump's README, step by step: the
// index (in the order walnut gives the servers) of the server of hash h.
func expectedJump(servers []config.Server, alive func(i int) bool, bucketsLog2 uint, h uint32) int {
	var owner, live []int
	for i, s := range servers {
		for range s.Weight {
			owner = append(owner, i)
			if alive(i) {
				live = append(live, i)
			}
		}
	}
	i := uint64(h >> (32 - bucketsLog2))
	s := owner[jumpHash(i, len(owner))]
	if !alive(s) {
		s = live[jumpHash(splitmix(i), len(live))]
	}
	return s
}

// serverIndex maps the configuration's server order (what distributions
// see) to the testbed's.
func configOrder(t *testing.T, conf string, servers []*testbed.Process) (*config.Pool, []int) {
	t.Helper()
	cfg, err := config.Parse("walnut.toml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pools[0]
	idx := make([]int, len(p.Servers))
	for i, s := range p.Servers {
		idx[i] = -1
		for j, tb := range servers {
			if tb.Addr == s.Addr {
				idx[i] = j
			}
		}
	}
	return p, idx
}

// The jump plugin, built on its own and named in the TOML, places every
// key where jump hashing says, weights and an ejected server included.
func TestPluginJumpPlacesKeys(t *testing.T) {
	jump := buildPlugin(t, "jump")
	servers := testbed.Redises(t, 4)
	weights := []int{1, 2, 1, 3}
	conf := pluginSection("jump", jump, "-buckets", "4096") +
		weightedPool("p", servers, weights, "hash = \"fnv1a_64\"\ndistribution = \"jump\"\nauto_eject_hosts = true\nserver_failure_limit = 1\nserver_retry_timeout = \"60s\"")
	w, addr := walnutAt(t, conf)
	pool, idx := configOrder(t, strings.Replace(conf, "127.0.0.1:0", addr, 1), servers)
	hash, err := distributions.LookupHash(pool.Hash)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := newClient(t, addr)
	ds := direct(t, servers)
	check := func(round string, up func(int) bool) {
		t.Helper()
		perServer := make([]int, len(servers))
		for i := range 1000 {
			key := fmt.Sprintf("%s:key:%d", round, i)
			if err := c.Set(ctx, key, "v", 0).Err(); err != nil {
				t.Fatalf("SET %s: %v\n%s", key, err, w.Log())
			}
			want := idx[expectedJump(pool.Servers, up, 12, hash([]byte(key)))]
			got := liveOwners(t, ctx, ds, key)
			if len(got) != 1 || got[0] != want {
				t.Fatalf("%s: %q is on servers %v; jump says %d (%s)", round, key, got, want, servers[want].Addr)
			}
			perServer[want]++
		}
		t.Logf("%s: keys per server %v (weights %v)", round, perServer, weights)
	}
	check("all", func(int) bool { return true })

	// Eject the heaviest server: walnut rebuilds through the plugin, and
	// the dead server's keys move by the second jump, the others stay.
	dead := -1
	for i, s := range pool.Servers {
		if s.Weight == 3 {
			dead = i
		}
	}
	servers[idx[dead]].Kill()
	ds[idx[dead]] = nil
	onDead := ""
	for i := 0; onDead == ""; i++ {
		k := fmt.Sprintf("probe%d", i)
		if expectedJump(pool.Servers, func(int) bool { return true }, 12, hash([]byte(k))) == dead {
			onDead = k
		}
	}
	// The first failure ejects (server_failure_limit = 1); the table is
	// rebuilt off the loop, so wait until the key is served elsewhere.
	deadline := time.Now().Add(10 * time.Second)
	for c.Set(ctx, onDead, "v", 0).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("keys of the dead server still fail:\n%s", w.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	check("ejected", func(i int) bool { return i != dead })
}

// liveOwners is owners over the servers still running (nil: a killed
// one).
func liveOwners(t *testing.T, ctx context.Context, ds []*redis.Client, key string) []int {
	t.Helper()
	var out []int
	for i, c := range ds {
		if c == nil {
			continue
		}
		if n, err := c.Exists(ctx, key).Result(); err != nil {
			t.Fatalf("EXISTS on server %d: %v", i, err)
		} else if n > 0 {
			out = append(out, i)
		}
	}
	return out
}

// Killing a distribution plugin under load costs no request: tables are
// in walnut's process. walnut logs the crash and starts a new process.
func TestPluginCrashUnderLoadKeepsServing(t *testing.T) {
	jump := buildPlugin(t, "jump")
	servers := testbed.Redises(t, 3)
	w, addr := walnutAt(t, pluginSection("jump", jump)+redisPool("p", servers, `distribution = "jump"`))
	pid := pluginPid(t, w, "jump", "plugin started")

	ctx := context.Background()
	var served, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 8 {
		c := newClient(t, addr)
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("g%d:%d", g, i%500)
				err := c.Set(ctx, k, k, 0).Err()
				if err == nil {
					var v string
					if v, err = c.Get(ctx, k).Result(); err == nil && v != k {
						err = fmt.Errorf("GET %s = %q", k, v)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				served.Add(1)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	next := pluginPid(t, w, "jump", "plugin restarted", pid)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d requests failed (first: %v) around the plugin's crash\n%s", n, firstErr.Load(), w.Log())
	}
	if served.Load() < 200 {
		t.Fatalf("only %d requests served", served.Load())
	}
	if !strings.Contains(w.Log(), `msg="plugin exited; restarting it" plugin=jump pid=`+strconv.Itoa(pid)) {
		t.Errorf("the crash is not logged:\n%s", w.Log())
	}
	if !alive(next) || alive(pid) {
		t.Errorf("old plugin %d alive %v, new %d alive %v", pid, alive(pid), next, alive(next))
	}
	t.Logf("%d requests served, none failed; plugin pid %d -> %d", served.Load(), pid, next)
}

// A plugin that cannot be started stops walnut at start, with an error
// naming it; walnut -t finds what it can without starting any.
func TestPluginBrokenBinaryFailsStartup(t *testing.T) {
	servers := testbed.Redises(t, 1)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("#!/bin/sh\necho not a plugin\nexec sleep 30\n"), 0o755)
	notExec := filepath.Join(dir, "not-exec")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	fnv := buildPlugin(t, "fnv")
	bin := testbed.WalnutBinary(t)
	for _, tc := range []struct {
		name, path, use string
		want            string
		checkFails      bool // walnut -t finds it too
	}{
		{"missing", filepath.Join(dir, "nope"), "distribution", "plugins.missing.path: stat " + filepath.Join(dir, "nope"), true},
		{"notexec", notExec, "distribution", "plugins.notexec.path: " + notExec + " is not an executable file", true},
		{"truebin", "/bin/true", "distribution", "plugin truebin: /bin/true: handshake failed: Unrecognized remote plugin message: none (it exited", false},
		{"garbage", garbage, "hash", "plugin garbage: " + garbage + ": handshake failed: Unrecognized remote plugin message: not a plugin", false},
		{"fnv", fnv, "distribution", `pool p: distribution = "fnv": plugin fnv serves no distribution (it serves: hash)`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := pluginSection(tc.name, tc.path) + redisPool("p", servers, fmt.Sprintf("%s = %q", tc.use, tc.name))
			file := filepath.Join(t.TempDir(), "walnut.toml")
			os.WriteFile(file, []byte(conf), 0o644)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "-c", file).CombinedOutput()
			if code := exitCode(err); code != 1 || !strings.Contains(string(out), tc.want) {
				t.Fatalf("exit %d (%v), output:\n%s\nwant exit 1 and %q", code, err, out, tc.want)
			}
			out, err = exec.CommandContext(ctx, bin, "-t", "-c", file).CombinedOutput()
			if code := exitCode(err); (code != 0) != tc.checkFails {
				t.Fatalf("walnut -t: exit %d, output:\n%s", code, out)
			}
		})
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// walnut -t checks a configuration with plugins without running them.
func TestPluginCheckStartsNothing(t *testing.T) {
	jump := buildPlugin(t, "jump")
	dir := t.TempDir()
	marker := filepath.Join(dir, "started")
	wrapper := filepath.Join(dir, "jump-wrapper")
	os.WriteFile(wrapper, []byte("#!/bin/sh\ntouch "+marker+"\nexec "+jump+" \"$@\"\n"), 0o755)
	conf := pluginSection("jump", wrapper) + "[pools.p]\nlisten = \"127.0.0.1:0\"\ndistribution = \"jump\"\nservers = [\"127.0.0.1:1:1\"]\n"
	file := filepath.Join(dir, "walnut.toml")
	os.WriteFile(file, []byte(conf), 0o644)
	out, err := exec.Command(testbed.WalnutBinary(t), "-t", "-c", file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "syntax is ok") {
		t.Fatalf("walnut -t: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("walnut -t started the plugin")
	}
}

func fnv1a32(k []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range k {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// A hash plugin routes every key as its function says, single-key and
// multi-key commands alike.
func TestPluginHashRoutesKeys(t *testing.T) {
	fnv := buildPlugin(t, "fnv")
	servers := testbed.Redises(t, 3)
	conf := pluginSection("fnv", fnv) + weightedPool("p", servers, []int{1, 2, 1}, "hash = \"fnv\"\ndistribution = \"ketama\"")
	w, addr := walnutAt(t, conf)
	pool, idx := configOrder(t, strings.Replace(conf, "127.0.0.1:0", addr, 1), servers)
	builtin, _ := distributions.LookupHash("fnv1a_32")
	ds := make([]distributions.Server, len(pool.Servers))
	for i, s := range pool.Servers {
		ds[i] = distributions.Server{Name: s.Name, Addr: s.Addr, Weight: s.Weight, Alive: true}
	}
	tab, err := ketama.Ketama{}.Build(ds)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := newClient(t, addr)
	direct := direct(t, servers)
	var pairs []any
	for i := range 1000 {
		key := fmt.Sprintf("user:%d", i)
		if fnv1a32([]byte(key)) != builtin([]byte(key)) {
			t.Fatalf("the test's FNV-1a disagrees with the builtin on %q", key)
		}
		if i%10 == 0 {
			pairs = append(pairs, key, key)
			continue // set below, with MSET
		}
		if err := c.Set(ctx, key, key, 0).Err(); err != nil {
			t.Fatalf("SET: %v\n%s", err, w.Log())
		}
	}
	if err := c.MSet(ctx, pairs...).Err(); err != nil {
		t.Fatalf("MSET: %v", err)
	}
	for i := range 1000 {
		key := fmt.Sprintf("user:%d", i)
		want := idx[tab.Pick(fnv1a32([]byte(key)))]
		if got := owners(t, ctx, direct, key); len(got) != 1 || got[0] != want {
			t.Fatalf("%q is on servers %v; fnv1a_32 and ketama say %d", key, got, want)
		}
	}
	keys := make([]string, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		keys = append(keys, pairs[i].(string))
	}
	vals, err := c.MGet(ctx, keys...).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != keys[i] {
			t.Fatalf("MGET %s = %v", keys[i], v)
		}
	}
	// Whole-keyspace commands need no hash, in a round with keys or not.
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.DBSize(ctx)
		p.Get(ctx, "user:1")
		p.Keys(ctx, "user:99*")
		return nil
	})
	if err != nil || cmds[0].(*redis.IntCmd).Val() != 1000 || len(cmds[2].(*redis.StringSliceCmd).Val()) != 11 {
		t.Fatalf("DBSIZE, GET, KEYS through a hash plugin: %v, %v", cmds, err)
	}
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 1000 {
		t.Fatalf("DBSIZE alone = %d, %v", n, err)
	}
}

// While a hash plugin restarts, its pool's requests get an error that
// says so, and then work again.
func TestPluginHashOutage(t *testing.T) {
	fnv := buildPlugin(t, "fnv")
	servers := testbed.Redises(t, 2)
	w, addr := walnutAt(t, pluginSection("fnv", fnv)+redisPool("p", servers, `hash = "fnv"`))
	pid := pluginPid(t, w, "fnv", "plugin started")
	c := newClient(t, addr)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	errors := 0
	deadline := time.Now().Add(15 * time.Second)
	for restarted := false; ; {
		err := c.Get(ctx, "k").Err()
		if err != nil {
			errors++
			if !strings.Contains(err.Error(), "plugin fnv") {
				t.Fatalf("during the outage: %v; want an error naming the plugin", err)
			}
		}
		restarted = restarted || strings.Contains(w.Log(), `msg="plugin restarted" plugin=fnv`)
		if restarted && err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer after the restart: %v\n%s", err, w.Log())
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("%d requests failed during the outage", errors)
}

// Plugins end with walnut, whether it stops (SIGTERM) or is killed.
func TestPluginEndsWithWalnut(t *testing.T) {
	jump := buildPlugin(t, "jump")
	servers := testbed.Redises(t, 1)
	conf := pluginSection("jump", jump) + redisPool("p", servers, `distribution = "jump"`)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		w, _ := walnutAt(t, conf)
		pid := pluginPid(t, w, "jump", "plugin started")
		w.Signal(sig)
		w.WaitExit(10 * time.Second)
		waitGone(t, pid, "plugin after walnut got "+sig.String())
	}
}

// SIGHUP keeps the running plugins, saying so when [plugins] changed;
// SIGUSR2 starts a new walnut with plugins of its own, and the old
// walnut's end with it.
func TestPluginReloadAndUpgrade(t *testing.T) {
	jump := buildPlugin(t, "jump")
	servers := testbed.Redises(t, 2)
	pool := redisPool("p", servers, `distribution = "jump"`)
	w, addr := walnutAt(t, pluginSection("jump", jump)+pool)
	pid := pluginPid(t, w, "jump", "plugin started")
	c := newClient(t, addr)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	conf := pluginSection("jump", jump, "-buckets", "1024") + strings.Replace(pool, "127.0.0.1:0", addr, 1)
	os.WriteFile(w.Config, []byte(conf), 0o644)
	w.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.Log(), "reload applied") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload:\n%s", w.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(w.Log(), "[plugins] changes take effect on restart or upgrade") || !alive(pid) {
		t.Fatalf("plugin %d alive %v after SIGHUP; log:\n%s", pid, alive(pid), w.Log())
	}

	w.Signal(syscall.SIGUSR2)
	next := pluginPid(t, w, "jump", "plugin started", pid)
	waitGone(t, pid, "the old walnut's plugin")
	if !alive(next) {
		t.Fatalf("the new walnut's plugin %d is not running", next)
	}
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after the upgrade: %q, %v", v, err)
	}
	// The new walnut is not the test's child: end it, and with it its
	// plugin, here.
	newWalnut := walnutPidFromLog(t, w.Log())
	syscall.Kill(newWalnut, syscall.SIGTERM)
	waitGone(t, next, "the new walnut's plugin")
}

func walnutPidFromLog(t *testing.T, log string) int {
	t.Helper()
	m := regexp.MustCompile(`msg="walnut started" .*pid=(\d+) upgrade=true`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no upgraded walnut in the log:\n%s", log)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}
