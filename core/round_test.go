//go:build linux

package core

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/core/internal/fakeproto"
)

// A client's pipelined requests go to servers that answer at different
// speeds, so their answers come in another order than the requests; the
// replies must come back in request order, whatever the rounds the
// pipeline bound cuts them into.
func TestRepliesInRequestOrder(t *testing.T) {
	for _, pipeline := range []int{256, 7, 1} {
		t.Run(fmt.Sprintf("max_pipeline=%d", pipeline), func(t *testing.T) {
			r := newRig(t, 3, fmt.Sprintf("max_pipeline = %d", pipeline))
			r.srv[1].SetDelay(500 * time.Microsecond)
			r.srv[2].SetDelay(time.Millisecond)
			c := r.dial()
			const n = 300
			var reqs, want []string
			for i := range n {
				if i%10 == 9 {
					// A split request among them, its parts on every server.
					reqs = append(reqs, fmt.Sprintf("MGET 2:m%d 0:m%d 1:m%d", i, i, i))
					want = append(want, "VALS - - -")
					continue
				}
				reqs = append(reqs, fmt.Sprintf("ECHO %d:k%d v%d", i%3, i, i))
				want = append(want, fmt.Sprintf("VAL v%d", i))
			}
			c.send(reqs...)
			c.expect(want...)
			r.settled()
		})
	}
}

// Many clients at once share the servers' connections; each gets its
// own replies, in its order.
func TestManyClientsGetTheirOwnReplies(t *testing.T) {
	r := newRig(t, 3, "server_connections = 2")
	const clients, reqs = 20, 200
	r.clients(clients, func(id int, c *tclient) {
		var b []string
		for i := range reqs {
			b = append(b, fmt.Sprintf("ECHO %d:c%d-%d c%d-%d", (i+id)%3, id, i, id, i))
		}
		if err := c.trySend(b...); err != nil {
			t.Errorf("client %d: %v", id, err)
			return
		}
		for i := range reqs {
			got, err := c.tryRead()
			if want := fmt.Sprintf("VAL c%d-%d", id, i); got != want || err != nil {
				t.Errorf("client %d, reply %d: %q, %v; want %q", id, i, got, err, want)
				return
			}
		}
	})
	var total int64
	for _, s := range r.srv {
		total += s.Received()
	}
	if total != clients*reqs {
		t.Errorf("servers received %d requests, want %d", total, clients*reqs)
	}
	r.settled()
}

// keysSent returns the MGET and DEL lines server s read.
func keysSent(s *fakeproto.Server) []string {
	var out []string
	for _, rec := range s.Log() {
		if strings.HasPrefix(rec.Line, "MGET ") || strings.HasPrefix(rec.Line, "DEL ") {
			out = append(out, rec.Line)
		}
	}
	return out
}

// A Split request goes to each server with that server's keys only, in
// the client's order, and the codec merges the answers in key order.
func TestSplitAndMerge(t *testing.T) {
	r := newRig(t, 3, "")
	c := r.dial()
	c.send("SET 0:a A", "SET 1:b B", "SET 2:c C", "SET 1:d D")
	c.expect("OK", "OK", "OK", "OK")

	c.send("MGET 2:c 0:a 1:none 1:b 0:zz 1:d")
	c.expect("VALS +C +A - +B - +D")
	for i, want := range [][]string{{"MGET 0:a 0:zz"}, {"MGET 1:none 1:b 1:d"}, {"MGET 2:c"}} {
		if got := keysSent(r.srv[i]); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("server %d read %q, want %q", i, got, want)
		}
	}
	if f := r.snap().Fragments; f != 3 {
		t.Errorf("%d fragments counted, want 3", f)
	}
	// Keys of one server: the request goes as it came.
	c.send("MGET 1:b 1:d 1:x")
	c.expect("VALS +B +D -")
	if got := keysSent(r.srv[1]); got[len(got)-1] != "MGET 1:b 1:d 1:x" {
		t.Errorf("server 1 read %q", got[len(got)-1])
	}

	c.send("DEL 0:a 2:nope 1:b 2:c")
	c.expect("INT 3")
	c.send("MGET 0:a 1:b 2:c 1:d")
	c.expect("VALS - - - +D")
	r.settled()
}

// A part whose server fails is answered with the codec's error for it;
// the other parts keep their answers.
func TestSplitPartFails(t *testing.T) {
	r := newRig(t, 3, "")
	c := r.dial()
	c.send("SET 0:a A", "SET 1:b B", "SET 2:c C")
	c.expect("OK", "OK", "OK")
	r.stop(1)
	c.send("MGET 0:a 1:b 2:c 1:x", "DEL 0:a 1:b")
	c.expect("VALS +A ! +C !")
	if got := c.read(); !strings.HasPrefix(got, "ERR Connection refused (pool p, server "+r.srv[1].Addr()+" (s1))") {
		t.Errorf("DEL with a dead server: %q", got)
	}
	if fe := r.snap().ForwardError; fe != 2 {
		t.Errorf("%d forward errors counted, want 2", fe)
	}
	r.settled()
}

// stop stops server i and waits until the proxy has seen it go, so that
// what follows finds it dead rather than racing the connection's end.
func (r *rig) stop(i int) {
	r.t.Helper()
	r.srv[i].Stop()
	waitFor(r.t, fmt.Sprintf("the proxy to see s%d close", i), func() bool {
		return r.snap().Servers[i].ServerConnections == 0
	})
}

// Local requests are the codec's to answer: no server sees them.
// Broadcast goes to every server and Targeted to the one it names.
func TestLocalBroadcastTargeted(t *testing.T) {
	r := newRig(t, 3, "")
	c := r.dial()
	c.send("PING", "NOPE x", "INFO")
	c.expect(fakeproto.ReplyPong[:4], "ERR unknown command",
		"INFO pool=p clients=1 requests=0 servers=3 ejected=0")
	for i, s := range r.srv {
		if n := s.Received(); n != 0 {
			t.Errorf("server %d received %d requests for local commands", i, n)
		}
	}
	c.send("SET 0:a 1", "SET 1:b 2", "SET 1:c 3", "COUNT")
	c.expect("OK", "OK", "OK", "INT 3")
	for i, s := range r.srv {
		if n := s.Count("COUNT"); n != 1 {
			t.Errorf("server %d read COUNT %d times", i, n)
		}
	}
	c.send("WHO 0", "WHO 2", "WHO 3", "WHO 1")
	c.expect("AT 0 s0", "AT 2 s2", "DONE", "AT 1 s1")
	c.send("QUIT", "PING")
	c.expect("BYE")
	if !c.closed() {
		t.Error("QUIT did not close the connection")
	}
	r.settled()
}

// Broadcast and Targeted requests skip ejected servers: a Broadcast
// sums the servers in the table, a Targeted one goes to the next
// server that is.
func TestFanOutSkipsEjected(t *testing.T) {
	r := newRig(t, 3, "auto_eject_hosts = true\nserver_failure_limit = 1\nserver_retry_timeout = \"1m\"")
	c := r.dial()
	c.send("SET 0:a 1", "SET 1:b 2", "SET 2:c 3")
	c.expect("OK", "OK", "OK")
	r.stop(1)
	waitFor(t, "s1 ejected", func() bool { return r.ejected(1) })
	c.send("COUNT", "WHO 1", "INFO")
	c.expect("INT 2", "AT 2 s2", "INFO pool=p clients=1 requests=3 servers=3 ejected=1")
	r.settled()
}

// A client's state (USE) reaches its server connection as a switch sent
// ahead of the request, and only when the connection is not in that
// state already.
func TestStateSwitch(t *testing.T) {
	r := newRig(t, 1, "")
	c := r.dial()
	c.send("SET 0:k zero", "USE 3", "SET 0:k three", "GET 0:k", "USE 0", "GET 0:k", "USE 3", "GET 0:k", "GET 0:k")
	c.expect("OK", "OK", "OK", "VAL three", "OK", "VAL zero", "OK", "VAL three", "VAL three")
	var got []string
	for _, rec := range r.srv[0].Log() {
		got = append(got, rec.Line)
	}
	want := []string{"SET 0:k zero", "SWITCH 3", "SET 0:k three", "GET 0:k", "SWITCH 0", "GET 0:k", "SWITCH 3", "GET 0:k", "GET 0:k"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("server read\n%q\nwant\n%q", got, want)
	}
	// States past the first 256 are kept another way.
	r.srv[0].SetMaxState(1000)
	c.send("USE 300", "SET 0:k high", "GET 0:k", "USE 0", "GET 0:k", "USE 300", "GET 0:k")
	c.expect("OK", "OK", "VAL high", "OK", "VAL zero", "OK", "VAL high")
	if n := r.srv[0].Count("SWITCH"); n != 6 {
		t.Errorf("%d switches, want 6", n)
	}
	r.settled()
}

// A switch the server refuses fails the requests queued behind it, none
// of which runs in the state the connection is still in; the next
// connection starts over.
func TestStateSwitchRefused(t *testing.T) {
	r := newRig(t, 1, "")
	c := r.dial()
	c.do("SET 0:k zero")
	c.send("USE 150", "SET 0:k bad", "USE 0", "GET 0:k")
	c.expect("OK")
	refused := "ERR switch to state 150 refused: ERR no such state (pool p, server " + r.srv[0].Addr() + " (s0))"
	c.expect(refused, "OK", refused)
	if n := r.srv[0].Count("SET"); n != 1 {
		t.Errorf("the server read %d SETs: one was sent behind a refused switch", n)
	}
	c.send("GET 0:k", "USE 4", "SET 0:k four", "USE 0", "GET 0:k")
	c.expect("VAL zero", "OK", "OK", "OK", "VAL zero")
	r.settled()
}

// A switch may take two requests, each only when its part of the state
// changes (MODE and SWITCH, as Redis' HELLO and SELECT), and each of
// its replies is taken before the request's.
func TestStateSwitchTwoRequests(t *testing.T) {
	r := newRig(t, 1, "")
	c := r.dial()
	c.send("SET 0:k zero", "USE 1003", "SET 0:k m1s3", "USE 1000", "GET 0:k", "SET 0:k m1s0",
		"USE 3", "GET 0:k", "USE 1003", "GET 0:k", "USE 0", "GET 0:k")
	c.expect("OK", "OK", "OK", "OK", "NIL", "OK", "OK", "NIL", "OK", "VAL m1s3", "OK", "VAL zero")
	var got []string
	for _, rec := range r.srv[0].Log() {
		got = append(got, rec.Line)
	}
	want := []string{"SET 0:k zero", "MODE 1", "SWITCH 3", "SET 0:k m1s3", "SWITCH 0", "GET 0:k", "SET 0:k m1s0",
		"MODE 0", "SWITCH 3", "GET 0:k", "MODE 1", "GET 0:k", "MODE 0", "SWITCH 0", "GET 0:k"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("server read\n%q\nwant\n%q", got, want)
	}
	r.settled()
}

// The first switch to a state is held until its last reply: when the
// server refuses either of its requests, nothing queued behind it runs.
func TestStateSwitchTwoRequestsRefused(t *testing.T) {
	r := newRig(t, 1, "")
	c := r.dial()
	c.do("SET 0:k zero")
	for _, tc := range []struct{ use, refused string }{
		{"USE 2005", "ERR switch to mode 2 refused: ERR no such mode"},
		{"USE 1150", "ERR switch to state 1150 refused: ERR no such state"},
	} {
		before := r.srv[0].Count("SET")
		c.send(tc.use, "SET 0:k bad", "USE 0", "GET 0:k")
		c.expect("OK")
		refused := tc.refused + " (pool p, server " + r.srv[0].Addr() + " (s0))"
		c.expect(refused, "OK", refused)
		if got := c.do("GET 0:k"); got != "VAL zero" {
			t.Errorf("%s: then GET: %q", tc.use, got)
		}
		if n := r.srv[0].Count("SET"); n != before {
			t.Errorf("%s: the server read a SET sent behind a refused switch", tc.use)
		}
	}
	r.settled()
}

// Clients in different states share the connections: each request runs
// in its client's state.
func TestStatesShareConnections(t *testing.T) {
	r := newRig(t, 2, "")
	const clients, reqs = 6, 50
	r.clients(clients, func(id int, c *tclient) {
		b := []string{fmt.Sprintf("USE %d", id)}
		for i := range reqs {
			b = append(b, fmt.Sprintf("SET %d:k%d s%d", i%2, i%5, id), fmt.Sprintf("GET %d:k%d", i%2, i%5))
		}
		if err := c.trySend(b...); err != nil {
			t.Error(err)
			return
		}
		for i := range 1 + 2*reqs {
			want := "OK"
			if i > 0 && i%2 == 0 {
				want = fmt.Sprintf("VAL s%d", id)
			}
			if got, err := c.tryRead(); got != want {
				t.Errorf("client %d, reply %d: %q, %v; want %q", id, i, got, err, want)
				return
			}
		}
	})
	r.settled()
}

// A malformed request gets the codec's error, after the replies to what
// came before it, and its client is closed; nothing after it is sent,
// and other clients go on.
func TestMalformedInput(t *testing.T) {
	cases := []struct {
		name, bad, reply string
	}{
		{"arity", "GET", "CLIENT_ERROR wrong number of arguments"},
		{"bad byte", "GET \x01", "CLIENT_ERROR byte outside printable ASCII"},
		{"empty", "", "CLIENT_ERROR empty request"},
		{"too large", strings.Repeat("x", 3000), "CLIENT_ERROR request too large"},
	}
	r := newRig(t, 1, "max_request_size = 2048")
	other := r.dial()
	other.do("ECHO 0:o warm")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := dialPool(t, r.addr)
			before := r.srv[0].Received()
			if tc.name == "too large" {
				// No line end: the request is still incomplete when it
				// outgrows the limit.
				bad.send("ECHO 0:a A")
				bad.expect("VAL A")
				if _, err := bad.nc.Write([]byte(tc.bad)); err != nil {
					t.Fatal(err)
				}
				bad.expect(tc.reply)
			} else {
				bad.send("ECHO 0:a A", tc.bad, "ECHO 0:b B")
				bad.expect("VAL A", tc.reply)
			}
			if !bad.closed() {
				t.Error("the client was not closed")
			}
			if n := r.srv[0].Received() - before; n != 1 {
				t.Errorf("the server read %d requests, want 1", n)
			}
			other.send("ECHO 0:o " + tc.name[:3])
			other.expect("VAL " + tc.name[:3])
		})
	}
	waitFor(t, "bad clients counted", func() bool { return r.snap().ClientErr == uint64(len(cases)) })
	r.settled()
}

// Requests and replies larger than the buffers they are read into grow
// them, and big replies are handed over rather than copied.
func TestLargeValues(t *testing.T) {
	r := newRig(t, 2, "")
	c := r.dial()
	for _, size := range []int{20 << 10, 300 << 10, 2 << 20} {
		v := strings.Repeat(string(rune('a'+size%26)), size)
		c.send("SET 1:big "+v, "GET 1:big", "ECHO 0:small x", "MGET 1:big 0:none")
		c.expect("OK", "VAL "+v, "VAL x", "VALS +"+v+" -")
	}
	r.settled()
}

// A pool over its client_connections tells the next client so and
// closes it; a client idle past client_timeout is closed.
func TestClientLimits(t *testing.T) {
	r := newRig(t, 1, "client_connections = 2\nclient_timeout = \"100ms\"")
	a, b := r.dial(), r.dial()
	a.do("PING")
	b.do("PING")
	c := r.dial()
	c.expect("ERR max number of clients reached")
	if !c.closed() {
		t.Error("a client over the limit was not closed")
	}
	start := time.Now()
	if !a.closed() {
		t.Error("an idle client was not closed")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("an idle client took %v to be closed", d)
	}
	waitFor(t, "the closed clients to be counted out", func() bool { return r.pool().clients.Load() == 0 })
	d := r.dial()
	if got := d.do("PING"); got != "PONG" {
		t.Errorf("a client after the others left: %q", got)
	}
}

// A Forward request whose keys live on different servers is refused
// with the core's error, quoting the keys (long ones cut); on one
// server it goes as it came.
func TestCrossServer(t *testing.T) {
	r := newRig(t, 2, "")
	c := r.dial()
	long := "1:" + strings.Repeat("k", 100)
	c.send("JOIN 0:a 0:b", "JOIN 0:a 1:b", "JOIN 0:a "+long)
	c.expect("VAL 0:a+0:b",
		`ERR keys of this request belong to different servers: "1:b" is not with "0:a" (a hash tag keeps related keys together)`,
		`ERR keys of this request belong to different servers: "`+long[:64]+`..." is not with "0:a" (a hash tag keeps related keys together)`)
	r.settled()
}
