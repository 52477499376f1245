package redis

import (
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// The seed corpora live in testdata/fuzz, so that plain `go test` runs
// every seed; `go test -fuzz FuzzParseRequest` explores from them.

// maxPrefixCheck bounds the quadratic every-prefix checks, so that a large
// input found by the fuzzer does not stall it.
const maxPrefixCheck = 4096

func FuzzParseRequest(f *testing.F) {
	for _, tc := range validRequests {
		f.Add([]byte(tc.in))
	}
	codecs := []*Codec{
		newCodec(f, protocols.Options{}),
		newCodec(f, protocols.Options{MaxRequestSize: 64, MaxValueSize: 16}),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range codecs {
			checkRequest(t, c, data)
		}
	})
}

func checkRequest(t *testing.T, c *Codec, data []byte) {
	var req protocols.Request
	n, err := c.ParseRequest(data, &req)
	if n < 0 || n > len(data) || (err != nil && n != 0) {
		t.Fatalf("n=%d err=%v for %d bytes", n, err, len(data))
	}
	if err != nil && !protocols.IsProtocolError(err) {
		t.Fatalf("not a protocol error: %v", err)
	}
	if len(data) <= maxPrefixCheck {
		// Fed byte by byte, every shorter buffer must be "need more" or
		// the same verdict.
		var p protocols.Request
		for i := 0; i < len(data); i++ {
			p.Reset()
			pn, perr := c.ParseRequest(data[:i], &p)
			if s := c.RequestSize(data[:i]); s != 0 && n > 0 && err == nil && s > n {
				// The announced size is never more than the whole
				// request: no buffer is made bigger than needed.
				t.Fatalf("prefix %d: RequestSize %d, request %d bytes", i, s, n)
			}
			if pn == 0 && perr == nil {
				continue
			}
			if pn != n || perr != err {
				t.Fatalf("prefix %d: n=%d err=%v; whole: n=%d err=%v", i, pn, perr, n, err)
			}
		}
	}
	if n == 0 {
		return
	}
	if string(req.Raw) != string(data[:n]) {
		t.Fatalf("raw %q, want %q", req.Raw, data[:n])
	}
	for _, a := range append(append([][]byte(nil), req.Args...), req.Keys...) {
		if len(a) > 0 && !within(data[:n], a) && &a[0] != &placeholderKey[0] {
			t.Fatalf("%q is not a slice of the request", a)
		}
	}
	switch req.Kind {
	case protocols.Local:
		if len(req.Reply) > 0 {
			if rn, err := replyLen(req.Reply, defaultMaxBulk); err != nil || rn != len(req.Reply) {
				t.Fatalf("local reply %q is not one RESP value: %d %v", req.Reply, rn, err)
			}
		}
		if len(req.Keys) != 0 {
			t.Fatalf("local request with keys %q", req.Keys)
		}
	case protocols.Broadcast, protocols.Targeted:
		checkFanOut(t, c, &req)
	case protocols.Forward, protocols.Split:
		if len(req.Keys) == 0 {
			t.Fatal("routed request without keys")
		}
		// What goes to the server parses back to the same arguments.
		checkResend(t, c, c.AppendRequest(nil, &req, nil), strs(req.Args))
		if req.Kind == protocols.Split {
			step := policies[req.Cmd].step
			for k := range req.Keys {
				want := []string{string(req.Args[0]), string(req.Keys[k])}
				if step == 2 {
					want = append(want, string(req.Args[2+2*k]))
				}
				checkResend(t, c, c.AppendRequest(nil, &req, []int32{int32(k)}), want)
			}
		}
	}
}

// checkFanOut checks a Broadcast or Targeted request: no keys, and what
// goes to the servers is one request of the same command.
func checkFanOut(t *testing.T, c *Codec, req *protocols.Request) {
	if len(req.Keys) != 0 {
		t.Fatalf("%s request with keys %q", policies[req.Cmd].upper, req.Keys)
	}
	out := c.AppendRequest(nil, req, nil)
	c2 := &Codec{maxBulk: defaultMaxBulk, maxReplyBulk: defaultMaxBulk}
	var back protocols.Request
	n, err := c2.ParseRequest(out, &back)
	name, _, _ := strings.Cut(policies[req.Cmd].upper, "|")
	if err != nil || n != len(out) || len(back.Args) == 0 || !equalFold(back.Args[0], name) {
		t.Fatalf("request to servers %q parses as %q (n=%d err=%v)", out, strs(back.Args), n, err)
	}
}

func checkResend(t *testing.T, c *Codec, out []byte, want []string) {
	// The server-side request may exceed the client-side limits (an
	// inline request grows when re-encoded), so parse it without them.
	c2 := &Codec{maxBulk: defaultMaxBulk, maxReplyBulk: defaultMaxBulk}
	var req protocols.Request
	n, err := c2.ParseRequest(out, &req)
	if err != nil || n != len(out) || !eqStrs(strs(req.Args), want) {
		t.Fatalf("request to server %q parses as %q (n=%d err=%v), want %q", out, strs(req.Args), n, err, want)
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, r := range validReplies {
		f.Add([]byte(r))
	}
	codecs := []*Codec{
		newCodec(f, protocols.Options{}),
		newCodec(f, protocols.Options{MaxValueSize: 8}),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range codecs {
			n, err := c.ParseResponse(data, nil)
			if n < 0 || n > len(data) || (err != nil && n != 0) {
				t.Fatalf("n=%d err=%v for %d bytes", n, err, len(data))
			}
			if len(data) <= maxPrefixCheck {
				for i := 0; i < len(data); i++ {
					pn, perr := c.ParseResponse(data[:i], nil)
					if s := c.ResponseSize(data[:i]); s != 0 && n > 0 && err == nil && s > n {
						t.Fatalf("prefix %d: ResponseSize %d, reply %d bytes", i, s, n)
					}
					if (pn != 0 || perr != nil) && (pn != n || perr != err) {
						t.Fatalf("prefix %d: n=%d err=%v; whole: n=%d err=%v", i, pn, perr, n, err)
					}
				}
			}
			if n > 0 {
				if n2, err := c.ParseResponse(data[:n], nil); n2 != n || err != nil {
					t.Fatalf("the reply alone: n=%d err=%v, want %d", n2, err, n)
				}
			}
		}
	})
}
