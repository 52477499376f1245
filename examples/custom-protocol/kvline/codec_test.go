package kvline

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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

// mgetTrip is an MGET of n keys over nparts backends, key i on backend
// i%nparts, every third key a miss.
func mgetTrip(n, nparts int) trip {
	tr := trip{name: fmt.Sprintf("mget %d keys over %d parts", n, nparts), parts: make([][]int32, nparts)}
	keys := make([]string, n)
	resps := make([][]string, nparts)
	reply := []string{fmt.Sprintf("VALUES %d\r\n", n)}
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%04d", i)
		p := i % nparts
		tr.parts[p] = append(tr.parts[p], int32(i))
		line := "NONE\r\n"
		if i%3 != 2 {
			line = fmt.Sprintf("VALUE v%d\r\n", i)
		}
		resps[p] = append(resps[p], line)
		reply = append(reply, line)
	}
	for p := range resps {
		tr.responses = append(tr.responses, fmt.Sprintf("VALUES %d\r\n", len(resps[p]))+strings.Join(resps[p], ""))
	}
	tr.request = "MGET " + strings.Join(keys, " ") + "\r\n"
	tr.reply = strings.Join(reply, "")
	return tr
}

// trips are the requests walnut serves, each with what the backends
// answer and what the client gets.
var trips = []trip{
	{name: "get", request: "GET a\r\n", responses: []string{"VALUE 1\r\n"}, sent: []string{"GET a\r\n"}, reply: "VALUE 1\r\n"},
	{name: "get lf only", request: "get a\n", responses: []string{"VALUE 1\r\n"}, sent: []string{"get a\n"}, reply: "VALUE 1\r\n"},
	{name: "get miss", request: "GET a\r\n", responses: []string{"NONE\r\n"}, reply: "NONE\r\n"},
	{name: "get empty value", request: "GET a\r\n", responses: []string{"VALUE \r\n"}, reply: "VALUE \r\n"},
	{name: "get refused", request: "GET a\r\n", responses: []string{"ERROR say HELLO first\r\n"}, reply: "ERROR say HELLO first\r\n"},
	{name: "set", request: "SET a hello world\r\n", responses: []string{"OK\r\n"}, reply: "OK\r\n"},
	{name: "del one part", request: "DEL a b\r\n", responses: []string{"COUNT 2\r\n"}, reply: "COUNT 2\r\n"},
	{name: "del split", request: "DEL a b c\r\n", parts: [][]int32{{0, 2}, {1}},
		responses: []string{"COUNT 2\r\n", "COUNT 0\r\n"}, sent: []string{"DEL a c\r\n", "DEL b\r\n"}, reply: "COUNT 2\r\n"},
	{name: "del split error", request: "DEL a b\r\n", parts: [][]int32{{0}, {1}},
		responses: []string{"COUNT 1\r\n", "ERROR busy\r\n"}, reply: "ERROR busy\r\n"},
	{name: "mget one part", request: "MGET a b\r\n", responses: []string{"VALUES 2\r\nVALUE 1\r\nNONE\r\n"},
		reply: "VALUES 2\r\nVALUE 1\r\nNONE\r\n"},
	{name: "mget split", request: "mget a b c d\r\n", parts: [][]int32{{0, 3}, {1, 2}},
		responses: []string{"VALUES 2\r\nVALUE 1\r\nNONE\r\n", "VALUES 2\r\nVALUE 2\r\nVALUE 3\r\n"},
		sent:      []string{"MGET a d\r\n", "MGET b c\r\n"},
		reply:     "VALUES 4\r\nVALUE 1\r\nVALUE 2\r\nVALUE 3\r\nNONE\r\n"},
	{name: "mget split error", request: "MGET a b\r\n", parts: [][]int32{{0}, {1}},
		responses: []string{"VALUES 1\r\nNONE\r\n", "ERROR busy\r\n"}, reply: "ERROR busy\r\n"},
	{name: "mget duplicate key", request: "MGET a a\r\n", parts: [][]int32{{0, 1}},
		responses: []string{"VALUES 2\r\nVALUE 1\r\nVALUE 1\r\n"}, reply: "VALUES 2\r\nVALUE 1\r\nVALUE 1\r\n"},
	mgetTrip(10, 3),
	mgetTrip(100, 16),
	{name: "size", request: "SIZE\r\n", parts: [][]int32{nil, nil}, responses: []string{"COUNT 3\r\n", "COUNT 4\r\n"},
		sent: []string{"SIZE\r\n", "SIZE\r\n"}, reply: "COUNT 7\r\n"},
	{name: "ping", request: "PING\r\n", reply: "PONG walnut\r\n"},
	{name: "quit", request: "quit\r\n", reply: "BYE\r\n"},
	{name: "hello", request: "HELLO me\r\n", reply: string(replyBackendOnly)},
	{name: "info", request: "INFO\r\n", reply: string(replyBackendOnly)},
	{name: "empty line", request: "\r\n", reply: "ERROR empty line\r\n"},
	{name: "unknown", request: "FLUSH all\r\n", reply: "ERROR unknown command FLUSH\r\n"},
	{name: "unknown long", request: strings.Repeat("X", 40) + "\r\n", reply: "ERROR unknown command " + strings.Repeat("X", 32) + "\r\n"},
	{name: "get no key", request: "GET\r\n", reply: "ERROR wrong number of arguments for GET\r\n"},
	{name: "get two keys", request: "GET a b\r\n", reply: "ERROR wrong number of arguments for GET\r\n"},
	{name: "set no value", request: "SET a\r\n", reply: "ERROR wrong number of arguments for SET\r\n"},
	{name: "mget no key", request: "MGET  \r\n", reply: "ERROR wrong number of arguments for MGET\r\n"},
	{name: "ping arg", request: "PING x\r\n", reply: "ERROR wrong number of arguments for PING\r\n"},
	{name: "long key", request: "GET " + strings.Repeat("k", 251) + "\r\n", reply: "ERROR key longer than 250 bytes\r\n"},
	{name: "control in key", request: "DEL a b\tc\r\n", reply: "ERROR control character in a key\r\n"},
}

var badRequests = []badRequest{
	{"no line end within the limit", strings.Repeat("x", 1<<20+2)},
	{"line over the limit", "SET a " + strings.Repeat("x", 1<<20) + "\r\n"},
	{"NUL byte", "GET a\x00b\r\n"},
}

var badResponses = []badResponse{
	{"get answered OK", "GET a\r\n", "OK\r\n"},
	{"set answered VALUE", "SET a b\r\n", "VALUE b\r\n"},
	{"count not a number", "DEL a\r\n", "COUNT x\r\n"},
	{"count empty", "SIZE\r\n", "COUNT \r\n"},
	{"count too long", "SIZE\r\n", "COUNT 1234567890123456789\r\n"},
	{"mget more values than keys", "MGET a b\r\n", "VALUES 3\r\nNONE\r\nNONE\r\nNONE\r\n"},
	{"mget line not a value", "MGET a b\r\n", "VALUES 2\r\nNONE\r\nOK\r\n"},
	{"mget no header", "MGET a\r\n", "VALUE 1\r\n"},
	{"lf without cr", "GET a\r\n", "NONE\n"},
	{"empty line", "GET a\r\n", "\r\n"},
	{"reply to a local request", "PING\r\n", "PONG\r\n"},
	{"endless line", "GET a\r\n", "VALUE " + strings.Repeat("v", 1<<20+2)},
}

// TestContract runs the checks every codec must pass (kit_test.go).
func TestContract(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	t.Run("Trips", func(t *testing.T) { checkTrips(t, c, trips) })
	t.Run("Partial", func(t *testing.T) { checkPartial(t, c, trips) })
	t.Run("PrefixStable", func(t *testing.T) { checkPrefixStable(t, c, trips) })
	t.Run("AppendOnly", func(t *testing.T) { checkAppendOnly(t, c, trips) })
	t.Run("ProtocolErrors", func(t *testing.T) { checkProtocolErrors(t, c, badRequests) })
	t.Run("BadResponses", func(t *testing.T) { checkBadResponses(t, c, badResponses) })
	t.Run("ZeroAllocs", func(t *testing.T) { checkZeroAllocs(t, c, trips) })
	t.Run("Concurrent", func(t *testing.T) { checkConcurrent(t, c, trips) })
}

// TestParse checks what ParseRequest tells the core about each request.
func TestParse(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	cases := []struct {
		in    string
		kind  protocols.Kind
		cmd   Command
		keys  []string
		args  []string
		close bool
	}{
		{in: "GET a\r\n", kind: protocols.Forward, cmd: CmdGet, keys: []string{"a"}},
		{in: "  get   {user}:1  \r\n", kind: protocols.Forward, cmd: CmdGet, keys: []string{"{user}:1"}},
		{in: "SET a two  words \r\n", kind: protocols.Forward, cmd: CmdSet, keys: []string{"a"}, args: []string{"two  words "}},
		{in: "SET a \n", kind: protocols.Forward, cmd: CmdSet, keys: []string{"a"}, args: []string{""}},
		{in: "DEL a b a\r\n", kind: protocols.Split, cmd: CmdDel, keys: []string{"a", "b", "a"}},
		{in: "MGET é\r\n", kind: protocols.Split, cmd: CmdMget, keys: []string{"é"}},
		{in: "SIZE\r\n", kind: protocols.Broadcast, cmd: CmdSize},
		{in: "PING\r\n", kind: protocols.Local, cmd: CmdPing},
		{in: "QUIT\r\n", kind: protocols.Local, cmd: CmdQuit, close: true},
		{in: "HELLO walnut\r\n", kind: protocols.Local, cmd: CmdHello, args: []string{"walnut"}},
		{in: "GET a b\r\n", kind: protocols.Local, cmd: CmdNone},
		{in: "DEL a \x01\r\n", kind: protocols.Local, cmd: CmdNone},
	}
	for _, tc := range cases {
		var req protocols.Request
		n, err := c.ParseRequest([]byte(tc.in), &req)
		if err != nil || n != len(tc.in) {
			t.Errorf("%q: n=%d err=%v", tc.in, n, err)
			continue
		}
		if req.Kind != tc.kind || Command(req.Cmd) != tc.cmd || req.Close != tc.close ||
			fmt.Sprintf("%q", req.Keys) != fmt.Sprintf("%q", tc.keys) || fmt.Sprintf("%q", req.Args) != fmt.Sprintf("%q", tc.args) {
			t.Errorf("%q: kind %d cmd %v keys %q args %q close %v; want kind %d cmd %v keys %q args %q close %v", tc.in,
				req.Kind, Command(req.Cmd), req.Keys, req.Args, req.Close, tc.kind, tc.cmd, tc.keys, tc.args, tc.close)
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
	if _, err := New(protocols.Options{MaxRequestSize: -1}); err == nil {
		t.Error("a negative limit is accepted")
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
