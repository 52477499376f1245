package kvline

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/codectest"
)

func newCodec(t testing.TB, o protocols.Options) *Codec {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mgetTrip is an MGET of n keys over nparts backends, key i on backend
// i%nparts, every third key a miss.
func mgetTrip(n, nparts int) codectest.Trip {
	tr := codectest.Trip{Name: fmt.Sprintf("mget %d keys over %d parts", n, nparts), Parts: make([][]int32, nparts)}
	keys := make([]string, n)
	resps := make([][]string, nparts)
	reply := []string{fmt.Sprintf("VALUES %d\r\n", n)}
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%04d", i)
		p := i % nparts
		tr.Parts[p] = append(tr.Parts[p], int32(i))
		line := "NONE\r\n"
		if i%3 != 2 {
			line = fmt.Sprintf("VALUE v%d\r\n", i)
		}
		resps[p] = append(resps[p], line)
		reply = append(reply, line)
	}
	for p := range resps {
		tr.Responses = append(tr.Responses, fmt.Sprintf("VALUES %d\r\n", len(resps[p]))+strings.Join(resps[p], ""))
	}
	tr.Request = "MGET " + strings.Join(keys, " ") + "\r\n"
	tr.Reply = strings.Join(reply, "")
	return tr
}

// trips are the requests walnut serves, each with what the backends
// answer and what the client gets. Parts are the keys each backend's
// part carries, for a split; nil is one part per response, the request
// whole.
var trips = []codectest.Trip{
	{Name: "get", Request: "GET a\r\n", Responses: []string{"VALUE 1\r\n"}, Reply: "VALUE 1\r\n"},
	{Name: "get lf only", Request: "get a\n", Responses: []string{"VALUE 1\r\n"}, Reply: "VALUE 1\r\n"},
	{Name: "get miss", Request: "GET a\r\n", Responses: []string{"NONE\r\n"}, Reply: "NONE\r\n"},
	{Name: "get empty value", Request: "GET a\r\n", Responses: []string{"VALUE \r\n"}, Reply: "VALUE \r\n"},
	{Name: "get refused", Request: "GET a\r\n", Responses: []string{"ERROR say HELLO first\r\n"}, Reply: "ERROR say HELLO first\r\n"},
	{Name: "set", Request: "SET a hello world\r\n", Responses: []string{"OK\r\n"}, Reply: "OK\r\n"},
	{Name: "del one part", Request: "DEL a b\r\n", Responses: []string{"COUNT 2\r\n"}, Reply: "COUNT 2\r\n"},
	{Name: "del split", Request: "DEL a b c\r\n", Parts: [][]int32{{0, 2}, {1}},
		Responses: []string{"COUNT 2\r\n", "COUNT 0\r\n"}, Reply: "COUNT 2\r\n"},
	{Name: "del split error", Request: "DEL a b\r\n", Parts: [][]int32{{0}, {1}},
		Responses: []string{"COUNT 1\r\n", "ERROR busy\r\n"}, Reply: "ERROR busy\r\n"},
	{Name: "mget one part", Request: "MGET a b\r\n", Responses: []string{"VALUES 2\r\nVALUE 1\r\nNONE\r\n"},
		Reply: "VALUES 2\r\nVALUE 1\r\nNONE\r\n"},
	{Name: "mget split", Request: "mget a b c d\r\n", Parts: [][]int32{{0, 3}, {1, 2}},
		Responses: []string{"VALUES 2\r\nVALUE 1\r\nNONE\r\n", "VALUES 2\r\nVALUE 2\r\nVALUE 3\r\n"},
		Reply:     "VALUES 4\r\nVALUE 1\r\nVALUE 2\r\nVALUE 3\r\nNONE\r\n"},
	{Name: "mget split error", Request: "MGET a b\r\n", Parts: [][]int32{{0}, {1}},
		Responses: []string{"VALUES 1\r\nNONE\r\n", "ERROR busy\r\n"}, Reply: "ERROR busy\r\n"},
	{Name: "mget duplicate key", Request: "MGET a a\r\n", Parts: [][]int32{{0, 1}},
		Responses: []string{"VALUES 2\r\nVALUE 1\r\nVALUE 1\r\n"}, Reply: "VALUES 2\r\nVALUE 1\r\nVALUE 1\r\n"},
	mgetTrip(10, 3),
	mgetTrip(100, 16),
	{Name: "size", Request: "SIZE\r\n", Responses: []string{"COUNT 3\r\n", "COUNT 4\r\n"}, Reply: "COUNT 7\r\n"},
	{Name: "ping", Request: "PING\r\n", Reply: "PONG walnut\r\n"},
	{Name: "quit", Request: "quit\r\n", Reply: "BYE\r\n"},
	{Name: "hello", Request: "HELLO me\r\n", Reply: string(replyBackendOnly)},
	{Name: "info", Request: "INFO\r\n", Reply: string(replyBackendOnly)},
	{Name: "empty line", Request: "\r\n", Reply: "ERROR empty line\r\n"},
	{Name: "unknown", Request: "FLUSH all\r\n", Reply: "ERROR unknown command FLUSH\r\n"},
	{Name: "unknown long", Request: strings.Repeat("X", 40) + "\r\n", Reply: "ERROR unknown command " + strings.Repeat("X", 32) + "\r\n"},
	{Name: "get no key", Request: "GET\r\n", Reply: "ERROR wrong number of arguments for GET\r\n"},
	{Name: "get two keys", Request: "GET a b\r\n", Reply: "ERROR wrong number of arguments for GET\r\n"},
	{Name: "set no value", Request: "SET a\r\n", Reply: "ERROR wrong number of arguments for SET\r\n"},
	{Name: "mget no key", Request: "MGET  \r\n", Reply: "ERROR wrong number of arguments for MGET\r\n"},
	{Name: "ping arg", Request: "PING x\r\n", Reply: "ERROR wrong number of arguments for PING\r\n"},
	{Name: "long key", Request: "GET " + strings.Repeat("k", 251) + "\r\n", Reply: "ERROR key longer than 250 bytes\r\n"},
	{Name: "control in key", Request: "DEL a b\tc\r\n", Reply: "ERROR control character in a key\r\n"},
}

// requests are what ParseRequest tells the core about each request, and
// what the codec keeps for itself: the command, and SET's value or
// HELLO's name in Args.
var requests = []struct {
	in    string
	kind  protocols.Kind
	cmd   Command
	keys  []string
	args  []string
	reply string
	close bool
}{
	{in: "GET a\r\n", kind: protocols.Forward, cmd: CmdGet, keys: []string{"a"}},
	{in: "  get   {user}:1  \r\n", kind: protocols.Forward, cmd: CmdGet, keys: []string{"{user}:1"}},
	{in: "GET " + strings.Repeat("k", 250) + "\n", kind: protocols.Forward, cmd: CmdGet, keys: []string{strings.Repeat("k", 250)}},
	{in: "SET a two  words \r\n", kind: protocols.Forward, cmd: CmdSet, keys: []string{"a"}, args: []string{"two  words "}},
	{in: "SET a \n", kind: protocols.Forward, cmd: CmdSet, keys: []string{"a"}, args: []string{""}},
	{in: "SET a b\rc\r\n", kind: protocols.Forward, cmd: CmdSet, keys: []string{"a"}, args: []string{"b\rc"}},
	{in: "DEL a b a\r\n", kind: protocols.Split, cmd: CmdDel, keys: []string{"a", "b", "a"}},
	{in: "MGET é\r\n", kind: protocols.Split, cmd: CmdMget, keys: []string{"é"}},
	{in: "SIZE\r\n", kind: protocols.Broadcast, cmd: CmdSize},
	{in: "size  \n", kind: protocols.Broadcast, cmd: CmdSize},
	{in: "PING\r\n", kind: protocols.Local, cmd: CmdPing, reply: "PONG walnut\r\n"},
	{in: "QUIT\r\n", kind: protocols.Local, cmd: CmdQuit, reply: "BYE\r\n", close: true},
	{in: "HELLO walnut\r\n", kind: protocols.Local, cmd: CmdHello, args: []string{"walnut"}, reply: string(replyBackendOnly)},
	{in: "GET a b\r\n", kind: protocols.Local, cmd: CmdNone, reply: "ERROR wrong number of arguments for GET\r\n"},
	{in: "DEL a \x01\r\n", kind: protocols.Local, cmd: CmdNone, reply: "ERROR control character in a key\r\n"},
	{in: "GET\x7f\r\n", kind: protocols.Local, cmd: CmdNone, reply: "ERROR unknown command GET?\r\n"},
}

// badRequests are requests after which the client's stream cannot be
// trusted: ParseRequest refuses them with a *protocols.ProtocolError and
// the core closes the connection. Here, lines holding a NUL byte (not a
// kvline client); those that reach a line limit are in limited.
var badRequests = []string{
	"GET a\x00b\r\n",
	"\x00\n",
	"SET a b\x00\r\n",
}

// responses are backends' replies that walnut frames, beside those of
// the trips: To is the request answered.
var responses = []codectest.Response{
	{Name: "bare ERROR", To: "GET a\r\n", In: "ERROR\r\n"},
	{Name: "ERROR to set", To: "SET a b\r\n", In: "ERROR out of memory\r\n"},
	{Name: "value with spaces", To: "GET a\r\n", In: "VALUE a b  c \r\n"},
	{Name: "value with a CR", To: "GET a\r\n", In: "VALUE a\rb\r\n"},
	{Name: "mget no value", To: "MGET a b\r\n", In: "VALUES 0\r\n"},
	{Name: "mget error", To: "MGET a b\r\n", In: "ERROR busy\r\n"},
	{Name: "count 18 digits", To: "SIZE\r\n", In: "COUNT 999999999999999999\r\n"},
	{Name: "followed by the next", To: "GET a\r\n", In: "NONE\r\nVALUE 1\r\n", Len: 6},
	{Name: "mget followed by the next", To: "MGET a\r\n", In: "VALUES 1\r\nNONE\r\nVALUES 1\r\n", Len: 16},
}

// badResponses are backends' replies out of step, which ParseResponse
// refuses: the core closes that connection. Those that reach a line
// limit are in limited.
var badResponses = []codectest.Response{
	{Name: "get answered OK", To: "GET a\r\n", In: "OK\r\n"},
	{Name: "set answered VALUE", To: "SET a b\r\n", In: "VALUE b\r\n"},
	{Name: "count not a number", To: "DEL a\r\n", In: "COUNT x\r\n"},
	{Name: "count empty", To: "SIZE\r\n", In: "COUNT \r\n"},
	{Name: "count too long", To: "SIZE\r\n", In: "COUNT 1234567890123456789\r\n"},
	{Name: "mget more values than keys", To: "MGET a b\r\n", In: "VALUES 3\r\nNONE\r\nNONE\r\nNONE\r\n"},
	{Name: "mget line not a value", To: "MGET a b\r\n", In: "VALUES 2\r\nNONE\r\nOK\r\n"},
	{Name: "mget no header", To: "MGET a\r\n", In: "VALUE 1\r\n"},
	{Name: "lf without cr", To: "GET a\r\n", In: "NONE\n"},
	{Name: "empty line", To: "GET a\r\n", In: "\r\n"},
	{Name: "ERROR glued to its text", To: "GET a\r\n", In: "ERRORS\r\n"},
	{Name: "reply to a local request", To: "PING\r\n", In: "PONG\r\n"},
}

// limits are a pool's limits small enough for a test to reach, and
// limited the messages that reach them, for a codec with those limits.
var (
	limits  = protocols.Options{MaxRequestSize: 64, MaxValueSize: 8}
	limited = codectest.Cases{
		Requests: []codectest.Request{
			{Name: "64-byte line", In: "GET " + strings.Repeat("k", 60) + "\r\n",
				Want: &codectest.Want{Kind: protocols.Forward, Keys: []string{strings.Repeat("k", 60)}}},
			{Name: "8-byte value", In: "SET a 12345678\r\n", Want: &codectest.Want{Kind: protocols.Forward, Keys: []string{"a"}}},
			{Name: "9-byte value", In: "SET a 123456789\r\n", Want: &codectest.Want{Kind: protocols.Local, Reply: "ERROR value too large\r\n"}},
		},
		Bad: []string{
			strings.Repeat("x", 66),                     // no LF within 64 bytes and a CRLF
			"GET " + strings.Repeat("k", 61) + "\n",     // a 65-byte line
			"SET a " + strings.Repeat("x", 59) + "\r\n", // a 65-byte line
		},
		Responses: []codectest.Response{
			{Name: "8-byte value", To: "GET a\r\n", In: "VALUE 12345678\r\n"},
			{Name: "mget 8-byte value", To: "MGET a b\r\n", In: "VALUES 2\r\nNONE\r\nVALUE 12345678\r\n"},
			{Name: "8-byte value ending in a CR", To: "GET a\r\n", In: "VALUE 1234567\r\r\n"},
			// A limit on values is none on the other lines.
			{Name: "error longer than a value", To: "GET a\r\n", In: "ERROR say HELLO first\r\n"},
			{Name: "mget error longer than a value", To: "MGET a b\r\n", In: "ERROR say HELLO first\r\n"},
			{Name: "count longer than a value", To: "SIZE\r\n", In: "COUNT 123456789012345678\r\n"},
			{Name: "256-byte error", To: "GET a\r\n", In: "ERROR " + strings.Repeat("e", 250) + "\r\n"},
		},
		BadResponses: []codectest.Response{
			{Name: "endless value", To: "GET a\r\n", In: "VALUE " + strings.Repeat("v", 10)},
			{Name: "endless line", To: "SIZE\r\n", In: "COUNT " + strings.Repeat("1", 252)},
			{Name: "257-byte error", To: "GET a\r\n", In: "ERROR " + strings.Repeat("e", 251) + "\r\n"},
			{Name: "9-byte value", To: "GET a\r\n", In: "VALUE 123456789\r\n"},
			{Name: "9-byte value ending in a CR", To: "GET a\r\n", In: "VALUE 12345678\r\r\n"},
			{Name: "9-byte value, LF without CR", To: "GET a\r\n", In: "VALUE 123456789\n"},
			{Name: "mget 9-byte value", To: "MGET a b\r\n", In: "VALUES 2\r\nNONE\r\nVALUE 123456789\r\n"},
		},
	}
)

// TestParse checks what ParseRequest tells the core about each request,
// and what kvline keeps for itself.
func TestParse(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range requests {
		var req protocols.Request
		n, err := c.ParseRequest([]byte(tc.in), &req)
		if err != nil || n != len(tc.in) {
			t.Errorf("%q: n=%d err=%v", tc.in, n, err)
			continue
		}
		if req.Kind != tc.kind || Command(req.Cmd) != tc.cmd || req.Close != tc.close || string(req.Reply) != tc.reply ||
			fmt.Sprintf("%q", req.Keys) != fmt.Sprintf("%q", tc.keys) || fmt.Sprintf("%q", req.Args) != fmt.Sprintf("%q", tc.args) {
			t.Errorf("%q: kind %d cmd %v keys %q args %q reply %q close %v; want kind %d cmd %v keys %q args %q reply %q close %v", tc.in,
				req.Kind, Command(req.Cmd), req.Keys, req.Args, req.Reply, req.Close, tc.kind, tc.cmd, tc.keys, tc.args, tc.reply, tc.close)
		}
	}
}

// TestAppendRequest checks what each backend is sent: the request as the
// client wrote it, or for a part of a split the command with the part's
// keys.
func TestAppendRequest(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range []struct {
		in    string
		parts [][]int32 // nil: the request whole
		want  []string  // one per part
	}{
		{in: "GET a\r\n", want: []string{"GET a\r\n"}},
		{in: "get a\n", want: []string{"get a\n"}},
		{in: "  get   {user}:1  \r\n", want: []string{"  get   {user}:1  \r\n"}},
		{in: "SET a two  words \r\n", want: []string{"SET a two  words \r\n"}},
		{in: "SIZE\r\n", want: []string{"SIZE\r\n"}},
		{in: "DEL a b c\r\n", parts: [][]int32{{0, 2}, {1}}, want: []string{"DEL a c\r\n", "DEL b\r\n"}},
		{in: "mget a b c d\n", parts: [][]int32{{0, 3}, {1, 2}}, want: []string{"MGET a d\r\n", "MGET b c\r\n"}},
		{in: "mget  a   b \n", parts: [][]int32{{0, 1}}, want: []string{"MGET a b\r\n"}},
	} {
		var req protocols.Request
		if n, err := c.ParseRequest([]byte(tc.in), &req); n != len(tc.in) || err != nil {
			t.Fatalf("%q: n=%d err=%v", tc.in, n, err)
		}
		for i, want := range tc.want {
			var keys []int32
			if tc.parts != nil {
				keys = tc.parts[i]
			}
			if got := string(c.AppendRequest(nil, &req, keys)); got != want {
				t.Errorf("%q, keys %v: sent %q, want %q", tc.in, keys, got, want)
			}
		}
	}
}

// The pool's limits bound a line and a value.
func TestLimits(t *testing.T) {
	c := newCodec(t, protocols.Options{MaxRequestSize: 64, MaxValueSize: 8})
	var req protocols.Request
	if _, err := c.ParseRequest([]byte(strings.Repeat("x", 66)), &req); err != errLineTooLong {
		t.Errorf("66 bytes without LF: %v, want line too long", err)
	}
	req.Reset()
	if n, err := c.ParseRequest([]byte(strings.Repeat("x", 65)), &req); n != 0 || err != nil {
		t.Errorf("65 bytes without LF: n=%d err=%v, want need more (a CR may follow)", n, err)
	}
	req.Reset()
	if n, err := c.ParseRequest([]byte("GET "+strings.Repeat("k", 60)+"\r\n"), &req); n != 66 || err != nil {
		t.Errorf("64-byte line: n=%d err=%v", n, err)
	}
	req.Reset()
	if _, err := c.ParseRequest([]byte("GET "+strings.Repeat("k", 61)+"\n"), &req); err != errLineTooLong {
		t.Errorf("65-byte line: %v, want line too long", err)
	}
	req.Reset()
	c.ParseRequest([]byte("SET a 123456789\r\n"), &req)
	if string(req.Reply) != "ERROR value too large\r\n" {
		t.Errorf("9-byte value: %q", req.Reply)
	}
	req.Reset()
	if c.ParseRequest([]byte("SET a 12345678\r\n"), &req); req.Kind != protocols.Forward {
		t.Errorf("8-byte value: %q", req.Reply)
	}
	req.Reset()
	c.ParseRequest([]byte("GET a\r\n"), &req)
	if _, err := c.ParseResponse([]byte("VALUE 123456789\r\n"), &req); err != errValueTooLarge {
		t.Errorf("9-byte value from a backend: %v, want value too large", err)
	}
	// A backend's other lines are not values: a small value limit does
	// not refuse them, nor the greeting's answer.
	if _, err := c.GreetingReply(0, []byte("ERROR wrong hello\r\n")); fmt.Sprint(err) != "backend refused HELLO walnut: wrong hello" {
		t.Errorf("greeting refused: %v", err)
	}
	pong := "PONG a-greeting-longer-than-a-value\r\n"
	if n, ok, err := c.HealthReply([]byte(pong)); n != len(pong) || !ok || err != nil {
		t.Errorf("PONG: %d %v %v", n, ok, err)
	}
	if _, err := New(protocols.Options{MaxRequestSize: -1}); err == nil {
		t.Error("a negative limit is accepted")
	}
}

// A codec made without limits (the backend's) bounds a line at 1 MiB,
// from clients and from backends alike. These inputs are too long for
// the kit, which parses every prefix of each.
func TestDefaultLimits(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range []struct{ name, in string }{
		{"no line end within the limit", strings.Repeat("x", defaultMaxLine+2)},
		{"line over the limit", "SET a " + strings.Repeat("x", defaultMaxLine) + "\r\n"},
	} {
		var req protocols.Request
		if n, err := c.ParseRequest([]byte(tc.in), &req); n != 0 || err != errLineTooLong {
			t.Errorf("%s: n=%d err=%v, want line too long", tc.name, n, err)
		}
	}
	var req protocols.Request
	c.ParseRequest([]byte("GET a\r\n"), &req)
	endless := "VALUE " + strings.Repeat("v", defaultMaxLine+2)
	if n, err := c.ParseResponse([]byte(endless), &req); n != 0 || err != errValueTooLarge {
		t.Errorf("endless value: n=%d err=%v, want value too large", n, err)
	}
	endless = "ERROR " + strings.Repeat("e", defaultMaxLine+2)
	if n, err := c.ParseResponse([]byte(endless), &req); n != 0 || err != errRespLineTooLong {
		t.Errorf("endless response line: n=%d err=%v, want line too long", n, err)
	}
	value := "VALUE " + strings.Repeat("v", defaultMaxLine) + "\r\n"
	if n, err := c.ParseResponse([]byte(value), &req); n != len(value) || err != nil {
		t.Errorf("1 MiB value: n=%d err=%v", n, err)
	}
}

func TestAppendError(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range []struct {
		err  error
		want string
	}{
		{protocols.ErrRequestTooLarge, "ERROR request too large\r\n"},
		{fmt.Errorf("wrapped: %w", errBinary), "ERROR " + errBinary.Msg + "\r\n"},
		{errors.New("Connection refused (pool kv, server 127.0.0.1:7001)"), "FAIL Connection refused (pool kv, server 127.0.0.1:7001)\r\n"},
		{errors.New("two\r\nlines"), "FAIL two  lines\r\n"},
	} {
		if got := string(c.AppendError(nil, tc.err)); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

// A part that failed fails the reply, whatever the others say.
func TestFailedPart(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	var req protocols.Request
	c.ParseRequest([]byte("MGET a b\r\n"), &req)
	parts := []protocols.Part{
		{Keys: []int32{0}, Resp: []byte("VALUES 1\r\nNONE\r\n")},
		{Keys: []int32{1}, Err: errors.New("Connection timed out (pool kv, server b: no reply within 1s)")},
	}
	if got := string(c.AppendReply(nil, &req, parts)); got != "FAIL Connection timed out (pool kv, server b: no reply within 1s)\r\n" {
		t.Errorf("got %q", got)
	}
	if got := string(c.AppendReply(nil, &req, nil)); got != replyNoParts {
		t.Errorf("no parts: %q", got)
	}
	// Parts that do not match the keys sent: never from the core, but
	// not a crash either.
	for _, bad := range [][]protocols.Part{
		{{Keys: []int32{0, 1}, Resp: []byte("VALUES 1\r\nNONE\r\n")}},
		{{Keys: []int32{0}, Resp: []byte("VALUES 1\r\nNONE\r\n")}, {Keys: []int32{0}, Resp: []byte("VALUES 1\r\nNONE\r\n")}},
		{{Keys: []int32{5}, Resp: []byte("VALUES 1\r\nNONE\r\n")}, {Keys: []int32{1}, Resp: []byte("VALUES 1\r\nNONE\r\n")}},
		{{Keys: []int32{0}, Resp: []byte("garbage")}, {Keys: []int32{1}, Resp: nil}},
	} {
		if got := string(c.AppendReply(nil, &req, bad)); got != replyMismatch {
			t.Errorf("%v: %q", bad, got)
		}
	}
}

func TestGreeter(t *testing.T) {
	c := newCodec(t, protocols.Options{Own: &Options{Greeting: "edge-1"}})
	if g, n := c.Greeting(); string(g) != "HELLO edge-1\r\n" || n != 1 {
		t.Fatalf("Greeting: %q %d", g, n)
	}
	var req protocols.Request
	c.ParseRequest([]byte("PING\r\n"), &req)
	if string(req.Reply) != "PONG edge-1\r\n" {
		t.Errorf("PING: %q", req.Reply)
	}
	for _, tc := range []struct {
		reply, err string
		n          int
	}{
		{reply: "OK\r\n", n: 4},
		{reply: "OK\r\nVALUE 1\r\n", n: 4},
		{reply: "OK\r", n: 0},
		{reply: "ERROR wrong hello\r\n", err: "backend refused HELLO edge-1: wrong hello"},
		{reply: "PONG\r\n", err: `backend answered HELLO edge-1 with "PONG"`},
		{reply: "OK\n", err: errBadResponse.Error()},
	} {
		n, err := c.GreetingReply(0, []byte(tc.reply))
		if got := fmt.Sprint(err); n != tc.n || (tc.err == "" && err != nil) || (tc.err != "" && got != tc.err) {
			t.Errorf("%q: n=%d err=%v; want n=%d err=%s", tc.reply, n, err, tc.n, tc.err)
		}
	}
}

func TestHealthChecker(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	if string(c.HealthProbe()) != "PING\r\n" {
		t.Fatalf("probe %q", c.HealthProbe())
	}
	for _, tc := range []struct {
		reply   string
		n       int
		healthy bool
		err     bool
	}{
		{"PONG\r\n", 6, true, false},
		{"PONG walnut\r\n", 13, true, false},
		{"PONG", 0, false, false},
		{"ERROR say HELLO first\r\n", 23, false, false},
		{"PONGO\r\n", 0, false, true},
	} {
		n, ok, err := c.HealthReply([]byte(tc.reply))
		if n != tc.n || ok != tc.healthy || (err != nil) != tc.err {
			t.Errorf("%q: %d %v %v", tc.reply, n, ok, err)
		}
	}
}

func TestClassifier(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	fams := c.Families()
	for in, want := range map[string]string{
		"GET a\r\n": "get", "MGET a b\r\n": "mget", "SIZE\r\n": "size", "PING\r\n": "ping",
		"HELLO x\r\n": "hello", "GET a b\r\n": "error", "BOGUS\r\n": "error",
	} {
		var req protocols.Request
		c.ParseRequest([]byte(in), &req)
		if got := fams[c.Family(&req)]; got != want {
			t.Errorf("%q: family %q, want %q", in, got, want)
		}
	}
	if got := c.Family(&protocols.Request{Cmd: 999}); fams[got] != "error" {
		t.Errorf("out of range: %q", fams[got])
	}
}

func TestReadThrough(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range []struct {
		req, miss, hit string
		through        protocols.Through
	}{
		{"GET a\r\n", "NONE\r\n", "VALUE 1\r\n", protocols.ThroughRead},
		{"MGET a\r\n", "VALUES 1\r\nNONE\r\n", "VALUES 1\r\nVALUE 1\r\n", protocols.ThroughRead},
		{"DEL a\r\n", "COUNT 0\r\n", "COUNT 1\r\n", protocols.ThroughDelete},
		{"SET a 1\r\n", "", "OK\r\n", protocols.ThroughNone},
	} {
		var req protocols.Request
		c.ParseRequest([]byte(tc.req), &req)
		if got := c.Through(&req); got != tc.through {
			t.Errorf("%q: Through %d, want %d", tc.req, got, tc.through)
		}
		if tc.miss != "" && !c.Missed(&req, []byte(tc.miss)) {
			t.Errorf("%q: %q is not a miss", tc.req, tc.miss)
		}
		if c.Missed(&req, []byte(tc.hit)) {
			t.Errorf("%q: %q is a miss", tc.req, tc.hit)
		}
	}
}

// table is a pool's table as the configuration reader hands it to
// DecodeOptions, reduced to what kvline reads.
type table struct {
	m    map[string]any
	errs []string
}

func (t *table) String(key, def string) string {
	v, ok := t.m[key]
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		t.Errorf(key, "want a string")
		return def
	}
	return s
}
func (t *table) Errorf(key, format string, args ...any) {
	t.errs = append(t.errs, key+": "+fmt.Sprintf(format, args...))
}
func (t *table) Bool(string, bool) bool                       { panic("unused") }
func (t *table) Int(string, int, int) int                     { panic("unused") }
func (t *table) Duration(string, time.Duration) time.Duration { panic("unused") }
func (t *table) Size(string, int) int                         { panic("unused") }
func (t *table) Strings(string) []string                      { panic("unused") }
func (t *table) Has(key string) bool                          { _, ok := t.m[key]; return ok }
func (t *table) Table(string) protocols.OptionTable           { return nil }
func (t *table) Keys() []string                               { panic("unused") }

type writer map[string]any

func (w writer) Set(key string, value any, _ string) { w[key] = value }

func TestOptions(t *testing.T) {
	d := driver{}
	for _, tc := range []struct {
		table map[string]any
		want  string
		err   string
	}{
		{table: map[string]any{}, want: DefaultGreeting},
		{table: map[string]any{"greeting": "edge-1.eu_west"}, want: "edge-1.eu_west"},
		{table: map[string]any{"greeting": "two words"}, err: `greeting: want only letters, digits, '.', '_' or '-' (it is sent as one word of a HELLO line), got "two words"`},
		{table: map[string]any{"greeting": ""}, err: `greeting: want 1 to 64 letters, digits, '.', '_' or '-', got ""`},
		{table: map[string]any{"greeting": strings.Repeat("g", 65)}, err: "greeting: want 1 to 64"},
		{table: map[string]any{"greeting": int64(5)}, err: "greeting: want a string"},
	} {
		tb := &table{m: tc.table}
		o := d.DecodeOptions(tb).(*Options)
		switch {
		case tc.err == "" && (len(tb.errs) > 0 || o.Greeting != tc.want):
			t.Errorf("%v: %q %v", tc.table, o.Greeting, tb.errs)
		case tc.err != "" && (len(tb.errs) != 1 || !strings.HasPrefix(tb.errs[0], tc.err)):
			t.Errorf("%v: errors %q, want %q", tc.table, tb.errs, tc.err)
		}
		if tc.err == "" {
			w := writer{}
			d.EncodeOptions(o, w)
			if w["greeting"] != tc.want || len(w) != 1 {
				t.Errorf("EncodeOptions wrote %v", w)
			}
		}
	}
	if _, err := d.NewCodec(protocols.Options{Own: &Options{Greeting: "a b"}}); err == nil {
		t.Error("a bad greeting made in code is accepted")
	}
	if c, err := d.NewCodec(protocols.Options{}); err != nil || string(c.(*Codec).hello) != "HELLO walnut\r\n" {
		t.Errorf("defaults: %v", err)
	}
	if lookup, err := protocols.Lookup(Name); err != nil || lookup != (driver{}) {
		t.Errorf("not registered as %s: %v", Name, err)
	}
}
