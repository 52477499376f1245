package memcached

import (
	"slices"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

func newCodec(tb testing.TB, o protocols.Options) *Codec {
	tb.Helper()
	c, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// reqCase is a request and what the codec makes of it.
type reqCase struct {
	in   string
	kind protocols.Kind
	cmd  uint16
	keys []string
	// server is what AppendRequest sends for the whole request, when it
	// is not in itself.
	server string
	// reply is the answer to a Local request; close asks to close after.
	reply string
	close bool
}

var (
	key250 = strings.Repeat("k", 250)
	key251 = strings.Repeat("k", 251)
)

var validRequests = []reqCase{
	// Retrieval.
	{in: "get a\r\n", kind: protocols.Split, cmd: cmdGet, keys: []string{"a"}},
	{in: "get a b c\r\n", kind: protocols.Split, cmd: cmdGet, keys: []string{"a", "b", "c"}},
	{in: "gets a b\r\n", kind: protocols.Split, cmd: cmdGets, keys: []string{"a", "b"}},
	{in: "get a\n", kind: protocols.Split, cmd: cmdGet, keys: []string{"a"}},
	{in: "  get   a    b  \r\n", kind: protocols.Split, cmd: cmdGet, keys: []string{"a", "b"}},
	{in: "get a a b a\r\n", kind: protocols.Split, cmd: cmdGet, keys: []string{"a", "a", "b", "a"}},
	{in: "get " + key250 + "\r\n", kind: protocols.Split, cmd: cmdGet, keys: []string{key250}},
	{in: "get noreply\r\n", kind: protocols.Split, cmd: cmdGet, keys: []string{"noreply"}},
	{in: "get \xc3\xa9t\xc3\xa9 ~!@#$%^&*()_+{}|:\"<>?\r\n", kind: protocols.Split, cmd: cmdGet, keys: []string{"\xc3\xa9t\xc3\xa9", "~!@#$%^&*()_+{}|:\"<>?"}},
	{in: "gat 10 a b\r\n", kind: protocols.Split, cmd: cmdGat, keys: []string{"a", "b"}},
	{in: "gats -1 a\r\n", kind: protocols.Split, cmd: cmdGats, keys: []string{"a"}},
	{in: "gat +5 a\r\n", kind: protocols.Split, cmd: cmdGat, keys: []string{"a"}},
	// Storage.
	{in: "set k 0 0 5\r\nhello\r\n", kind: protocols.Forward, cmd: cmdSet, keys: []string{"k"}},
	{in: "set k 0 0 5 noreply\r\nhello\r\n", kind: protocols.Forward, cmd: cmdSet, keys: []string{"k"}, server: "set k 0 0 5\r\nhello\r\n"},
	{in: "set k 0 0 5   noreply  \r\nhello\r\n", kind: protocols.Forward, cmd: cmdSet, keys: []string{"k"}, server: "set k 0 0 5\r\nhello\r\n"},
	{in: "set k 0 0 1 noreply\nx\r\n", kind: protocols.Forward, cmd: cmdSet, keys: []string{"k"}, server: "set k 0 0 1\nx\r\n"},
	{in: "set k 0 0 0\r\n\r\n", kind: protocols.Forward, cmd: cmdSet, keys: []string{"k"}},
	{in: "set k 0 0 6\r\n\r\nx\r\n\n\r\n", kind: protocols.Forward, cmd: cmdSet, keys: []string{"k"}},
	{in: "set k 0 0 1 foo\r\nx\r\n", kind: protocols.Forward, cmd: cmdSet, keys: []string{"k"}},
	{in: "set k 0 0 1\nx\r\n", kind: protocols.Forward, cmd: cmdSet, keys: []string{"k"}},
	{in: "set k 4294967295 -1 +1\r\nx\r\n", kind: protocols.Forward, cmd: cmdSet, keys: []string{"k"}},
	{in: "set k 007 2147483648 01\r\nx\r\n", kind: protocols.Forward, cmd: cmdSet, keys: []string{"k"}},
	{in: "add k 1 2 1\r\nx\r\n", kind: protocols.Forward, cmd: cmdAdd, keys: []string{"k"}},
	{in: "replace k 1 2 1 noreply\r\nx\r\n", kind: protocols.Forward, cmd: cmdReplace, keys: []string{"k"}, server: "replace k 1 2 1\r\nx\r\n"},
	{in: "append k 0 0 2\r\nab\r\n", kind: protocols.Forward, cmd: cmdAppend, keys: []string{"k"}},
	{in: "prepend k 0 0 2 noreply\r\nab\r\n", kind: protocols.Forward, cmd: cmdPrepend, keys: []string{"k"}, server: "prepend k 0 0 2\r\nab\r\n"},
	{in: "cas k 0 0 1 18446744073709551615\r\nx\r\n", kind: protocols.Forward, cmd: cmdCas, keys: []string{"k"}},
	{in: "cas k 0 0 1 42 noreply\r\nx\r\n", kind: protocols.Forward, cmd: cmdCas, keys: []string{"k"}, server: "cas k 0 0 1 42\r\nx\r\n"},
	// One-line keyed commands.
	{in: "incr k 5\r\n", kind: protocols.Forward, cmd: cmdIncr, keys: []string{"k"}},
	{in: "decr k 18446744073709551615 noreply\r\n", kind: protocols.Forward, cmd: cmdDecr, keys: []string{"k"}, server: "decr k 18446744073709551615\r\n"},
	{in: "incr k 5 foo\r\n", kind: protocols.Forward, cmd: cmdIncr, keys: []string{"k"}},
	{in: "touch k 10\r\n", kind: protocols.Forward, cmd: cmdTouch, keys: []string{"k"}},
	{in: "touch k -1 noreply\r\n", kind: protocols.Forward, cmd: cmdTouch, keys: []string{"k"}, server: "touch k -1\r\n"},
	{in: "delete k\r\n", kind: protocols.Forward, cmd: cmdDelete, keys: []string{"k"}},
	{in: "delete k 0\r\n", kind: protocols.Forward, cmd: cmdDelete, keys: []string{"k"}},
	{in: "delete k noreply\r\n", kind: protocols.Forward, cmd: cmdDelete, keys: []string{"k"}, server: "delete k\r\n"},
	{in: "delete k 0 noreply\r\n", kind: protocols.Forward, cmd: cmdDelete, keys: []string{"k"}, server: "delete k 0\r\n"},
	// Meta.
	{in: "mg k\r\n", kind: protocols.Forward, cmd: cmdMg, keys: []string{"k"}},
	{in: "mg k v f t c O123 k\r\n", kind: protocols.Forward, cmd: cmdMg, keys: []string{"k"}},
	{in: "mg k q v k O123\r\n", kind: protocols.Forward, cmd: cmdMg, keys: []string{"k"}, server: "mg k v k O123\r\n"},
	{in: "mg k v qx\r\n", kind: protocols.Forward, cmd: cmdMg, keys: []string{"k"}, server: "mg k v\r\n"},
	{in: "mg k  q  \r\n", kind: protocols.Forward, cmd: cmdMg, keys: []string{"k"}, server: "mg k  \r\n"},
	{in: "mg k v v\r\n", kind: protocols.Forward, cmd: cmdMg, keys: []string{"k"}},
	{in: "mg Zm9v b v\r\n", kind: protocols.Forward, cmd: cmdMg, keys: []string{"Zm9v"}},
	{in: "ms k 2\r\nhi\r\n", kind: protocols.Forward, cmd: cmdMs, keys: []string{"k"}},
	{in: "ms k 2 q T10 F5\r\nhi\r\n", kind: protocols.Forward, cmd: cmdMs, keys: []string{"k"}, server: "ms k 2 T10 F5\r\nhi\r\n"},
	{in: "ms k 0 MA\r\n\r\n", kind: protocols.Forward, cmd: cmdMs, keys: []string{"k"}},
	{in: "ms k 1 !\r\nx\r\n", kind: protocols.Forward, cmd: cmdMs, keys: []string{"k"}},
	{in: "md k q\r\n", kind: protocols.Forward, cmd: cmdMd, keys: []string{"k"}, server: "md k\r\n"},
	{in: "md k I T30 O1\r\n", kind: protocols.Forward, cmd: cmdMd, keys: []string{"k"}},
	{in: "ma k q D5 v\r\n", kind: protocols.Forward, cmd: cmdMa, keys: []string{"k"}, server: "ma k D5 v\r\n"},
	{in: "ma k N0 J13 MD\r\n", kind: protocols.Forward, cmd: cmdMa, keys: []string{"k"}},
	// Forwarded, by the empty key, as nutcracker does.
	{in: "version\r\n", kind: protocols.Forward, cmd: cmdVersion, keys: []string{""}},
	// Answered by walnut.
	{in: "mn\r\n", kind: protocols.Local, reply: "MN\r\n"},
	{in: "mn foo\r\n", kind: protocols.Local, reply: "MN\r\n"},
	{in: "quit\r\n", kind: protocols.Local, close: true},
	{in: "gat 10\r\n", kind: protocols.Local, reply: "END\r\n"},
	{in: "stats\r\n", kind: protocols.Local, reply: "SERVER_ERROR unsupported command stats\r\n"},
	{in: "stats detail on\r\n", kind: protocols.Local, reply: "SERVER_ERROR unsupported command stats\r\n"},
	{in: "flush_all\r\n", kind: protocols.Local, reply: "SERVER_ERROR unsupported command flush_all\r\n"},
	{in: "flush_all 0 noreply\r\n", kind: protocols.Local},
	{in: "verbosity 1\r\n", kind: protocols.Local, reply: "SERVER_ERROR unsupported command verbosity\r\n"},
	{in: "cache_memlimit 100\r\n", kind: protocols.Local, reply: "SERVER_ERROR unsupported command cache_memlimit\r\n"},
	{in: "shutdown\r\n", kind: protocols.Local, reply: "SERVER_ERROR unsupported command shutdown\r\n"},
	{in: "lru_crawler crawl all\r\n", kind: protocols.Local, reply: "SERVER_ERROR unsupported command lru_crawler\r\n"},
	{in: "slabs reassign 1 2\r\n", kind: protocols.Local, reply: "SERVER_ERROR unsupported command slabs\r\n"},
	{in: "watch\r\n", kind: protocols.Local, reply: "SERVER_ERROR unsupported command watch\r\n"},
	{in: "me k\r\n", kind: protocols.Local, reply: "SERVER_ERROR unsupported command me\r\n"},
	{in: "misbehave\r\n", kind: protocols.Local, reply: "SERVER_ERROR unsupported command misbehave\r\n"},
	{in: "bogus a b\r\n", kind: protocols.Local, reply: "ERROR\r\n"},
	{in: "\r\n", kind: protocols.Local, reply: "ERROR\r\n"},
	{in: "   \r\n", kind: protocols.Local, reply: "ERROR\r\n"},
	{in: "g\r\n", kind: protocols.Local, reply: "ERROR\r\n"},
	{in: "GET a\r\n", kind: protocols.Local, reply: "ERROR\r\n"},
	{in: "get\ta\r\n", kind: protocols.Local, reply: "ERROR\r\n"},
	{in: "mx k\r\n", kind: protocols.Local, reply: "ERROR\r\n"},
}

func TestParseValid(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range validRequests {
		var req protocols.Request
		n, err := c.ParseRequest([]byte(tc.in), &req)
		if err != nil || n != len(tc.in) {
			t.Errorf("%q: n=%d err=%v, want %d", tc.in, n, err, len(tc.in))
			continue
		}
		checkParsed(t, c, tc, &req)
	}
}

// checkParsed checks what the codec keeps for itself; TestContract checks
// the kind, raw bytes, keys, reply and close, in a pipeline and into a
// reused Request too.
func checkParsed(t *testing.T, c *Codec, tc reqCase, req *protocols.Request) {
	t.Helper()
	if tc.kind == protocols.Local {
		return
	}
	if req.Cmd != tc.cmd {
		t.Errorf("%q: cmd %d, want %d", tc.in, req.Cmd, tc.cmd)
	}
	want := tc.server
	if want == "" {
		want = tc.in
	}
	if got := string(c.AppendRequest(nil, req, nil)); got != want {
		t.Errorf("%q: to the server %q, want %q", tc.in, got, want)
	}
	if flags := req.Flags & (reqNoreply | reqQuiet); (flags != 0) != (tc.server != "") {
		t.Errorf("%q: flags %b", tc.in, req.Flags)
	}
}

// badCase is a request walnut refuses: with a reply of its own (the
// connection stays open), or with an error (the core closes it).
type badCase struct {
	in    string
	reply string
	err   error
	opts  protocols.Options
}

var badRequests = []badCase{
	// Answered locally: the whole request is known, the stream intact.
	{in: "get " + key251 + "\r\n", reply: replyBadFormat},
	{in: "get a " + key251 + " b\r\n", reply: replyBadFormat},
	{in: "get a\x01b\r\n", reply: replyBadFormat, opts: protocols.Options{Own: &Options{StrictKeys: true}}},
	{in: "get a\x7f\r\n", reply: replyBadFormat, opts: protocols.Options{Own: &Options{StrictKeys: true}}},
	{in: "get a\tb\r\n", reply: replyBadFormat, opts: protocols.Options{Own: &Options{StrictKeys: true}}},
	{in: "get a\x00b\r\n", reply: replyBadFormat},
	{in: "get a\rb\r\n", reply: replyBadFormat},
	{in: "get a\x00b\r\n", reply: replyBadFormat, opts: protocols.Options{Own: &Options{StrictKeys: true}}},
	{in: "get a\rb\r\n", reply: replyBadFormat},
	{in: "get a\r\r\n", reply: replyBadFormat},
	{in: "get\r\n", reply: replyError},
	{in: "get   \r\n", reply: replyError},
	{in: "gats\r\n", reply: replyError},
	{in: "gat x a\r\n", reply: replyBadExptime},
	{in: "gat x\r\n", reply: replyBadExptime},
	{in: "gat 99999999999999999999 a\r\n", reply: replyBadExptime},
	{in: "gat 10 a\x01\r\n", reply: replyBadFormat, opts: protocols.Options{Own: &Options{StrictKeys: true}}},
	{in: "set " + key251 + " 0 0 1\r\nx\r\n", reply: replyBadFormat},
	{in: "set k\x02 0 0 1\r\nx\r\n", reply: replyBadFormat, opts: protocols.Options{Own: &Options{StrictKeys: true}}},
	{in: "set k x 0 1\r\nx\r\n", reply: replyBadFormat},
	{in: "set k -1 0 1\r\nx\r\n", reply: replyBadFormat},
	{in: "set k 4294967296 0 1\r\nx\r\n", reply: replyBadFormat},
	{in: "set k 0 x 1\r\nx\r\n", reply: replyBadFormat},
	{in: "set k 0 9223372036854775808 1\r\nx\r\n", reply: replyBadFormat},
	{in: "set k 0 1.5 1\r\nx\r\n", reply: replyBadFormat},
	{in: "cas k 0 0 1 x\r\nx\r\n", reply: replyBadFormat},
	{in: "cas k 0 0 1 -1\r\nx\r\n", reply: replyBadFormat},
	{in: "cas k 0 0 1 18446744073709551616\r\nx\r\n", reply: replyBadFormat},
	{in: "set k x 0 1 noreply\r\nx\r\n", reply: ""},
	{in: "cas k 0 0 1 noreply\r\nx\r\n", reply: ""},
	{in: "incr k noreply\r\n", reply: ""},
	{in: "touch k noreply\r\n", reply: ""},
	{in: "incr k x\r\n", reply: replyBadDelta},
	{in: "incr k -1\r\n", reply: replyBadDelta},
	{in: "decr k 18446744073709551616\r\n", reply: replyBadDelta},
	{in: "incr k\r\n", reply: replyError},
	{in: "incr k 1 2 3\r\n", reply: replyError},
	{in: "incr k\x01 1\r\n", reply: replyBadFormat, opts: protocols.Options{Own: &Options{StrictKeys: true}}},
	{in: "incr " + key251 + " x\r\n", reply: replyBadFormat},
	{in: "incr k x noreply\r\n", reply: ""},
	{in: "touch k x\r\n", reply: replyBadExptime},
	{in: "touch k\r\n", reply: replyError},
	{in: "touch k x noreply\r\n", reply: ""},
	{in: "delete\r\n", reply: replyError},
	{in: "delete a b c d\r\n", reply: replyError},
	{in: "delete k 5\r\n", reply: replyDeleteUsage},
	{in: "delete k x y\r\n", reply: replyDeleteUsage},
	{in: "delete k 5 noreply\r\n", reply: ""},
	{in: "delete " + key251 + "\r\n", reply: replyBadFormat},
	{in: "mg\r\n", reply: replyError},
	{in: "ms\r\n", reply: replyError},
	{in: "mg " + key251 + " v\r\n", reply: replyBadFormat},
	{in: "md k\x01 q\r\n", reply: replyBadFormat, opts: protocols.Options{Own: &Options{StrictKeys: true}}},
	{in: "mg k q q\r\n", reply: replyDupFlag},
	{in: "mg k q v qx\r\n", reply: replyDupFlag},
	{in: "md k q q\r\n", reply: replyDupFlagMdMa},
	{in: "ma k q q\r\n", reply: replyDupFlagMdMa},
	{in: "ms k 1 q q\r\nx\r\n", reply: replyDupFlag},
	{in: "ms " + key251 + " 1\r\nx\r\n", reply: replyBadFormat},
	// The stream cannot be followed: CLIENT_ERROR and close.
	{in: "set k 0 0\r\n", err: errBadFormat},
	{in: "set k 0 0 1 noreply x\r\n", err: errBadFormat},
	{in: "cas k 0 0 1\r\n", err: errBadFormat},
	{in: "set k 0 0 x\r\n", err: errBadFormat},
	{in: "set k 0 0 -1\r\n", err: errBadFormat},
	{in: "set k 0 0 99999999999999999999999\r\n", err: errBadFormat},
	{in: "set k 0 0 2\r\nxyz\r\n", err: errBadChunk},
	{in: "set k 0 0 1\r\nx\n", err: errBadChunk},
	{in: "set k 0 0 1\r\nx\rx", err: errBadChunk},
	{in: "set k x 0 1\r\nxy\r\n", err: errBadChunk},
	{in: "ms k\r\n", err: errBadFormat},
	{in: "ms k x\r\n", err: errBadFormat},
	{in: "ms k -1\r\n", err: errBadFormat},
	{in: "ms k 2\r\nhello\r\n", err: errBadChunk},
	{in: "set k 0 0 1001\r\n", err: errTooLarge, opts: protocols.Options{MaxValueSize: 1000}},
	{in: "ms k 1001 T0\r\n", err: errTooLarge, opts: protocols.Options{MaxValueSize: 1000}},
	{in: "set k 0 0 90\r\n", err: protocols.ErrRequestTooLarge, opts: protocols.Options{MaxRequestSize: 100}},
	{in: "set " + strings.Repeat("x", 9000), err: errLineTooLong},
	{in: "set " + strings.Repeat("x", 9000) + " 0 0 1\r\nx\r\n", err: errLineTooLong},
	{in: "mg k " + strings.Repeat("O1 ", 3000) + "\r\n", err: errLineTooLong},
	{in: strings.Repeat(" ", 200) + "get " + strings.Repeat("k ", 5000) + "\r\n", err: errLineTooLong},
	{in: "get " + strings.Repeat("k ", 1000) + "\r\n", err: protocols.ErrRequestTooLarge, opts: protocols.Options{MaxRequestSize: 1000}},
	{in: "version " + strings.Repeat("x", 1000) + "\r\n", err: protocols.ErrRequestTooLarge, opts: protocols.Options{MaxRequestSize: 1000}},
}

// TestParseBad pins the error of each request that closes its
// connection; TestContract checks the local replies, and that every
// prefix that shows the fault gets the same verdict.
func TestParseBad(t *testing.T) {
	for _, tc := range badRequests {
		if tc.err == nil {
			continue
		}
		c := newCodec(t, tc.opts)
		var req protocols.Request
		if n, err := c.ParseRequest([]byte(tc.in), &req); err != tc.err || n != 0 {
			t.Errorf("%.60q: n=%d err=%v, want %v", tc.in, n, err, tc.err)
		}
	}
}

// TestErrorReplies pins the exact text a client gets for each request
// that closes its connection.
func TestErrorReplies(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for err, want := range map[error]string{
		errBadFormat:                 "CLIENT_ERROR bad command line format\r\n",
		errBadChunk:                  "CLIENT_ERROR bad data chunk\r\n",
		errTooLarge:                  "CLIENT_ERROR object too large for cache\r\n",
		errLineTooLong:               "CLIENT_ERROR line too long\r\n",
		protocols.ErrRequestTooLarge: "CLIENT_ERROR request too large\r\n",
	} {
		if got := string(c.AppendError(nil, err)); got != want {
			t.Errorf("%v: %q, want %q", err, got, want)
		}
	}
}

// TestParseLongGet checks that a retrieval line may outgrow the command
// line bound, up to the request size, for thousands of keys.
func TestParseLongGet(t *testing.T) {
	c := newCodec(t, protocols.Options{MaxRequestSize: 1 << 20})
	var keys []string
	for i := range 5000 {
		keys = append(keys, "key:"+strings.Repeat("x", i%40))
	}
	for _, cmd := range []string{"get ", "gets ", "  gat 100 "} {
		in := cmd + strings.Join(keys, " ") + "\r\n"
		var req protocols.Request
		n, err := c.ParseRequest([]byte(in), &req)
		if err != nil || n != len(in) || req.Kind != protocols.Split || !slices.Equal(strs(req.Keys), keys) {
			t.Fatalf("%s: n=%d err=%v kind %d, %d keys", cmd, n, err, req.Kind, len(req.Keys))
		}
		// Half of it is still need more, not too long.
		if n, err := c.ParseRequest([]byte(in[:len(in)/2]), &req); n != 0 || err != nil {
			t.Fatalf("%s: half: n=%d err=%v", cmd, n, err)
		}
	}
}

// TestParseReusesRequest checks that parsing into a reused Request keeps
// the capacity of its slices and leaves nothing of the previous request.
func TestParseReusesRequest(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	var req protocols.Request
	seq := []string{"get a b c d e\r\n", "set k 0 0 1 noreply\r\nx\r\n", "bogus\r\n", "mg k q\r\n", "get x\r\n"}
	for _, in := range seq {
		req.Reset()
		if _, err := c.ParseRequest([]byte(in), &req); err != nil {
			t.Fatal(err)
		}
	}
	if cap(req.Keys) < 5 || req.Kind != protocols.Split || req.Flags != 0 || !slices.Equal(strs(req.Keys), []string{"x"}) {
		t.Fatalf("after reuse: %+v", req)
	}
	// A need-more parse leaves the request empty.
	req.Reset()
	if n, err := c.ParseRequest([]byte("set k 0 0 5 noreply\r\nhel"), &req); n != 0 || err != nil || len(req.Keys) != 0 || req.Flags != 0 {
		t.Fatalf("need more: n=%d err=%v %+v", n, err, req)
	}
}

func TestNewRejectsNegativeLimits(t *testing.T) {
	if _, err := New(protocols.Options{MaxValueSize: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
	f, err := protocols.Lookup("memcached")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.NewCodec(protocols.Options{MaxRequestSize: -1}); err == nil {
		t.Fatal("negative limit accepted through the registry")
	}
	if c, err := f.NewCodec(protocols.Options{}); err != nil || c == nil {
		t.Fatalf("registry: %v", err)
	}
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// By default keys hold what memcached accepts, control bytes included
// (memcaslap's keys start with 0x10 bytes); strict keys refuse them.
func TestLenientKeys(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, in := range []string{"get \x10\x10abc\r\n", "get a\x01b c\x7f\r\n", "get a\tb\r\n", "set \x10k 0 0 1\r\nx\r\n", "mg \x10k v\r\n", "incr k\x01 1\r\n"} {
		var req protocols.Request
		n, err := c.ParseRequest([]byte(in), &req)
		if err != nil || n != len(in) || req.Kind == protocols.Local {
			t.Errorf("%q: n=%d err=%v kind %d reply %q, want it routed", in, n, err, req.Kind, req.Reply)
		}
	}
}
