package redis

import (
	"slices"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

func newCodec(t testing.TB, o protocols.Options) *Codec {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mb encodes args as a RESP multibulk.
func mb(args ...string) string {
	var b []byte
	b = appendCount(b, '*', len(args))
	for _, a := range args {
		b = appendBulk(b, []byte(a))
	}
	return string(b)
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// validRequests are complete requests with the arguments they parse to.
var validRequests = []struct {
	in   string
	args []string
}{
	{mb("GET", "k"), []string{"GET", "k"}},
	{mb("SET", "key", "value"), []string{"SET", "key", "value"}},
	{mb("SET", "k", ""), []string{"SET", "k", ""}},
	{mb("SET", "k", "a\r\nb\x00c"), []string{"SET", "k", "a\r\nb\x00c"}},
	{mb("MGET", "a", "b", "c"), []string{"MGET", "a", "b", "c"}},
	{mb("MSET", "a", "1", "b", "2"), []string{"MSET", "a", "1", "b", "2"}},
	{mb("PING"), []string{"PING"}},
	{mb("NOSUCH", "a\r\nb", "c\x00d"), []string{"NOSUCH", "a\r\nb", "c\x00d"}},
	{mb("OBJECT", "HELP"), []string{"OBJECT", "HELP"}},
	{mb("CLIENT", "REPLY", "SKIP"), []string{"CLIENT", "REPLY", "SKIP"}},
	{mb("CLIENT", "UNBLOCK", "7", "ERROR"), []string{"CLIENT", "UNBLOCK", "7", "ERROR"}},
	{mb("PUBSUB", "NUMSUB", "a", "b"), []string{"PUBSUB", "NUMSUB", "a", "b"}},
	{mb("ZUNION", "0", "a"), []string{"ZUNION", "0", "a"}},
	{mb("SORT", "{t}l", "BY", "{t}w_*", "GET", "#", "GET", "o_*"), []string{"SORT", "{t}l", "BY", "{t}w_*", "GET", "#", "GET", "o_*"}},
	{"*0\r\n", nil},
	{"*-1\r\n", nil},
	{"*-2\r\n", nil},
	{"*-10\r\n", nil},
	{"*-999999999\r\n", nil},
	{"GET k\r\n", []string{"GET", "k"}},
	{"GET k\n", []string{"GET", "k"}},
	{"  get \t  k  \r\n", []string{"get", "k"}},
	{"\r\n", nil},
	{"\n", nil},
	{"   \r\n", nil},
	{"SET k \"hello world\"\r\n", []string{"SET", "k", "hello world"}},
	{"SET k 'it is'\r\n", []string{"SET", "k", "it is"}},
	{"SET k ''\r\n", []string{"SET", "k", ""}},
	{"SET \"\" 'a\\b'\r\n", []string{"SET", "", "a\\b"}},
	{"GET a\rb\r\n", []string{"GET", "a", "b"}},
	{"GET k\x00 ignored\r\n", []string{"GET", "k"}},
	{"GET a\vb\r\n", []string{"GET", "a\vb"}},
	{"\x00\r\n", nil},
	{mb("SCAN", "140737488355335", "MATCH", "u*"), []string{"SCAN", "140737488355335", "MATCH", "u*"}},
	{"KEYS user*\r\n", []string{"KEYS", "user*"}},
	{"INFO servers memory\r\n", []string{"INFO", "servers", "memory"}},
	{mb("SELECT", "3"), []string{"SELECT", "3"}},
	{mb("HELLO", "2", "AUTH", "default", "pw", "SETNAME", "x"), []string{"HELLO", "2", "AUTH", "default", "pw", "SETNAME", "x"}},
	{mb("HELLO", "3"), []string{"HELLO", "3"}},
	{mb("HELLO", "3", "AUTH", "default", "pw", "SETNAME", "x"), []string{"HELLO", "3", "AUTH", "default", "pw", "SETNAME", "x"}},
	{mb("COMMAND", "INFO", "get"), []string{"COMMAND", "INFO", "get"}},
	// Scripts without keys, functions (scripts.go, functions.go).
	{mb("EVAL", "#!lua flags=no-writes,allow-oom\nreturn 1", "0"), []string{"EVAL", "#!lua flags=no-writes,allow-oom\nreturn 1", "0"}},
	{mb("EVAL", "#!lua flags=bogus\nreturn 1", "0"), []string{"EVAL", "#!lua flags=bogus\nreturn 1", "0"}},
	{mb("EVAL", "return 1", "0"), []string{"EVAL", "return 1", "0"}},
	{mb("EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"), []string{"EVALSHA", "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB", "0"}},
	{mb("FCALL", "f", "0", "a"), []string{"FCALL", "f", "0", "a"}},
	{mb("FCALL_RO", "f", "x"), []string{"FCALL_RO", "f", "x"}},
	{mb("FUNCTION", "LOAD", "REPLACE", "#!lua name=lib\nredis.register_function('f', function() return 1 end)"),
		[]string{"FUNCTION", "LOAD", "REPLACE", "#!lua name=lib\nredis.register_function('f', function() return 1 end)"}},
	{"FUNCTION LOAD x\r\n", []string{"FUNCTION", "LOAD", "x"}},
	{mb("FUNCTION", "RESTORE", "payload", "REPLACE"), []string{"FUNCTION", "RESTORE", "payload", "REPLACE"}},
	{mb("FUNCTION", "LIST", "WITHCODE"), []string{"FUNCTION", "LIST", "WITHCODE"}},
	{"FUNCTION STATS\r\n", []string{"FUNCTION", "STATS"}},
	{"SCRIPT KILL\r\n", []string{"SCRIPT", "KILL"}},
	{"FUNCTION DUMP\r\n", []string{"FUNCTION", "DUMP"}},
}

func TestParseRequestValid(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range validRequests {
		var req protocols.Request
		n, err := c.ParseRequest([]byte(tc.in), &req)
		if err != nil || n != len(tc.in) {
			t.Errorf("%q: n=%d err=%v, want %d, nil", tc.in, n, err, len(tc.in))
			continue
		}
		if got := strs(req.Args); !slices.Equal(got, tc.args) {
			t.Errorf("%q: args %q, want %q", tc.in, got, tc.args)
		}
		inline := tc.in[0] != '*'
		if (req.Flags&reqInline != 0) != inline {
			t.Errorf("%q: inline flag %v", tc.in, !inline)
		}
	}
}

var bigInline = strings.Repeat("x", inlineMax+1)

// badRequests are requests refused with an error, and its text.
var badRequests = []struct{ in, err string }{
	{"*x\r\n", "invalid multibulk length"},
	{"*\r\n", "invalid multibulk length"},
	{"*-9999999999999999999\r\n", "invalid multibulk length"},
	{"*-0\r\n", "invalid multibulk length"},
	{"*01\r\n", "invalid multibulk length"},
	{"*+1\r\n", "invalid multibulk length"},
	{"* 1\r\n", "invalid multibulk length"},
	{"*1 \r\n", "invalid multibulk length"},
	{"*1\rx", "invalid multibulk length"},
	{"*1048577\r\n", "invalid multibulk length"},
	{"*99999999999999999999\r\n", "invalid multibulk length"},
	{"*1234567890123456789", "invalid multibulk length"},
	{"*1\r\nx", "expected '$', got 'x'"},
	{"*2\r\n$3\r\nGET\r\n:1\r\n", "expected '$', got ':'"},
	{"*1\r\n\r\n", "expected '$', got '\r'"},
	{"*1\r\n$x\r\n", "invalid bulk length"},
	{"*1\r\n$-1\r\n", "invalid bulk length"},
	{"*1\r\n$\r\n", "invalid bulk length"},
	{"*1\r\n$01\r\n", "invalid bulk length"},
	{"*1\r\n$536870913\r\n", "invalid bulk length"},
	{"*1\r\n$3\r\nGETxx", "bulk string not followed by CRLF"},
	{"*1\r\n$3\r\nGET\rx", "bulk string not followed by CRLF"},
	{"*1\r\n$3\r\nGETx", "bulk string not followed by CRLF"},
	{"*1\r\n$3\r\nGE\r\n\r\n", "bulk string not followed by CRLF"},
	{bigInline, "too big inline request"},
	{bigInline + "\r\n", "too big inline request"},
	{"SET k \"abc\r\n", "unbalanced quotes in request"},
	{"SET k 'abc\r\n", "unbalanced quotes in request"},
	{"SET k \"abc\"def\r\n", "unbalanced quotes in request"},
	{"SET k \"abc\\\r\n", "unbalanced quotes in request"},
	{"SET k \"a\\nb\"\r\n", errInlineQuotes.Msg},
	{"SET k 'it\\'s'\r\n", errInlineQuotes.Msg},
	{"SET k a\"b c\"\r\n", errInlineQuotes.Msg},
	{"SET k it's\r\n", errInlineQuotes.Msg},
}

// TestParseRequestErrors pins each refusal's text; TestContract checks
// that it is a protocol error, at every prefix that shows the fault, and
// costs no allocation.
func TestParseRequestErrors(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range badRequests {
		var req protocols.Request
		n, err := c.ParseRequest([]byte(tc.in), &req)
		if err == nil || n != 0 || err.Error() != tc.err {
			t.Errorf("%.40q: n=%d err=%v, want %q", tc.in, n, err, tc.err)
		}
	}
}

func TestParseRequestLimits(t *testing.T) {
	value := strings.Repeat("v", 100)
	set := mb("SET", "k", value)
	cases := []struct {
		opts protocols.Options
		in   string
		err  error
	}{
		{protocols.Options{MaxRequestSize: 1000}, set, nil},
		{protocols.Options{MaxRequestSize: len(set)}, set, nil},
		{protocols.Options{MaxRequestSize: 99}, set, errBulkLen},
		{protocols.Options{MaxRequestSize: len(set) - 1}, set, protocols.ErrRequestTooLarge},
		{protocols.Options{MaxValueSize: 100}, set, nil},
		{protocols.Options{MaxValueSize: 99}, set, errBulkLen},
		{protocols.Options{MaxRequestSize: 10}, "GET k\r\n", nil},
		{protocols.Options{MaxRequestSize: 6}, "GET k\r\n", protocols.ErrRequestTooLarge},
	}
	for i, tc := range cases {
		c := newCodec(t, tc.opts)
		var req protocols.Request
		n, err := c.ParseRequest([]byte(tc.in), &req)
		if err != tc.err || (err == nil && n != len(tc.in)) {
			t.Errorf("case %d: n=%d err=%v, want %v", i, n, err, tc.err)
		}
	}
	// The limit applies as soon as the bulk header is read, before the
	// value arrives.
	c := newCodec(t, protocols.Options{MaxRequestSize: 1 << 10})
	var req protocols.Request
	if _, err := c.ParseRequest([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000\r\n"), &req); err != errBulkLen {
		t.Errorf("oversized bulk header: %v", err)
	}
	if _, err := New(protocols.Options{MaxRequestSize: -1}); err == nil {
		t.Error("negative limit accepted")
	}
}

// TestParseRequestArgsAliasBuffer checks the zero-copy contract: every
// argument is a slice of the input, capped so that appending to it cannot
// overwrite what follows.
func TestParseRequestArgsAliasBuffer(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range validRequests {
		buf := []byte(tc.in)
		var req protocols.Request
		if _, err := c.ParseRequest(buf, &req); err != nil {
			t.Fatal(err)
		}
		for _, a := range req.Args {
			if len(a) == 0 {
				continue
			}
			if !within(buf, a) {
				t.Errorf("%q: arg %q is not a slice of the input", tc.in, a)
			}
			if cap(a) != len(a) {
				t.Errorf("%q: arg %q has spare capacity", tc.in, a)
			}
		}
	}
}

func within(buf, a []byte) bool {
	for i := range buf {
		if &buf[i] == &a[0] {
			return i+len(a) <= len(buf)
		}
	}
	return false
}

func TestParseRequestReusesRequest(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	var req protocols.Request
	// A failed parse must leave nothing behind for the next one.
	if n, _ := c.ParseRequest([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n"), &req); n != 0 {
		t.Fatal("partial request parsed")
	}
	if len(req.Args) != 0 {
		t.Fatalf("partial parse left args %q", req.Args)
	}
	req.Reset()
	if _, err := c.ParseRequest([]byte("GET a\r\n"), &req); err != nil {
		t.Fatal(err)
	}
	req.Reset()
	if _, err := c.ParseRequest([]byte(mb("GET", "b")), &req); err != nil {
		t.Fatal(err)
	}
	if req.Flags&reqInline != 0 || strs(req.Keys)[0] != "b" {
		t.Fatalf("stale state: flags %d keys %q", req.Flags, req.Keys)
	}
}
