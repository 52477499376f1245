package redis

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// hello3Reply is Redis 7.0.15's reply to HELLO 3, as redis-server sends
// it (captured with a raw socket), for client id.
func hello3Reply(id uint64) string {
	return "%7\r\n" + bulk("server") + bulk("redis") + bulk("version") + bulk(redisVersion) + bulk("proto") + ":3\r\n" +
		bulk("id") + ":" + strconv.FormatUint(id, 10) + "\r\n" + bulk("mode") + bulk("standalone") + bulk("role") +
		bulk("master") + bulk("modules") + "*0\r\n"
}

func verbatim(s string) string { return "=" + strconv.Itoa(len(s)+4) + "\r\ntxt:" + s + "\r\n" }

// HELLO 3 switches the client to RESP3 until HELLO 2 or RESET, and its
// requests then need their connection in RESP3: the odd states.
func TestHello3(t *testing.T) {
	c := newCodec(t, protocols.Options{Own: &Options{DB: 2, Databases: 16}})
	s := c.NewSession()
	id := s.(*session).id
	ids := strconv.FormatUint(id, 10)
	runSteps(t, c, s, []step{
		{in: "GET k", kind: fwd, class: 0},
		{in: "HELLO 3", reply: hello3Reply(id)},
		{in: "GET k", kind: fwd, class: 1},
		{in: "HELLO", reply: hello3Reply(id)},
		{in: "CLIENT GETNAME", reply: "_\r\n"},
		{in: "HELLO 3 SETNAME app", reply: hello3Reply(id)},
		{in: "CLIENT GETNAME", reply: bulk("app")},
		{in: "CLIENT INFO", reply: verbatim("id=" + ids + " name=app db=2 user=default resp=3\n")},
		{in: "SELECT 5", reply: "+OK\r\n"},
		{in: "MGET a b", kind: split, class: 13},
		{in: "KEYS *", kind: bcast, class: 13},
		{in: "HELLO 2", reply: helloReply(id)},
		{in: "GET k", kind: fwd, class: 12},
		{in: "CLIENT GETNAME", reply: bulk("app")},
		{in: "HELLO 3", reply: hello3Reply(id)},
		{in: "HELLO 4", reply: replyNoProto},
		{in: "HELLO 1", reply: replyNoProto},
		{in: "HELLO 3 FOO", reply: "-ERR Syntax error in HELLO option 'FOO'\r\n"},
		{in: "GET k", kind: fwd, class: 13},
		{in: "RESET", reply: "+RESET\r\n"},
		{in: "GET k", kind: fwd, class: 0},
		{in: "CLIENT GETNAME", reply: "$-1\r\n"},
	})
}

// HELLO 3 with AUTH authenticates, as HELLO 2 does; without it, a client
// that has not authenticated is refused and stays in RESP2.
func TestHello3Auth(t *testing.T) {
	c := newCodec(t, protocols.Options{Own: &Options{Password: "pw", Databases: 16}})
	s := c.NewSession()
	id := s.(*session).id
	runSteps(t, c, s, []step{
		{in: "HELLO 3", reply: replyHelloNoAuth},
		{in: "HELLO 3 AUTH default nope", reply: replyWrongPass},
		{in: "GET k", reply: replyNoAuth},
		{in: "HELLO 3 AUTH default pw SETNAME x", reply: hello3Reply(id)},
		{in: "GET k", kind: fwd, class: 1},
		{in: "RESET", reply: "+RESET\r\n"},
		{in: "GET k", reply: replyNoAuth},
		{in: "HELLO 2 AUTH default pw", reply: helloReply(id)},
		{in: "GET k", kind: fwd, class: 0},
	})
}

// Switches between states send HELLO only when the protocol changes and
// SELECT only when the database does.
func TestSwitchStateProtocol(t *testing.T) {
	c := newCodec(t, protocols.Options{Own: &Options{DB: 2, Databases: 16}})
	hello2, hello3 := mb("HELLO", "2"), mb("HELLO", "3")
	sel := func(db int) string { return mb("SELECT", strconv.Itoa(db)) }
	for _, tc := range []struct {
		from, to int
		want     string
		n        int
	}{
		{0, 1, hello3, 1},
		{1, 0, hello2, 1},
		{0, 8, sel(3), 1},
		{0, 9, hello3 + sel(3), 2},
		{9, 8, hello2, 1},
		{9, 1, sel(2), 1},
		{8, 1, hello3 + sel(2), 2},
		{13, 9, sel(3), 1},
	} {
		got, n := c.SwitchState([]byte("x"), tc.from, tc.to)
		if string(got) != "x"+tc.want || n != tc.n {
			t.Errorf("%d to %d: %q (%d replies), want %q (%d)", tc.from, tc.to, got, n, tc.want, tc.n)
		}
	}
	for _, tc := range []struct {
		from, to, i int
		resp, err   string
	}{
		{0, 1, 0, hello3Reply(7), ""},
		{1, 0, 0, helloReply(7), ""},
		{0, 9, 0, hello3Reply(7), ""},
		{0, 9, 1, "+OK\r\n", ""},
		{0, 9, 1, "-ERR DB index is out of range\r\n", "SELECT 3 refused by the server: ERR DB index is out of range"},
		{0, 1, 0, "-ERR unknown command 'HELLO'\r\n", "HELLO 3 refused by the server: ERR unknown command 'HELLO'"},
		{1, 0, 0, "+OK\r\n", "HELLO 2 refused by the server: OK"},
		{9, 8, 0, "-NOPROTO x\r\n", "HELLO 2 refused by the server: NOPROTO x"},
	} {
		err := c.SwitchReply(tc.from, tc.to, tc.i, []byte(tc.resp))
		if (err == nil && tc.err != "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("%d to %d, reply %d %q: %v, want %q", tc.from, tc.to, tc.i, tc.resp, err, tc.err)
		}
	}
}

// A RESP3 client's requests, and their switches, cost no allocation.
func TestResp3ZeroAllocations(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	s := c.NewSession()
	runSteps(t, c, s, []step{{in: "HELLO 3", reply: hello3Reply(s.(*session).id)}, {in: "SELECT 3", reply: "+OK\r\n"}})
	in := []byte(mb("GET", "k"))
	var req protocols.Request
	out := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(200, func() {
		req.Reset()
		req.Session = s
		if n, err := c.ParseRequest(in, &req); err != nil || n != len(in) || req.ConnState != 9 {
			t.Fatalf("n=%d err=%v state %d", n, err, req.ConnState)
		}
		out, _ = c.SwitchState(out[:0], 0, req.ConnState)
		out, _ = c.SwitchState(out[:0], req.ConnState, 0)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request", allocs)
	}
}

// The protocol version survives a binary upgrade; sessions marshalled in
// the format before it still read, as RESP2.
func TestSessionProtocolSurvivesUpgrade(t *testing.T) {
	c := newCodec(t, protocols.Options{Own: &Options{DB: 1, Databases: 16}})
	s := c.NewSession().(*session)
	s.authed, s.db, s.name, s.resp3 = true, 9, []byte("w"), true
	b := c.MarshalSession(s)
	got := c.UnmarshalSession(b).(*session)
	if !got.resp3 || !got.authed || got.db != 9 || string(got.name) != "w" || got.id != s.id {
		t.Fatalf("unmarshalled %+v from %+v", got, s)
	}
	s.resp3 = false
	if got := c.UnmarshalSession(c.MarshalSession(s)).(*session); got.resp3 || got.db != 9 {
		t.Errorf("RESP2: %+v", got)
	}
	// What the walnut before RESP3 wrote: version 2, authenticated,
	// database 9, id 5, name "w".
	v2 := []byte{2, 1, 9, 5, 1, 'w'}
	if got := c.UnmarshalSession(v2).(*session); got.resp3 || !got.authed || got.db != 9 || got.id != 5 || string(got.name) != "w" {
		t.Errorf("version 2: %+v", got)
	}
	for _, bad := range [][]byte{{3, 1}, {3, 1, 4, 9, 5, 0}, {3, 1, 3}, {3, 2, 3, 0, 0, 0}} {
		if got := c.UnmarshalSession(bad).(*session); got.authed || got.resp3 || got.db != 1 {
			t.Errorf("%q: %+v", bad, got)
		}
	}
}

// COMMAND's replies in RESP3 have sets and maps where RESP2's have
// arrays, as Redis 7.0.15 sends them (the bytes below are a
// redis-server's, captured with a raw socket, for GET, which has no
// tips or key spec notes walnut would leave out).
func TestCommandResp3(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	s := c.NewSession()
	runSteps(t, c, s, []step{{in: "HELLO 3", reply: hello3Reply(s.(*session).id)}})
	getInfo := "*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n" +
		"%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n" +
		"$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n"
	runSteps(t, c, s, []step{
		{in: "COMMAND INFO get nosuch", reply: "*2\r\n" + getInfo + "_\r\n"},
		{in: "COMMAND DOCS nosuch", reply: "%0\r\n"},
		{in: "COMMAND COUNT", reply: string(meta().countTop)},
	})
	docs := parsed3(t, c, s, "COMMAND DOCS get client")
	if !strings.HasPrefix(docs, "%2\r\n$3\r\nget\r\n%2\r\n$7\r\nsummary\r\n") || !strings.Contains(docs, bulk("subcommands")+"%") {
		t.Errorf("COMMAND DOCS: %q", docs)
	}
	// Every form is one RESP3 value, and the RESP2 ones are unchanged.
	for _, in := range []string{"COMMAND", "COMMAND DOCS", "COMMAND INFO client eval sort", "COMMAND LIST"} {
		r := parsed3(t, c, s, in)
		if n, err := replyLen([]byte(r), defaultMaxBulk); err != nil || n != len(r) {
			t.Errorf("%s: not one value: %d %v", in, n, err)
		}
		if r2 := parsed(t, c, mb(strings.Fields(in)...)).Reply; strings.ContainsAny(typesIn(r2), resp3Only) {
			t.Errorf("%s: RESP2 reply has types %q", in, typesIn(r2))
		}
		if !strings.ContainsAny(typesIn([]byte(r)), "%~") && in != "COMMAND LIST" {
			t.Errorf("%s: RESP3 reply without a map or set", in)
		}
	}
	if r2 := string(parsed(t, c, mb("COMMAND", "INFO", "get", "nosuch")).Reply); !strings.HasSuffix(r2, "*0\r\n$-1\r\n") || strings.Contains(r2, "~") || strings.Contains(r2, "%") {
		t.Errorf("RESP2 COMMAND INFO: %q", r2)
	}
}

// resp3Only are the types RESP2 does not have.
const resp3Only = "_,#(!=%~>|"

// typesIn returns the type of every value in r, a RESP value, in order.
func typesIn(r []byte) string {
	var types []byte
	pos, pending := 0, 1
	for pending > 0 && pos < len(r) {
		ty := r[pos]
		types = append(types, ty)
		switch ty {
		case '$', '!', '=':
			l, next, _ := parseHeader(r, pos+1)
			pos = next
			if l >= 0 {
				pos += int(l) + 2
			}
			pending--
		case '*', '~', '>', '%', '|':
			n, next, _ := parseHeader(r, pos+1)
			pos = next
			switch {
			case n < 0:
				pending--
			case ty == '%':
				pending += 2*int(n) - 1
			case ty == '|':
				pending += 2 * int(n)
			default:
				pending += int(n) - 1
			}
		default:
			pos += bytes.IndexByte(r[pos:], '\n') + 1
			pending--
		}
	}
	return string(types)
}

// parsed3 parses in with session s and returns the local reply.
func parsed3(t *testing.T, c *Codec, s any, in string) string {
	t.Helper()
	req := protocols.Request{Session: s}
	b := mb(strings.Fields(in)...)
	if n, err := c.ParseRequest([]byte(b), &req); err != nil || n != len(b) || req.Kind != protocols.Local {
		t.Fatalf("%s: n=%d err=%v kind %d", in, n, err, req.Kind)
	}
	return string(req.Reply)
}

// INFO's text is a verbatim string in RESP3, walnut's own and the
// servers' merged alike.
func TestInfoResp3(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	s := c.NewSession()
	s.(*session).resp3 = true
	r := parsed3(t, c, s, "INFO server")
	text, ok := textOf([]byte(r))
	if !ok || !strings.HasPrefix(r, "=") || !strings.HasPrefix(string(text), "# Server\r\nredis_version:") {
		t.Errorf("INFO: %q", r)
	}
	req := protocols.Request{Session: s}
	in := mb("INFO", "servers", "server")
	if _, err := c.ParseRequest([]byte(in), &req); err != nil || req.Kind != protocols.Broadcast {
		t.Fatalf("INFO servers: %v %d", err, req.Kind)
	}
	parts := []protocols.Part{{Resp: []byte(verbatim("# Server\r\na:1\r\n")), Name: "s0"}, {Resp: []byte(verbatim("# Server\r\na:2\r\n")), Name: "s1", Server: 1}}
	want := verbatim("# walnut server s0\r\n# Server\r\na:1\r\n\r\n# walnut server s1\r\n# Server\r\na:2\r\n")
	if got := string(c.AppendReply(nil, &req, parts)); got != want {
		t.Errorf("INFO servers: %q, want %q", got, want)
	}
	parts[1].Resp = []byte("=5\r\ntxtab\r\n")
	if got := string(c.AppendReply(nil, &req, parts)); !strings.HasPrefix(got, "-ERR Invalid argument (unexpected reply from server s1") {
		t.Errorf("bad verbatim: %q", got)
	}
}

// RESP3 replies from the servers are merged in RESP3: nulls in MGET and
// RANDOMKEY, integers summed, and MGET's elements of any type kept.
func TestMergeResp3(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	s := c.NewSession()
	s.(*session).resp3 = true
	split := func(in string, parts ...protocols.Part) string {
		req := protocols.Request{Session: s}
		b := mb(strings.Fields(in)...)
		if _, err := c.ParseRequest([]byte(b), &req); err != nil {
			t.Fatal(err)
		}
		return string(c.AppendReply(nil, &req, parts))
	}
	got := split("MGET a b c", protocols.Part{Keys: []int32{0, 2}, Resp: []byte("*2\r\n_\r\n$1\r\nc\r\n")},
		protocols.Part{Keys: []int32{1}, Resp: []byte("*1\r\n_\r\n")})
	if got != "*3\r\n_\r\n_\r\n$1\r\nc\r\n" {
		t.Errorf("MGET: %q", got)
	}
	if got := split("EXISTS a b", protocols.Part{Keys: []int32{0}, Resp: []byte(":1\r\n")}, protocols.Part{Keys: []int32{1}, Resp: []byte(":0\r\n")}); got != ":1\r\n" {
		t.Errorf("EXISTS: %q", got)
	}
	rk := func(resps ...string) string {
		req := protocols.Request{Session: s}
		if _, err := c.ParseRequest([]byte(mb("RANDOMKEY")), &req); err != nil {
			t.Fatal(err)
		}
		var parts []protocols.Part
		for i, r := range resps {
			parts = append(parts, protocols.Part{Resp: []byte(r), Server: i, Name: "s" + strconv.Itoa(i)})
		}
		return string(c.AppendReply(nil, &req, parts))
	}
	if got := rk("_\r\n", "_\r\n"); got != "_\r\n" {
		t.Errorf("RANDOMKEY of empty servers: %q", got)
	}
	if got := rk("_\r\n", "$1\r\nk\r\n", "_\r\n"); got != "$1\r\nk\r\n" {
		t.Errorf("RANDOMKEY: %q", got)
	}
	if got := rk("_\r\n", "#t\r\n"); !strings.HasPrefix(got, "-ERR Invalid argument (unexpected reply from server s1") {
		t.Errorf("RANDOMKEY, a boolean: %q", got)
	}
	for _, m := range []string{"%0\r\n", "~0\r\n", "*1\r\n_\r\n", "_\r\n"} {
		if !c.Missed(nil, []byte(m)) {
			t.Errorf("%q is not a miss", m)
		}
	}
}

// Pub/sub in RESP3: confirmations are pushes, messages are relayed as
// the servers push them, and a subscriber may send any command.
func TestPubSubResp3Steps(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	push := func(kind, ch string, n int) string { return string(appendConfirm(nil, kind, []byte(ch), n, true)) }
	msgA := ">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"
	pmsg := ">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$2\r\nnx\r\n$2\r\nyo\r\n"
	steps := func(id uint64) []dstep {
		return []dstep{
			{in: "HELLO 3", local: true, reply: hello3Reply(id)},
			{in: "UNSUBSCRIBE", local: true, reply: ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"},
			{in: "SUBSCRIBE a b", conn: subbed, sent: mb("SUBSCRIBE", "a", "b") + pingMB,
				resps: []string{push("subscribe", "a", 1) + push("subscribe", "b", 2) + "+PONG\r\n"},
				reply: ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n" + push("subscribe", "b", 2)},
			{in: "PSUBSCRIBE n*", conn: subbed, sent: strings.Repeat(mb("PSUBSCRIBE", "n*")+pingMB, 2),
				resps: []string{msgA + push("psubscribe", "n*", 2) + "+PONG\r\n", push("psubscribe", "n*", 1) + pmsg + "+PONG\r\n"},
				reply: msgA + pmsg + push("psubscribe", "n*", 3)},
			// Any command, as Redis serves a RESP3 subscriber.
			{in: "GET x", sent: mb("GET", "x"), resps: []string{"_\r\n"}, reply: "_\r\n"},
			{in: "PING", local: true, reply: "+PONG\r\n"},
			{in: "CLIENT GETNAME", local: true, reply: "_\r\n"},
			{in: "HELLO 2", local: true, reply: "-ERR walnut does not change the protocol of a subscribed client: unsubscribe first\r\n"},
			{in: "SELECT 1", local: true, reply: okR},
			{in: "UNSUBSCRIBE", conn: subbed, sent: mb("UNSUBSCRIBE") + pingMB,
				resps: []string{push("unsubscribe", "a", 2) + push("unsubscribe", "b", 1) + "+PONG\r\n"},
				reply: push("unsubscribe", "a", 2) + push("unsubscribe", "b", 1)},
			{in: "PUNSUBSCRIBE", conn: subbed, release: true, sent: mb("PUNSUBSCRIBE") + pingMB,
				resps: []string{push("punsubscribe", "n*", 0) + "+PONG\r\n"}, reply: push("punsubscribe", "n*", 0)},
			{in: "HELLO 2", local: true, reply: helloReply(id)},
			{in: "UNSUBSCRIBE", local: true, reply: "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"},
		}
	}
	for _, pipelined := range []bool{false, true} {
		sess := c.NewSession()
		driveOn(t, c, sess, "resp3", steps(sess.(*session).id), pipelined)
	}
	sess := c.NewSession()
	// The subscription connections keep the state they were made in
	// when the client selects another database meanwhile.
	req := protocols.Request{Session: sess}
	for _, in := range []string{"HELLO 3", "SUBSCRIBE a", "SELECT 2", "SUBSCRIBE b"} {
		req.Reset()
		req.Session = sess
		b := mb(strings.Fields(in)...)
		if _, err := c.ParseRequest([]byte(b), &req); err != nil {
			t.Fatal(err)
		}
	}
	if want := c.connState(0, true); req.Conn != subbed || req.ConnState != want {
		t.Errorf("SUBSCRIBE after SELECT: conn %d state %d, want %d %d", req.Conn, req.ConnState, subbed, want)
	}
}

func TestPushLenResp3(t *testing.T) {
	c := newCodec(t, protocols.Options{MaxValueSize: 64})
	for _, tc := range []struct {
		in  string
		n   int
		err bool
	}{
		{">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n", 32, false},
		{">4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\na\r\n$0\r\n\r\n", 38, false},
		{">3\r\n$8\r\nsmessage\r\n$1\r\na\r\n$1\r\nx\r\n", 32, false},
		{">3\r\n$7\r\nmessage\r\n$1\r\na", 0, false},
		{">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n", 0, true},
		{">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n", 0, true},
		{"%1\r\n$7\r\nmessage\r\n$1\r\na\r\n", 0, true},
	} {
		n, err := c.PushLen([]byte(tc.in))
		if n != tc.n || (err != nil) != tc.err {
			t.Errorf("%q: %d %v", tc.in, n, err)
		}
	}
}
