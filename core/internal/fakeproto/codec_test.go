package fakeproto

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/protocols"
)

func newCodec(t *testing.T) *Codec {
	t.Helper()
	c, err := driver{}.NewCodec(protocols.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Codec)
}

// The core's tests rely on how each command parses: its kind, keys and
// state, and which inputs are protocol errors.
func TestParseRequest(t *testing.T) {
	c := newCodec(t)
	cases := []struct {
		in     string
		n      int
		kind   protocols.Kind
		keys   string
		reply  string
		target int
		err    error
	}{
		{in: "GET k\n", n: 6, kind: protocols.Forward, keys: "k"},
		{in: "GET k\r\nGET j\n", n: 7, kind: protocols.Forward, keys: "k"},
		{in: "GET k", n: 0},
		{in: "SET k v\n", n: 8, kind: protocols.Forward, keys: "k"},
		{in: "ECHO 1:a x\n", n: 11, kind: protocols.Forward, keys: "1:a"},
		{in: "SLEEP k 10\n", n: 11, kind: protocols.Forward, keys: "k"},
		{in: "CRASH k\n", n: 8, kind: protocols.Forward, keys: "k"},
		{in: "MGET a b c\n", n: 11, kind: protocols.Split, keys: "a b c"},
		{in: "DEL a\n", n: 6, kind: protocols.Split, keys: "a"},
		{in: "COUNT\n", n: 6, kind: protocols.Broadcast},
		{in: "WHO 2\n", n: 6, kind: protocols.Targeted, target: 2},
		{in: "PING\n", n: 5, kind: protocols.Local, reply: ReplyPong},
		{in: "NOPE x\n", n: 7, kind: protocols.Local, reply: ReplyUnknown},
		{in: "USE 3\n", n: 6, kind: protocols.Local, reply: ReplyOK},
		{in: "\n", err: ErrEmpty},
		{in: "GET\n", err: ErrArity},
		{in: "GET a b\n", err: ErrArity},
		{in: "GET  a\n", err: ErrEmptyToken},
		{in: "GET \x00\n", err: ErrBadByte},
		{in: "SLEEP k x\n", err: ErrNotNumber},
		{in: "WHO -1\n", err: ErrNotNumber},
		{in: "MGET\n", err: ErrArity},
	}
	for _, tc := range cases {
		var req protocols.Request
		req.Session = c.NewSession()
		n, err := c.ParseRequest([]byte(tc.in), &req)
		if !errors.Is(err, tc.err) || n != tc.n {
			t.Errorf("%q: n %d err %v, want %d %v", tc.in, n, err, tc.n, tc.err)
			continue
		}
		if err != nil {
			if !protocols.IsProtocolError(err) {
				t.Errorf("%q: %v is not a protocol error", tc.in, err)
			}
			continue
		}
		if n == 0 {
			continue
		}
		var keys []string
		for _, k := range req.Keys {
			keys = append(keys, string(k))
		}
		if req.Kind != tc.kind || strings.Join(keys, " ") != tc.keys || string(req.Reply) != tc.reply || req.Target != tc.target {
			t.Errorf("%q: kind %d keys %q reply %q target %d", tc.in, req.Kind, keys, req.Reply, req.Target)
		}
	}
}

// USE sets the state the client's later requests need.
func TestUseSetsConnState(t *testing.T) {
	c := newCodec(t)
	s := c.NewSession()
	var req protocols.Request
	for _, in := range []string{"USE 7\n", "GET k\n"} {
		req.Reset()
		req.Session = s
		if _, err := c.ParseRequest([]byte(in), &req); err != nil {
			t.Fatal(err)
		}
	}
	if req.ConnState != 7 {
		t.Fatalf("ConnState %d after USE 7", req.ConnState)
	}
	if got := c.UnmarshalSession(c.MarshalSession(s)).(*session).state; got != 7 {
		t.Fatalf("session state %d after a round trip", got)
	}
}

func TestAppendReply(t *testing.T) {
	c := newCodec(t)
	fail := errors.New("down")
	cases := []struct {
		name  string
		in    string
		parts []protocols.Part
		want  string
	}{
		{"forward", "GET k\n", []protocols.Part{{Resp: []byte("VAL v\n")}}, "VAL v\n"},
		{"forward failed", "GET k\n", []protocols.Part{{Err: fail}}, "ERR down\n"},
		{"mget merged in key order", "MGET a b c d\n", []protocols.Part{
			{Keys: []int32{1, 3}, Resp: []byte("VALS +b -\n")},
			{Keys: []int32{0, 2}, Resp: []byte("VALS +a +c\n")},
		}, "VALS +a +b +c -\n"},
		{"mget part failed", "MGET a b c\n", []protocols.Part{
			{Keys: []int32{0, 2}, Resp: []byte("VALS +a +c\n")},
			{Keys: []int32{1}, Err: fail},
		}, "VALS +a ! +c\n"},
		{"mget whole", "MGET a b\n", []protocols.Part{{Resp: []byte("VALS +a -\n")}}, "VALS +a -\n"},
		{"mget mismatch", "MGET a b\n", []protocols.Part{
			{Keys: []int32{0}, Resp: []byte("VALS +a +x\n")},
			{Keys: []int32{1}, Resp: []byte("VALS +b\n")},
		}, ReplyMismatch},
		{"del summed", "DEL a b c\n", []protocols.Part{
			{Keys: []int32{0, 2}, Resp: []byte("INT 2\n")},
			{Keys: []int32{1}, Resp: []byte("INT 1\n")},
		}, "INT 3\n"},
		{"count summed", "COUNT\n", []protocols.Part{{Resp: []byte("INT 2\n")}, {Resp: []byte("INT 5\n")}}, "INT 7\n"},
		{"count failed", "COUNT\n", []protocols.Part{{Resp: []byte("INT 2\n")}, {Err: fail}}, "ERR down\n"},
		{"who", "WHO 1\n", []protocols.Part{{Server: 1, Resp: []byte("ID s1\n")}}, "AT 1 s1\n"},
		{"who past the end", "WHO 9\n", nil, ReplyDone},
	}
	for _, tc := range cases {
		var req protocols.Request
		if _, err := c.ParseRequest([]byte(tc.in), &req); err != nil {
			t.Fatal(err)
		}
		if got := string(c.AppendReply(nil, &req, tc.parts)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParseResponseRefusesAnotherCommandsReply(t *testing.T) {
	c := newCodec(t)
	var req protocols.Request
	if _, err := c.ParseRequest([]byte("GET k\n"), &req); err != nil {
		t.Fatal(err)
	}
	for resp, ok := range map[string]bool{"VAL x\n": true, "NIL\n": true, "ERR no\n": true, "INT 3\n": false, "%%\n": false} {
		n, err := c.ParseResponse([]byte(resp), &req)
		if ok != (err == nil) || ok && n != len(resp) {
			t.Errorf("%q: %d, %v", resp, n, err)
		}
	}
	if n, err := c.ParseResponse([]byte("VAL x"), &req); n != 0 || err != nil {
		t.Errorf("partial response: %d, %v", n, err)
	}
}

// The server answers in order, holds answers back while it keeps
// reading, and stops and starts on the same address.
func TestServer(t *testing.T) {
	s, err := NewServer("s0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(nc)
	s.Hold()
	nc.Write([]byte("SET a 1\nSWITCH 2\nGET a\nSWITCH 0\nMGET a b\nWHO\nSLEEP x 1\n"))
	for deadline := time.Now().Add(5 * time.Second); s.Received() < 5; {
		if time.Now().After(deadline) {
			t.Fatalf("read %d requests while holding", s.Received())
		}
		time.Sleep(time.Millisecond)
	}
	s.Release()
	for _, want := range []string{"OK", "OK", "NIL", "OK", "VALS +1 -", "ID s0", "OK"} {
		got, err := r.ReadString('\n')
		if err != nil || got != want+"\n" {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	s.Stop()
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Fatal("a stopped server accepts connections")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	nc2, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	nc2.SetDeadline(time.Now().Add(5 * time.Second))
	nc2.Write([]byte("GET a\n"))
	if got, err := bufio.NewReader(nc2).ReadString('\n'); got != "VAL 1\n" {
		t.Fatalf("after restart: %q, %v", got, err)
	}
}

// Which connection each request asks for, as PIN and UNPIN change it.
func TestConnKinds(t *testing.T) {
	c := newCodec(t)
	s := c.NewSession()
	for i, tc := range []struct {
		in      string
		kind    protocols.Kind
		conn    protocols.ConnKind
		release bool
	}{
		{"BLOCK k 50\n", protocols.Forward, protocols.Once, false},
		{"UNPIN\n", protocols.Local, protocols.Shared, false}, // not pinned: the codec's error
		{"PIN\n", protocols.Local, protocols.Pinned, false},
		{"UNPIN\n", protocols.Local, protocols.Pinned, true}, // nothing leased: ends here
		{"PIN\n", protocols.Local, protocols.Pinned, false},
		{"SET k v\n", protocols.Forward, protocols.Pinned, false},
		{"COUNT\n", protocols.Broadcast, protocols.Shared, false},
		{"UNPIN\n", protocols.Forward, protocols.Pinned, true},
		{"GET k\n", protocols.Forward, protocols.Shared, false},
		{"SUB a b\n", protocols.Split, protocols.Subscribed, false},
		{"UNSUB\n", protocols.Forward, protocols.Subscribed, true},
	} {
		var req protocols.Request
		req.Session = s
		if _, err := c.ParseRequest([]byte(tc.in), &req); err != nil {
			t.Fatal(err)
		}
		if req.Kind != tc.kind || req.Conn != tc.conn || req.Release != tc.release {
			t.Errorf("%d %q: kind %d conn %d release %v", i, tc.in, req.Kind, req.Conn, req.Release)
		}
	}
}
