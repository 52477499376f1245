package codectest

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// The broken codecs are tiny with one mistake each, the kind a codec
// makes.

// partialErr refuses a request it has not read to the end, where it
// should ask for more.
type partialErr struct{ tiny }

func (c partialErr) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	if bytes.IndexByte(buf, '\n') < 0 {
		return 0, protocols.Errorf("incomplete request")
	}
	return c.tiny.ParseRequest(buf, req)
}

// allocating copies the keys out of the buffer.
type allocating struct{ tiny }

func (c allocating) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	n, err := c.tiny.ParseRequest(buf, req)
	if len(req.Keys) > 0 {
		req.Keys = append([][]byte(nil), req.Keys...)
	}
	return n, err
}

// rewritesDst writes its reply over what dst held, a forgotten dst in
// append(dst[:0], ...).
type rewritesDst struct{ tiny }

func (c rewritesDst) AppendReply(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	return c.tiny.AppendReply(dst[:0], req, parts)
}

// panicky indexes past a bad length instead of refusing it.
type panicky struct{ tiny }

func (c panicky) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	n, err := c.tiny.ParseRequest(buf, req)
	if err == errTinyLength {
		_ = buf[len(buf)+n]
	}
	return n, err
}

// plainError refuses a bad request with an error that is not a
// *protocols.ProtocolError.
type plainError struct{ tiny }

func (c plainError) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	n, err := c.tiny.ParseRequest(buf, req)
	if err != nil {
		err = errors.New(err.Error())
	}
	return n, err
}

// unstable applies a shorter line limit to what it has read than to a
// whole line, so a long request's prefixes fail where it succeeds.
type unstable struct{ tiny }

func (c unstable) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	if len(buf) > 16 && bytes.IndexByte(buf[:16], '\n') < 0 && bytes.IndexByte(buf, '\n') < 0 {
		return 0, errTinyLine
	}
	return c.tiny.ParseRequest(buf, req)
}

// oversized counts the set's newline twice in RequestSize.
type oversized struct{ tiny }

func (c oversized) RequestSize(buf []byte) int {
	if n := c.tiny.RequestSize(buf); n > 0 {
		return n + 1
	}
	return 0
}

// staleKeys leaves the keys of the request before in the capacity that
// Reset kept.
type staleKeys struct{ tiny }

func (c staleKeys) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	n, err := c.tiny.ParseRequest(buf, req)
	if n > 0 && req.Kind == protocols.Split {
		req.Keys = req.Keys[:cap(req.Keys)]
	}
	return n, err
}

// counting shares state between calls: every PONG counts the PINGs.
type counting struct {
	tiny
	pings *atomic.Int64
}

func (c counting) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	n, err := c.tiny.ParseRequest(buf, req)
	if n > 0 && req.Cmd == tinyPing {
		req.Reply = append(req.Reply[:0], "+pong "...)
		req.Reply = append(req.Reply, byte('0'+c.pings.Add(1)%10), '\n')
	}
	return n, err
}

// hastyResponses refuses a value before its data has arrived, where it
// should ask for more.
type hastyResponses struct{ tiny }

func (c hastyResponses) ParseResponse(buf []byte, req *protocols.Request) (int, error) {
	if len(buf) > 0 && buf[len(buf)-1] != '\n' {
		return 0, errTinyReply
	}
	return c.tiny.ParseResponse(buf, req)
}

// lenientResponses frames whatever follows a value's header as the
// value, even bytes that do not end it with a newline.
type lenientResponses struct{ tiny }

func (c lenientResponses) ParseResponse(buf []byte, req *protocols.Request) (int, error) {
	n, err := c.tiny.ParseResponse(buf, req)
	if err != nil && len(buf) > 0 && buf[0] == '$' {
		return len(buf), nil
	}
	return n, err
}

// silentErrors appends nothing for an error.
type silentErrors struct{ tiny }

func (silentErrors) AppendError(dst []byte, err error) []byte { return dst }

// junkReader reads the spare capacity of dst as if it were its own.
type junkReader struct{ tiny }

func (c junkReader) AppendRequest(dst []byte, req *protocols.Request, keys []int32) []byte {
	if cap(dst) > len(dst) && dst[:len(dst)+1][len(dst)] != 0 {
		return append(dst, '?')
	}
	return c.tiny.AppendRequest(dst, req, keys)
}

// TestKitCatches runs the kit on each broken codec and expects the
// failure its mistake causes, from the check named; and where an input
// shows the mistake to the fuzz bodies, the same failure from them.
func TestKitCatches(t *testing.T) {
	for _, tc := range []struct {
		name       string
		c          protocols.Codec
		check, msg string
		// request or response, if not "", is fed to FuzzRequests' or
		// FuzzResponses' body.
		request, response string
	}{
		{"error on a partial request", partialErr{}, "Requests", "incomplete request", "get k\n", ""},
		{"allocates", allocating{}, "NoAllocs", "allocations per ParseRequest", "", ""},
		{"rewrites dst", rewritesDst{}, "Trips", "changed the bytes already in dst", "get k\n", ""},
		{"panics on bad input", panicky{}, "BadRequests", "panicked", "set k 99999\n", ""},
		{"a plain error", plainError{}, "BadRequests", "not a *protocols.ProtocolError", "set k 2\nabc\n", ""},
		{"not prefix stable", unstable{}, "Requests", "a prefix must be need more or the same verdict", "mget aaaaaaaa bbbbbbbb\n", ""},
		{"RequestSize too large", oversized{}, "Requests", "RequestSize of its first", "set k 1\nx\n", ""},
		{"stale keys", staleKeys{}, "Reuse", "otherwise than into a fresh one", "", ""},
		{"shared state", counting{pings: new(atomic.Int64)}, "Concurrent", "while others ran", "", ""},
		{"silent errors", silentErrors{}, "Errors", "appended nothing", "set k x\n", ""},
		{"error on a partial response", hastyResponses{}, "Responses", "a prefix must be need more", "", "$5\nhello\n"},
		{"accepts a bad response", lenientResponses{}, "BadResponses", "want an error", "", ""},
		{"reads dst's spare capacity", junkReader{}, "Requests", "must not depend on dst", "get k\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.c, tinyCases)
			if err == nil {
				t.Fatal("the kit passed it")
			}
			if !slices.ContainsFunc(strings.Split(err.Error(), "\n"), func(line string) bool {
				return strings.HasPrefix(line, tc.check+": ") && strings.Contains(line, tc.msg)
			}) {
				t.Errorf("no %s failure about %q in:\n%v", tc.check, tc.msg, err)
			}
			if tc.request == "" && tc.response == "" {
				return
			}
			s, err := newSuite(tc.c, Cases{})
			if err != nil {
				t.Fatal(err)
			}
			got := failures(func(r reporter) {
				if tc.request != "" {
					s.fuzzRequest(r, []byte(tc.request))
				}
				if tc.response != "" {
					s.fuzzResponse(r, []byte(tc.response), &protocols.Request{})
				}
			})
			if !strings.Contains(strings.Join(got, "\n"), tc.msg) {
				t.Errorf("fuzzing %q %q: no failure about %q in %q", tc.request, tc.response, tc.msg, got)
			}
		})
	}
}

// TestTinyPasses runs the kit on the correct codec, as a codec's own
// test does.
func TestTinyPasses(t *testing.T) {
	TestCodec(t, tiny{}, tinyCases)
}

func TestCheckRefusesBadCases(t *testing.T) {
	for _, cases := range []Cases{
		{Trips: []Trip{{Request: "mget a\n", Parts: [][]int32{{0}}}}},
		{Trips: []Trip{{Request: "quit\n", Reply: "x", NoReply: true}}},
		{Responses: []Response{{In: "+OK\n", Len: 5}}},
	} {
		if err := Check(tiny{}, cases); err == nil || !strings.HasPrefix(err.Error(), "codectest: ") {
			t.Errorf("%+v: %v", cases, err)
		}
	}
	if err := Check(nil, tinyCases); err == nil {
		t.Error("a nil codec passed")
	}
}

// TestFuzzBodiesPassTiny feeds the fuzz bodies random inputs made of
// tiny's own pieces (a fixed seed and count, so that it is bounded and
// repeatable): the correct codec must pass them all.
func TestFuzzBodiesPassTiny(t *testing.T) {
	s, err := newSuite(tiny{}, Cases{})
	if err != nil {
		t.Fatal(err)
	}
	pieces := []string{"get ", "mget ", "set ", "ping", "quit", "k", " ", "\n", "2", "-1", "$", "*", "+", "-", "ab", "x"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var b []byte
		for range rng.IntN(12) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		if got := failures(func(r reporter) {
			s.fuzzRequest(r, b)
			s.fuzzResponse(r, b, &protocols.Request{})
		}); len(got) > 0 {
			t.Fatalf("%q: %s", b, strings.Join(got, "\n"))
		}
	}
}

func FuzzTinyRequests(f *testing.F) {
	var seeds []string
	for _, r := range tinyCases.Requests {
		seeds = append(seeds, r.In)
	}
	seeds = append(seeds, tinyCases.Bad...)
	FuzzRequests(f, []protocols.Codec{tiny{}}, nil, seeds...)
}

func FuzzTinyResponses(f *testing.F) {
	var seeds []string
	for _, r := range tinyCases.Responses {
		if r.To == "" {
			seeds = append(seeds, r.In)
		}
	}
	FuzzResponses(f, []protocols.Codec{tiny{}}, nil, nil, seeds...)
}
