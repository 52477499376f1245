package memcached

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/internal/testbed"
	"github.com/walnutproxy/walnut/protocols"
)

// These tests check the codec against a real memcached. They fail, never
// skip, when it is missing: a machine without it would otherwise pass
// without checking anything.

func dialMC(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// direct sends b to memcached as a client would, with an "mn" after it,
// and returns what memcached answers before the MN: the client's view of
// b, whatever noreply or q hide.
func direct(t *testing.T, nc net.Conn, b string) string {
	t.Helper()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte(b + "mn\r\n")); err != nil {
		t.Fatal(err)
	}
	// b may hold mn commands of its own, each answered in turn.
	mns := strings.Count(b, "mn\r\n") + 1
	var buf []byte
	chunk := make([]byte, 4096)
	for {
		n, err := nc.Read(chunk)
		if err != nil {
			t.Fatalf("%.60q: read after %q: %v", b, buf, err)
		}
		buf = append(buf, chunk[:n]...)
		if bytes.Count(buf, []byte("MN\r\n")) >= mns && bytes.HasSuffix(buf, []byte("MN\r\n")) {
			return string(buf[:len(buf)-4])
		}
	}
}

// exchange sends a request the codec built, then "mn", and frames
// memcached's response with ParseResponse from bytes arriving in small
// reads: it must end exactly where the MN starts.
func exchange(t *testing.T, c *Codec, nc net.Conn, req *protocols.Request, out []byte) []byte {
	t.Helper()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(append(out, "mn\r\n"...)); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	chunk := make([]byte, 7)
	read := func() {
		m, err := nc.Read(chunk)
		if err != nil {
			t.Fatalf("%.60q: read after %q: %v", out, buf, err)
		}
		buf = append(buf, chunk[:m]...)
	}
	for {
		n, err := c.ParseResponse(buf, req)
		if err != nil {
			t.Fatalf("%.60q: ParseResponse(%q): %v", out, buf, err)
		}
		if n > 0 {
			for len(buf) < n+4 {
				read()
			}
			if string(buf[n:]) != "MN\r\n" {
				t.Fatalf("%.60q: response framed as %q, followed by %q", out, buf[:n], buf[n:])
			}
			return buf[:n]
		}
		read()
	}
}

// through sends a client request through the codec to memcached as walnut
// would, its keys spread over three pretend servers (all backed by nc),
// and returns the client's reply.
func through(t *testing.T, c *Codec, nc net.Conn, in string) (string, *protocols.Request) {
	t.Helper()
	req := &protocols.Request{}
	if n, err := c.ParseRequest([]byte(in), req); err != nil || n != len(in) {
		t.Fatalf("%.60q: n=%d err=%v", in, n, err)
	}
	switch req.Kind {
	case protocols.Local:
		return string(req.Reply), req
	case protocols.Forward:
		resp := exchange(t, c, nc, req, c.AppendRequest(nil, req, nil))
		return string(c.AppendReply(nil, req, []protocols.Part{{Resp: resp}})), req
	}
	groups := make([][]int32, 3)
	used := 0
	for k, key := range req.Keys {
		s := int(key[len(key)-1]) % 3
		if len(groups[s]) == 0 {
			used++
		}
		groups[s] = append(groups[s], int32(k))
	}
	var parts []protocols.Part
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		if used == 1 {
			g = nil // one server for all: the request as sent
		}
		resp := exchange(t, c, nc, req, c.AppendRequest(nil, req, g))
		parts = append(parts, protocols.Part{Keys: g, Resp: resp})
	}
	return string(c.AppendReply(nil, req, parts)), req
}

// roundTripScript is run both ways, on twin memcacheds that see the same
// mutations in the same order, so that even cas values agree.
var roundTripScript = []string{
	"set a 1 0 3\r\nabc\r\n", "get a\r\n", "get a b a\r\n", "gets a\r\n",
	"add a 0 0 1\r\nx\r\n", "add b 2 0 2\r\nbb\r\n", "replace c 0 0 1\r\nx\r\n",
	"append a 0 0 2\r\nde\r\n", "prepend a 0 0 2\r\nzz\r\n", "get a b c\r\n",
	"set d 4 0 1\r\nd\r\nset e 5 100 1\r\ne\r\n",
	"get a b c d e f g h i j a\r\n", "gets e d c b a\r\n", "get  a   b\n",
	"cas a 0 0 1 1\r\nx\r\n", "cas nokey 0 0 1 1\r\nx\r\n",
	"set n 0 0 2\r\n10\r\n", "incr n 5\r\n", "decr n 100\r\n", "incr n 18446744073709551615\r\n", "incr nokey 1\r\n", "incr a 1\r\n",
	"touch a 100\r\n", "touch nokey 1\r\n", "gat 100 a b nokey\r\n", "gats 0 e d a\r\n", "gat 100\r\n",
	"delete b\r\n", "delete b\r\n", "delete a 0\r\n", "delete n noreply\r\n", "get a b n\r\n",
	"set q 0 0 1 noreply\r\nq\r\n", "get q\r\n", "add q 0 0 1 noreply\r\nx\r\n", "incr q 1 noreply\r\n",
	"touch q 10 noreply\r\n", "append q 0 0 1 noreply\r\ny\r\n", "prepend q 0 0 1 noreply\r\nx\r\n",
	"cas q 0 0 1 1 noreply\r\nz\r\n", "replace q 0 0 2 noreply\r\nzz\r\n", "decr q 1 noreply\r\n",
	"delete q 0 noreply\r\n", "get q\r\n", "set q 0 0 1 foo\r\nf\r\n", "get q\r\n",
	"set big 0 0 100000\r\n" + strings.Repeat("0123456789", 10000) + "\r\n", "get big q big\r\n",
	"set empty 0 0 0\r\n\r\n", "set crlf 0 0 5\r\nEND\r\n\r\n", "get empty crlf big\r\n",
	"ms mk 5 T0 F7 O123\r\nhello\r\n", "mg mk v f O9 k\r\n", "mg mk s v t\r\n", "mg mk v c\r\n",
	"mg missing v O5\r\n", "mg missing v O5 k q\r\n", "mg mk q v\r\n", "mg mk q\r\n", "mg mk k qx v\r\n",
	"ma mcount N0 J13 v\r\n", "ma mcount v D4\r\n", "ma mcount MD D100 v\r\n", "ma nokey\r\n",
	"ma nokey q O1\r\n", "ma mcount q\r\n", "ma mcount q D2 O3\r\n", "mg mcount v\r\n",
	"md mk q\r\n", "mg mk v\r\n", "md mk\r\n", "md mk q O7\r\n", "md mcount I T30\r\n", "mg mcount v c\r\n",
	"ms mq 1 q\r\nz\r\n", "mg mq v q O2\r\n", "ms mq 1 q MR O3\r\ny\r\n", "ms nx 1 q MR O4\r\ny\r\n",
	"ms mq 1 q C1\r\nx\r\n", "ms mq 2 MA\r\nxx\r\n", "ms mq 2 ME q\r\nxx\r\n", "mg mq v\r\n",
	"mg Zm9v b v k\r\n", "ms Zm9v 1 b\r\nx\r\n", "mg Zm9v b k v\r\n", "mg foo v\r\n",
	"mg mq v Z\r\n", "ms mq 2 !\r\nxx\r\n", "mg mq v v\r\n", "mg mq v O123456789012345678901234567890123\r\n",
	"mn\r\n", "bogus a b\r\n", "get\r\n", "incr k\r\n", "\r\n", "GET a\r\n",
	"get " + key251 + "\r\n", "get a " + key251 + "\r\n", "incr n x\r\n", "touch n x\r\n", "delete n 5\r\n",
	"incr k noreply\r\n", "touch k noreply\r\n",
	"gat x a\r\n", "mg k q q\r\n", "md k q q\r\n", "ma k q q\r\n", "mg " + key251 + " v\r\n",
}

// TestRoundTrip checks the codec against memcached: for each request, what
// walnut sends is answered by memcached with bytes ParseResponse frames
// exactly, and the client's reply is what memcached itself answers to the
// request as the client sent it, noreply and quiet mode included.
func TestRoundTrip(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	d := dialMC(t, testbed.Memcached(t).Addr)
	via := dialMC(t, testbed.Memcached(t).Addr)
	for _, in := range roundTripScript {
		want := direct(t, d, in)
		// A few scripted steps hold two requests.
		var got string
		for rest := in; rest != ""; {
			var req protocols.Request
			n, err := c.ParseRequest([]byte(rest), &req)
			if err != nil || n == 0 {
				t.Fatalf("%.60q: n=%d err=%v", rest, n, err)
			}
			r, _ := through(t, c, via, rest[:n])
			got += r
			rest = rest[n:]
		}
		if got != want {
			t.Errorf("%.80q:\nwalnut    %.300q\nmemcached %.300q", in, got, want)
		}
	}
}

// TestKnownDifferences pins where walnut's answer differs from
// memcached's on purpose.
func TestKnownDifferences(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	d := dialMC(t, testbed.Memcached(t).Addr)
	via := dialMC(t, testbed.Memcached(t).Addr)
	for _, tc := range []struct {
		in, memcached, walnut string
	}{
		// Setup, the same on both.
		{"set n 0 0 1\r\n5\r\n", "STORED\r\n", "STORED\r\n"},
		// memcached hides ma's VA under q when it incremented an existing
		// item, not when N created one; walnut, blind to which, shows it.
		{"ma n q v\r\n", "", "VA 1\r\n6\r\n"},
		// memcached stops a line at a NUL and takes a CR inside a key as
		// part of it; walnut refuses such keys, which would mean one
		// thing to it and another to the server.
		{"get n\x00x\r\n", "VALUE n 0 1\r\n6\r\nEND\r\n", replyBadFormat},
		{"get n\r\r\n", "END\r\n", replyBadFormat},
		// memcached truncates large flags silently.
		{"set m 4294967296 0 1\r\nx\r\n", "STORED\r\n", replyBadFormat},
		// memcached reads a data block it refused the line of as a
		// command; walnut skips it.
		{"set " + key251 + " 0 0 1\r\nx\r\n", replyBadFormat + "ERROR\r\n", replyBadFormat},
		{"set n x 0 1\r\nx\r\n", replyBadFormat + "ERROR\r\n", replyBadFormat},
		{"ms " + key251 + " 1\r\nx\r\n", replyBadFormat + "ERROR\r\n", replyBadFormat},
		{"cas n 0 0 1 noreply\r\nx\r\n", "ERROR\r\n", ""},
		// Commands on a server rather than a key.
		{"stats detail dump\r\n", "", "SERVER_ERROR unsupported command stats\r\n"},
		{"verbosity 1\r\n", "OK\r\n", "SERVER_ERROR unsupported command verbosity\r\n"},
	} {
		got := direct(t, d, tc.in)
		if tc.memcached != "" && got != tc.memcached {
			t.Errorf("%.60q: memcached now answers %q, not %q", tc.in, got, tc.memcached)
		}
		if got, _ := through(t, c, via, tc.in); got != tc.walnut {
			t.Errorf("%.60q: walnut %q, want %q", tc.in, got, tc.walnut)
		}
	}
}

// TestProtocolErrorsMatchMemcached sends requests walnut closes the
// connection for to memcached, whose first answer line must be walnut's.
func TestProtocolErrorsMatchMemcached(t *testing.T) {
	addr := testbed.Memcached(t).Addr
	c := newCodec(t, protocols.Options{})
	for _, in := range []string{
		"set k 0 0 2\r\nxyz\r\n", "set k 0 0 1\r\nx\n\r\n", "set k 0 0 x\r\n", "set k 0 0 -1\r\n",
		"cas k 0 0 x 1\r\n", "ms k\r\n", "ms k x\r\n", "ms k -1\r\n", "ms k 2 T0\r\nhello\r\n",
	} {
		var req protocols.Request
		_, perr := c.ParseRequest([]byte(in), &req)
		if perr == nil {
			t.Errorf("%q: walnut accepted it", in)
			continue
		}
		ours := string(c.AppendError(nil, perr))
		nc := dialMC(t, addr)
		got := direct(t, nc, in)
		if theirs := got[:strings.IndexByte(got, '\n')+1]; theirs != ours {
			t.Errorf("%q: walnut %q, memcached %q", in, ours, theirs)
		}
	}
}
