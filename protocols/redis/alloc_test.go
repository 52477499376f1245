package redis

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// scenario is one request's full trip through the codec as the core
// drives it: parse, one request per part, frame each server reply, merge.
type scenario struct {
	name    string
	request string
	parts   [][]int32 // nil: one part, the whole request
	replies []string  // one per part
}

func mgetScenario(n, nparts int) scenario {
	args := []string{"MGET"}
	s := scenario{name: fmt.Sprintf("MGET%d/%d parts", n, nparts)}
	s.parts = make([][]int32, nparts)
	for i := 0; i < n; i++ {
		args = append(args, fmt.Sprintf("key:%06d", i))
		s.parts[i%nparts] = append(s.parts[i%nparts], int32(i))
	}
	for _, p := range s.parts {
		r := appendCount(nil, '*', len(p))
		for _, k := range p {
			r = appendBulk(r, []byte(fmt.Sprintf("value-for-key-%06d", k)))
		}
		s.replies = append(s.replies, string(r))
	}
	s.request = mb(args...)
	return s
}

func msetScenario(n, nparts int) scenario {
	args := []string{"MSET"}
	s := scenario{name: fmt.Sprintf("MSET%d/%d parts", n, nparts)}
	s.parts = make([][]int32, nparts)
	for i := 0; i < n; i++ {
		args = append(args, fmt.Sprintf("key:%06d", i), fmt.Sprintf("value-%06d", i))
		s.parts[i%nparts] = append(s.parts[i%nparts], int32(i))
	}
	for range s.parts {
		s.replies = append(s.replies, "+OK\r\n")
	}
	s.request = mb(args...)
	return s
}

var scenarios = []scenario{
	{name: "GET", request: mb("GET", "key:000001"), replies: []string{"$16\r\nvalue-for-key-01\r\n"}},
	{name: "SET", request: mb("SET", "key:000001", "value-for-key-01"), replies: []string{"+OK\r\n"}},
	{name: "inline GET", request: "GET key:000001\r\n", replies: []string{"$-1\r\n"}},
	mgetScenario(10, 3),
	msetScenario(10, 3),
	{name: "DEL3/2 parts", request: mb("DEL", "a", "b", "c"), parts: [][]int32{{0, 2}, {1}}, replies: []string{":2\r\n", ":1\r\n"}},
	{name: "EVAL", request: mb("EVAL", "return 1", "1", "k"), replies: []string{":1\r\n"}},
	{name: "PING", request: mb("PING")},
	{name: "unsupported", request: mb("MONITOR")},
	{name: "SCAN", request: mb("SCAN", "140737488355330", "COUNT", "100"), replies: []string{"*2\r\n$2\r\n17\r\n*1\r\n$1\r\nk\r\n"}},
	{name: "DBSIZE/3 servers", request: mb("DBSIZE"), replies: []string{":1\r\n", ":2\r\n", ":3\r\n"}},
	{name: "arity", request: mb("GET")},
}

// trip holds one scenario's bytes and the buffers a connection would
// reuse from request to request.
type trip struct {
	*scenario
	reqBytes   []byte
	replyBytes [][]byte
	req        protocols.Request
	parts      []protocols.Part
	out, toSrv []byte
}

func newTrip(s *scenario) *trip {
	tr := &trip{scenario: s, reqBytes: []byte(s.request)}
	for _, r := range s.replies {
		tr.replyBytes = append(tr.replyBytes, []byte(r))
	}
	return tr
}

// run drives the request once through c and returns the client's reply.
func (tr *trip) run(tb testing.TB, c *Codec) []byte {
	req := &tr.req
	req.Reset()
	if n, err := c.ParseRequest(tr.reqBytes, req); err != nil || n != len(tr.reqBytes) {
		tb.Fatalf("%s: n=%d err=%v", tr.name, n, err)
	}
	if req.Kind == protocols.Local {
		tr.out = append(tr.out[:0], req.Reply...)
		return tr.out
	}
	tr.parts = tr.parts[:0]
	for i, r := range tr.replyBytes {
		var keys []int32
		if tr.scenario.parts != nil {
			keys = tr.scenario.parts[i]
		}
		tr.toSrv = c.AppendRequest(tr.toSrv[:0], req, keys)
		if n, err := c.ParseResponse(r, req); err != nil || n != len(r) {
			tb.Fatalf("%s: reply n=%d err=%v", tr.name, n, err)
		}
		tr.parts = append(tr.parts, protocols.Part{Keys: keys, Resp: r})
	}
	tr.out = c.AppendReply(tr.out[:0], req, tr.parts)
	return tr.out
}

// TestZeroAllocations asserts the core's requirement: after warm-up, a
// request costs no allocation on the common paths.
func TestZeroAllocations(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for i := range scenarios {
		tr := newTrip(&scenarios[i])
		if out := tr.run(t, c); len(out) == 0 && tr.name != "PING" {
			t.Errorf("%s: empty reply", tr.name)
		}
		allocs := testing.AllocsPerRun(200, func() { tr.run(t, c) })
		if allocs != 0 {
			t.Errorf("%s: %v allocations per request", tr.name, allocs)
		}
	}
}

// TestConcurrentUse shares one codec between goroutines, as a pool's
// connections do; run with -race.
func TestConcurrentUse(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	want := make([]string, len(scenarios))
	for i := range scenarios {
		want[i] = string(newTrip(&scenarios[i]).run(t, c))
	}
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			trips := make([]*trip, len(scenarios))
			for i := range scenarios {
				trips[i] = newTrip(&scenarios[i])
			}
			for n := 0; n < 200; n++ {
				for i, tr := range trips {
					if got := string(tr.run(goroutineTB{t}, c)); got != want[i] {
						t.Errorf("%s: %q, want %q", tr.name, got, want[i])
						return
					}
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

// goroutineTB reports a fatal failure from a goroutine other than the
// test's own, where testing.T.FailNow must not be called.
type goroutineTB struct{ testing.TB }

func (g goroutineTB) Fatalf(format string, args ...any) {
	g.Errorf(format, args...)
	runtime.Goexit()
}
