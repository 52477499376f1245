package redis

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/protocols"
)

// Commands that need a connection of their own, and how long they may
// wait at the server.
func TestDedicatedRoute(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range []struct {
		in    string
		kind  protocols.Kind
		conn  protocols.ConnKind
		block time.Duration
		keys  []string
		reply string
	}{
		{"BLPOP l 0", fwd, protocols.Once, -1, []string{"l"}, ""},
		{"BLPOP l 1.5", fwd, protocols.Once, 1500 * time.Millisecond, []string{"l"}, ""},
		{"BRPOP a b 0.01", fwd, protocols.Once, 10 * time.Millisecond, []string{"a", "b"}, ""},
		{"BRPOPLPUSH a b 3", fwd, protocols.Once, 3 * time.Second, []string{"a", "b"}, ""},
		{"BLMOVE a b LEFT RIGHT 0", fwd, protocols.Once, -1, []string{"a", "b"}, ""},
		{"BZPOPMAX z 2", fwd, protocols.Once, 2 * time.Second, []string{"z"}, ""},
		{"BLMPOP 2 2 a b LEFT", fwd, protocols.Once, 2 * time.Second, []string{"a", "b"}, ""},
		{"BZMPOP 0 1 z MIN", fwd, protocols.Once, -1, []string{"z"}, ""},
		{"BLPOP l 1e10", fwd, protocols.Once, -1, []string{"l"}, ""},
		// The server refuses these at once, with its own text.
		{"BLPOP l 1e400", fwd, protocols.Once, 0, []string{"l"}, ""},
		{"BLPOP l x", fwd, protocols.Once, 0, []string{"l"}, ""},
		{"BLPOP l -1", fwd, protocols.Once, 0, []string{"l"}, ""},
		{"XREAD BLOCK 100 STREAMS s 0", fwd, protocols.Once, 100 * time.Millisecond, []string{"s"}, ""},
		{"XREAD COUNT 5 BLOCK 0 STREAMS s t 0 0", fwd, protocols.Once, -1, []string{"s", "t"}, ""},
		{"XREAD COUNT 1 STREAMS s 0", fwd, protocols.Shared, 0, []string{"s"}, ""},
		{"XREAD STREAMS BLOCK 0", fwd, protocols.Shared, 0, []string{"BLOCK"}, ""},
		{"XREADGROUP GROUP BLOCK c STREAMS s >", fwd, protocols.Shared, 0, []string{"s"}, ""},
		{"XREADGROUP GROUP g c BLOCK 5 NOACK STREAMS s >", fwd, protocols.Once, 5 * time.Millisecond, []string{"s"}, ""},
		{"PUBLISH ch msg", fwd, protocols.Shared, 0, []string{"ch"}, ""},
		{"SPUBLISH ch msg", fwd, protocols.Shared, 0, []string{"ch"}, ""},
		{"WAIT 1 100", loc, protocols.Shared, 0, nil, ":0\r\n"},
		// Its arguments checked as Redis checks them, in its order.
		{"WAIT x -1", loc, protocols.Shared, 0, nil, "-ERR value is not an integer or out of range\r\n"},
		{"WAIT 0 1.5", loc, protocols.Shared, 0, nil, "-ERR timeout is not an integer or out of range\r\n"},
		{"WAIT 1 -1", loc, protocols.Shared, 0, nil, "-ERR timeout is negative\r\n"},
		// EXEC's wrong arguments abort, in MULTI or not, as in Redis.
		{"EXEC x", loc, protocols.Shared, 0, nil, replyExecArity},
		{"BLPOP l", loc, protocols.Shared, 0, nil, "-ERR wrong number of arguments for 'blpop' command\r\n"},
	} {
		req := protocols.Request{Session: c.NewSession()}
		in := tc.in + "\r\n"
		if n, err := c.ParseRequest([]byte(in), &req); err != nil || n != len(in) {
			t.Fatalf("%s: n=%d err=%v", tc.in, n, err)
		}
		if req.Kind != tc.kind || req.Conn != tc.conn || req.Block != tc.block || !slices.Equal(strs(req.Keys), tc.keys) || string(req.Reply) != tc.reply {
			t.Errorf("%s: kind %d conn %d block %v keys %q reply %q; want %d %d %v %q %q", tc.in,
				req.Kind, req.Conn, req.Block, strs(req.Keys), req.Reply, tc.kind, tc.conn, tc.block, tc.keys, tc.reply)
		}
	}
}

// dstep is one request through the codec as the core drives it.
type dstep struct {
	in      string
	conn    protocols.ConnKind
	local   bool
	release bool
	all     bool // ReleaseAll
	// For a request sent to a server: what goes out and what comes back
	// (one response per part); refuse makes the core refuse it instead.
	sent   string
	resps  []string
	refuse error
	reply  string
}

// drive runs steps on one session. With pipelined, every request is
// parsed before any is dispatched, as the core does within a round.
func drive(t *testing.T, c *Codec, name string, steps []dstep, pipelined bool) {
	t.Helper()
	driveOn(t, c, c.NewSession(), name, steps, pipelined)
}

// driveOn is drive on session sess.
func driveOn(t *testing.T, c *Codec, sess any, name string, steps []dstep, pipelined bool) {
	t.Helper()
	reqs := make([]protocols.Request, len(steps))
	parse := func(i int) {
		st := &steps[i]
		req := &reqs[i]
		req.Session = sess
		in := mb(strings.Fields(st.in)...)
		if n, err := c.ParseRequest([]byte(in), req); err != nil || n != len(in) {
			t.Fatalf("%s: %s: n=%d err=%v", name, st.in, n, err)
		}
		if req.Conn != st.conn || (req.Kind == protocols.Local) != st.local || req.Release != st.release || req.ReleaseAll != st.all {
			t.Fatalf("%s: %s: conn %d local %v release %v all %v; want %d %v %v %v", name, st.in,
				req.Conn, req.Kind == protocols.Local, req.Release, req.ReleaseAll, st.conn, st.local, st.release, st.all)
		}
	}
	dispatch := func(i int) {
		st := &steps[i]
		req := &reqs[i]
		var reply []byte
		switch {
		case st.local:
			reply = req.Reply
		case st.refuse != nil:
			c.Refused(req, st.refuse)
			reply = c.AppendReply(nil, req, []protocols.Part{{Err: st.refuse}})
		default:
			var sent []byte
			var parts []protocols.Part
			for _, r := range st.resps {
				sent = c.AppendRequest(sent, req, nil)
				if n, err := c.ParseResponse([]byte(r), req); n != len(r) || err != nil {
					t.Fatalf("%s: %s: response %q framed as %d bytes, %v", name, st.in, r, n, err)
				}
				if n, _ := c.ParseResponse([]byte(r[:len(r)-1]), req); n != 0 {
					t.Fatalf("%s: %s: a partial response framed as %d bytes", name, st.in, n)
				}
				parts = append(parts, protocols.Part{Resp: []byte(r)})
			}
			if string(sent) != st.sent {
				t.Fatalf("%s: %s: sent %q, want %q", name, st.in, sent, st.sent)
			}
			reply = c.AppendReply(nil, req, parts)
		}
		if string(reply) != st.reply {
			t.Fatalf("%s: %s: reply %q, want %q", name, st.in, reply, st.reply)
		}
	}
	for i := range steps {
		parse(i)
		if !pipelined {
			dispatch(i)
		}
	}
	if pipelined {
		for i := range steps {
			dispatch(i)
		}
	}
}

const (
	okR      = "+OK\r\n"
	queuedR  = "+QUEUED\r\n"
	resetR   = "+RESET\r\n"
	abortR   = "-EXECABORT Transaction discarded because of previous errors.\r\n"
	pinned   = protocols.Pinned
	subbed   = protocols.Subscribed
	multiMB  = "*1\r\n$5\r\nMULTI\r\n"
	pingMB   = "*1\r\n$4\r\nPING\r\n"
	pongSubR = "*2\r\n$4\r\npong\r\n$0\r\n\r\n"
)

var errBusy = errors.New("pool p: too many dedicated server connections (max_dedicated 1)")

func TestTransactionSteps(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	elsewhereB := `-ERR keys in a transaction must live on one server: "b" is not with "a" (use a hash tag)` + "\r\n"
	for name, steps := range map[string][]dstep{
		"multi exec": {
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "SET a 1", conn: pinned, sent: multiMB + mb("SET", "a", "1"), resps: []string{okR + queuedR}, reply: queuedR},
			{in: "GET a", conn: pinned, sent: mb("GET", "a"), resps: []string{queuedR}, reply: queuedR},
			{in: "PING", local: true, reply: queuedR},
			{in: "EXEC", conn: pinned, release: true, sent: mb("EXEC"), resps: []string{"*2\r\n+OK\r\n$1\r\n1\r\n"}, reply: "*3\r\n+OK\r\n$1\r\n1\r\n+PONG\r\n"},
			{in: "GET a", reply: "$1\r\n1\r\n", resps: []string{"$1\r\n1\r\n"}, sent: mb("GET", "a")},
		},
		"watch then exec": {
			{in: "WATCH a", conn: pinned, sent: mb("WATCH", "a"), resps: []string{okR}, reply: okR},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "EXEC", conn: pinned, release: true, sent: multiMB + mb("EXEC"), resps: []string{okR + "*-1\r\n"}, reply: "*-1\r\n"},
		},
		"refused command": {
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "SET a 1", conn: pinned, sent: multiMB + mb("SET", "a", "1"), resps: []string{okR + queuedR}, reply: queuedR},
			{in: "SET b 1", conn: pinned, refuse: &protocols.ElsewhereError{Key: 0, Held: true}, reply: elsewhereB},
			{in: "EXEC", conn: pinned, release: true, sent: mb("DISCARD"), resps: []string{okR}, reply: abortR},
		},
		"refused first command": {
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "MSET a 1 b 2", conn: pinned, refuse: &protocols.ElsewhereError{Key: 1}, reply: elsewhereB},
			{in: "SET a 1", conn: pinned, sent: multiMB + mb("SET", "a", "1"), resps: []string{okR + queuedR}, reply: queuedR},
			{in: "EXEC", conn: pinned, release: true, sent: mb("DISCARD"), resps: []string{okR}, reply: abortR},
		},
		"nothing sent": {
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "SET a 1", conn: pinned, refuse: errBusy, reply: "-ERR " + errBusy.Error() + "\r\n"},
			{in: "EXEC", conn: pinned, release: true, refuse: protocols.ErrNoLease, reply: abortR},
		},
		"watch refused": {
			{in: "WATCH a", conn: pinned, sent: mb("WATCH", "a"), resps: []string{okR}, reply: okR},
			{in: "WATCH b", conn: pinned, refuse: &protocols.ElsewhereError{Key: 0, Held: true}, reply: elsewhereB},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "SET b 1", conn: pinned, refuse: &protocols.ElsewhereError{Key: 0, Held: true}, reply: elsewhereB},
			{in: "EXEC", conn: pinned, release: true, sent: mb("UNWATCH"), resps: []string{okR}, reply: abortR},
		},
		"queuing error": {
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "SET a 1", conn: pinned, sent: multiMB + mb("SET", "a", "1"), resps: []string{okR + queuedR}, reply: queuedR},
			{in: "GET", local: true, reply: "-ERR wrong number of arguments for 'get' command\r\n"},
			{in: "NOSUCH x", local: true, reply: "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n"},
			{in: "EXEC", conn: pinned, release: true, sent: mb("DISCARD"), resps: []string{okR}, reply: abortR},
		},
		"exec arity": {
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "SET a 1", conn: pinned, sent: multiMB + mb("SET", "a", "1"), resps: []string{okR + queuedR}, reply: queuedR},
			{in: "EXEC x", conn: pinned, release: true, sent: mb("DISCARD"), resps: []string{okR}, reply: replyExecArity},
			{in: "EXEC", local: true, reply: replyExecNoMulti},
		},
		"keyless first": {
			// walnut's own answers need no server: queued, and EXEC
			// answers them as Redis does.
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "PING", local: true, reply: queuedR},
			{in: "ECHO hi", local: true, reply: queuedR},
			{in: "CLIENT GETNAME", local: true, reply: queuedR},
			{in: "HELLO 4", local: true, reply: queuedR},
			{in: "EXEC", conn: pinned, local: true, release: true, reply: "*4\r\n+PONG\r\n$2\r\nhi\r\n$-1\r\n" + replyNoProto},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "LOLWUT", local: true, reply: "-ERR walnut cannot queue LOLWUT before a command with a key: the transaction's server is not chosen yet\r\n"},
			{in: "EXEC", conn: pinned, local: true, release: true, reply: abortR},
		},
		"local answers among the server's": {
			// COMMAND is walnut's own; LOLWUT goes to the transaction's
			// server, not to the owner of "placeholder".
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "ECHO a", local: true, reply: queuedR},
			{in: "SET a 1", conn: pinned, sent: multiMB + mb("SET", "a", "1"), resps: []string{okR + queuedR}, reply: queuedR},
			{in: "PING x", local: true, reply: queuedR},
			{in: "PING y", local: true, reply: queuedR},
			{in: "LOLWUT", conn: pinned, sent: mb("LOLWUT"), resps: []string{queuedR}, reply: queuedR},
			{in: "COMMAND GETKEYS PING x", local: true, reply: queuedR},
			{in: "EXEC", conn: pinned, release: true, sent: mb("EXEC"), resps: []string{"*2\r\n+OK\r\n$2\r\nhi\r\n"},
				reply: "*6\r\n$1\r\na\r\n+OK\r\n$1\r\nx\r\n$1\r\ny\r\n$2\r\nhi\r\n-ERR The command has no key arguments\r\n"},
			// A watched key changed: nil, whatever walnut would have said.
			{in: "WATCH a", conn: pinned, sent: mb("WATCH", "a"), resps: []string{okR}, reply: okR},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "ECHO a", local: true, reply: queuedR},
			{in: "EXEC", conn: pinned, release: true, sent: multiMB + mb("EXEC"), resps: []string{okR + "*-1\r\n"}, reply: "*-1\r\n"},
			{in: "WATCH a", conn: pinned, sent: mb("WATCH", "a"), resps: []string{okR}, reply: okR},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "ECHO a", local: true, reply: queuedR},
			{in: "EXEC", conn: pinned, release: true, sent: multiMB + mb("EXEC"), resps: []string{okR + "*0\r\n"}, reply: "*1\r\n$1\r\na\r\n"},
		},
		"refused inside": {
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "SET a 1", conn: pinned, sent: multiMB + mb("SET", "a", "1"), resps: []string{okR + queuedR}, reply: queuedR},
			{in: "KEYS *", local: true, reply: "-ERR walnut does not run KEYS inside a transaction: a transaction runs on the server of its keys, and it has none\r\n"},
			{in: "SCAN 0", local: true, reply: "-ERR walnut does not run SCAN inside a transaction: a transaction runs on the server of its keys, and it has none\r\n"},
			{in: "INFO servers", local: true, reply: "-ERR walnut does not run INFO inside a transaction: a transaction runs on the server of its keys, and it has none\r\n"},
			{in: "CLIENT SETNAME x", local: true, reply: "-ERR walnut does not run CLIENT SETNAME inside a transaction: send it before MULTI\r\n"},
			{in: "HELLO 2 SETNAME x", local: true, reply: "-ERR walnut does not run HELLO inside a transaction: send it before MULTI\r\n"},
			{in: "HELLO 3", local: true, reply: "-ERR walnut does not run HELLO inside a transaction: send it before MULTI\r\n"},
			{in: "HELLO 2", local: true, reply: queuedR},
			{in: "FLUSHALL", local: true, reply: "-ERR FLUSHALL is refused: it would empty every server of the pool; set allow_flush = true in the pool's configuration to allow it\r\n"},
			{in: "EXEC", conn: pinned, release: true, sent: mb("DISCARD"), resps: []string{okR}, reply: abortR},
		},
		"reset in multi": {
			// DISCARD leaves the connection clean for the idle set.
			{in: "SELECT 1", local: true, reply: okR},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "SET a 1", conn: pinned, sent: multiMB + mb("SET", "a", "1"), resps: []string{okR + queuedR}, reply: queuedR},
			{in: "RESET", conn: pinned, release: true, all: true, sent: mb("DISCARD"), resps: []string{okR}, reply: resetR},
			{in: "EXEC", local: true, reply: replyExecNoMulti},
			{in: "GET a", sent: mb("GET", "a"), resps: []string{"$-1\r\n"}, reply: "$-1\r\n"},
		},
		"reset watching": {
			{in: "WATCH a", conn: pinned, sent: mb("WATCH", "a"), resps: []string{okR}, reply: okR},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "RESET", conn: pinned, release: true, all: true, sent: mb("UNWATCH"), resps: []string{"-ERR gone\r\n"}, reply: resetR},
			{in: "UNWATCH", local: true, reply: okR},
		},
		"reset before a server": {
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "RESET", conn: pinned, local: true, release: true, all: true, reply: resetR},
			{in: "RESET", local: true, reply: resetR},
		},
		"reset refused": {
			{in: "WATCH a", conn: pinned, sent: mb("WATCH", "a"), resps: []string{okR}, reply: okR},
			{in: "RESET", conn: pinned, release: true, all: true, refuse: protocols.ErrNoLease, reply: resetR},
		},
		"select inside": {
			// Refused: the core SELECTs per request, and a SELECT run by
			// EXEC would change the connection's database behind it.
			{in: "SELECT 1", local: true, reply: okR},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "SET a 1", conn: pinned, sent: multiMB + mb("SET", "a", "1"), resps: []string{okR + queuedR}, reply: queuedR},
			{in: "SELECT 2", local: true, reply: "-ERR walnut does not run SELECT inside a transaction: send it before MULTI\r\n"},
			{in: "EXEC", conn: pinned, release: true, sent: mb("DISCARD"), resps: []string{okR}, reply: abortR},
		},
		"empty and errors": {
			{in: "EXEC", local: true, reply: replyExecNoMulti},
			{in: "DISCARD", local: true, reply: replyDiscNoMulti},
			{in: "UNWATCH", local: true, reply: okR},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "MULTI", local: true, reply: replyNested},
			{in: "WATCH a", local: true, reply: replyWatchMulti},
			{in: "EXEC", conn: pinned, local: true, release: true, reply: "*0\r\n"},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "DISCARD", conn: pinned, local: true, release: true, reply: okR},
		},
		"discard": {
			{in: "WATCH a", conn: pinned, sent: mb("WATCH", "a"), resps: []string{okR}, reply: okR},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "DISCARD", conn: pinned, release: true, sent: mb("UNWATCH"), resps: []string{okR}, reply: okR},
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "INCR a", conn: pinned, sent: multiMB + mb("INCR", "a"), resps: []string{okR + queuedR}, reply: queuedR},
			{in: "DISCARD", conn: pinned, release: true, sent: mb("DISCARD"), resps: []string{okR}, reply: okR},
		},
		"unwatch": {
			{in: "WATCH a b", conn: pinned, sent: mb("WATCH", "a", "b"), resps: []string{okR}, reply: okR},
			{in: "UNWATCH", conn: pinned, release: true, sent: mb("UNWATCH"), resps: []string{okR}, reply: okR},
			{in: "UNWATCH", local: true, reply: okR},
		},
		"blocking and split inside": {
			{in: "MULTI", conn: pinned, local: true, reply: okR},
			{in: "BLPOP l 0", conn: pinned, sent: multiMB + mb("BLPOP", "l", "0"), resps: []string{okR + queuedR}, reply: queuedR},
			{in: "MGET l m", conn: pinned, sent: mb("MGET", "l", "m"), resps: []string{queuedR}, reply: queuedR},
			{in: "WAIT 0 0", conn: pinned, sent: mb("WAIT", "0", "0"), resps: []string{queuedR}, reply: queuedR},
			{in: "SUBSCRIBE c", local: true, reply: "-ERR walnut does not run SUBSCRIBE inside a transaction\r\n"},
			{in: "EXEC", conn: pinned, release: true, sent: mb("DISCARD"), resps: []string{okR}, reply: abortR},
		},
	} {
		for _, pipelined := range []bool{false, true} {
			drive(t, c, name, steps, pipelined)
		}
	}
}

func confirm(kind, ch string, n int) string {
	return string(appendConfirm(nil, kind, []byte(ch), n, false))
}

func TestPubSubSteps(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	msgA := "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n"
	pmsg := "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$2\r\nnx\r\n$2\r\nyo\r\n"
	cantGet := "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
	for name, steps := range map[string][]dstep{
		"subscribe": {
			{in: "UNSUBSCRIBE", local: true, reply: "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"},
			{in: "SUBSCRIBE a b", conn: subbed, sent: mb("SUBSCRIBE", "a", "b") + pingMB,
				resps: []string{confirm("subscribe", "a", 1) + confirm("subscribe", "b", 2) + pongSubR},
				reply: confirm("subscribe", "a", 1) + confirm("subscribe", "b", 2)},
			// Three servers confirm one pattern: the client hears once,
			// after a message that came first.
			{in: "PSUBSCRIBE n*", conn: subbed, sent: strings.Repeat(mb("PSUBSCRIBE", "n*")+pingMB, 3),
				resps: []string{confirm("psubscribe", "n*", 2) + pongSubR, msgA + confirm("psubscribe", "n*", 1) + pmsg + pongSubR, confirm("psubscribe", "n*", 1) + pongSubR},
				reply: msgA + pmsg + confirm("psubscribe", "n*", 3)},
			{in: "GET x", local: true, reply: cantGet},
			{in: "PING", local: true, reply: pongSubR},
			{in: "PING hi", local: true, reply: "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n"},
			{in: "SSUBSCRIBE s", conn: subbed, sent: mb("SSUBSCRIBE", "s") + pingMB,
				resps: []string{confirm("ssubscribe", "s", 1) + pongSubR}, reply: confirm("ssubscribe", "s", 1)},
			{in: "UNSUBSCRIBE x", local: true, reply: confirm("unsubscribe", "x", 3)},
			{in: "UNSUBSCRIBE", conn: subbed, sent: mb("UNSUBSCRIBE") + pingMB,
				resps: []string{confirm("unsubscribe", "a", 1) + confirm("unsubscribe", "b", 1) + pongSubR},
				reply: confirm("unsubscribe", "a", 2) + confirm("unsubscribe", "b", 1)},
			{in: "PUNSUBSCRIBE n* z", conn: subbed, sent: mb("PUNSUBSCRIBE", "n*", "z") + pingMB,
				resps: []string{confirm("punsubscribe", "n*", 0) + confirm("punsubscribe", "z", 0) + pongSubR},
				reply: confirm("punsubscribe", "n*", 0) + confirm("punsubscribe", "z", 0)},
			// Still subscribed to a shard channel.
			{in: "GET x", local: true, reply: cantGet},
			{in: "SUNSUBSCRIBE", conn: subbed, release: true, sent: mb("SUNSUBSCRIBE") + pingMB,
				resps: []string{confirm("sunsubscribe", "s", 0) + "+PONG\r\n"}, reply: confirm("sunsubscribe", "s", 0)},
			{in: "GET x", sent: mb("GET", "x"), resps: []string{"$-1\r\n"}, reply: "$-1\r\n"},
		},
		"errors": {
			{in: "SUBSCRIBE", local: true, reply: "-ERR wrong number of arguments for 'subscribe' command\r\n"},
			{in: "SUBSCRIBE a", conn: subbed, sent: mb("SUBSCRIBE", "a") + pingMB,
				resps: []string{"-NOPERM no\r\n" + pongSubR}, reply: "-NOPERM no\r\n"},
			{in: "PSUBSCRIBE", local: true, reply: "-ERR wrong number of arguments for 'psubscribe' command\r\n"},
			{in: "NOSUCH", local: true, reply: "-ERR unknown command 'NOSUCH', with args beginning with: \r\n"},
			{in: "MULTI", local: true, reply: "-ERR Can't execute 'multi': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"},
			{in: "BLPOP l 0", local: true, reply: "-ERR Can't execute 'blpop': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"},
			{in: "SELECT 1", local: true, reply: "-ERR Can't execute 'select': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"},
			{in: "AUTH pw", local: true, reply: "-ERR Can't execute 'auth': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"},
			{in: "UNSUBSCRIBE a", conn: subbed, release: true, sent: mb("UNSUBSCRIBE", "a") + pingMB,
				resps: []string{msgA + confirm("unsubscribe", "a", 0) + "+PONG\r\n"}, reply: msgA + confirm("unsubscribe", "a", 0)},
			{in: "QUIT", local: true, reply: okR},
		},
		"reset": {
			{in: "SUBSCRIBE a", conn: subbed, sent: mb("SUBSCRIBE", "a") + pingMB,
				resps: []string{confirm("subscribe", "a", 1) + pongSubR}, reply: confirm("subscribe", "a", 1)},
			{in: "PSUBSCRIBE b*", conn: subbed, sent: mb("PSUBSCRIBE", "b*") + pingMB,
				resps: []string{confirm("psubscribe", "b*", 2) + pongSubR}, reply: confirm("psubscribe", "b*", 2)},
			{in: "RESET", local: true, all: true, reply: resetR},
			{in: "GET x", sent: mb("GET", "x"), resps: []string{"$-1\r\n"}, reply: "$-1\r\n"},
			{in: "UNSUBSCRIBE", local: true, reply: "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"},
			// Watching and subscribed: one RESET ends both.
			{in: "WATCH k", conn: pinned, sent: mb("WATCH", "k"), resps: []string{okR}, reply: okR},
			{in: "SUBSCRIBE a", conn: subbed, sent: mb("SUBSCRIBE", "a") + pingMB,
				resps: []string{confirm("subscribe", "a", 1) + pongSubR}, reply: confirm("subscribe", "a", 1)},
			{in: "RESET", conn: pinned, release: true, all: true, sent: mb("UNWATCH"), resps: []string{okR}, reply: resetR},
			{in: "GET x", sent: mb("GET", "x"), resps: []string{"$-1\r\n"}, reply: "$-1\r\n"},
		},
	} {
		for _, pipelined := range []bool{false, true} {
			drive(t, c, name, steps, pipelined)
		}
	}
}

func TestPushLen(t *testing.T) {
	c := newCodec(t, protocols.Options{MaxValueSize: 64})
	for _, tc := range []struct {
		in  string
		n   int
		err bool
	}{
		{"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n", 32, false},
		{"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi", 0, false},
		{"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\na\r\n$0\r\n\r\n", 38, false},
		{"*3\r\n$8\r\nsmessage\r\n$1\r\na\r\n$1\r\nx\r\n", 32, false},
		{"+OK\r\n", 0, true},
		{"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n", 0, true},
		{"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$100\r\n", 0, true},
	} {
		n, err := c.PushLen([]byte(tc.in))
		if n != tc.n || (err != nil) != tc.err {
			t.Errorf("%q: %d %v", tc.in, n, err)
		}
	}
}

// A session fed arbitrary requests keeps the codec's promises: every
// local reply is one RESP value, a request routed by key has keys, and
// what goes to a server parses back.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"MULTI\r\nSET a 1\r\nEXEC\r\n",
		"WATCH a\r\nMULTI\r\nPING\r\nDISCARD\r\nUNWATCH\r\n",
		"SUBSCRIBE a b\r\nPSUBSCRIBE p\r\nGET x\r\nPING\r\nUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\n",
		"BLPOP l 0\r\nXREAD BLOCK 1 STREAMS s 0\r\nWAIT 0 0\r\n",
		"MULTI\r\nEXEC x\r\nSSUBSCRIBE s\r\nSUNSUBSCRIBE s\r\n",
		"SELECT 3\r\nMULTI\r\nECHO x\r\nSET a 1\r\nCLIENT ID\r\nKEYS *\r\nEXEC\r\nRESET\r\n",
		"WATCH a\r\nSUBSCRIBE c\r\nSELECT 1\r\nRESET\r\nMULTI\r\nSELECT 2\r\nRESET\r\nDBSIZE\r\n",
		"CLIENT REPLY SKIP\r\nGET a\r\nCLIENT REPLY OFF\r\nMULTI\r\nSAVE\r\nCONFIG GET x\r\nEXEC\r\nCLIENT REPLY ON\r\n",
		"BLPOP l 0\r\nCLIENT UNBLOCK 1 ERROR\r\nPUBSUB NUMSUB a\r\nZUNION 0 x\r\nMULTI\r\nLMPOP 0 x LEFT\r\nNOSUCH\r\nEXEC\r\n",
		"HELLO 3\r\nSUBSCRIBE a\r\nGET x\r\nMULTI\r\nSET a 1\r\nEXEC\r\nHELLO 2\r\nUNSUBSCRIBE\r\nHELLO 2\r\n",
		"HELLO 3\r\nCLIENT INFO\r\nCOMMAND INFO get x\r\nMULTI\r\nHELLO 2\r\nCLIENT GETNAME\r\nEXEC\r\nRESET\r\nRANDOMKEY\r\n",
		"HELLO 3\r\nCLIENT TRACKINGINFO\r\nINFO keyspace\r\nWAIT x -1\r\nWAIT 0 1.5\r\nEXEC x\r\nCLIENT NO-TOUCH on\r\nFLUSHDB x\r\n",
	} {
		f.Add([]byte(s))
	}
	c := newCodec(f, protocols.Options{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sess := c.NewSession()
		servers := len(data) & 1 // 1: a pool of one server; 0: unknown, as outside the core
		for len(data) > 0 {
			req := protocols.Request{Session: sess, Servers: servers}
			n, err := c.ParseRequest(data, &req)
			if n == 0 || err != nil {
				return
			}
			data = data[n:]
			switch {
			case req.Kind == protocols.Local:
				// Confirmations of several channels are several values.
				for r := req.Reply; len(r) > 0; {
					rn, err := replyLen(r, defaultMaxBulk)
					if err != nil || rn == 0 {
						t.Fatalf("local reply %q is not RESP values", req.Reply)
					}
					r = r[rn:]
				}
			case req.Conn == protocols.Shared || req.Conn == protocols.Once:
				if len(req.Keys) == 0 && req.Kind != protocols.Broadcast && req.Kind != protocols.Targeted {
					t.Fatalf("%q routed without keys", req.Args)
				}
			default:
				checkSendsWhole(t, c, &req)
			}
		}
	})
}

// checkSendsWhole checks a request for a dedicated connection: what goes
// there is whole requests, the client's and those walnut adds
// (SUBSCRIBE's PING, MULTI before a queued command).
func checkSendsWhole(t *testing.T, c *Codec, req *protocols.Request) {
	out := c.AppendRequest(nil, req, nil)
	for len(out) > 0 {
		var r protocols.Request
		m, err := c.ParseRequest(out, &r)
		if m == 0 || err != nil {
			t.Fatalf("%q sends %q, which does not parse: %v", req.Args, out, err)
		}
		out = out[m:]
	}
}
