package memcached

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// scenario is one request's full trip through the codec as the core
// drives it: parse, one request per part, frame each server response,
// build the reply.
type scenario struct {
	name      string
	request   string
	parts     [][]int32 // nil: one part, the whole request
	responses []string  // one per part
	reply     string    // what the client gets
}

// getScenario is a get of n keys over nparts servers, every third key a
// miss.
func getScenario(n, nparts int) scenario {
	s := scenario{name: fmt.Sprintf("get%d/%d parts", n, nparts), parts: make([][]int32, nparts)}
	keys := make([]string, n)
	resps := make([]strings.Builder, nparts)
	var reply strings.Builder
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%06d", i)
		p := i % nparts
		s.parts[p] = append(s.parts[p], int32(i))
		if i%3 != 2 {
			v := val(keys[i], fmt.Sprintf("value-for-key-%06d", i))
			resps[p].WriteString(v)
			reply.WriteString(v)
		}
	}
	for p := range resps {
		resps[p].WriteString("END\r\n")
		s.responses = append(s.responses, resps[p].String())
	}
	s.request = "get " + strings.Join(keys, " ") + "\r\n"
	s.reply = reply.String() + "END\r\n"
	return s
}

var scenarios = []scenario{
	{name: "get", request: "get key:000001\r\n", responses: []string{val("key:000001", "value-for-key-01") + "END\r\n"},
		reply: val("key:000001", "value-for-key-01") + "END\r\n"},
	{name: "get miss", request: "get key:000001\r\n", responses: []string{"END\r\n"}, reply: "END\r\n"},
	{name: "gets", request: "gets key:000001\r\n", responses: []string{"VALUE key:000001 0 2 1234\r\nab\r\nEND\r\n"},
		reply: "VALUE key:000001 0 2 1234\r\nab\r\nEND\r\n"},
	{name: "set", request: "set key:000001 0 0 16\r\nvalue-for-key-01\r\n", responses: []string{"STORED\r\n"}, reply: "STORED\r\n"},
	{name: "set noreply", request: "set key:000001 0 0 16 noreply\r\nvalue-for-key-01\r\n", responses: []string{"STORED\r\n"}},
	{name: "cas", request: "cas key:000001 0 0 1 99\r\nx\r\n", responses: []string{"EXISTS\r\n"}, reply: "EXISTS\r\n"},
	{name: "delete", request: "delete key:000001\r\n", responses: []string{"DELETED\r\n"}, reply: "DELETED\r\n"},
	{name: "incr", request: "incr key:000001 5\r\n", responses: []string{"15\r\n"}, reply: "15\r\n"},
	{name: "touch", request: "touch key:000001 10\r\n", responses: []string{"TOUCHED\r\n"}, reply: "TOUCHED\r\n"},
	{name: "mg", request: "mg key:000001 v f O123\r\n", responses: []string{"VA 2 f0 O123\r\nab\r\n"}, reply: "VA 2 f0 O123\r\nab\r\n"},
	{name: "mg quiet miss", request: "mg key:000001 q v O123\r\n", responses: []string{"EN O123\r\n"}},
	{name: "ms", request: "ms key:000001 2 T0 F5\r\nab\r\n", responses: []string{"HD\r\n"}, reply: "HD\r\n"},
	{name: "ms quiet", request: "ms key:000001 2 q\r\nab\r\n", responses: []string{"HD\r\n"}},
	{name: "md", request: "md key:000001\r\n", responses: []string{"NF\r\n"}, reply: "NF\r\n"},
	{name: "ma", request: "ma key:000001 v\r\n", responses: []string{"VA 1\r\n1\r\n"}, reply: "VA 1\r\n1\r\n"},
	getScenario(10, 3),
	getScenario(100, 5),
	{name: "version", request: "version\r\n", responses: []string{"VERSION 1.6.18\r\n"}, reply: "VERSION 1.6.18\r\n"},
	{name: "mn", request: "mn\r\n", reply: "MN\r\n"},
	{name: "unknown", request: "bogus\r\n", reply: "ERROR\r\n"},
	{name: "bad key", request: "get a\rb\r\n", reply: replyBadFormat},
}

// trip holds one scenario's bytes and the buffers a connection would
// reuse from request to request.
type trip struct {
	*scenario
	reqBytes  []byte
	respBytes [][]byte
	req       protocols.Request
	parts     []protocols.Part
	out       []byte
	toSrv     []byte
}

func newTrip(s *scenario) *trip {
	tr := &trip{scenario: s, reqBytes: []byte(s.request)}
	for _, r := range s.responses {
		tr.respBytes = append(tr.respBytes, []byte(r))
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
	for i, r := range tr.respBytes {
		var keys []int32
		if tr.scenario.parts != nil {
			keys = tr.scenario.parts[i]
		}
		tr.toSrv = c.AppendRequest(tr.toSrv[:0], req, keys)
		if n, err := c.ParseResponse(r, req); err != nil || n != len(r) {
			tb.Fatalf("%s: response n=%d err=%v", tr.name, n, err)
		}
		tr.parts = append(tr.parts, protocols.Part{Keys: keys, Resp: r})
	}
	tr.out = c.AppendReply(tr.out[:0], req, tr.parts)
	return tr.out
}

// TestZeroAllocations asserts the core's requirement: after warm-up, a
// request costs no allocation on the common paths, a multi-get split over
// several servers included.
func TestZeroAllocations(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for i := range scenarios {
		tr := newTrip(&scenarios[i])
		if out := string(tr.run(t, c)); out != tr.reply {
			t.Errorf("%s: reply %q, want %q", tr.name, out, tr.reply)
		}
		if allocs := testing.AllocsPerRun(200, func() { tr.run(t, c) }); allocs != 0 {
			t.Errorf("%s: %v allocations per request", tr.name, allocs)
		}
	}
}

// TestConcurrentUse shares one codec between goroutines, as a pool's
// connections do; run with -race.
func TestConcurrentUse(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			trips := make([]*trip, len(scenarios))
			for i := range scenarios {
				trips[i] = newTrip(&scenarios[i])
			}
			for range 200 {
				for _, tr := range trips {
					if got := string(tr.run(goroutineTB{t}, c)); got != tr.reply {
						t.Errorf("%s: %q, want %q", tr.name, got, tr.reply)
						return
					}
				}
			}
		}()
	}
	for range 4 {
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
