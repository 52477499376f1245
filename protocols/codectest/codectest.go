package codectest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// Request is one of the codec's own requests, whole, as a client sends
// it.
type Request struct {
	// Name names the case in failures; "" names it by its bytes.
	Name string
	In   string
	// Want, if not nil, is what In parses to.
	Want *Want
}

// Want is what a request parses to, in the fields of protocols.Request
// every codec fills the same way. What a codec keeps for itself (Cmd,
// Flags, Args) its own tests check.
type Want struct {
	Kind protocols.Kind
	// Keys are compared whole: nil and empty both mean no keys.
	Keys []string
	// Reply is the answer to a Local request ("" for none), and Close
	// whether the client is closed after it.
	Reply string
	Close bool
}

// Response is a server's response to one of the codec's requests.
type Response struct {
	// Name names the case in failures; "" names it by its bytes.
	Name string
	// To is the request the response answers, which the codec parses
	// first. "" stands for a zero protocols.Request, for codecs whose
	// responses frame alike whatever they answer.
	To string
	In string
	// Len is the length of the response when In holds more after it (the
	// start of the next one); 0 means all of In.
	Len int
}

// Trip is one request's whole way through the codec, as the core drives
// it: the request parsed, a request appended for each server's part, each
// server's response framed, and the client's reply made from them.
type Trip struct {
	// Name names the trip in failures and in BenchmarkTrips; "" names it
	// by its request.
	Name    string
	Request string
	// Parts are the keys, as indices into the request's Keys, that each
	// server's part carries; nil means one part per response, each for
	// the whole request (Forward, Broadcast, Targeted).
	Parts [][]int32
	// Responses are what each part's server answered, one per part (none
	// for a Local request).
	Responses []string
	// Servers is the pool's server count, which the core gives every
	// request before ParseRequest (0 there: unknown), and Broadcast and
	// Targeted requests again; 0 means one per response for these.
	Servers int
	// Reply is what the client gets; "" leaves it unchecked unless
	// NoReply says the client gets nothing (memcached's noreply).
	Reply   string
	NoReply bool
	// Session, for a codec with sessions, is the client's session as the
	// codec's MarshalSession writes it: the trip runs as that client's
	// (Redis: one that said HELLO 3) instead of a new one's. Other checks
	// parse the trip's request as a new client's.
	Session []byte
}

// Cases are the codec's own messages that the kit drives it with. Each
// is checked on its own, so the more forms of the protocol they list,
// edge cases included, the more the kit proves.
type Cases struct {
	// Requests are valid requests. The requests of Trips join them.
	Requests []Request
	// Bad are requests the codec refuses with an error (and closes the
	// client): malformed ones, not those it answers with a reply of its
	// own.
	Bad []string
	// Responses are valid responses. Those of Trips join them.
	Responses []Response
	// BadResponses are responses the codec refuses with an error (and
	// closes the server connection); Len is not used.
	BadResponses []Response
	Trips        []Trip
}

// checks are the subtests, in the order they run; the package comment
// says what each promises.
var checks = []struct {
	name string
	run  func(*suite, reporter)
}{
	{"Requests", (*suite).checkRequests},
	{"Pipeline", (*suite).checkPipeline},
	{"Reuse", (*suite).checkReuse},
	{"BadRequests", (*suite).checkBad},
	{"Responses", (*suite).checkResponses},
	{"BadResponses", (*suite).checkBadResponses},
	{"Trips", (*suite).checkTrips},
	{"Errors", (*suite).checkErrors},
	{"NoAllocs", (*suite).checkNoAllocs},
	{"Concurrent", (*suite).checkConcurrent},
}

// TestCodec checks c against the contract of protocols.Codec on cases,
// each check a subtest of t, and reports every failure through t.
//
// Do not call it from a parallel test: NoAllocs counts allocations with
// testing.AllocsPerRun, which sees those of every goroutine.
func TestCodec(t *testing.T, c protocols.Codec, cases Cases) {
	t.Helper()
	s, err := newSuite(c, cases)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range checks {
		t.Run(ch.name, func(t *testing.T) { ch.run(s, t) })
	}
}

// Check runs TestCodec's checks without a *testing.T. It returns nil if
// c passes, else an error per failure, each prefixed with the name of its
// check.
func Check(c protocols.Codec, cases Cases) error {
	s, err := newSuite(c, cases)
	if err != nil {
		return err
	}
	var errs []error
	for _, ch := range checks {
		for _, msg := range failures(func(r reporter) { ch.run(s, r) }) {
			errs = append(errs, fmt.Errorf("%s: %s", ch.name, msg))
		}
	}
	return errors.Join(errs...)
}

// suite is one run of the kit: the codec, what it implements beyond
// Codec, and the cases, with those of the trips merged in.
type suite struct {
	c        protocols.Codec
	sizer    protocols.Sizer
	sessions protocols.Sessions
	client   []byte // a new client's session, marshalled
	cases    Cases
	reqs     []Request
	resps    []Response
}

func newSuite(c protocols.Codec, cases Cases) (*suite, error) {
	if c == nil {
		return nil, errors.New("codectest: nil codec")
	}
	s := &suite{c: c, cases: cases}
	s.sizer, _ = c.(protocols.Sizer)
	s.sessions, _ = c.(protocols.Sessions)
	if s.sessions != nil {
		s.client = s.sessions.MarshalSession(s.sessions.NewSession())
	}
	s.reqs = append(s.reqs, cases.Requests...)
	s.resps = append(s.resps, cases.Responses...)
	for _, tr := range cases.Trips {
		if tr.Parts != nil && len(tr.Parts) != len(tr.Responses) {
			return nil, fmt.Errorf("codectest: trip %s has %d parts and %d responses", tr.name(), len(tr.Parts), len(tr.Responses))
		}
		if tr.NoReply && tr.Reply != "" {
			return nil, fmt.Errorf("codectest: trip %s has a Reply and NoReply", tr.name())
		}
		name := tr.name()
		s.reqs = append(s.reqs, Request{Name: "trip " + name, In: tr.Request})
		for j, r := range tr.Responses {
			s.resps = append(s.resps, Response{Name: fmt.Sprintf("trip %s response %d", name, j), To: tr.Request, In: r})
		}
	}
	for _, r := range s.resps {
		if r.Len < 0 || r.Len > len(r.In) {
			return nil, fmt.Errorf("codectest: response %s has Len %d, outside its %d bytes", r.name(), r.Len, len(r.In))
		}
	}
	return s, nil
}

// session returns a client's session, nil for a codec without
// sessions. Every one is the same new client's, copied through
// MarshalSession and UnmarshalSession, so that a request parses alike
// wherever it comes, even one whose answer names the client (Redis'
// HELLO), and none sees what an earlier one changed (Redis' SELECT).
func (s *suite) session() any {
	if s.sessions == nil {
		return nil
	}
	return s.sessions.UnmarshalSession(s.client)
}

// request returns a Request ready for ParseRequest, with a session, as
// the core hands it over.
func (s *suite) request() *protocols.Request {
	return &protocols.Request{Session: s.session()}
}

// reset readies a reused Request as the core does before each parse.
func (s *suite) reset(req *protocols.Request) {
	req.Reset()
	req.Session = s.session()
}

func (r *Request) name() string {
	if r.Name != "" {
		return r.Name
	}
	return quote(r.In)
}

func (r *Response) name() string {
	if r.Name != "" {
		return r.Name
	}
	return quote(r.In)
}

func (t *Trip) name() string {
	if t.Name != "" {
		return t.Name
	}
	return quote(t.Request)
}

// length is how long the response is.
func (r *Response) length() int {
	if r.Len > 0 {
		return r.Len
	}
	return len(r.In)
}

// quote shows a message in failures, cut short: cases may be kilobytes.
func quote(s string) string {
	const shown = 60
	if len(s) > shown {
		return fmt.Sprintf("%q...(%d bytes)", s[:shown], len(s))
	}
	return fmt.Sprintf("%q", s)
}
