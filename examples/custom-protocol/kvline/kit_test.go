package kvline

// Checks any codec must pass, written against protocols.Codec alone and
// driven by the tables of codec_test.go. They are what the conformance
// kit protocols/codectest checks; once it is on this branch, each
// check* call in TestContract becomes one call into the kit with the
// same tables, and this file goes.

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// trip is one request's way through a codec as the core drives it:
// parse, one server request per part, frame each server's response,
// build the client's reply.
type trip struct {
	name    string
	request string
	// parts are the key indices of each part; nil: one part, the whole
	// request (Forward, or a Split whose keys live on one server), or
	// for a Broadcast one nil per server.
	parts     [][]int32
	responses []string // one per part
	sent      []string // what AppendRequest sends each part; nil: not checked
	reply     string
}

// badRequest is input after which the client's stream cannot be
// trusted: ParseRequest must say so with a *protocols.ProtocolError.
type badRequest struct {
	name, input string
}

// badResponse is a server response ParseResponse must refuse.
type badResponse struct {
	name, request, response string
}

// run drives tr through c once, reusing tr's buffers as a connection
// reuses its own, and returns the client's reply.
type tripState struct {
	req   protocols.Request
	parts []protocols.Part
	out   []byte
	toSrv []byte
	in    []byte
	resps [][]byte
}

func newTripState(tr *trip) *tripState {
	st := &tripState{in: []byte(tr.request)}
	for _, r := range tr.responses {
		st.resps = append(st.resps, []byte(r))
	}
	return st
}

func (st *tripState) run(tb testing.TB, c protocols.Codec, tr *trip) []byte {
	req := &st.req
	req.Reset()
	n, err := c.ParseRequest(st.in, req)
	if err != nil || n != len(st.in) {
		tb.Fatalf("%s: ParseRequest n=%d err=%v, want %d", tr.name, n, err, len(st.in))
	}
	if req.Kind == protocols.Local {
		st.out = append(st.out[:0], req.Reply...)
		return st.out
	}
	st.parts = st.parts[:0]
	for i, r := range st.resps {
		var keys []int32
		if tr.parts != nil {
			keys = tr.parts[i]
		}
		st.toSrv = c.AppendRequest(st.toSrv[:0], req, keys)
		if tr.sent != nil && string(st.toSrv) != tr.sent[i] {
			tb.Fatalf("%s: part %d sent %q, want %q", tr.name, i, st.toSrv, tr.sent[i])
		}
		if m, err := c.ParseResponse(r, req); err != nil || m != len(r) {
			tb.Fatalf("%s: ParseResponse(%q) n=%d err=%v", tr.name, r, m, err)
		}
		st.parts = append(st.parts, protocols.Part{Keys: keys, Resp: r, Server: i})
	}
	st.out = c.AppendReply(st.out[:0], req, st.parts)
	return st.out
}

// checkTrips runs every trip and compares the reply.
func checkTrips(t *testing.T, c protocols.Codec, trips []trip) {
	for i := range trips {
		tr := &trips[i]
		if got := string(newTripState(tr).run(t, c, tr)); got != tr.reply {
			t.Errorf("%s: reply %q, want %q", tr.name, got, tr.reply)
		}
	}
}

// checkPartial: every strict prefix of a request or response is "need
// more" (0, nil), so that the core reads on and parses again from the
// same start.
func checkPartial(t *testing.T, c protocols.Codec, trips []trip) {
	for _, tr := range trips {
		in := []byte(tr.request)
		var req protocols.Request
		for i := range len(in) {
			req.Reset()
			if n, err := c.ParseRequest(in[:i], &req); n != 0 || err != nil {
				t.Errorf("%s: request prefix %q: n=%d err=%v, want need more", tr.name, in[:i], n, err)
			}
		}
		req.Reset()
		c.ParseRequest(in, &req)
		for _, r := range tr.responses {
			for i := range len(r) {
				if n, err := c.ParseResponse([]byte(r[:i]), &req); n != 0 || err != nil {
					t.Errorf("%s: response prefix %q: n=%d err=%v, want need more", tr.name, r[:i], n, err)
				}
			}
		}
	}
}

// checkPrefixStable: what follows a complete request changes neither
// its length nor what it parses to, as the core parses a pipeline of
// requests from one buffer.
func checkPrefixStable(t *testing.T, c protocols.Codec, trips []trip) {
	for _, tr := range trips {
		var alone, followed protocols.Request
		n1, err1 := c.ParseRequest([]byte(tr.request), &alone)
		n2, err2 := c.ParseRequest([]byte(tr.request+"GET next\r\nSET x y\r\n"), &followed)
		if n1 != n2 || err1 != err2 || alone.Kind != followed.Kind || alone.Cmd != followed.Cmd ||
			len(alone.Keys) != len(followed.Keys) || string(alone.Reply) != string(followed.Reply) {
			t.Errorf("%s: followed by more requests it parses otherwise: n %d/%d, err %v/%v", tr.name, n1, n2, err1, err2)
		}
		req := alone
		for _, r := range tr.responses {
			m1, _ := c.ParseResponse([]byte(r), &req)
			m2, _ := c.ParseResponse([]byte(r+"OK\r\n"), &req)
			if m1 != m2 {
				t.Errorf("%s: response %q framed %d bytes alone, %d followed by more", tr.name, r, m1, m2)
			}
		}
	}
}

// checkAppendOnly: the Append methods append to dst and leave what is
// there alone.
func checkAppendOnly(t *testing.T, c protocols.Codec, trips []trip) {
	const prefix = "already here\r\n"
	for i := range trips {
		tr := &trips[i]
		st := newTripState(tr)
		st.run(t, c, tr)
		if st.req.Kind == protocols.Local {
			continue
		}
		out := c.AppendReply([]byte(prefix), &st.req, st.parts)
		if string(out) != prefix+tr.reply {
			t.Errorf("%s: AppendReply after a prefix gave %q", tr.name, out)
		}
		var keys []int32
		if tr.parts != nil {
			keys = tr.parts[0]
		}
		alone := c.AppendRequest(nil, &st.req, keys)
		if out := c.AppendRequest([]byte(prefix), &st.req, keys); string(out) != prefix+string(alone) {
			t.Errorf("%s: AppendRequest after a prefix gave %q", tr.name, out)
		}
	}
	for _, err := range []error{protocols.ErrRequestTooLarge, protocols.ErrNoLease} {
		alone := c.AppendError(nil, err)
		if out := c.AppendError([]byte(prefix), err); string(out) != prefix+string(alone) {
			t.Errorf("AppendError(%v) after a prefix gave %q", err, out)
		}
	}
}

// checkProtocolErrors: bad input is refused with a *ProtocolError and no
// length, and never panics.
func checkProtocolErrors(t *testing.T, c protocols.Codec, bad []badRequest) {
	for _, b := range bad {
		var req protocols.Request
		n, err := c.ParseRequest([]byte(b.input), &req)
		if n != 0 || !protocols.IsProtocolError(err) {
			t.Errorf("%s: n=%d err=%v, want a protocol error", b.name, n, err)
		}
	}
}

// checkBadResponses: responses out of step are refused with an error.
func checkBadResponses(t *testing.T, c protocols.Codec, bad []badResponse) {
	for _, b := range bad {
		var req protocols.Request
		if _, err := c.ParseRequest([]byte(b.request), &req); err != nil {
			t.Fatalf("%s: request: %v", b.name, err)
		}
		if n, err := c.ParseResponse([]byte(b.response), &req); err == nil {
			t.Errorf("%s: response %q framed as %d bytes, want an error", b.name, b.response, n)
		}
	}
}

// checkZeroAllocs: after warm-up, a request costs no allocation.
func checkZeroAllocs(t *testing.T, c protocols.Codec, trips []trip) {
	for i := range trips {
		tr := &trips[i]
		st := newTripState(tr)
		st.run(t, c, tr)
		if allocs := testing.AllocsPerRun(100, func() { st.run(t, c, tr) }); allocs != 0 {
			t.Errorf("%s: %v allocations per request", tr.name, allocs)
		}
	}
}

// checkConcurrent shares c between goroutines, as a pool's connections
// do; run with -race.
func checkConcurrent(t *testing.T, c protocols.Codec, trips []trip) {
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			states := make([]*tripState, len(trips))
			for i := range trips {
				states[i] = newTripState(&trips[i])
			}
			for range 100 {
				for i := range trips {
					if got := states[i].run(goroutineTB{t}, c, &trips[i]); !bytes.Equal(got, []byte(trips[i].reply)) {
						t.Errorf("%s: %q, want %q", trips[i].name, got, trips[i].reply)
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
// test's own, where FailNow must not be called.
type goroutineTB struct{ testing.TB }

func (g goroutineTB) Fatalf(format string, args ...any) {
	g.Errorf(format, args...)
	runtime.Goexit()
}
