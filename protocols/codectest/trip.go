package codectest

import (
	"errors"
	"fmt"

	"github.com/walnutproxy/walnut/protocols"
)

// tripRun holds a trip's bytes and the buffers a client connection
// reuses from request to request, so that running it again allocates
// nothing unless the codec does.
type tripRun struct {
	tr        *Trip
	name      string
	c         protocols.Codec
	request   []byte
	responses [][]byte
	names     []string
	session   any
	req       protocols.Request
	parts     []protocols.Part
	toServer  []byte
	out       []byte
}

func (s *suite) newTripRun(tr *Trip) *tripRun {
	t := &tripRun{tr: tr, name: tr.name(), c: s.c, request: []byte(tr.Request)}
	for i, r := range tr.Responses {
		t.responses = append(t.responses, []byte(r))
		t.names = append(t.names, fmt.Sprintf("codectest-server-%d", i))
	}
	t.session = s.session()
	if tr.Session != nil && s.sessions != nil {
		t.session = s.sessions.UnmarshalSession(tr.Session)
	}
	return t
}

// run drives the trip once, as the core would, and returns the client's
// reply. It reports nothing itself: an error says what went wrong, and
// costs an allocation only then.
func (t *tripRun) run() ([]byte, error) {
	req := &t.req
	req.Reset()
	req.Session = t.session
	req.Servers = t.tr.Servers // as the core sets it, for a codec that serves one server as it is
	if n, err := t.c.ParseRequest(t.request, req); err != nil || n != len(t.request) {
		return nil, fmt.Errorf("trip %s: ParseRequest = (%d, %v), want the whole %d bytes", t.name, n, err, len(t.request))
	}
	if req.Kind == protocols.Local {
		if len(t.responses) > 0 {
			return nil, fmt.Errorf("trip %s: the request is Local, yet the trip has server responses", t.name)
		}
		t.out = append(t.out[:0], req.Reply...)
		return t.out, nil
	}
	t.fillParts()
	for i := range t.parts {
		p := &t.parts[i]
		t.toServer = t.c.AppendRequest(t.toServer[:0], req, p.Keys)
		if n, err := t.c.ParseResponse(p.Resp, req); err != nil || n != len(p.Resp) {
			return nil, fmt.Errorf("trip %s: ParseResponse of part %d = (%d, %v), want the whole %d bytes", t.name, i, n, err, len(p.Resp))
		}
	}
	t.out = t.c.AppendReply(t.out[:0], req, t.parts)
	return t.out, nil
}

// try runs the trip for a check, reporting a panic or an error as a
// failure; ok is false after either.
func (t *tripRun) try(r reporter) (out []byte, ok bool) {
	r.Helper()
	defer func() {
		if p := recover(); p != nil {
			r.Errorf("trip %s panicked: %v", t.name, p)
			ok = false
		}
	}()
	out, err := t.run()
	if err != nil {
		r.Errorf("%v", err)
		return nil, false
	}
	return out, true
}

// fillParts makes the parts of the parsed request as the core would,
// with the servers' responses in them, and gives a Broadcast or Targeted
// request the pool's server count.
func (t *tripRun) fillParts() {
	req := &t.req
	fanOut := req.Kind == protocols.Broadcast || req.Kind == protocols.Targeted
	if fanOut {
		req.Servers = t.tr.Servers
		if req.Servers == 0 {
			req.Servers = len(t.responses)
		}
	}
	t.parts = t.parts[:0]
	for i, r := range t.responses {
		p := protocols.Part{Resp: r, Server: i, Name: t.names[i]}
		if t.tr.Parts != nil {
			p.Keys = t.tr.Parts[i]
		}
		if req.Kind == protocols.Targeted {
			p.Server = req.Target
		}
		t.parts = append(t.parts, p)
	}
}

// errFailed is the failure of a part whose server gave no answer.
var errFailed = errors.New("codectest: server timed out")

// checkTrips runs each trip and checks its reply, that its encoders only
// append, and that a reply with any one part failed is made without a
// panic, by appending.
func (s *suite) checkTrips(r reporter) {
	r.Helper()
	for i := range s.cases.Trips {
		tr := &s.cases.Trips[i]
		t := s.newTripRun(tr)
		out, ok := t.try(r)
		if !ok {
			continue
		}
		switch {
		case tr.NoReply && len(out) > 0:
			r.Errorf("trip %s: reply %s, want none", t.name, quote(string(out)))
		case tr.Reply != "" && string(out) != tr.Reply:
			r.Errorf("trip %s: reply %s, want %s", t.name, quote(string(out)), quote(tr.Reply))
		}
		req := &t.req
		if req.Kind == protocols.Local {
			continue
		}
		for j := range t.parts {
			keys := t.parts[j].Keys
			appendOnly(r, fmt.Sprintf("trip %s: AppendRequest for part %d (keys %v)", t.name, j, keys), func(dst []byte) []byte {
				return s.c.AppendRequest(dst, req, keys)
			})
		}
		parts := t.parts
		appendOnly(r, fmt.Sprintf("trip %s: AppendReply", t.name), func(dst []byte) []byte {
			return s.c.AppendReply(dst, req, parts)
		})
		for j := range parts {
			failed := append([]protocols.Part(nil), parts...)
			failed[j].Resp, failed[j].Err = nil, errFailed
			appendOnly(r, fmt.Sprintf("trip %s: AppendReply with part %d failed", t.name, j), func(dst []byte) []byte {
				return s.c.AppendReply(dst, req, failed)
			})
		}
		if req.Kind == protocols.Targeted {
			// Every server from Target on is out of the routing table.
			appendOnly(r, fmt.Sprintf("trip %s: AppendReply with no part", t.name), func(dst []byte) []byte {
				return s.c.AppendReply(dst, req, nil)
			})
		}
	}
}
