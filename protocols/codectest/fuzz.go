package codectest

import (
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// maxPrefixCheck bounds the inputs whose every prefix is parsed: the
// check is quadratic, and a large input the fuzzer finds should not
// stall it.
const maxPrefixCheck = 4096

// A Hook runs a codec's own checks on a message it framed whole. For
// FuzzRequests msg is a request and req what it parsed to; for
// FuzzResponses msg is a response and req the request it answers.
type Hook func(t *testing.T, c protocols.Codec, msg []byte, req *protocols.Request)

// FuzzRequests fuzzes ParseRequest of each codec (one per set of
// options, such as limits) with arbitrary input, seeded with seeds and
// the target's testdata/fuzz corpus. On any input: ParseRequest does not
// panic; its length is within the input, and 0 with an error; an error
// is a *protocols.ProtocolError, and AppendError answers it by appending;
// every prefix is "need more" or the same verdict (up to 4 KiB), and
// RequestSize of a prefix never says more than the request's length. A
// request parsed whole has Raw equal to its bytes, parses alone as it
// does followed by the rest of the input, and AppendRequest, whole or for
// one key of a Split, and AppendReply with its server failed, only
// append. hook, if not nil, then checks what is the codec's own.
func FuzzRequests(f *testing.F, codecs []protocols.Codec, hook Hook, seeds ...string) {
	f.Helper()
	suites := fuzzSuites(f, codecs)
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range suites {
			req, n, ok := s.fuzzRequest(t, data)
			if ok && n > 0 && hook != nil {
				hook(t, s.c, data[:n], req)
			}
		}
	})
}

// FuzzResponses fuzzes ParseResponse of each codec with arbitrary input.
// With requests, the first byte of an input picks the one the rest
// answers (modulo their number), each parsed by the codec; with none, the
// whole input answers a zero protocols.Request. Seeds are inputs in that
// form. On any input: ParseResponse does not panic; its length is within
// the input, and 0 with an error; every prefix is "need more" or the same
// verdict (up to 4 KiB), and ResponseSize of a prefix never says more
// than the response's length; a response framed whole frames alike
// alone. hook, if not nil, then checks what is the codec's own.
func FuzzResponses(f *testing.F, codecs []protocols.Codec, requests []string, hook Hook, seeds ...string) {
	f.Helper()
	suites := fuzzSuites(f, codecs)
	// Each codec parses the requests into Requests of its own.
	tos := make([][]*protocols.Request, len(suites))
	for i, s := range suites {
		for _, in := range requests {
			req, ok := s.requestFor(f, in)
			if !ok {
				f.FailNow()
			}
			tos[i] = append(tos[i], req)
		}
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var pick byte
		if len(requests) > 0 {
			if len(data) == 0 {
				return
			}
			pick, data = data[0], data[1:]
		}
		for i, s := range suites {
			to := &protocols.Request{}
			if len(requests) > 0 {
				to = tos[i][int(pick)%len(requests)]
			}
			n, ok := s.fuzzResponse(t, data, to)
			if ok && n > 0 && hook != nil {
				hook(t, s.c, data[:n], to)
			}
		}
	})
}

func fuzzSuites(f *testing.F, codecs []protocols.Codec) []*suite {
	f.Helper()
	suites := make([]*suite, len(codecs))
	for i, c := range codecs {
		s, err := newSuite(c, Cases{})
		if err != nil {
			f.Fatal(err)
		}
		suites[i] = s
	}
	return suites
}

// fuzzRequest is FuzzRequests' body for one codec. It returns the
// request parsed and its length, and false if it reported a failure.
func (s *suite) fuzzRequest(r reporter, data []byte) (*protocols.Request, int, bool) {
	r.Helper()
	req := s.request()
	v := s.parse(r, data, req)
	if !wellFormed(r, "ParseRequest", data, v) {
		return nil, 0, false
	}
	name := quote(string(data))
	ok := true
	if v.err != nil {
		if !protocols.IsProtocolError(v.err) {
			r.Errorf("%s: error %q is a %T, not a *protocols.ProtocolError", name, v.err, v.err)
			ok = false
		}
		if !s.answers(r, v.err) {
			ok = false
		}
	}
	if len(data) <= maxPrefixCheck {
		s.requestPrefixes(r, name, data, v)
	}
	if v.n == 0 {
		return nil, 0, ok
	}
	msg := data[:v.n]
	if string(req.Raw) != string(msg) {
		r.Errorf("%s: Raw is %s, not the %d bytes of the request", name, quote(string(req.Raw)), v.n)
		return nil, 0, false
	}
	whole, snapped := s.snap(r, name, req)
	if !snapped {
		return nil, 0, false
	}
	alone := s.request()
	if w := s.parse(r, msg, alone); w.panicked {
		return nil, 0, false
	} else if !w.same(v) {
		r.Errorf("%s: its first request parses as %v alone, %v followed by the rest", name, w, v)
		return nil, 0, false
	}
	if sn, snapped := s.snap(r, name, alone); !snapped {
		return nil, 0, false
	} else if d := diff(sn, whole); d != "" {
		r.Errorf("%s: its first request parses otherwise alone than followed by the rest: %s", name, d)
		return nil, 0, false
	}
	if req.Kind == protocols.Local {
		return req, v.n, ok
	}
	if req.Kind == protocols.Split {
		for k := range req.Keys {
			if _, appended := appendOnly(r, fmt.Sprintf("%s: AppendRequest for key %d alone", name, k), func(dst []byte) []byte {
				return s.c.AppendRequest(dst, req, []int32{int32(k)})
			}); !appended {
				return nil, 0, false
			}
		}
	}
	// The core would have given a fan-out request the pool's size and
	// sent a Targeted one to its Target; a copy keeps req as parsed for
	// the hook.
	sent := *req
	failed := []protocols.Part{{Err: errFailed}}
	if sent.Kind == protocols.Broadcast || sent.Kind == protocols.Targeted {
		sent.Servers = max(sent.Target+1, 1)
		failed[0].Server = max(sent.Target, 0)
	}
	if _, appended := appendOnly(r, fmt.Sprintf("%s: AppendReply with its server failed", name), func(dst []byte) []byte {
		return s.c.AppendReply(dst, &sent, failed)
	}); !appended {
		return nil, 0, false
	}
	return req, v.n, ok
}

// fuzzResponse is FuzzResponses' body for one codec. It returns the
// response's length, and false if it reported a failure.
func (s *suite) fuzzResponse(r reporter, data []byte, to *protocols.Request) (int, bool) {
	r.Helper()
	v := s.parseResponse(r, data, to)
	if !wellFormed(r, "ParseResponse", data, v) {
		return 0, false
	}
	name := quote(string(data))
	if len(data) <= maxPrefixCheck {
		s.responsePrefixes(r, name, data, to, v)
	}
	if v.n == 0 {
		return 0, true
	}
	if w := s.parseResponse(r, data[:v.n], to); w.panicked {
		return 0, false
	} else if !w.same(v) {
		r.Errorf("%s: its first response frames as %v alone, %v followed by the rest", name, w, v)
		return 0, false
	}
	return v.n, true
}
