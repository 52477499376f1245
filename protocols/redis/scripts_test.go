package redis

import (
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/internal/testbed"
	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/redis/internal/redisserver"
)

// shebangCases are scripts' first lines with the flags walnut reads.
var shebangCases = []struct {
	line  string
	flags scriptFlags
}{
	{"-- no shebang", 0},
	{"#!lua", sfShebang},
	{"#!lua ", sfShebang},
	{"#!lua\r", sfShebang},
	{"#!lua flags=no-writes", sfShebang | sfNoWrites},
	{"#!lua   flags=no-writes\t", sfShebang | sfNoWrites},
	{"#!lua flags=no-writes,allow-oom", sfShebang | sfNoWrites | sfAllowOOM},
	{"#!lua flags=allow-stale,no-cluster,allow-cross-slot-keys", sfShebang | sfAllowStale | sfNoCluster | sfAllowCrossSlot},
	{"#!lua flags=no-writes flags=no-cluster", sfShebang | sfNoWrites | sfNoCluster},
	{"#!lua flags=", sfShebang},
	{"#!lua flags=no-writes,", sfInvalid},
	{"#!lua flags=,no-writes", sfInvalid},
	{"#!lua flags=bogus", sfInvalid},
	{"#!lua flags=NO-WRITES", sfInvalid},
	{"#!lua name=x", sfInvalid},
	{"#!luax", sfInvalid},
	{"#!LUA", sfInvalid},
	{"#! lua", sfInvalid},
	{"#!", sfInvalid},
	{"#!lua \"flags=no-writes\"", sfInvalid},
}

func TestParseShebang(t *testing.T) {
	for _, tc := range shebangCases {
		if got := parseShebang([]byte(tc.line + "\nreturn 1")); got != tc.flags {
			t.Errorf("%q: flags %b, want %b", tc.line, got, tc.flags)
		}
	}
	if got := parseShebang([]byte("#!lua flags=no-writes")); got != sfInvalid {
		t.Errorf("a shebang without a newline: flags %b, want invalid (Redis: Invalid script shebang)", got)
	}
}

// TestShebangMatchesRedis runs each shebang on a real redis-server with a
// script that writes: a shebang walnut reads as invalid must be one
// Redis refuses, one with no-writes must make Redis refuse the write,
// and one without must let it write.
func TestShebangMatchesRedis(t *testing.T) {
	conn := dial(t)
	for _, tc := range shebangCases {
		body := tc.line + "\nreturn redis.call('set', 'walnut:shebang', '1')"
		reply, err := conn.Do("EVAL", body, "0")
		if err != nil {
			t.Fatal(err)
		}
		e, isErr := reply.(redisserver.Error)
		switch flags := parseShebang([]byte(body)); {
		case flags&sfInvalid != 0 && strings.Contains(tc.line, "\""):
			// Quoted words: Redis may take them; walnut lets it decide.
		case flags&sfInvalid != 0:
			if !isErr || !strings.Contains(string(e), "shebang") {
				t.Errorf("%q: walnut reads an invalid shebang, Redis answers %v", tc.line, reply)
			}
		case flags&sfNoWrites != 0:
			if !isErr || !strings.Contains(string(e), "Write commands are not allowed from read-only scripts") {
				t.Errorf("%q: walnut reads no-writes, Redis answers %v", tc.line, reply)
			}
		default:
			if isErr {
				t.Errorf("%q: walnut reads flags %b, Redis answers %v", tc.line, flags, reply)
			}
		}
	}
}

// keyless parses a request on a pool of servers servers, with a codec
// whose registry knows the function "ro" (no-writes), "rw" and "nc"
// (no-writes, no-cluster), and the scripts loaded through it.
func keyless(t *testing.T, c *Codec, servers int, args ...string) *protocols.Request {
	t.Helper()
	req := &protocols.Request{Servers: servers}
	in := mb(args...)
	if n, err := c.ParseRequest([]byte(in), req); err != nil || n != len(in) {
		t.Fatalf("%q: n=%d err=%v", args, n, err)
	}
	return req
}

func knowingCodec(t *testing.T) *Codec {
	t.Helper()
	c := newCodec(t, protocols.Options{})
	list := "*1\r\n*6\r\n$12\r\nlibrary_name\r\n$3\r\nlib\r\n$6\r\nengine\r\n$3\r\nLUA\r\n$9\r\nfunctions\r\n*3\r\n" +
		"*6\r\n$4\r\nname\r\n$2\r\nro\r\n$11\r\ndescription\r\n$-1\r\n$5\r\nflags\r\n*1\r\n+no-writes\r\n" +
		"*6\r\n$4\r\nname\r\n$2\r\nrw\r\n$11\r\ndescription\r\n$-1\r\n$5\r\nflags\r\n*0\r\n" +
		"*6\r\n$4\r\nname\r\n$2\r\nnc\r\n$11\r\ndescription\r\n$-1\r\n$5\r\nflags\r\n*2\r\n+no-writes\r\n+no-cluster\r\n"
	c.fn.loaded([]byte("lib"), []byte("#!lua name=lib\n..."), []byte(list))
	c.fn.scriptLoaded([]byte("#!lua flags=no-writes\nreturn 1"))
	c.fn.scriptLoaded([]byte("return 1"))
	c.fn.scriptLoaded([]byte("#!lua\nreturn 1"))
	return c
}

func TestRouteKeyless(t *testing.T) {
	c := knowingCodec(t)
	const (
		roSha     = "77f21361171213377cb083e2ffc2ae24ffdff8fb" // #!lua flags=no-writes\nreturn 1
		plainSha  = "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB" // return 1, in upper case as Redis takes it
		rwSha     = "cb70127618f0b0be70c53cf6bfcfa54a29d9b0c0" // #!lua\nreturn 1
		unknownSh = "0000000000000000000000000000000000000000"
	)
	if f, ok := c.fn.scriptFlags([]byte(roSha)); !ok || f != sfShebang|sfNoWrites {
		t.Fatalf("the no-writes script's flags: %b %v (is its SHA1 right?)", f, ok)
	}
	if _, ok := c.fn.scriptFlags([]byte(rwSha)); !ok {
		t.Fatal("the #!lua script's SHA1 is not the one loaded")
	}
	const (
		as      = "as is"
		ro      = "read-only"
		refused = "refused"
	)
	for _, tc := range []struct {
		servers int
		args    []string
		want    string
		reply   string // refused: the error's start after "-ERR "
	}{
		// One server: the pool is that server, whatever the script.
		{1, []string{"EVAL", "return redis.call('set', 'a', 'b')", "0"}, as, ""},
		{1, []string{"EVALSHA", unknownSh, "0"}, as, ""},
		{1, []string{"FCALL", "rw", "0"}, as, ""},
		{1, []string{"FCALL", "nosuch", "0", "x"}, as, ""},
		// Several servers: what cannot write runs on one.
		{3, []string{"EVAL", "#!lua flags=no-writes\nreturn 1", "0"}, as, ""},
		{3, []string{"EVAL", "#!lua flags=no-writes,allow-cross-slot-keys\nreturn 1", "0", "a"}, as, ""},
		{3, []string{"EVAL_RO", "return 1", "0"}, as, ""},
		{3, []string{"EVALSHA_RO", unknownSh, "0"}, as, ""},
		{3, []string{"FCALL_RO", "rw", "0"}, as, ""},
		{3, []string{"EVALSHA", roSha, "0"}, as, ""},
		{3, []string{"FCALL", "ro", "0", "x"}, as, ""},
		{3, []string{"fcall", "ro", "0"}, as, ""},
		// Unknown to walnut: the _RO form, which cannot write.
		{3, []string{"EVALSHA", unknownSh, "0"}, ro, ""},
		{3, []string{"FCALL", "nosuch", "0"}, ro, ""},
		{3, []string{"EVAL", "#!lua flags=bogus\nreturn 1", "0"}, ro, ""},
		// What may write is refused.
		{3, []string{"EVAL", "return 1", "0"}, refused, "walnut cannot route EVAL without keys: the script may write; declare"},
		{3, []string{"EVAL", "#!lua\nreturn 1", "0"}, refused, "walnut cannot route EVAL without keys: the script may write (its shebang"},
		{3, []string{"EVAL", "#!lua flags=no-writes,no-cluster\nreturn 1", "0"}, refused, "walnut cannot route EVAL without keys: its flags say no-cluster"},
		{3, []string{"EVALSHA", plainSha, "0"}, refused, "walnut cannot route EVALSHA without keys: the script may write; declare"},
		{3, []string{"EVALSHA", rwSha, "0"}, refused, "walnut cannot route EVALSHA without keys: the script may write (its shebang"},
		{3, []string{"FCALL", "rw", "0"}, refused, "walnut cannot route FCALL without keys: the function may write"},
		{3, []string{"FCALL", "nc", "0"}, refused, "walnut cannot route FCALL without keys: its flags say no-cluster"},
		// A bad numkeys: FCALL's to a server, which says why.
		{3, []string{"FCALL", "rw", "x"}, as, ""},
		{3, []string{"FCALL", "rw", "-1"}, as, ""},
		{3, []string{"FCALL", "rw", "2", "a"}, as, ""},
		{3, []string{"EVAL", "return 1", "x"}, refused, "value is not an integer or out of range"},
	} {
		req := keyless(t, c, tc.servers, tc.args...)
		got := as
		switch {
		case req.Kind == protocols.Local:
			got = refused
		case req.Kind != protocols.Targeted:
			t.Errorf("%q on %d servers: kind %d, want Targeted", tc.args, tc.servers, req.Kind)
			continue
		case req.Flags&reqRewrite != 0:
			got = ro
		}
		if got != tc.want || (got == refused && !strings.HasPrefix(string(req.Reply), "-ERR "+tc.reply)) {
			t.Errorf("%q on %d servers: %s %q, want %s %q", tc.args, tc.servers, got, req.Reply, tc.want, tc.reply)
		}
		if req.Kind == protocols.Targeted && (req.Target < 0 || req.Target >= max(tc.servers, 1)) {
			t.Errorf("%q on %d servers: target %d", tc.args, tc.servers, req.Target)
		}
		if got == ro {
			out := string(c.AppendRequest(nil, req, nil))
			if want := mb(append([]string{strings.ToUpper(tc.args[0]) + "_RO"}, tc.args[1:]...)...); out != want {
				t.Errorf("%q: sent %q, want %q", tc.args, out, want)
			}
		}
	}
}

// TestKeylessReplies checks the replies to calls sent as their _RO form:
// Redis' refusal of a write becomes walnut's, the rest comes as it is.
func TestKeylessReplies(t *testing.T) {
	c := knowingCodec(t)
	for _, tc := range []struct {
		args  []string
		resp  string
		reply string
	}{
		{[]string{"FCALL", "nosuch", "0"}, "-ERR Function not found\r\n", "-ERR Function not found\r\n"},
		{[]string{"FCALL", "nosuch", "0"}, ":1\r\n", ":1\r\n"},
		{[]string{"FCALL", "nosuch", "0"}, "-ERR Can not execute a script with write flag using *_ro command.\r\n",
			"-ERR walnut cannot route FCALL" + whyFuncRW + "\r\n"},
		{[]string{"EVALSHA", "0000000000000000000000000000000000000000", "0"}, "-NOSCRIPT No matching script. Please use EVAL.\r\n",
			"-NOSCRIPT No matching script. Please use EVAL.\r\n"},
		{[]string{"EVALSHA", "0000000000000000000000000000000000000000", "0"}, "-ERR Can not execute a script with write flag using *_ro command.\r\n",
			"-ERR walnut cannot route EVALSHA" + whyScriptRW + "\r\n"},
		{[]string{"EVALSHA", "0000000000000000000000000000000000000000", "0"},
			"-ERR Write commands are not allowed from read-only scripts. script: ab, on @user_script:1.\r\n",
			"-ERR walnut cannot route EVALSHA" + whyWrote + " (Write commands are not allowed from read-only scripts. script: ab, on @user_script:1.)\r\n"},
	} {
		req := keyless(t, c, 3, tc.args...)
		parts := []protocols.Part{{Resp: []byte(tc.resp), Server: req.Target, Name: "s"}}
		if got := string(c.AppendReply(nil, req, parts)); got != tc.reply {
			t.Errorf("%q answered %q: reply %q, want %q", tc.args, tc.resp, got, tc.reply)
		}
	}
	// One server's script errors come as they are, _RO's refusals too.
	req := keyless(t, c, 1, "EVAL_RO", "return redis.call('set','a','b')", "0")
	resp := "-ERR Write commands are not allowed from read-only scripts. script: x, on @user_script:1.\r\n"
	if got := string(c.AppendReply(nil, req, []protocols.Part{{Resp: []byte(resp)}})); got != resp {
		t.Errorf("EVAL_RO on one server: %q", got)
	}
}

// TestKeylessOnRedis runs calls without keys through the codec against
// a real redis-server, as a pool of three servers sends them.
func TestKeylessOnRedis(t *testing.T) {
	addr := testbed.Redis(t).Addr
	conn, err := redisserver.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lib := "#!lua name=keyless\nredis.register_function{function_name='kro', callback=function(k, a) return 'ro' end, flags={'no-writes'}}\n" +
		"redis.register_function('krw', function(k, a) return redis.call('set', 'x', '1') end)"
	if v, err := conn.Do("FUNCTION", "LOAD", "REPLACE", lib); err != nil || v != "keyless" {
		t.Fatalf("FUNCTION LOAD: %v %v", v, err)
	}
	sha, _ := conn.Do("SCRIPT", "LOAD", "return redis.call('set', 'x', '1')")
	c := newCodec(t, protocols.Options{})
	for _, tc := range []struct {
		args  []string
		reply string
	}{
		{[]string{"FCALL", "kro", "0"}, "$2\r\nro\r\n"},
		{[]string{"FCALL", "krw", "0"}, "-ERR walnut cannot route FCALL" + whyFuncRW + "\r\n"},
		{[]string{"FCALL", "nosuch", "0"}, "-ERR Function not found\r\n"},
		{[]string{"FCALL", "nosuch", "x"}, "-ERR Function not found\r\n"},
		{[]string{"FCALL", "kro", "x"}, "-ERR Bad number of keys provided\r\n"},
		{[]string{"FCALL", "kro", "-1"}, "-ERR Number of keys can't be negative\r\n"},
		{[]string{"FCALL_RO", "kro", "2", "a"}, "-ERR Number of keys can't be greater than number of args\r\n"},
		{[]string{"EVALSHA", sha.(string), "0"}, "-ERR walnut cannot route EVALSHA" + whyWrote},
		{[]string{"EVALSHA", "0000000000000000000000000000000000000000", "0"}, "-NOSCRIPT No matching script. Please use EVAL.\r\n"},
		{[]string{"EVAL", "#!lua flags=bogus\nreturn 1", "0"}, "-ERR Unexpected flag in script shebang: bogus\r\n"},
		{[]string{"EVAL", "#!lua flags=no-writes\nreturn 7", "0"}, ":7\r\n"},
	} {
		req := keyless(t, c, 3, tc.args...)
		if req.Kind != protocols.Targeted {
			t.Errorf("%q: kind %d, reply %q", tc.args, req.Kind, req.Reply)
			continue
		}
		resp, err := conn.DoRaw(c.AppendRequest(nil, req, nil))
		if err != nil {
			t.Fatal(err)
		}
		got := string(c.AppendReply(nil, req, []protocols.Part{{Resp: encodeValue(resp), Name: addr}}))
		if !strings.HasPrefix(got, tc.reply) {
			t.Errorf("%q: reply %q, want %q", tc.args, got, tc.reply)
		}
	}
}

// encodeValue turns what redisserver.Conn read back into RESP.
func encodeValue(v any) []byte {
	switch x := v.(type) {
	case nil:
		return []byte("$-1\r\n")
	case redisserver.Error:
		return []byte("-" + string(x) + "\r\n")
	case int64:
		return appendInt(nil, x)
	case string:
		return appendBulk(nil, []byte(x))
	case []any:
		b := appendCount(nil, '*', len(x))
		for _, e := range x {
			b = append(b, encodeValue(e)...)
		}
		return b
	}
	panic("encodeValue: unexpected value")
}
