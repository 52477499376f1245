package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
	"github.com/walnutproxy/walnut/reshard"
)

// Redis 7 functions and scripts through a pool: loaded on every server,
// listed, dumped, restored, killed, and loaded again on a server that
// lost them; scripts and functions without keys.

const (
	// libCode's functions: setget writes its key and reads it back; get
	// reads (no-writes), hello touches no key (no-writes), bump writes.
	libCode = "#!lua name=walnutlib\n" +
		"redis.register_function('setget', function(keys, args) redis.call('set', keys[1], args[1]); return redis.call('get', keys[1]) end)\n" +
		"redis.register_function{function_name='get', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}}\n" +
		"redis.register_function{function_name='hello', callback=function(keys, args) return 'hello ' .. args[1] end, flags={'no-writes'}}\n" +
		"redis.register_function('bump', function(keys, args) return redis.call('incr', 'bumped') end)"
	// spinCode's functions loop for about two seconds without writing.
	spinCode = "#!lua name=spinlib\n" +
		"redis.register_function{function_name='spin', callback=function(keys, args) local t = redis.call('time'); local until_ = t[1] * 1000000 + t[2] + 2000000; " +
		"while true do t = redis.call('time'); if t[1] * 1000000 + t[2] > until_ then break end end; return 'done' end, flags={'no-writes'}}"
	spinScript = "local t = redis.call('time'); local until_ = t[1] * 1000000 + t[2] + 2000000; " +
		"while true do t = redis.call('time'); if t[1] * 1000000 + t[2] > until_ then break end end; return 'done'"
)

// libraries lists a server's libraries by name, with their code.
func libraries(t testing.TB, c *redis.Client) map[string]string {
	t.Helper()
	libs, err := c.FunctionList(context.Background(), redis.FunctionListQuery{WithCode: true}).Result()
	if err != nil {
		t.Fatalf("FUNCTION LIST: %v", err)
	}
	out := map[string]string{}
	for _, l := range libs {
		out[l.Name] = l.Code
	}
	return out
}

// TestFunctionsOnEveryServer: a library loaded through walnut is on
// every server, so FCALL works whichever server its keys are on; LIST,
// DUMP, STATS, DELETE, RESTORE and FLUSH see every server.
func TestFunctionsOnEveryServer(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", `hash = "md5"`)
	ctx := context.Background()
	c := newClient(t, addr)
	ds := direct(t, servers)
	keyOn := keyPerServer(t, ctx, c, ds)
	if name, err := c.FunctionLoad(ctx, libCode).Result(); err != nil || name != "walnutlib" {
		t.Fatalf("FUNCTION LOAD = %q, %v", name, err)
	}
	for i, d := range ds {
		if libraries(t, d)["walnutlib"] != libCode {
			t.Fatalf("server %d lacks the library", i)
		}
	}
	for srv, k := range keyOn {
		if got, err := c.FCall(ctx, "setget", []string{k}, "v"+k).Result(); err != nil || got != "v"+k {
			t.Fatalf("FCALL setget on server %d's key = %v, %v", srv, got, err)
		}
		if got, err := c.FCallRo(ctx, "get", []string{k}).Result(); err != nil || got != "v"+k {
			t.Fatalf("FCALL_RO get on server %d's key = %v, %v", srv, got, err)
		}
	}
	// Again: every server refuses it alike, as one Redis does.
	if err := c.FunctionLoad(ctx, libCode).Err(); err == nil || err.Error() != "ERR Library 'walnutlib' already exists" {
		t.Fatalf("FUNCTION LOAD again: %v", err)
	}
	if name, err := c.FunctionLoadReplace(ctx, libCode).Result(); err != nil || name != "walnutlib" {
		t.Fatalf("FUNCTION LOAD REPLACE = %q, %v", name, err)
	}

	libs, err := c.FunctionList(ctx, redis.FunctionListQuery{}).Result()
	if err != nil || len(libs) != 1 || libs[0].Name != "walnutlib" || len(libs[0].Functions) != 4 || libs[0].Code != "" {
		t.Fatalf("FUNCTION LIST = %+v, %v", libs, err)
	}
	libs, err = c.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: "walnut*", WithCode: true}).Result()
	if err != nil || len(libs) != 1 || libs[0].Code != libCode {
		t.Fatalf("FUNCTION LIST WITHCODE LIBRARYNAME walnut* = %+v, %v", libs, err)
	}
	if libs, err := c.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: "nope*"}).Result(); err != nil || len(libs) != 0 {
		t.Fatalf("FUNCTION LIST LIBRARYNAME nope* = %+v, %v", libs, err)
	}
	stats, err := c.FunctionStats(ctx).Result()
	if err != nil || stats.Running() || len(stats.Engines) != 1 || stats.Engines[0].LibrariesCount != 1 || stats.Engines[0].FunctionsCount != 4 {
		t.Fatalf("FUNCTION STATS = %+v, %v", stats, err)
	}

	dump, err := c.FunctionDump(ctx).Result()
	if err != nil || dump == "" {
		t.Fatalf("FUNCTION DUMP = %q, %v", dump, err)
	}
	if got, err := c.FunctionDelete(ctx, "walnutlib").Result(); err != nil || got != "OK" {
		t.Fatalf("FUNCTION DELETE = %q, %v", got, err)
	}
	for i, d := range ds {
		if len(libraries(t, d)) != 0 {
			t.Fatalf("server %d keeps the library after FUNCTION DELETE", i)
		}
	}
	if err := c.FCall(ctx, "setget", []string{keyOn[0]}, "x").Err(); err == nil || err.Error() != "ERR Function not found" {
		t.Fatalf("FCALL after FUNCTION DELETE: %v", err)
	}
	if err := c.FunctionDelete(ctx, "walnutlib").Err(); err == nil || err.Error() != "ERR Library not found" {
		t.Fatalf("FUNCTION DELETE again: %v", err)
	}
	if got, err := c.FunctionRestore(ctx, dump).Result(); err != nil || got != "OK" {
		t.Fatalf("FUNCTION RESTORE = %q, %v", got, err)
	}
	for srv, k := range keyOn {
		if got, err := c.FCall(ctx, "setget", []string{k}, "w").Result(); err != nil || got != "w" {
			t.Fatalf("FCALL after FUNCTION RESTORE on server %d = %v, %v", srv, got, err)
		}
	}
	if err := c.FunctionRestore(ctx, "not a dump").Err(); err == nil || err.Error() != "ERR DUMP payload version or checksum are wrong" {
		t.Fatalf("FUNCTION RESTORE of garbage: %v", err)
	}
	if got, err := c.FunctionFlush(ctx).Result(); err != nil || got != "OK" {
		t.Fatalf("FUNCTION FLUSH = %q, %v", got, err)
	}
	for i, d := range ds {
		if len(libraries(t, d)) != 0 {
			t.Fatalf("server %d keeps libraries after FUNCTION FLUSH", i)
		}
	}
	if help, err := c.Do(ctx, "FUNCTION", "HELP").StringSlice(); err != nil || len(help) < 5 || !strings.HasPrefix(help[0], "FUNCTION <subcommand>") {
		t.Fatalf("FUNCTION HELP = %q, %v", help, err)
	}
}

// TestFunctionsDisagree: a server that holds another library under the
// same name makes FUNCTION LOAD and FUNCTION LIST errors that say which
// server said what; LOAD REPLACE puts them in step.
func TestFunctionsDisagree(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", "")
	ctx := context.Background()
	c := newClient(t, addr)
	ds := direct(t, servers)
	other := "#!lua name=walnutlib\nredis.register_function('other', function() return 1 end)"
	if err := ds[1].FunctionLoad(ctx, other).Err(); err != nil {
		t.Fatal(err)
	}
	err := c.FunctionLoad(ctx, libCode).Err()
	want := fmt.Sprintf(`ERR FUNCTION LOAD: the servers disagree: %s, %s answered "walnutlib"; %s answered "ERR Library 'walnutlib' already exists"`,
		servers[0].Addr, servers[2].Addr, servers[1].Addr)
	if err == nil || err.Error() != want {
		t.Fatalf("FUNCTION LOAD over a conflicting library: %v\nwant %s", err, want)
	}
	err = c.FunctionList(ctx, redis.FunctionListQuery{}).Err()
	want = fmt.Sprintf(`ERR FUNCTION LIST: the servers disagree: library "walnutlib" differs between %s and %s`, servers[0].Addr, servers[1].Addr)
	if err == nil || err.Error() != want {
		t.Fatalf("FUNCTION LIST of servers that differ: %v\nwant %s", err, want)
	}
	if err := c.FunctionLoadReplace(ctx, libCode).Err(); err != nil {
		t.Fatal(err)
	}
	if libs, err := c.FunctionList(ctx, redis.FunctionListQuery{}).Result(); err != nil || len(libs) != 1 || len(libs[0].Functions) != 4 {
		t.Fatalf("FUNCTION LIST after LOAD REPLACE = %+v, %v", libs, err)
	}
	if err := ds[2].FunctionDelete(ctx, "walnutlib").Err(); err != nil {
		t.Fatal(err)
	}
	err = c.FunctionDelete(ctx, "walnutlib").Err()
	if err == nil || !strings.Contains(err.Error(), servers[2].Addr+` answered "ERR Library not found"`) {
		t.Fatalf("FUNCTION DELETE where one server has none: %v", err)
	}
}

// TestFunctionAndScriptKill: a function or script that runs long on one
// server is killed through walnut, even by a client whose requests share
// the busy server's connection; the busy server's answer wins over the
// others' NOTBUSY, and FUNCTION STATS shows it running.
func TestFunctionAndScriptKill(t *testing.T) {
	servers := testbed.Redises(t, 3)
	ctx := context.Background()
	ds := direct(t, servers)
	for _, d := range ds {
		if err := d.ConfigSet(ctx, "busy-reply-threshold", "100").Err(); err != nil {
			t.Fatal(err)
		}
	}
	// One loop: every client shares its one connection to each server.
	_, addrs := startWalnut(t, "[proxy]\nworkers = 1\n"+redisPool("p", servers, `hash = "md5"`+"\ntimeout = \"5s\""))
	c := newClient(t, addrs["p"], func(o *redis.Options) { o.ReadTimeout = 10 * time.Second })
	// In another database: KILL and STATS must not SELECT it on a busy
	// server, which would refuse the SELECT.
	killer := newClient(t, addrs["p"], func(o *redis.Options) { o.DB = 3 })
	key := keyPerServer(t, ctx, c, ds)[1]
	if err := c.FunctionLoad(ctx, spinCode).Err(); err != nil {
		t.Fatal(err)
	}
	notBusy := "NOTBUSY No scripts in execution right now."
	for _, kill := range []string{"FUNCTION", "SCRIPT"} {
		if err := c.Do(ctx, kill, "KILL").Err(); err == nil || err.Error() != notBusy {
			t.Fatalf("%s KILL with nothing running: %v", kill, err)
		}
		done := make(chan error, 1)
		go func() {
			var err error
			if kill == "FUNCTION" {
				err = c.FCall(ctx, "spin", []string{key}).Err()
			} else {
				err = c.Eval(ctx, spinScript, []string{key}).Err()
			}
			done <- err
		}()
		if !waitFor(3*time.Second, func() bool {
			err := ds[1].Ping(ctx).Err()
			return err != nil && strings.HasPrefix(err.Error(), "BUSY")
		}) {
			t.Fatalf("%s: the server never got busy", kill)
		}
		if kill == "FUNCTION" {
			// Redis shows a running function, not a script.
			st, err := newClient(t, addrs["p"]).FunctionStats(ctx).Result()
			if rs, ok := st.RunningScript(); err != nil || !ok || rs.Name != "spin" {
				t.Errorf("FUNCTION STATS while busy: running %+v, %v, %v", rs, ok, err)
			}
		}
		start := time.Now()
		if err := killer.Do(ctx, kill, "KILL").Err(); err != nil {
			t.Fatalf("%s KILL while busy: %v", kill, err)
		}
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("the killed call answered %v", err)
			}
		case <-time.After(1500 * time.Millisecond):
			t.Fatalf("%s KILL answered OK but the call is still running", kill)
		}
		if time.Since(start) > 1500*time.Millisecond {
			t.Fatalf("%s KILL took %v", kill, time.Since(start))
		}
		if got, err := c.Get(ctx, key).Result(); err != nil || got != key {
			t.Fatalf("GET after the kill = %q, %v", got, err)
		}
	}
}

// TestFunctionsComeBack: a server that restarts gets the pool's
// libraries and scripts again, and FCALL and EVALSHA work on it without
// the client loading anything. The second time, the first client to
// reach it speaks RESP3 in another database: the new connection's
// priming goes ahead of a switch of two requests (HELLO 3, SELECT).
func TestFunctionsComeBack(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", `hash = "md5"`)
	ctx := context.Background()
	resp2 := newClient(t, addr)
	resp3 := newClient(t, addr, func(o *redis.Options) { o.Protocol, o.DB = 3, 2 })
	c := resp2
	ds := direct(t, servers)
	keyOn := keyPerServer(t, ctx, c, ds)
	if err := c.FunctionLoad(ctx, libCode).Err(); err != nil {
		t.Fatal(err)
	}
	sha, err := c.ScriptLoad(ctx, "return redis.call('get', KEYS[1])").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, restart := range []int{1, 2} {
		servers[restart].Restart()
		k := keyOn[restart]
		if restart == 2 {
			c = resp3
		}
		var got any
		if !waitFor(5*time.Second, func() bool {
			got, err = c.FCall(ctx, "setget", []string{k}, "back").Result()
			if err != nil && err.Error() == "ERR Function not found" {
				t.Fatalf("FCALL reached restarted server %d before the library", restart)
			}
			return err == nil
		}) {
			t.Fatalf("FCALL on restarted server %d: %v", restart, err)
		}
		if got != "back" {
			t.Fatalf("FCALL on restarted server %d = %v", restart, got)
		}
		if got, err := c.EvalSha(ctx, sha, []string{k}).Result(); err != nil || got != "back" {
			t.Fatalf("EVALSHA on restarted server %d = %v, %v", restart, got, err)
		}
		if libraries(t, ds[restart])["walnutlib"] != libCode {
			t.Fatalf("server %d lacks the library", restart)
		}
	}
	if got, err := resp2.FCall(ctx, "setget", []string{keyOn[2]}, "two").Result(); err != nil || got != "two" {
		t.Fatalf("FCALL of a RESP2 client after the RESP3 one = %v, %v", got, err)
	}
	info, err := resp2.Info(ctx, "stats").Result()
	if err != nil || !strings.Contains(info, "walnut_function_libraries:1\r\n") || !strings.Contains(info, "walnut_scripts_remembered:1\r\n") ||
		strings.Contains(info, "walnut_reloads:0\r\n") || !strings.Contains(info, "walnut_reload_failures:0\r\n") {
		t.Fatalf("INFO stats: %v\n%s", err, info)
	}
}

// TestFunctionsLearnedAtStart: libraries the servers had before walnut
// started are learned, and go to a server that restarts; their flags
// route FCALL without keys.
func TestFunctionsLearnedAtStart(t *testing.T) {
	servers := testbed.Redises(t, 3)
	ctx := context.Background()
	ds := direct(t, servers)
	for _, d := range ds[:2] {
		if err := d.FunctionLoad(ctx, libCode).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_, addrs := startWalnut(t, redisPool("p", servers, `hash = "md5"`))
	// The first requests are a RESP3 client's in another database: the
	// connections' first priming, which learns the libraries, goes ahead
	// of their switch (HELLO 3, SELECT 1).
	c3 := newClient(t, addrs["p"], func(o *redis.Options) { o.Protocol, o.DB = 3, 1 })
	if _, err := c3.MGet(ctx, "a", "b", "c", "d", "e", "f").Result(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, addrs["p"])
	keyOn := keyPerServer(t, ctx, c, ds)
	// Server 2 never had it: walnut loads it there once it learned it.
	if !waitFor(5*time.Second, func() bool { return libraries(t, ds[2])["walnutlib"] == libCode }) {
		t.Fatal("the server without the library never got it")
	}
	servers[0].Restart()
	var err error
	if !waitFor(5*time.Second, func() bool {
		err = c.FCall(ctx, "setget", []string{keyOn[0]}, "x").Err()
		return err == nil
	}) {
		t.Fatalf("FCALL on the restarted server: %v", err)
	}
	if got, err := c.FCall(ctx, "hello", nil, "you").Result(); err != nil || got != "hello you" {
		t.Fatalf("FCALL without keys of a no-writes function = %v, %v", got, err)
	}
	if err := c.FCall(ctx, "bump", nil).Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR walnut cannot route FCALL without keys: the function may write") {
		t.Fatalf("FCALL without keys of a function that writes: %v", err)
	}
	if got, err := c3.FCall(ctx, "hello", nil, "three").Result(); err != nil || got != "hello three" {
		t.Fatalf("FCALL without keys of a RESP3 client = %v, %v", got, err)
	}
}

// TestScriptsWithoutKeys: on a pool of one server, scripts and functions
// without keys go to it; on three, those that cannot write run on one
// of them, and the others are refused, saying why. Errors Redis gives
// are Redis' own.
func TestScriptsWithoutKeys(t *testing.T) {
	ctx := context.Background()
	lone := testbed.Redis(t)
	ref := newClient(t, lone.Addr)
	if err := ref.FunctionLoad(ctx, libCode).Err(); err != nil {
		t.Fatal(err)
	}
	servers := testbed.Redises(t, 4)
	_, addrs := startWalnut(t, redisPool("one", servers[:1], "")+redisPool("three", servers[1:], ""))
	one, three := newClient(t, addrs["one"]), newClient(t, addrs["three"])
	for _, c := range []*redis.Client{one, three} {
		if err := c.FunctionLoad(ctx, libCode).Err(); err != nil {
			t.Fatal(err)
		}
	}
	roSha, err := three.ScriptLoad(ctx, "#!lua flags=no-writes\nreturn 'ro ' .. ARGV[1]").Result()
	if err != nil {
		t.Fatal(err)
	}
	rwSha, err := three.ScriptLoad(ctx, "return redis.call('incr', 'counter')").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*redis.Client{ref, one} {
		c.ScriptLoad(ctx, "#!lua flags=no-writes\nreturn 'ro ' .. ARGV[1]")
		c.ScriptLoad(ctx, "return redis.call('incr', 'counter')")
	}
	refused := "ERR walnut cannot route "
	for _, tc := range []struct {
		cmd []any
		// on three servers: "" for what one Redis answers, else the
		// start of walnut's refusal.
		three string
	}{
		{[]any{"EVAL", "return 1", "0"}, refused + "EVAL without keys: the script may write; declare"},
		{[]any{"EVAL", "return redis.call('incr', 'counter')", "0"}, refused + "EVAL without keys: the script may write; declare"},
		{[]any{"EVAL", "#!lua\nreturn 1", "0"}, refused + "EVAL without keys: the script may write (its shebang"},
		{[]any{"EVAL", "#!lua flags=no-writes\nreturn ARGV[1]", "0", "x"}, ""},
		{[]any{"EVAL", "#!lua flags=no-writes,allow-oom\nreturn ARGV[1]", "0", "x"}, ""},
		{[]any{"EVAL", "#!lua flags=no-writes,no-cluster\nreturn 1", "0"}, refused + "EVAL without keys: its flags say no-cluster"},
		{[]any{"EVAL", "#!lua flags=bogus\nreturn 1", "0"}, ""},
		{[]any{"EVAL_RO", "return 2", "0"}, ""},
		{[]any{"EVAL_RO", "return redis.call('incr', 'counter')", "0"}, ""},
		{[]any{"EVALSHA", roSha, "0", "y"}, ""},
		{[]any{"EVALSHA", strings.ToUpper(roSha), "0", "y"}, ""},
		{[]any{"EVALSHA", rwSha, "0"}, refused + "EVALSHA without keys: the script may write; declare"},
		{[]any{"EVALSHA", "0000000000000000000000000000000000000000", "0"}, ""},
		{[]any{"EVALSHA_RO", rwSha, "0"}, ""},
		{[]any{"FCALL", "hello", "0", "z"}, ""},
		{[]any{"FCALL_RO", "hello", "0", "z"}, ""},
		{[]any{"FCALL", "bump", "0"}, refused + "FCALL without keys: the function may write"},
		{[]any{"FCALL_RO", "bump", "0"}, ""},
		{[]any{"FCALL", "nosuch", "0"}, ""},
		// Bad counts: Redis' own words.
		{[]any{"EVAL", "return 1", "2", "a"}, ""},
		{[]any{"EVAL", "return 1", "x"}, ""},
		{[]any{"EVAL", "return 1", "-1"}, ""},
		{[]any{"EVALSHA", rwSha, "3", "a"}, ""},
		{[]any{"FCALL", "hello", "x"}, ""},
		{[]any{"FCALL", "hello", "-1"}, ""},
		{[]any{"FCALL", "nosuch", "x"}, ""},
		{[]any{"FCALL_RO", "hello", "2", "a"}, ""},
	} {
		want, wantErr := ref.Do(ctx, tc.cmd...).Result()
		got, err := one.Do(ctx, tc.cmd...).Result()
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("%q on one server: %v, %v; redis-server: %v, %v", tc.cmd, got, err, want, wantErr)
		}
		got, err = three.Do(ctx, tc.cmd...).Result()
		switch {
		case tc.three == "":
			if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("%q on three servers: %v, %v; redis-server: %v, %v", tc.cmd, got, err, want, wantErr)
			}
		case err == nil || !strings.HasPrefix(err.Error(), tc.three):
			t.Errorf("%q on three servers: %v, %v; want %s...", tc.cmd, got, err, tc.three)
		}
	}
	// A script without keys that writes runs on the one server, as it
	// would on that Redis; on three, nothing was written.
	for i, d := range direct(t, servers[1:]) {
		if n, _ := d.Exists(ctx, "counter", "bumped").Result(); n != 0 {
			t.Errorf("server %d of three was written to by a script without keys", i)
		}
	}
	if n, err := newClient(t, servers[0].Addr).Get(ctx, "counter").Int(); err != nil || n != 2 {
		t.Errorf("the one server's counter: %d, %v; want 2 (EVAL, EVALSHA)", n, err)
	}
	// Inside a transaction, on the transaction's server.
	tx := three.TxPipeline()
	tx.Set(ctx, "txkey", "v", 0)
	ro := tx.FCall(ctx, "hello", nil, "tx")
	if _, err := tx.Exec(ctx); err != nil || ro.Val() != "hello tx" {
		t.Errorf("FCALL without keys in a transaction: %v, %v", ro.Val(), err)
	}
}

// TestFunctionsDuringMigration: during a reshard, the new servers get the
// libraries the pool knows, loaded through walnut before or learned from
// the old servers.
func TestFunctionsDuringMigration(t *testing.T) {
	ctx := context.Background()
	all := testbed.Redises(t, 3)
	old := all[:2]
	ds := direct(t, all)
	for _, d := range ds[:2] {
		if err := d.FunctionLoad(ctx, libCode).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_, addrs := startWalnut(t, redisPool("alpha", all, `hash = "md5"`)+migrationTable("alpha", old))
	c := newClient(t, addrs["alpha"])
	// A key the new server owns: its FCALL must find the function there.
	var onNew string
	for i := range 1000 {
		k := fmt.Sprintf("mig:%d", i)
		if err := c.FCall(ctx, "setget", []string{k}, k).Err(); err != nil && err.Error() != "ERR Function not found" {
			t.Fatal(err)
		}
		if n, _ := ds[2].Exists(ctx, k).Result(); n == 1 {
			onNew = k
			break
		}
		if libraries(t, ds[2])["walnutlib"] == libCode {
			// Learned from an old server and given to the new one.
			if err := c.FCall(ctx, "setget", []string{k}, k).Err(); err != nil {
				t.Fatalf("FCALL once the new server has the library: %v", err)
			}
		}
	}
	if onNew == "" {
		t.Fatal("no key of the new server was written through FCALL")
	}
	if libraries(t, ds[2])["walnutlib"] != libCode {
		t.Fatal("the new server lacks the library")
	}
	// Loaded during the migration: on every server of the pool.
	two := strings.Replace(libCode, "walnutlib", "walnutlib2", 1)
	for _, f := range []string{"setget", "get", "hello", "bump"} {
		two = strings.ReplaceAll(two, "'"+f+"'", "'"+f+"2'")
	}
	if err := c.FunctionLoad(ctx, two).Err(); err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if _, ok := libraries(t, d)["walnutlib2"]; !ok {
			t.Fatalf("server %d lacks a library loaded during the migration", i)
		}
	}
}

// TestReshardCarriesFunctions: walnut reshard gives a new server the
// old servers' libraries before its keys, so FCALL on a moved key finds
// its function.
func TestReshardCarriesFunctions(t *testing.T) {
	servers := testbed.Redises(t, 3)
	before, after := servers[:2], servers
	ctx := context.Background()
	oldConf, newConf := redisPool("alpha", before, ""), redisPool("alpha", after, "")
	_, addrs := startWalnut(t, oldConf)
	c := newClient(t, addrs["alpha"])
	if err := c.FunctionLoad(ctx, libCode).Err(); err != nil {
		t.Fatal(err)
	}
	keys := fillRedis(t, c, 300)
	ds := direct(t, servers)
	if len(libraries(t, ds[2])) != 0 {
		t.Fatal("the new server has libraries before the reshard")
	}
	var notes strings.Builder
	rep, err := reshard.Run(ctx, reshard.Options{From: parse(t, oldConf), To: parse(t, newConf), Notes: &notes})
	if err != nil {
		t.Fatal(err)
	}
	logReport(t, "run", rep)
	if rep.Pools[0].Errors != 0 || notes.Len() > 0 {
		t.Fatalf("reshard: %d errors; notes: %s", rep.Pools[0].Errors, notes.String())
	}
	if libraries(t, ds[2])["walnutlib"] != libCode {
		t.Fatal("the new server did not get the library")
	}
	// Through walnut on the new list: FCALL on keys the new server got.
	_, addrs = startWalnut(t, newConf)
	c2 := newClient(t, addrs["alpha"])
	moved := 0
	for k, want := range keys {
		if want.typ != "string" {
			continue
		}
		if n, _ := ds[2].Exists(ctx, k).Result(); n == 0 {
			continue
		}
		moved++
		if got, err := c2.FCallRo(ctx, "get", []string{k}).Result(); err != nil || got != "value of "+k {
			t.Fatalf("FCALL_RO get on moved key %s = %v, %v", k, got, err)
		}
	}
	if moved == 0 {
		t.Fatal("no string key moved to the new server")
	}
	checkRedisAll(t, c2, keys, parse(t, newConf).Pools[0], servers)
}

// TestFunctionsAfterEjectionAndReload: a library loaded while a server
// was out of the routing table goes to it when it is back, and a server
// a reload adds gets the pool's libraries.
func TestFunctionsAfterEjectionAndReload(t *testing.T) {
	servers := testbed.Redises(t, 4)
	ctx := context.Background()
	ds := direct(t, servers)
	conf := func(n int) string {
		return redisPool("p", servers[:n], "hash = \"md5\"\ntimeout = \"300ms\"\nauto_eject_hosts = true\n"+
			"server_failure_limit = 1\nserver_retry_timeout = \"1s\"")
	}
	px, addrs := startWalnut(t, conf(3))
	c := newClient(t, addrs["p"])
	keyOn := keyPerServer(t, ctx, c, ds[:3])
	servers[2].Stop()
	// Its keys' requests time out, which ejects it; DBSIZE, sent to
	// every server in the routing table, then works.
	c.Get(ctx, keyOn[2])
	if !waitFor(3*time.Second, func() bool { return c.DBSize(ctx).Err() == nil }) {
		t.Fatal("the stopped server was never ejected")
	}
	if err := c.FunctionLoad(ctx, libCode).Err(); err != nil {
		t.Fatalf("FUNCTION LOAD with a server ejected: %v", err)
	}
	servers[2].Continue()
	// Until it is back, its keys go to another server.
	var err error
	if !waitFor(5*time.Second, func() bool {
		err = c.FCall(ctx, "setget", []string{keyOn[2]}, "back").Err()
		if err != nil && err.Error() == "ERR Function not found" {
			t.Fatal("FCALL reached the server back from ejection before the library")
		}
		got, _ := ds[2].Get(ctx, keyOn[2]).Result()
		return err == nil && got == "back"
	}) {
		t.Fatalf("FCALL on the server back from ejection: %v", err)
	}
	if libraries(t, ds[2])["walnutlib"] != libCode {
		t.Fatal("the server back from ejection lacks the library")
	}

	if err := px.Reload(parse(t, conf(4))); err != nil {
		t.Fatal(err)
	}
	var onNew string
	for i := 0; onNew == "" && i < 1000; i++ {
		k := fmt.Sprintf("added:%d", i)
		if err := c.FCall(ctx, "setget", []string{k}, k).Err(); err != nil {
			t.Fatalf("FCALL after the reload: %v", err)
		}
		if n, _ := ds[3].Exists(ctx, k).Result(); n == 1 {
			onNew = k
		}
	}
	if onNew == "" {
		t.Fatal("no key went to the added server")
	}
}

// TestRefusedReload: a server that refuses a library walnut loads on it
// again (it has another library with a function of the same name) still
// serves, and the refusal is counted.
func TestRefusedReload(t *testing.T) {
	servers, addr := redisWalnut(t, 2, "p", `hash = "md5"`)
	ctx := context.Background()
	c := newClient(t, addr)
	ds := direct(t, servers)
	keyOn := keyPerServer(t, ctx, c, ds)
	if err := c.FunctionLoad(ctx, libCode).Err(); err != nil {
		t.Fatal(err)
	}
	servers[1].Restart()
	intruder := "#!lua name=intruder\nredis.register_function('setget', function(keys, args) return 'intruder' end)"
	if err := ds[1].FunctionLoad(ctx, intruder).Err(); err != nil {
		t.Fatal(err)
	}
	var got string
	var err error
	if !waitFor(5*time.Second, func() bool {
		got, err = c.Set(ctx, keyOn[1], "still", 0).Result()
		return err == nil
	}) || got != "OK" {
		t.Fatalf("SET on the server that refused the library: %q, %v", got, err)
	}
	if got, err := c.FCall(ctx, "setget", []string{keyOn[1]}, "x").Result(); err != nil || got != "intruder" {
		t.Fatalf("FCALL setget there = %v, %v; want the server's own", got, err)
	}
	info, _ := c.Info(ctx, "stats").Result()
	if !strings.Contains(info, "walnut_reload_failures:1\r\n") {
		t.Fatalf("INFO stats does not count the refusal:\n%s", info)
	}
}
