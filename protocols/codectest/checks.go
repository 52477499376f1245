package codectest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// parsed is a valid request case as it parses alone.
type parsed struct {
	name string
	in   []byte
	snap snapshot
}

// parseAll parses every valid request alone, reporting those that do
// not parse whole, and returns the others.
func (s *suite) parseAll(r reporter, report bool) []parsed {
	r.Helper()
	var out []parsed
	for i := range s.reqs {
		rc := &s.reqs[i]
		name, in := rc.name(), []byte(rc.In)
		req := s.request()
		v := s.parse(r, in, req)
		if v.panicked {
			continue
		}
		if v.n != len(in) || v.err != nil {
			if report {
				r.Errorf("%s: ParseRequest = %v, want the whole %d bytes", name, v, len(in))
			}
			continue
		}
		if report {
			checkWant(r, name, rc.In, req, rc.Want)
		}
		if sn, ok := s.snap(r, name, req); ok {
			out = append(out, parsed{name, in, sn})
		}
	}
	return out
}

// checkRequests: each valid request parses whole, to what the case
// says; every prefix is "need more"; followed by more bytes it parses
// the same; what AppendRequest sends for it is appended.
func (s *suite) checkRequests(r reporter) {
	r.Helper()
	for _, p := range s.parseAll(r, true) {
		whole := verdict{n: len(p.in)}
		s.requestPrefixes(r, p.name, p.in, whole)
		two := append(slices.Clip(p.in), p.in...)
		req := s.request()
		v := s.parse(r, two, req)
		if v.panicked {
			continue
		}
		if !v.same(whole) {
			r.Errorf("%s: followed by another request, it parses as %v, alone as %v", p.name, v, whole)
			continue
		}
		if sn, ok := s.snap(r, p.name, req); ok {
			if d := diff(sn, p.snap); d != "" {
				r.Errorf("%s: followed by another request, it parses otherwise than alone: %s", p.name, d)
			}
		}
		if req.Kind == protocols.Split {
			for k := range req.Keys {
				appendOnly(r, fmt.Sprintf("%s: AppendRequest for key %d alone", p.name, k), func(dst []byte) []byte {
					return s.c.AppendRequest(dst, req, []int32{int32(k)})
				})
			}
		}
	}
}

// checkPipeline sends every valid request back to back, as a
// pipelining client does, parsing into one reused Request: first one byte
// at a time into a growing buffer, parsing whenever a byte comes, then
// all at once, each request followed by the next. Each must parse as it
// does alone, at the first chance.
func (s *suite) checkPipeline(r reporter) {
	r.Helper()
	want := s.parseAll(r, false)
	var stream []byte
	for _, p := range want {
		stream = append(stream, p.in...)
	}
	req := s.request()
	const trickle, burst = "arriving a byte at a time", "all at once"
	var buf []byte
	next := 0
	for _, b := range stream {
		buf = append(buf, b)
		n, ok := s.parsePipeline(r, trickle, buf, req, want, &next)
		if !ok {
			return
		}
		buf = buf[n:]
	}
	if next != len(want) {
		r.Errorf("the pipeline of %d requests, %s, parsed as %d, with %s left", len(want), trickle, next, quote(string(buf)))
	}
	next = 0
	if n, ok := s.parsePipeline(r, burst, stream, req, want, &next); ok && n != len(stream) {
		r.Errorf("the pipeline of %d requests, %s, parsed as %d, with %s left", len(want), burst, next, quote(string(stream[n:])))
	}
}

// parsePipeline parses the requests buf holds, the next of want first,
// and returns how many bytes they take; ok is false after a failure.
func (s *suite) parsePipeline(r reporter, mode string, buf []byte, req *protocols.Request, want []parsed, next *int) (n int, ok bool) {
	r.Helper()
	for {
		s.reset(req)
		v := s.parse(r, buf[n:], req)
		switch {
		case v.panicked:
			return n, false
		case v.needMore():
			return n, true
		case *next == len(want) || v.n != len(want[*next].in) || v.err != nil:
			r.Errorf("in the pipeline, %s, the %s that follow the first %d requests parse as %v", mode, quote(string(buf[n:])), *next, v)
			return n, false
		}
		sn, ok := s.snap(r, want[*next].name, req)
		if !ok {
			return n, false
		}
		if d := diff(sn, want[*next].snap); d != "" {
			r.Errorf("%s: in the pipeline, %s, it parses otherwise than alone: %s", want[*next].name, mode, d)
		}
		*next++
		n += v.n
	}
}

// checkReuse parses each valid request into a Request that held each
// other one, then was Reset, as the core reuses them: it must parse as
// into a fresh one.
func (s *suite) checkReuse(r reporter) {
	r.Helper()
	all := s.parseAll(r, false)
	for _, a := range all {
		for _, b := range all {
			req := s.request()
			if v := s.parse(r, a.in, req); v.panicked {
				return
			}
			s.reset(req)
			v := s.parse(r, b.in, req)
			if v.panicked {
				return
			}
			if v.n != len(b.in) || v.err != nil {
				r.Errorf("%s: into a Request that held %s, it parses as %v", b.name, a.name, v)
				return
			}
			sn, ok := s.snap(r, b.name, req)
			if !ok {
				return
			}
			if d := diff(sn, b.snap); d != "" {
				r.Errorf("%s: into a Request that held %s, it parses otherwise than into a fresh one: %s", b.name, a.name, d)
				return
			}
		}
	}
}

// checkBad: each bad request gets a protocol error, without a panic;
// each prefix is "need more" or that error, so that the client is told
// the same however the request arrives; AppendError answers it.
func (s *suite) checkBad(r reporter) {
	r.Helper()
	for _, bad := range s.cases.Bad {
		name, in := quote(bad), []byte(bad)
		v := s.parse(r, in, s.request())
		if !wellFormed(r, "ParseRequest", in, v) {
			continue
		}
		if v.err == nil {
			r.Errorf("%s: ParseRequest = %v, want an error", name, v)
			continue
		}
		if !protocols.IsProtocolError(v.err) {
			r.Errorf("%s: error %q is a %T, not a *protocols.ProtocolError", name, v.err, v.err)
		}
		s.requestPrefixes(r, name, in, v)
		s.answers(r, v.err)
	}
}

// answers checks that AppendError answers err, by appending; it returns
// false if it reported a failure.
func (s *suite) answers(r reporter, err error) bool {
	r.Helper()
	what := fmt.Sprintf("AppendError(%q)", err)
	out, ok := appendOnly(r, what, func(dst []byte) []byte { return s.c.AppendError(dst, err) })
	if ok && len(out) == 0 {
		r.Errorf("%s appended nothing", what)
		return false
	}
	return ok
}

// requestFor parses the request a response answers.
func (s *suite) requestFor(r reporter, to string) (*protocols.Request, bool) {
	r.Helper()
	if to == "" {
		return &protocols.Request{}, true
	}
	req := s.request()
	v := s.parse(r, []byte(to), req)
	if v.panicked {
		return nil, false
	}
	if v.n != len(to) || v.err != nil {
		r.Errorf("request %s, which a response answers, parses as %v", quote(to), v)
		return nil, false
	}
	return req, true
}

// checkResponses: each valid response frames to its length, alone, and
// followed by more; every prefix is "need more", and ResponseSize never
// says more than the length.
func (s *suite) checkResponses(r reporter) {
	r.Helper()
	for i := range s.resps {
		rc := &s.resps[i]
		name, in, n := rc.name(), []byte(rc.In), rc.length()
		to, ok := s.requestFor(r, rc.To)
		if !ok {
			continue
		}
		whole := verdict{n: n}
		if v := s.parseResponse(r, in, to); v.panicked {
			continue
		} else if !v.same(whole) {
			r.Errorf("%s: ParseResponse = %v, want (%d, nil)", name, v, n)
			continue
		}
		if v := s.parseResponse(r, in[:n], to); !v.panicked && !v.same(whole) {
			r.Errorf("%s: alone, ParseResponse = %v, want (%d, nil)", name, v, n)
		}
		two := append(slices.Clip(in[:n]), in[:n]...)
		if v := s.parseResponse(r, two, to); !v.panicked && !v.same(whole) {
			r.Errorf("%s: followed by another response, ParseResponse = %v, want (%d, nil)", name, v, n)
		}
		s.responsePrefixes(r, name, in[:n], to, whole)
	}
}

// checkBadResponses: each bad response gets an error, without a panic,
// at the first prefix that shows the fault at the latest. It need not be
// a protocol error: that is the client's fault, this the server's.
func (s *suite) checkBadResponses(r reporter) {
	r.Helper()
	for i := range s.cases.BadResponses {
		rc := &s.cases.BadResponses[i]
		name, in := rc.name(), []byte(rc.In)
		to, ok := s.requestFor(r, rc.To)
		if !ok {
			continue
		}
		v := s.parseResponse(r, in, to)
		if !wellFormed(r, "ParseResponse", in, v) {
			continue
		}
		if v.err == nil {
			r.Errorf("%s: ParseResponse = %v, want an error", name, v)
			continue
		}
		s.responsePrefixes(r, name, in, to, v)
	}
}

// checkErrors gives AppendError the errors the core gives it: each gets
// a reply carrying its text, appended.
func (s *suite) checkErrors(r reporter) {
	r.Helper()
	for _, tc := range []struct {
		err  error
		text string // "": the codec may word it its own way
	}{
		{protocols.ErrRequestTooLarge, protocols.ErrRequestTooLarge.Msg},
		{fmt.Errorf("codectest: %w", protocols.Errorf("a wrapped protocol error")), "a wrapped protocol error"},
		{errors.New("codectest: no server is available"), "codectest: no server is available"},
		{&protocols.CrossServerError{First: "a", Key: "b"}, ""},
		{&protocols.ElsewhereError{Key: 1}, ""},
		{protocols.ErrNoLease, ""},
	} {
		what := fmt.Sprintf("AppendError(%q)", tc.err)
		out, ok := appendOnly(r, what, func(dst []byte) []byte { return s.c.AppendError(dst, tc.err) })
		switch {
		case !ok:
		case len(out) == 0:
			r.Errorf("%s appended nothing", what)
		case !strings.Contains(string(out), tc.text):
			r.Errorf("%s = %q, which does not carry the error's text", what, out)
		}
	}
}

// allocRuns is how many runs AllocsPerRun averages over. It floors the
// average, so a path that allocates at all on every run shows.
const allocRuns = 100

// allocs measures f; a panic is reported and counts as none.
func allocs(r reporter, what string, f func()) (n float64) {
	r.Helper()
	defer func() {
		if p := recover(); p != nil {
			r.Errorf("%s panicked: %v", what, p)
			n = 0
		}
	}()
	return testing.AllocsPerRun(allocRuns, f)
}

// checkNoAllocs: after a first run, parsing each valid request into a
// reused Request, appending it for a server into a reused buffer,
// framing each response, rejecting each bad request and each whole trip
// allocate nothing.
func (s *suite) checkNoAllocs(r reporter) {
	r.Helper()
	req := &protocols.Request{}
	for _, p := range s.parseAll(r, false) {
		req.Session = s.session()
		if a := allocs(r, p.name, func() {
			req.Reset()
			s.c.ParseRequest(p.in, req)
		}); a != 0 {
			r.Errorf("%s: %v allocations per ParseRequest", p.name, a)
		}
		if req.Kind == protocols.Local {
			continue
		}
		var buf []byte
		if a := allocs(r, p.name, func() { buf = s.c.AppendRequest(buf[:0], req, nil) }); a != 0 {
			r.Errorf("%s: %v allocations per AppendRequest", p.name, a)
		}
	}
	for _, bad := range s.cases.Bad {
		in := []byte(bad)
		req.Session = s.session()
		if a := allocs(r, quote(bad), func() {
			req.Reset()
			s.c.ParseRequest(in, req)
		}); a != 0 {
			r.Errorf("%s: %v allocations per ParseRequest refusing it; protocols.Errorf builds errors once, as package variables", quote(bad), a)
		}
	}
	for i := range s.resps {
		rc := &s.resps[i]
		to, ok := s.requestFor(r, rc.To)
		if !ok {
			continue
		}
		in := []byte(rc.In)
		if a := allocs(r, rc.name(), func() { s.c.ParseResponse(in, to) }); a != 0 {
			r.Errorf("%s: %v allocations per ParseResponse", rc.name(), a)
		}
	}
	for i := range s.cases.Trips {
		t := s.newTripRun(&s.cases.Trips[i])
		if _, ok := t.try(r); !ok {
			continue
		}
		if a := allocs(r, "trip "+t.name, func() { t.run() }); a != 0 {
			r.Errorf("trip %s: %v allocations per trip (parse, requests, responses, reply)", t.name, a)
		}
	}
}

// In Concurrent, goroutines share the codec; each runs every trip
// rounds times and parses every request in the first requestRounds, for
// a snapshot of each parse costs more than a trip.
const goroutines, rounds, requestRounds = 4, 200, 20

// checkConcurrent shares the codec between goroutines, as a pool's
// connections do: every trip and request must come out as it does
// serially. Run with -race, it also catches data races.
func (s *suite) checkConcurrent(r reporter) {
	r.Helper()
	reqs := s.parseAll(r, false)
	replies := make([]*string, len(s.cases.Trips))
	for i := range s.cases.Trips {
		if out, ok := s.newTripRun(&s.cases.Trips[i]).try(r); ok {
			reply := string(out)
			replies[i] = &reply
		}
	}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			trips := make([]*tripRun, len(replies))
			for i := range trips {
				trips[i] = s.newTripRun(&s.cases.Trips[i])
			}
			req := s.request()
			for round := range rounds {
				for i, t := range trips {
					if replies[i] == nil {
						continue
					}
					out, ok := t.try(r)
					if !ok {
						return
					}
					if string(out) != *replies[i] {
						r.Errorf("trip %s: reply %s while others ran, %s alone", t.name, quote(string(out)), quote(*replies[i]))
						return
					}
				}
				if round >= requestRounds {
					continue
				}
				for _, p := range reqs {
					s.reset(req)
					v := s.parse(r, p.in, req)
					if v.panicked {
						return
					}
					sn, ok := s.snap(r, p.name, req)
					if !ok {
						return
					}
					if v.n != len(p.in) || v.err != nil {
						r.Errorf("%s: ParseRequest = %v while others ran", p.name, v)
						return
					}
					if d := diff(sn, p.snap); d != "" {
						r.Errorf("%s: parses otherwise while others ran: %s", p.name, d)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
