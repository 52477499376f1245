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

// serverReset is sent to every redis-server before each command: empty
// databases, the script and library loaded again, no test user, no pause,
// no background save running (so that BGSAVE and BGREWRITEAOF find the
// same state wherever they run).
var serverReset = [][]string{
	{"CLIENT", "UNPAUSE"},
	{"FLUSHALL"},
	{"SCRIPT", "FLUSH"},
	{"FUNCTION", "FLUSH"},
	{"FUNCTION", "LOAD", functionCode},
	{"SCRIPT", "LOAD", script},
	{"ACL", "DELUSER", "fidelity"},
	{"CONFIG", "SET", "maxmemory-policy", "noeviction"},
	{"SET", "fidelity:dump", "10"},
	{"DUMP", "fidelity:dump"},
	{"FLUSHALL"},
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
	vs, err := c.do(10*time.Second, serverReset...)
	if err != nil {
		return fmt.Errorf("reset %s: %w", addr, err)
	}
	for i, v := range vs {
		if v.isError() {
			return fmt.Errorf("reset %s: %s: %s", addr, strings.Join(serverReset[i], " "), v)
		}
	}
	if got := vs[len(vs)-2].str; got != dumpOf10 {
		return fmt.Errorf("reset %s: DUMP of 10 is %q, the harness expects %q", addr, got, dumpOf10)
	}
	if got := vs[5].str; got != scriptSHA {
		return fmt.Errorf("reset %s: SCRIPT LOAD answered %s, the harness expects %s", addr, got, scriptSHA)
	}
	return nil
}

// settle waits for a background save or rewrite (BGSAVE, BGREWRITEAOF)
// to end, so that the next command does not race it.
func settle(c *conn) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		vs, err := c.do(5*time.Second, []string{"INFO", "persistence"})
		if err != nil {
			return err
		}
		info := vs[0].str
		busy := false
		for _, f := range []string{"rdb_bgsave_in_progress:1", "aof_rewrite_in_progress:1", "aof_rewrite_scheduled:1"} {
			busy = busy || strings.Contains(info, f)
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("a background save still runs after 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settleServer waits until the server at addr runs no background save.
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
