package redis

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/internal/testbed"
	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/redis/internal/redisserver"
)

// These tests check the codec against a real redis-server. They fail,
// never skip, when it is missing: a machine without it would otherwise
// pass without checking anything.

func redisAddr(t *testing.T) string {
	t.Helper()
	return testbed.Redis(t).Addr
}

func dial(t *testing.T) *redisserver.Conn {
	t.Helper()
	c, err := redisserver.Dial(redisAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// getKeysSamples are commands whose keys the codec must find exactly as
// COMMAND GETKEYS does.
var getKeysSamples = []string{
	"GET k", "SET k v", "SET k v NX GET", "SETNX k v", "SETEX k 10 v", "PSETEX k 10 v", "GETSET k v",
	"GETDEL k", "GETEX k EX 5", "GETRANGE k 0 1", "SETRANGE k 0 v", "APPEND k v", "STRLEN k",
	"INCR k", "DECR k", "INCRBY k 2", "DECRBY k 2", "INCRBYFLOAT k 1.5", "SUBSTR k 0 1", "LCS a b",
	"MGET a b c", "MSET a 1 b 2", "MSETNX a 1 b 2", "DEL a b c", "UNLINK a b", "TOUCH a b", "EXISTS a a b",
	"EXPIRE k 10", "EXPIRE k 10 NX", "PEXPIRE k 10", "EXPIREAT k 10", "PEXPIREAT k 10", "EXPIRETIME k",
	"PEXPIRETIME k", "TTL k", "PTTL k", "PERSIST k", "TYPE k", "DUMP k", "RESTORE k 0 x REPLACE",
	"RENAME a b", "RENAMENX a b", "COPY a b", "COPY a b REPLACE", "OBJECT ENCODING k", "OBJECT FREQ k",
	"OBJECT IDLETIME k", "OBJECT REFCOUNT k", "MEMORY USAGE k SAMPLES 5",
	"HSET h f v", "HGET h f", "HMGET h a b", "HDEL h a", "HGETALL h", "HINCRBY h f 1", "HSCAN h 0",
	"HRANDFIELD h 2", "HSTRLEN h f", "HEXISTS h f", "HSETNX h f v", "HKEYS h", "HVALS h", "HLEN h",
	"LPUSH l a b", "RPUSH l a", "LPOP l 2", "RPOP l", "LRANGE l 0 -1", "LINDEX l 0", "LINSERT l BEFORE a b",
	"LLEN l", "LREM l 0 a", "LSET l 0 a", "LTRIM l 0 1", "LPOS l a", "RPOPLPUSH a b", "LMOVE a b LEFT RIGHT",
	"LMPOP 2 a b LEFT COUNT 2", "LMPOP 1 a RIGHT",
	"SADD s a", "SREM s a", "SMEMBERS s", "SISMEMBER s a", "SMISMEMBER s a b", "SCARD s", "SPOP s",
	"SRANDMEMBER s 2", "SINTER a b c", "SUNION a b", "SDIFF a b", "SINTERSTORE d a b", "SUNIONSTORE d a",
	"SDIFFSTORE d a b", "SMOVE a b m", "SINTERCARD 2 a b", "SINTERCARD 3 a b c LIMIT 1", "SSCAN s 0",
	"ZADD z 1 a", "ZINCRBY z 1 a", "ZSCORE z a", "ZMSCORE z a b", "ZRANK z a", "ZREVRANK z a", "ZCARD z",
	"ZCOUNT z 0 1", "ZRANGE z 0 -1", "ZRANGESTORE d z 0 -1", "ZRANGEBYSCORE z 0 1", "ZREVRANGE z 0 1",
	"ZREM z a", "ZREMRANGEBYRANK z 0 1", "ZPOPMIN z", "ZPOPMAX z 2", "ZRANDMEMBER z", "ZSCAN z 0",
	"ZUNIONSTORE d 2 a b", "ZUNIONSTORE d 2 a b WEIGHTS 1 2 AGGREGATE MAX", "ZINTERSTORE d 1 a",
	"ZDIFFSTORE d 2 a b", "ZUNION 2 a b", "ZINTER 3 a b c WITHSCORES", "ZDIFF 2 a b", "ZINTERCARD 2 a b",
	"ZMPOP 2 a b MIN", "ZLEXCOUNT z - +", "ZRANGEBYLEX z - +",
	"PFADD p a", "PFCOUNT a b", "PFMERGE d a b",
	"GEOADD g 1 2 m", "GEOPOS g m", "GEODIST g a b", "GEOHASH g m", "GEOSEARCH g FROMMEMBER m BYRADIUS 1 km",
	"GEOSEARCHSTORE d g FROMMEMBER m BYRADIUS 1 km", "GEORADIUS g 1 2 3 km", "GEORADIUS g 1 2 3 km STORE d",
	"GEORADIUS g 1 2 3 km STOREDIST d", "GEORADIUS_RO g 1 2 3 km", "GEORADIUSBYMEMBER g m 3 km STORE d",
	"SETBIT b 1 1", "GETBIT b 1", "BITCOUNT b", "BITPOS b 1", "BITOP AND d a b", "BITOP NOT d a",
	"BITFIELD b GET u8 0", "BITFIELD_RO b GET u8 0",
	"XADD st * f v", "XLEN st", "XRANGE st - +", "XREVRANGE st + -", "XDEL st 1-1", "XTRIM st MAXLEN 10",
	"XACK st g 1-1", "XPENDING st g", "XCLAIM st g c 0 1-1", "XAUTOCLAIM st g c 0 0", "XSETID st 1-1",
	"XINFO STREAM st", "XINFO GROUPS st", "XINFO CONSUMERS st g", "XGROUP CREATE st g $",
	"XGROUP DESTROY st g", "XGROUP SETID st g $", "XGROUP CREATECONSUMER st g c", "XGROUP DELCONSUMER st g c",
	"EVAL s 2 a b x", "EVALSHA sha 1 a", "EVAL_RO s 1 a", "EVALSHA_RO sha 3 a b c",
	"FCALL f 1 a x", "FCALL_RO f 2 a b",
	"SORT k", "SORT k BY w_* GET # LIMIT 0 10 STORE dst", "SORT k STORE a STORE b", "SORT k GET store",
	"SORT k LIMIT store x STORE d", "SORT_RO k BY w_* GET #",
}

func TestKeysMatchCommandGetKeys(t *testing.T) {
	conn := dial(t)
	c := newCodec(t, protocols.Options{})
	var req protocols.Request
	for _, cmd := range getKeysSamples {
		req.Reset()
		req.Servers = 1 // SORT's patterns are refused on more, unless tagged
		in := cmd + "\r\n"
		if _, err := c.ParseRequest([]byte(in), &req); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if req.Kind == protocols.Local {
			t.Errorf("%s: answered locally: %q", cmd, req.Reply)
			continue
		}
		reply, err := conn.Do(append([]string{"COMMAND", "GETKEYS"}, strings.Fields(cmd)...)...)
		if err != nil {
			t.Fatal(err)
		}
		list, ok := reply.([]any)
		if !ok {
			t.Errorf("%s: COMMAND GETKEYS said %v", cmd, reply)
			continue
		}
		var want []string
		for _, k := range list {
			want = append(want, k.(string))
		}
		if got := strs(req.Keys); !slices.Equal(got, want) {
			t.Errorf("%s: keys %q, COMMAND GETKEYS %q", cmd, got, want)
		}
	}
	if len(getKeysSamples) < 100 {
		t.Errorf("only %d samples", len(getKeysSamples))
	}
}

// TestLocalErrorsMatchRedis checks the error texts walnut claims are
// Redis' own against what the server says for the same request.
func TestLocalErrorsMatchRedis(t *testing.T) {
	conn := dial(t)
	if v, err := conn.Do("FUNCTION", "LOAD", "REPLACE", "#!lua name=walnuttest\nredis.register_function('fn', function(keys, args) return 1 end)"); err != nil || v != "walnuttest" {
		t.Fatalf("FUNCTION LOAD: %v %v", v, err)
	}
	sha, err := conn.Do("SCRIPT", "LOAD", "return 1")
	if err != nil {
		t.Fatal(err)
	}
	c := newCodec(t, protocols.Options{})
	var req protocols.Request
	for _, cmd := range []string{
		"GET", "GET a b", "SET k", "MSET a 1 b", "MSET", "MGET", "DEL", "PING a b", "OBJECT", "OBJECT ENCODING",
		"XINFO STREAM", "XGROUP CREATE st", "EVAL s 3 a b", "EVAL s -1 a", "EVAL s x a", "EVALSHA " + sha.(string) + " 2 a",
		"HSET h f", "ZADD z", "LMOVE a b LEFT", "EXPIRE k",
	} {
		req.Reset()
		if _, err := c.ParseRequest([]byte(cmd+"\r\n"), &req); err != nil {
			t.Fatal(err)
		}
		reply, err := conn.Do(strings.Fields(cmd)...)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := reply.(redisserver.Error)
		if !ok {
			t.Errorf("%s: redis-server accepted it: %v", cmd, reply)
			continue
		}
		if want := "-" + string(e) + "\r\n"; string(req.Reply) != want {
			t.Errorf("%s: walnut %q, redis-server %q", cmd, req.Reply, want)
		}
	}
}

// TestProtocolErrorsMatchRedis sends malformed requests to redis-server
// and compares its error line with walnut's.
func TestProtocolErrorsMatchRedis(t *testing.T) {
	addr := redisAddr(t)
	c := newCodec(t, protocols.Options{})
	for _, in := range []string{
		"*x\r\n", "*1\r\nx\r\n", "*2\r\n$3\r\nGET\r\n:1\r\n", "*1\r\n$x\r\n", "*1\r\n$-1\r\n", "*1\r\n$536870913\r\n",
		"*3000000000\r\n", "SET k \"abc\r\n", "SET k \"abc\"d\r\n", "SET k 'abc\r\n",
		strings.Repeat("x", inlineMax+10),
	} {
		var req protocols.Request
		_, perr := c.ParseRequest([]byte(in), &req)
		if perr == nil {
			t.Errorf("%.40q: walnut accepted it", in)
			continue
		}
		ours := string(c.AppendError(nil, perr))
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		n, _ := nc.Read(buf)
		nc.Close()
		if theirs := string(buf[:n]); theirs != ours {
			t.Errorf("%.40q: walnut %q, redis-server %q", in, ours, theirs)
		}
	}
}

// exchange sends b and reads one reply, framed by ParseResponse from
// bytes arriving in small reads.
func exchange(t *testing.T, c *Codec, nc net.Conn, b []byte) []byte {
	t.Helper()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	chunk := make([]byte, 7)
	for {
		n, err := c.ParseResponse(buf, nil)
		if err != nil {
			t.Fatalf("ParseResponse(%q): %v", buf, err)
		}
		if n > 0 {
			if n != len(buf) {
				t.Fatalf("reply %q followed by %q", buf[:n], buf[n:])
			}
			return buf
		}
		m, err := nc.Read(chunk)
		if err != nil {
			t.Fatalf("read after %q: %v", buf, err)
		}
		buf = append(buf, chunk[:m]...)
	}
}

// TestRoundTrip sends requests through the codec to redis-server: each
// Split request in parts (its keys spread over three pretend servers, all
// backed by the one real server) and merged. The reply must be what the
// server answers to the request as the client sent it, run on a twin
// database.
func TestRoundTrip(t *testing.T) {
	addr := redisAddr(t)
	c := newCodec(t, protocols.Options{})
	conns := make([]net.Conn, 2)
	for i := range conns {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		conns[i] = nc
	}
	direct, via := conns[0], conns[1]
	exchange(t, c, direct, []byte(mb("FLUSHALL")))
	exchange(t, c, via, []byte(mb("SELECT", "1")))
	cmds := []string{
		"MSET rt:a 1 rt:b 2 rt:c 3 rt:d 4",
		"MGET rt:a rt:x rt:b rt:c rt:a rt:d rt:y",
		"mget rt:c",
		"EXISTS rt:a rt:a rt:x rt:b",
		"TOUCH rt:a rt:x rt:b",
		`SET rt:s "hello world"`,
		"GET rt:s",
		"HSET rt:h f1 v1 f2 v2",
		"HGETALL rt:h",
		"ZADD rt:z 1 a 2 b",
		"ZRANGE rt:z 0 -1 WITHSCORES",
		"XADD rt:st 1-1 f v",
		"XRANGE rt:st - +",
		"XINFO STREAM rt:st",
		"LPUSH rt:l a b c",
		"LRANGE rt:l 0 -1",
		"HSET rt:w",
		"INCR rt:s",
		"DEL rt:a rt:b rt:x rt:l rt:h",
		"MGET rt:a rt:b rt:c rt:d",
		"MSET rt:a 1",
		"UNLINK rt:c rt:d",
		"EVAL 'return {KEYS[1], ARGV[1], {1, 2, {3}}, redis.error_reply(\"x\")}' 1 rt:k arg",
		"EVAL 'return redis.error_reply(\"boom\")' 1 rt:k",
		"SORT rt:z BY nosort STORE rt:sorted",
		"LRANGE rt:sorted 0 -1",
		"OBJECT ENCODING rt:z",
		"TYPE rt:st",
	}
	for i, cmd := range cmds {
		in := []byte(cmd + "\r\n")
		var req protocols.Request
		if _, err := c.ParseRequest(in, &req); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		// The direct path gets the request as RESP, half of them as the
		// inline command the codec will have re-encoded.
		if i%2 == 1 {
			in = []byte(mb(strs(req.Args)...))
		}
		want := exchange(t, c, direct, in)
		var got []byte
		switch req.Kind {
		case protocols.Local:
			got = req.Reply
		case protocols.Forward:
			resp := exchange(t, c, via, c.AppendRequest(nil, &req, nil))
			got = c.AppendReply(nil, &req, []protocols.Part{{Resp: resp}})
		case protocols.Split:
			groups := make([][]int32, 3)
			for k, key := range req.Keys {
				s := int(key[len(key)-1]) % 3
				groups[s] = append(groups[s], int32(k))
			}
			var parts []protocols.Part
			for _, g := range groups {
				if len(g) == 0 {
					continue
				}
				resp := exchange(t, c, via, c.AppendRequest(nil, &req, g))
				parts = append(parts, protocols.Part{Keys: g, Resp: resp})
			}
			got = c.AppendReply(nil, &req, parts)
		}
		if string(got) != string(want) {
			t.Errorf("%s: walnut %q, direct %q", cmd, got, want)
		}
	}
}
