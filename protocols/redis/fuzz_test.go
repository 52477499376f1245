package redis

import (
	"slices"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/codectest"
)

// The seed corpora live in testdata/fuzz, so that plain `go test` runs
// every seed; `go test -fuzz FuzzParseRequest` explores from them. The
// kit checks what every codec promises; the hooks here what Redis' does.

func FuzzParseRequest(f *testing.F) {
	var seeds []string
	for _, tc := range validRequests {
		seeds = append(seeds, tc.in)
	}
	codectest.FuzzRequests(f, []protocols.Codec{
		newCodec(f, protocols.Options{}),
		newCodec(f, protocols.Options{MaxRequestSize: 64, MaxValueSize: 16}),
	}, checkRequest, seeds...)
}

// checkRequest checks a request parsed whole, with a new client's
// session: its arguments are slices of it, a local reply is one RESP
// value, and what goes to the servers parses back to the same command.
func checkRequest(t *testing.T, pc protocols.Codec, msg []byte, req *protocols.Request) {
	c := pc.(*Codec)
	for _, a := range append(append([][]byte(nil), req.Args...), req.Keys...) {
		if len(a) > 0 && !within(msg, a) && &a[0] != &placeholderKey[0] {
			t.Fatalf("%q is not a slice of the request", a)
		}
	}
	switch {
	case req.Kind == protocols.Local:
		if len(req.Reply) > 0 {
			if rn, err := replyLen(req.Reply, defaultMaxBulk); err != nil || rn != len(req.Reply) {
				t.Fatalf("local reply %q is not one RESP value: %d %v", req.Reply, rn, err)
			}
		}
		if len(req.Keys) != 0 {
			t.Fatalf("local request with keys %q", req.Keys)
		}
	case req.Conn >= protocols.Pinned:
		checkSendsWhole(t, c, req)
	case req.Kind == protocols.Broadcast || req.Kind == protocols.Targeted:
		checkFanOut(t, c, req)
	default:
		if len(req.Keys) == 0 {
			t.Fatal("routed request without keys")
		}
		// What goes to the server parses back to the same arguments.
		out := c.AppendRequest(nil, req, nil)
		if req.Conn == protocols.Once && req.Flags&reqPrefixed != 0 {
			// CLIENT ID ahead of a blocking command (clientcmds.go).
			if !strings.HasPrefix(string(out), string(clientIDReq)) {
				t.Fatalf("blocking request to server %q lacks CLIENT ID", out)
			}
			out = out[len(clientIDReq):]
		}
		checkResend(t, c, out, strs(req.Args))
		if req.Kind == protocols.Split {
			step := policies[req.Cmd].step
			for k := range req.Keys {
				want := []string{string(req.Args[0]), string(req.Keys[k])}
				if step == 2 {
					want = append(want, string(req.Args[2+2*k]))
				}
				checkResend(t, c, c.AppendRequest(nil, req, []int32{int32(k)}), want)
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
	if scriptHook(req.Cmd) && req.Flags&reqRewrite != 0 {
		// A script without keys that may write goes as its _RO form.
		name = strings.TrimSuffix(name, "_RO") + "_RO"
	}
	if twoReplies(req) && err == nil && n < len(out) {
		// FUNCTION LOAD and RESTORE: and the FUNCTION LIST after them.
		var list protocols.Request
		m, err := c2.ParseRequest(out[n:], &list)
		if err != nil || n+m != len(out) || len(list.Args) < 2 || !equalFold(list.Args[1], "LIST") {
			t.Fatalf("request to servers %q: %q after the command (err=%v)", out, strs(list.Args), err)
		}
		out = out[:n]
	}
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
	if err != nil || n != len(out) || !slices.Equal(strs(req.Args), want) {
		t.Fatalf("request to server %q parses as %q (n=%d err=%v), want %q", out, strs(req.Args), n, err, want)
	}
}

func FuzzParseResponse(f *testing.F) {
	seeds := slices.Clone(validReplies)
	for _, tc := range badReplies {
		seeds = append(seeds, tc.in)
	}
	codectest.FuzzResponses(f, []protocols.Codec{
		newCodec(f, protocols.Options{}),
		newCodec(f, protocols.Options{MaxValueSize: 8}),
	}, nil, nil, seeds...)
}
