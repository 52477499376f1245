package redis

import (
	"slices"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

const (
	fwd   = protocols.Forward
	split = protocols.Split
	loc   = protocols.Local
	bcast = protocols.Broadcast
	targ  = protocols.Targeted
)

// routeCases are inline commands with how walnut serves them: the kind,
// the routing keys, and for a Local request the reply.
var routeCases = []struct {
	in    string
	kind  protocols.Kind
	keys  []string
	reply string
}{
	// Single-key commands of every family.
	{"GET k", fwd, []string{"k"}, ""},
	{"get k", fwd, []string{"k"}, ""},
	{"SET k v EX 10 GET", fwd, []string{"k"}, ""},
	{"GETEX k PERSIST", fwd, []string{"k"}, ""},
	{"INCRBYFLOAT k 1.5", fwd, []string{"k"}, ""},
	{"HSET h f v f2 v2", fwd, []string{"h"}, ""},
	{"HGETALL h", fwd, []string{"h"}, ""},
	{"LPUSH l a b c", fwd, []string{"l"}, ""},
	{"LPOS l a RANK 1", fwd, []string{"l"}, ""},
	{"SADD s a", fwd, []string{"s"}, ""},
	{"ZADD z 1 a", fwd, []string{"z"}, ""},
	{"ZRANGE z 0 -1 WITHSCORES", fwd, []string{"z"}, ""},
	{"PFADD p a b", fwd, []string{"p"}, ""},
	{"GEOADD g 1 2 m", fwd, []string{"g"}, ""},
	{"SETBIT b 7 1", fwd, []string{"b"}, ""},
	{"BITFIELD b GET u8 0", fwd, []string{"b"}, ""},
	{"XADD st * f v", fwd, []string{"st"}, ""},
	{"XRANGE st - +", fwd, []string{"st"}, ""},
	{"EXPIRE k 10", fwd, []string{"k"}, ""},
	{"TTL k", fwd, []string{"k"}, ""},
	{"TYPE k", fwd, []string{"k"}, ""},
	{"DUMP k", fwd, []string{"k"}, ""},
	{"RESTORE k 0 payload", fwd, []string{"k"}, ""},
	{"OBJECT ENCODING k", fwd, []string{"k"}, ""},
	{"object freq k", fwd, []string{"k"}, ""},
	{"MEMORY USAGE k", fwd, []string{"k"}, ""},
	{"XINFO STREAM st FULL", fwd, []string{"st"}, ""},
	{"XGROUP CREATE st g $ MKSTREAM", fwd, []string{"st"}, ""},
	// Several keys that must share a server.
	{"RENAME a b", fwd, []string{"a", "b"}, ""},
	{"LMOVE a b LEFT RIGHT", fwd, []string{"a", "b"}, ""},
	{"SINTERSTORE d a b", fwd, []string{"d", "a", "b"}, ""},
	{"BITOP AND d a b", fwd, []string{"d", "a", "b"}, ""},
	{"MSETNX a 1 b 2", fwd, []string{"a", "b"}, ""},
	{"COPY a b REPLACE", fwd, []string{"a", "b"}, ""},
	{"PFMERGE d a b", fwd, []string{"d", "a", "b"}, ""},
	// Keys found by count, keyword or hook.
	{"EVAL script 2 a b arg", fwd, []string{"a", "b"}, ""},
	{"EVALSHA sha 1 a", fwd, []string{"a"}, ""},
	{"EVAL_RO script 1 a x y", fwd, []string{"a"}, ""},
	{"FCALL fn 1 a x", fwd, []string{"a"}, ""},
	{"ZUNIONSTORE d 2 a b WEIGHTS 1 2", fwd, []string{"d", "a", "b"}, ""},
	{"ZINTER 2 a b", fwd, []string{"a", "b"}, ""},
	{"ZDIFF 1 a", fwd, []string{"a"}, ""},
	{"SINTERCARD 2 a b LIMIT 1", fwd, []string{"a", "b"}, ""},
	{"LMPOP 2 a b LEFT", fwd, []string{"a", "b"}, ""},
	{"ZMPOP 1 a MIN", fwd, []string{"a"}, ""},
	{"ZUNIONSTORE d 5 a b", fwd, []string{"d", "a", "b"}, ""},
	{"ZUNIONSTORE d x a b", fwd, []string{"d"}, ""},
	{"SORT k", fwd, []string{"k"}, ""},
	{"SORT k BY w_* GET # LIMIT 0 10 STORE dst", loc, nil, sortRefusal("SORT", "w_*")},
	{"SORT k BY nosort GET # LIMIT 0 10 STORE dst", fwd, []string{"k", "dst"}, ""},
	{"SORT k STORE a STORE b", fwd, []string{"k", "b"}, ""},
	{"SORT k GET store", fwd, []string{"k"}, ""},
	{"SORT_RO k BY w_*", loc, nil, sortRefusal("SORT_RO", "w_*")},
	{"GEORADIUS g 1 2 3 km STORE d", fwd, []string{"g", "d"}, ""},
	{"GEORADIUSBYMEMBER g m 3 km STOREDIST d", fwd, []string{"g", "d"}, ""},
	{"GEOSEARCHSTORE d g FROMMEMBER m BYRADIUS 1 km", fwd, []string{"d", "g"}, ""},
	// Split commands.
	{"MGET a b c", split, []string{"a", "b", "c"}, ""},
	{"MSET a 1 b 2", split, []string{"a", "b"}, ""},
	{"DEL a b", split, []string{"a", "b"}, ""},
	{"UNLINK a", split, []string{"a"}, ""},
	{"TOUCH a b", split, []string{"a", "b"}, ""},
	{"EXISTS a a b", split, []string{"a", "a", "b"}, ""},
	// Local.
	{"PING", loc, nil, "+PONG\r\n"},
	{"ping hello", loc, nil, "$5\r\nhello\r\n"},
	{"PING a b", loc, nil, "-ERR wrong number of arguments for 'ping' command\r\n"},
	{"QUIT", loc, nil, "+OK\r\n"},
	// Arity, with Redis' text.
	{"GET", loc, nil, "-ERR wrong number of arguments for 'get' command\r\n"},
	{"GET a b", loc, nil, "-ERR wrong number of arguments for 'get' command\r\n"},
	{"SET k", loc, nil, "-ERR wrong number of arguments for 'set' command\r\n"},
	{"MSET a 1 b", loc, nil, "-ERR wrong number of arguments for 'mset' command\r\n"},
	{"MGET", loc, nil, "-ERR wrong number of arguments for 'mget' command\r\n"},
	{"OBJECT", loc, nil, "-ERR wrong number of arguments for 'object' command\r\n"},
	{"OBJECT ENCODING", loc, nil, "-ERR wrong number of arguments for 'object|encoding' command\r\n"},
	{"XINFO STREAM", loc, nil, "-ERR wrong number of arguments for 'xinfo|stream' command\r\n"},
	// Scripts without keys, or with a bad count.
	// (scripts.go: a script without keys runs on one server if it cannot
	// write, and FCALL's bad counts go to a server, which looks the
	// function up first.)
	{"EVAL script 0", loc, nil, "-ERR walnut cannot route EVAL without keys: the script may write; declare it read-only (#!lua flags=no-writes, or an _RO command) or pass the keys it uses\r\n"},
	{"EVAL_RO script 0", targ, nil, ""},
	{"evalsha sha 0 x", targ, nil, ""},
	{"FCALL_RO fn 0", targ, nil, ""},
	{"FCALL fn 0", targ, nil, ""},
	{"EVAL script 3 a b", loc, nil, "-ERR Number of keys can't be greater than number of args\r\n"},
	{"EVAL script -1 a", loc, nil, "-ERR Number of keys can't be negative\r\n"},
	{"EVAL script x a", loc, nil, "-ERR value is not an integer or out of range\r\n"},
	{"EVALSHA sha 2 a", loc, nil, "-ERR Number of keys can't be greater than number of args\r\n"},
	{"FCALL fn x a", targ, nil, ""},
	{"FCALL fn 2 a", targ, nil, ""},
	{"FCALL_RO fn -1", targ, nil, ""},
	// No key found: an argument error, which any server words itself.
	{"ZUNION 0 a", fwd, []string{"placeholder"}, ""},
	{"LMPOP x a LEFT", fwd, []string{"placeholder"}, ""},
	{"SINTERCARD 0 a", fwd, []string{"placeholder"}, ""},
	{"BZMPOP 0 0 a MIN", fwd, []string{"placeholder"}, ""},
	{"ZUNIONSTORE d 0 a", fwd, []string{"d"}, ""},
	// About the server, not data: where nutcracker sends it, to the
	// owner of "placeholder". (nutcracker sends COMMAND there too;
	// walnut answers it with its own table, below.)
	{"LOLWUT", fwd, []string{"placeholder"}, ""},
	{"LOLWUT VERSION 5", fwd, []string{"placeholder"}, ""},
	{"COMMAND NOSUCH", loc, nil, "-ERR unknown subcommand 'NOSUCH'. Try COMMAND HELP.\r\n"},
	// Unsupported: no keys, admin, cross-server or cross-database moves,
	// unknown.
	{"SWAPDB 0 1", loc, nil, "-ERR unsupported command 'SWAPDB'\r\n"},
	{"MONITOR", loc, nil, "-ERR unsupported command 'MONITOR'\r\n"},
	{"SYNC", loc, nil, "-ERR unsupported command 'SYNC'\r\n"},
	{"SCRIPT DEBUG YES", loc, nil, "-ERR unsupported command 'SCRIPT DEBUG'\r\n"},
	{"CLIENT LIST", loc, nil, "-ERR unsupported command 'CLIENT LIST'\r\n"},
	{"CLIENT KILL ID 1", loc, nil, "-ERR unsupported command 'CLIENT KILL'\r\n"},
	// Whole-keyspace commands: to every server, or one by a cursor.
	{"KEYS *", bcast, nil, ""},
	{"DBSIZE", bcast, nil, ""},
	{"RANDOMKEY", bcast, nil, ""},
	{"SCRIPT LOAD x", bcast, nil, ""},
	{"SCRIPT EXISTS a b", bcast, nil, ""},
	// Functions and scripts on every server (functions.go).
	{"SCRIPT KILL", bcast, nil, ""},
	{"FUNCTION KILL", bcast, nil, ""},
	{"FUNCTION LOAD code", bcast, nil, ""},
	{"FUNCTION LOAD REPLACE code", bcast, nil, ""},
	{"FUNCTION DELETE lib", bcast, nil, ""},
	{"FUNCTION FLUSH ASYNC", bcast, nil, ""},
	{"FUNCTION RESTORE payload APPEND", bcast, nil, ""},
	{"FUNCTION LIST WITHCODE LIBRARYNAME x*", bcast, nil, ""},
	{"FUNCTION STATS", bcast, nil, ""},
	{"FUNCTION DUMP", targ, nil, ""},
	{"FUNCTION HELP", targ, nil, ""},
	{"SCRIPT HELP", targ, nil, ""},
	{"SCRIPT FLUSH ASYNC", bcast, nil, ""},
	{"LASTSAVE", bcast, nil, ""},
	{"INFO servers", bcast, nil, ""},
	{"INFO memory SERVERS", bcast, nil, ""},
	{"SCAN 0", targ, nil, ""},
	{"SCAN 140737488355328 MATCH a* COUNT 10 TYPE string", targ, nil, ""},
	{"SCAN x", loc, nil, "-ERR invalid cursor\r\n"},
	{"SCAN -1", loc, nil, "-ERR invalid cursor\r\n"},
	{"SCAN 18446744073709551616", loc, nil, "-ERR invalid cursor\r\n"},
	{"TIME", targ, nil, ""},
	{"KEYS", loc, nil, "-ERR wrong number of arguments for 'keys' command\r\n"},
	{"FLUSHALL", loc, nil, "-ERR FLUSHALL is refused: it would empty every server of the pool; set allow_flush = true in the pool's configuration to allow it\r\n"},
	{"flushdb async", loc, nil, "-ERR FLUSHDB is refused: it would empty every server of the pool; set allow_flush = true in the pool's configuration to allow it\r\n"},
	// Connection commands, answered by walnut.
	{"SELECT 1", loc, nil, "+OK\r\n"},
	{"SELECT 15", loc, nil, "+OK\r\n"},
	{"SELECT 16", loc, nil, "-ERR DB index is out of range\r\n"},
	{"SELECT -1", loc, nil, "-ERR DB index is out of range\r\n"},
	{"SELECT x", loc, nil, "-ERR value is not an integer or out of range\r\n"},
	{"SELECT 99999999999", loc, nil, "-ERR value is not an integer or out of range\r\n"},
	{"ECHO hi", loc, nil, "$2\r\nhi\r\n"},
	{"HELLO 4", loc, nil, "-NOPROTO unsupported protocol version\r\n"},
	{"HELLO 1", loc, nil, "-NOPROTO unsupported protocol version\r\n"},
	{"HELLO x", loc, nil, "-ERR Protocol version is not an integer or out of range\r\n"},
	{"HELLO 2 FOO", loc, nil, "-ERR Syntax error in HELLO option 'FOO'\r\n"},
	{"HELLO 2 SETNAME", loc, nil, "-ERR Syntax error in HELLO option 'SETNAME'\r\n"},
	// Blocking commands (each on a connection of its own, see
	// TestDedicatedRoute), and PUBLISH by channel.
	{"BLPOP l 0", fwd, []string{"l"}, ""},
	{"BRPOP a b 1.5", fwd, []string{"a", "b"}, ""},
	{"BLMOVE a b LEFT LEFT 0", fwd, []string{"a", "b"}, ""},
	{"BZPOPMIN z 0", fwd, []string{"z"}, ""},
	{"BLMPOP 0 1 l LEFT", fwd, []string{"l"}, ""},
	{"XREAD STREAMS s 0", fwd, []string{"s"}, ""},
	{"XREAD BLOCK 10 STREAMS s t 0 0", fwd, []string{"s", "t"}, ""},
	{"XREADGROUP GROUP g c STREAMS s >", fwd, []string{"s"}, ""},
	{"PUBLISH c m", fwd, []string{"c"}, ""},
	{"SPUBLISH c m", fwd, []string{"c"}, ""},
	{"WAIT 1 0", loc, nil, ":0\r\n"},
	{"AUTH pw", loc, nil, "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"},
	{"AUTH default pw", loc, nil, "+OK\r\n"},
	{"AUTH someone pw", loc, nil, "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
	{"AUTH a b c", loc, nil, "-ERR syntax error\r\n"},
	{"AUTH", loc, nil, "-ERR wrong number of arguments for 'auth' command\r\n"},
	{"RESET", loc, nil, "+RESET\r\n"},
	{"CLIENT SETNAME app", loc, nil, "+OK\r\n"},
	{"CLIENT SETNAME 'a b'", loc, nil, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
	{"CLIENT GETNAME", loc, nil, "$-1\r\n"},
	{"COMMAND GETKEYS SET k v", loc, nil, "*1\r\n$1\r\nk\r\n"},
	{"COMMAND GETKEYS SORT k STORE d", loc, nil, "*2\r\n$1\r\nk\r\n$1\r\nd\r\n"},
	{"COMMAND GETKEYS PING x", loc, nil, "-ERR The command has no key arguments\r\n"},
	{"COMMAND GETKEYS NOPE x", loc, nil, "-ERR Invalid command specified\r\n"},
	{"COMMAND GETKEYS GET a b", loc, nil, "-ERR Invalid number of arguments specified for command\r\n"},
	// Redis' answers, checked against redis-server 7.0: keys that are
	// optional may be none; mandatory ones may not.
	{"COMMAND GETKEYS EVAL 'return 1' 0", loc, nil, "*0\r\n"},
	{"COMMAND GETKEYS ZUNIONSTORE d 0", loc, nil, "-ERR Invalid number of arguments specified for command\r\n"},
	{"COMMAND INFO nope", loc, nil, "*1\r\n$-1\r\n"},
	{"COMMAND INFO monitor", loc, nil, "*1\r\n$-1\r\n"},
	{"COMMAND DOCS nope", loc, nil, "*0\r\n"},
	{"COMMAND LIST FILTERBY PATTERN x", loc, nil, "-ERR walnut does not support COMMAND LIST FILTERBY\r\n"},
	{"COMMAND HELP", fwd, []string{"placeholder"}, ""},
	// Without a session (a codec used outside the core), transactions
	// and subscriptions are refused.
	{"MULTI", loc, nil, "-ERR unsupported command 'MULTI'\r\n"},
	{"EXEC", loc, nil, "-ERR unsupported command 'EXEC'\r\n"},
	{"DISCARD", loc, nil, "-ERR unsupported command 'DISCARD'\r\n"},
	{"WATCH k", loc, nil, "-ERR unsupported command 'WATCH'\r\n"},
	{"UNWATCH", loc, nil, "-ERR unsupported command 'UNWATCH'\r\n"},
	{"SUBSCRIBE c", loc, nil, "-ERR unsupported command 'SUBSCRIBE'\r\n"},
	{"SSUBSCRIBE c", loc, nil, "-ERR unsupported command 'SSUBSCRIBE'\r\n"},
	{"MIGRATE h 1 k 0 10", loc, nil, "-ERR unsupported command 'MIGRATE'\r\n"},
	{"MOVE k 1", loc, nil, "-ERR unsupported command 'MOVE'\r\n"},
	{"COPY a b DB 1", loc, nil, "-ERR unsupported command 'COPY'\r\n"},
	{"SWAPDB 0 1", loc, nil, "-ERR unsupported command 'SWAPDB'\r\n"},
	{"PFDEBUG GETREG p", loc, nil, "-ERR unsupported command 'PFDEBUG'\r\n"},
	{"RESTORE-ASKING k 0 x", loc, nil, "-ERR unsupported command 'RESTORE-ASKING'\r\n"},
	{"CLUSTER INFO", loc, nil, "-ERR unsupported command 'CLUSTER INFO'\r\n"},
	{"CONFIG GET maxmemory", loc, nil, "-ERR unsupported command 'CONFIG GET'\r\n"},
	{"CONFIG", loc, nil, "-ERR wrong number of arguments for 'config' command\r\n"},
	{"CONFIG GET", loc, nil, "-ERR wrong number of arguments for 'config|get' command\r\n"},
	// HELP texts are the servers': any one answers.
	{"OBJECT HELP", fwd, []string{"placeholder"}, ""},
	{"xinfo help", fwd, []string{"placeholder"}, ""},
	{"CLUSTER HELP", loc, nil, "-ERR unsupported command 'CLUSTER HELP'\r\n"},
	{"OBJECT NOSUCH k", loc, nil, "-ERR unknown subcommand 'NOSUCH'. Try OBJECT HELP.\r\n"},
	{"object nosuch", loc, nil, "-ERR unknown subcommand 'nosuch'. Try OBJECT HELP.\r\n"},
	{"DEBUG OBJECT k", loc, nil, "-ERR unsupported command 'DEBUG'\r\n"},
	{"NoSuchCommand a b", loc, nil, "-ERR unknown command 'NoSuchCommand', with args beginning with: 'a' 'b' \r\n"},
	{"nosuch", loc, nil, "-ERR unknown command 'nosuch', with args beginning with: \r\n"},
	// PUBSUB's introspection asks every server.
	{"PUBSUB CHANNELS", bcast, nil, ""},
	{"PUBSUB NUMSUB a b", bcast, nil, ""},
	{"PUBSUB NUMPAT", bcast, nil, ""},
	{"PUBSUB SHARDCHANNELS x*", bcast, nil, ""},
	{"PUBSUB SHARDNUMSUB a", bcast, nil, ""},
	// CLIENT, for walnut's client.
	{"CLIENT GETREDIR", loc, nil, ":-1\r\n"},
	{"CLIENT TRACKINGINFO", loc, nil, replyTrackInfo},
	{"CLIENT CACHING YES", loc, nil, replyCachingOff},
	{"CLIENT NO-EVICT on", loc, nil, "+OK\r\n"},
	{"CLIENT NO-EVICT maybe", loc, nil, "-ERR syntax error\r\n"},
	{"CLIENT TRACKING off", loc, nil, "+OK\r\n"},
	{"CLIENT TRACKING on", loc, nil, replyNoTracking},
	{"CLIENT REPLY maybe", loc, nil, "-ERR syntax error\r\n"},
	{"CLIENT UNBLOCK 12", loc, nil, ":0\r\n"},
	{"CLIENT UNBLOCK x", loc, nil, "-ERR value is not an integer or out of range\r\n"},
	{"CLIENT UNBLOCK x later", loc, nil, "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"},
	{"CLIENT UNBLOCK 1 error x", loc, nil, "-ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP.\r\n"},
}

func TestRoute(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	var req protocols.Request
	for _, tc := range routeCases {
		req.Reset()
		in := tc.in + "\r\n"
		n, err := c.ParseRequest([]byte(in), &req)
		if err != nil || n != len(in) {
			t.Errorf("%s: n=%d err=%v", tc.in, n, err)
			continue
		}
		if req.Kind != tc.kind || !slices.Equal(strs(req.Keys), tc.keys) || string(req.Reply) != tc.reply {
			t.Errorf("%s: kind %d keys %q reply %q; want kind %d keys %q reply %q",
				tc.in, req.Kind, strs(req.Keys), req.Reply, tc.kind, tc.keys, tc.reply)
		}
		if req.Close != (strings.ToUpper(tc.in) == "QUIT") {
			t.Errorf("%s: close %v", tc.in, req.Close)
		}
		if req.Kind == protocols.Local && strings.HasPrefix(tc.reply, "-") {
			if _, err := replyLen(req.Reply, defaultMaxBulk); err != nil {
				t.Errorf("%s: reply %q is not RESP: %v", tc.in, req.Reply, err)
			}
		}
	}
}

func TestUnsupportedNameSanitized(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	var req protocols.Request
	long := strings.Repeat("x", 300)
	if _, err := c.ParseRequest([]byte(mb("BAD\r\nCMD", "a")), &req); err != nil {
		t.Fatal(err)
	}
	if got := string(req.Reply); got != "-ERR unknown command 'BAD  CMD', with args beginning with: 'a' \r\n" {
		t.Errorf("reply %q", got)
	}
	req.Reset()
	if _, err := c.ParseRequest([]byte(mb(long)), &req); err != nil {
		t.Fatal(err)
	}
	if got := string(req.Reply); got != "-ERR unknown command '"+long[:128]+"', with args beginning with: \r\n" {
		t.Errorf("reply %q", got)
	}
}

// TestPolicyTable pins the policy's verdicts on the commands that name
// keys, so that regenerating the table against a new Redis shows every
// change of routing as a failing test to look at.
func TestPolicyTable(t *testing.T) {
	forwarded := map[string]bool{}
	for i := range commandTable {
		if policies[i].act == actForward {
			forwarded[commandTable[i].name] = true
		}
	}
	for _, name := range []string{"get", "set", "eval", "fcall", "sort", "sort_ro", "copy", "object|encoding", "xinfo|stream", "xgroup|create", "xack", "xclaim", "xautoclaim", "georadius", "lcs", "msetnx", "restore", "dump", "memory|usage"} {
		if !forwarded[name] {
			t.Errorf("%s is not forwarded", name)
		}
	}
	dedicated := map[string]action{
		"multi": actMulti, "exec": actExec, "discard": actDiscard, "watch": actWatch, "unwatch": actUnwatch, "wait": actWait,
		"blpop": actBlock, "brpop": actBlock, "blmove": actBlock, "brpoplpush": actBlock, "bzpopmin": actBlock,
		"bzpopmax": actBlock, "blmpop": actBlock, "bzmpop": actBlock, "xread": actXRead, "xreadgroup": actXRead,
		"subscribe": actSubscribe, "ssubscribe": actSubscribe, "unsubscribe": actUnsubscribe, "sunsubscribe": actUnsubscribe,
		"psubscribe": actPSubscribe, "punsubscribe": actPUnsubscribe, "publish": actPublish, "spublish": actPublish,
	}
	for name, act := range dedicated {
		if i := find(name); i < 0 || policies[i].act != act {
			t.Errorf("%s: action %d, want %d", name, policies[max(i, 0)].act, act)
		}
	}
	// Every blocking or pub/sub command is either served on a dedicated
	// connection or refused: a new one in a regenerated table must be
	// looked at, not forwarded on the shared pipeline.
	for i := range commandTable {
		c := &commandTable[i]
		introspection := policies[i].act >= actPubSubChannels && policies[i].act <= actPubSubNumPat || policies[i].act == actRelay
		if (c.flags&(flagBlocking|flagPubSub) != 0 || c.acl&(aclTransaction|aclBlocking|aclPubSub) != 0) &&
			dedicated[c.name] == 0 && policies[i].act != actUnsupported && !introspection {
			t.Errorf("%s is served (%d) without a dedicated connection", c.name, policies[i].act)
		}
	}
	for _, name := range []string{"migrate", "move", "pfdebug", "restore-asking", "swapdb", "monitor", "sync", "psync", "script|debug", "client|list", "config|get", "cluster|keyslot", "cluster|help", "config|set"} {
		i := find(name)
		if i < 0 {
			t.Errorf("%s is not in the table", name)
			continue
		}
		if policies[i].act != actUnsupported {
			t.Errorf("%s is served (%d)", name, policies[i].act)
		}
	}
	if n := len(forwarded); n < 150 || n > 200 {
		t.Errorf("%d commands forwarded: the policy or the table changed a lot", n)
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		name      string
		container string
	}{
		{[]string{"GET"}, "get", ""},
		{[]string{"gEt", "k"}, "get", ""},
		{[]string{"OBJECT", "Encoding", "k"}, "object|encoding", "object"},
		{[]string{"OBJECT"}, "", "object"},
		{[]string{"OBJECT", "nope"}, "", "object"},
		{[]string{"OBJECT", strings.Repeat("x", 100)}, "", "object"},
		{[]string{strings.Repeat("x", 100)}, "", ""},
		{[]string{"nope"}, "", ""},
		{[]string{"object|encoding", "k"}, "", ""},
		{[]string{"OBJECT", "encoding|x"}, "", "object"},
		{[]string{""}, "", ""},
	} {
		var args [][]byte
		for _, a := range tc.args {
			args = append(args, []byte(a))
		}
		i, j := lookup(args)
		name, cont := "", ""
		if i >= 0 {
			name = commandTable[i].name
		}
		if j >= 0 {
			cont = commandTable[j].name
		}
		if name != tc.name || cont != tc.container {
			t.Errorf("%q: %q %q, want %q %q", tc.args, name, cont, tc.name, tc.container)
		}
	}
}

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		in string
		v  int64
		ok bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"-1", -1, true}, {"123", 123, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false},
		{"", 0, false}, {"-", 0, false}, {"-0", 0, false}, {"01", 0, false}, {"+1", 0, false},
		{" 1", 0, false}, {"1 ", 0, false}, {"1a", 0, false}, {"99999999999999999999", 0, false},
	} {
		v, ok := parseInt([]byte(tc.in))
		if v != tc.v || ok != tc.ok {
			t.Errorf("%q: %d %v", tc.in, v, ok)
		}
	}
}

func TestNameTable(t *testing.T) {
	maxProbe := 0
	for i := range commandTable {
		name := commandTable[i].name
		var args [][]byte
		if cont, sub, ok := strings.Cut(name, "|"); ok {
			args = [][]byte{[]byte(strings.ToUpper(cont)), []byte(strings.ToUpper(sub))}
		} else {
			args = [][]byte{[]byte(strings.ToUpper(name))}
		}
		got, cont := lookup(args)
		if commandTable[i].container {
			got = cont
		}
		if got != i {
			t.Errorf("%s: lookup %d, want %d", name, got, i)
		}
		h := uint32(fnvOffset)
		for j := 0; j < len(name); j++ {
			h = (h ^ uint32(name[j])) * fnvPrime
		}
		d := 0
		for s := slot(h); int(nameTable[s])-1 != i; s = (s + 1) & nameTableMask {
			d++
		}
		maxProbe = max(maxProbe, d)
	}
	// Not a correctness matter, but a sign the hash spreads names well.
	if maxProbe > 4 {
		t.Errorf("a lookup probes %d slots", maxProbe)
	}
}

func TestRegistered(t *testing.T) {
	f, err := protocols.Lookup("redis")
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.NewCodec(protocols.Options{MaxRequestSize: 1 << 20})
	if err != nil || c == nil {
		t.Fatalf("codec %v, error %v", c, err)
	}
	c, err = f.NewCodec(protocols.Options{MaxValueSize: -1})
	if err == nil || c != nil {
		t.Fatalf("bad options: codec %v, error %v", c, err)
	}
}
