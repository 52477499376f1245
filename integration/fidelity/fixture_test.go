package fidelity

import (
	"fmt"
	"strings"
	"time"
)

// The script and function library every server holds before each
// command, so that EVALSHA, FCALL and FUNCTION find them.
const (
	script       = "return 1"
	scriptSHA    = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
	functionCode = "#!lua name=fidelity\n" +
		"redis.register_function{function_name='f1', callback=function(keys, args) return #keys end, flags={'no-writes'}}"
)

// fixture is the data both targets hold before each command: a key of
// every type, a second one of each for the commands of two keys (the
// generator names {t}:TYPE then {t}:TYPE2), all under the hash tag {t}
// so that a call's keys live on one server of a pool; and strings under
// other tags, which spread over a pool's servers, for the commands that
// read the whole keyspace.
var fixture = [][]string{
	{"SET", "{t}:string", "10"},
	{"SET", "{t}:string2", "20"},
	{"RPUSH", "{t}:list", "1", "2", "3"},
	{"RPUSH", "{t}:list2", "4", "5"},
	{"HSET", "{t}:hash", "f1", "1", "f2", "2"},
	{"HSET", "{t}:hash2", "f2", "3", "f3", "4"},
	// Integers: an intset lists its members in order, where a set of
	// strings (a hash table in Redis 7.0) has a per-process random one.
	{"SADD", "{t}:set", "1", "2", "3"},
	{"SADD", "{t}:set2", "2", "3", "4"},
	{"ZADD", "{t}:zset", "1", "m1", "2", "m2", "3", "m3"},
	{"ZADD", "{t}:zset2", "2", "m2", "4", "m4"},
	{"XADD", "{t}:stream", "1-0", "f", "v1"},
	{"XADD", "{t}:stream", "2-0", "f", "v2"},
	{"XADD", "{t}:stream", "3-0", "f", "v3"},
	{"XGROUP", "CREATE", "{t}:stream", "g1", "0"},
	// Two entries pending for consumer c1, for XPENDING, XCLAIM, XACK.
	{"XREADGROUP", "GROUP", "g1", "c1", "COUNT", "2", "STREAMS", "{t}:stream", ">"},
	{"XADD", "{t}:stream2", "1-0", "f", "v1"},
	{"GEOADD", "{t}:geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"},
	{"GEOADD", "{t}:geo2", "12.496366", "41.902782", "Rome"},
	{"PFADD", "{t}:hll", "a", "b", "c"},
	{"PFADD", "{t}:hll2", "c", "d"},
	{"SETBIT", "{t}:bitmap", "1", "1"},
	{"SETBIT", "{t}:bitmap", "7", "1"},
	{"SETBIT", "{t}:bitmap2", "2", "1"},
	{"SET", "{alpha}:k", "alpha"},
	{"SET", "{bravo}:k", "bravo"},
	{"SET", "{charlie}:k", "charlie"},
	{"SET", "{delta}:k", "delta"},
	{"SET", "{echo}:k", "echo"},
	{"SET", "{foxtrot}:k", "foxtrot"},
	{"SET", "{golf}:k", "golf"},
	{"SET", "{hotel}:k", "hotel"},
	{"SET", "{india}:k", "india"},
	{"SET", "{juliett}:k", "juliett"},
}

// serverReset is sent to every redis-server before each command (once
// no background save runs, so that BGSAVE and BGREWRITEAOF find the
// same state wherever they run): empty databases, the script and library
// loaded again, no test user, no pause, empty logs. want, if set, is the
// reply the harness relies on (the payloads in rules).
var serverReset = []struct {
	args []string
	want string
}{
	{args: []string{"CLIENT", "UNPAUSE"}},
	{args: []string{"FLUSHALL"}},
	{args: []string{"SCRIPT", "FLUSH"}},
	{args: []string{"FUNCTION", "FLUSH"}},
	{args: []string{"FUNCTION", "LOAD", functionCode}, want: "fidelity"},
	{args: []string{"FUNCTION", "DUMP"}, want: functionDump},
	{args: []string{"SCRIPT", "LOAD", script}, want: scriptSHA},
	{args: []string{"ACL", "DELUSER", "fidelity"}},
	{args: []string{"ACL", "LOG", "RESET"}},
	{args: []string{"SLOWLOG", "RESET"}},
	{args: []string{"LATENCY", "RESET"}},
	{args: []string{"CONFIG", "SET", "maxmemory-policy", "noeviction"}},
	{args: []string{"SET", "fidelity:dump", "10"}},
	{args: []string{"DUMP", "fidelity:dump"}, want: dumpOf10},
	{args: []string{"FLUSHALL"}},
}

// resetServer puts one redis-server back to the state every command
// starts from.
func resetServer(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := settle(c); err != nil {
		return err
	}
	reqs := make([][]string, len(serverReset))
	for i, r := range serverReset {
		reqs[i] = r.args
	}
	vs, err := c.do(10*time.Second, reqs...)
	if err != nil {
		return fmt.Errorf("reset %s: %w", addr, err)
	}
	for i, v := range vs {
		r := serverReset[i]
		if v.isError() || r.want != "" && v.str != r.want {
			return fmt.Errorf("reset %s: %s answered %s; the harness expects %q", addr, strings.Join(r.args, " "), v, r.want)
		}
	}
	return nil
}

// settle waits until no background save or rewrite runs (BGSAVE,
// BGREWRITEAOF), and no subscriber or blocked client of an earlier
// call is left on the server (a connection the harness closed, which
// the server may not have noticed yet): the next command must not see
// them.
func settle(c *conn) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		vs, err := c.do(5*time.Second, []string{"INFO", "persistence"}, []string{"INFO", "clients"},
			[]string{"CLIENT", "LIST", "TYPE", "pubsub"})
		if err != nil {
			return err
		}
		info := vs[0].str + vs[1].str
		busy := vs[2].str != ""
		for _, f := range []string{"rdb_bgsave_in_progress:1", "aof_rewrite_in_progress:1", "aof_rewrite_scheduled:1"} {
			busy = busy || strings.Contains(info, f)
		}
		busy = busy || !strings.Contains(info, "blocked_clients:0\r\n")
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still busy after 30s (a background save, a subscriber or a blocked client):\n%s%s", info, vs[2].str)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settleServer is settle on a connection of its own to addr.
func settleServer(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return settle(c)
}

// dumpOf10 is DUMP's payload of the string "10" in Redis 7.0 (RDB
// version 10), for RESTORE.
const dumpOf10 = "\x00\xc0\n\n\x00n\x9fWE\x0e\xaec\xbb"

// functionDump is FUNCTION DUMP's payload of the library functionCode,
// for FUNCTION RESTORE.
const functionDump = "\xf5\xc3@y@\x84\x1f#!lua name=fidelity\x0aredis.regist\x0ber_function{\xc0\x08\x00_`.\x0e'f1', " +
	"callback=\xc0\x1c\x14(keys, args) return #@\x13\x19 end, flags={'no-writes'}}\x0a\x00\xe1\x8f\xa9\xa3n#\x80\xcd"

// loadFixture writes the fixture through addr (walnut, or a server).
func loadFixture(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.doOK(10*time.Second, fixture...); err != nil {
		return fmt.Errorf("fixture through %s: %w", addr, err)
	}
	return nil
}
