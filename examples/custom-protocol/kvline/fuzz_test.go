package kvline

import (
	"bytes"
	"slices"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/codectest"
)

// The fuzz targets start from the test tables; `go test -fuzz
// FuzzParseRequest` explores from there, and plain `go test` runs the
// seeds. The kit checks what holds for any codec on any input (no
// panic, lengths within the input, protocol errors, every prefix "need
// more" or the same verdict, encoders that only append); the hooks here
// check what is kvline's own.

// fuzzCodecs are a codec with the defaults and one with limits small
// enough for the fuzzer to reach.
func fuzzCodecs(f *testing.F) []protocols.Codec {
	return []protocols.Codec{newCodec(f, protocols.Options{}), newCodec(f, limits)}
}

func FuzzParseRequest(f *testing.F) {
	var seeds []string
	for _, tr := range trips {
		seeds = append(seeds, tr.Request)
	}
	for _, tc := range requests {
		seeds = append(seeds, tc.in)
	}
	seeds = append(seeds, badRequests...)
	seeds = append(seeds, limited.Bad...)
	seeds = append(seeds, "GET a\r\nSET b c\r\nMGET a b\n")
	codectest.FuzzRequests(f, fuzzCodecs(f), checkRequest, seeds...)
}

// checkRequest checks a request parsed whole: its keys and arguments are
// slices of it, its keys are valid, a local reply is one line, and what
// goes to the backends is one line that parses back to the same command
// and keys.
func checkRequest(t *testing.T, pc protocols.Codec, msg []byte, req *protocols.Request) {
	c := pc.(*Codec)
	for _, a := range append(append([][]byte(nil), req.Keys...), req.Args...) {
		if len(a) > 0 && !within(msg, a) {
			t.Fatalf("%q is not a slice of the request", a)
		}
	}
	for _, k := range req.Keys {
		if len(k) == 0 || len(k) > MaxKeyLen || slices.ContainsFunc(k, func(b byte) bool { return b <= ' ' || b == 0x7f }) {
			t.Fatalf("key %q", k)
		}
	}
	switch req.Kind {
	case protocols.Local:
		if r := req.Reply; !bytes.HasSuffix(r, []byte("\r\n")) || bytes.IndexByte(r, '\n') != len(r)-1 {
			t.Fatalf("local reply %q is not one line", r)
		}
		if len(req.Keys) != 0 {
			t.Fatalf("local request with keys %q", req.Keys)
		}
	case protocols.Forward:
		if len(req.Keys) != 1 {
			t.Fatalf("%v forwarded with keys %q", Command(req.Cmd), req.Keys)
		}
		checkResend(t, c, c.AppendRequest(nil, req, nil), req, strs(req.Keys))
	case protocols.Split:
		if len(req.Keys) == 0 {
			t.Fatalf("%v split without keys", Command(req.Cmd))
		}
		all := make([]int32, len(req.Keys))
		for k := range all {
			all[k] = int32(k)
			checkResend(t, c, c.AppendRequest(nil, req, all[k:k+1]), req, []string{string(req.Keys[k])})
		}
		checkResend(t, c, c.AppendRequest(nil, req, all), req, strs(req.Keys))
	case protocols.Broadcast:
		if len(req.Keys) != 0 {
			t.Fatalf("%v broadcast with keys %q", Command(req.Cmd), req.Keys)
		}
		checkResend(t, c, c.AppendRequest(nil, req, nil), req, nil)
	default:
		t.Fatalf("kind %d", req.Kind)
	}
}

// checkResend checks that out, sent to a backend, is one request that
// parses to orig's command and kind with keys.
func checkResend(t *testing.T, c *Codec, out []byte, orig *protocols.Request, keys []string) {
	var back protocols.Request
	n, err := c.ParseRequest(out, &back)
	if n != len(out) || err != nil || back.Cmd != orig.Cmd || back.Kind != orig.Kind || !slices.Equal(strs(back.Keys), keys) {
		t.Fatalf("sent %q, which parses as n=%d err=%v %v kind %d keys %q, want %v kind %d keys %q",
			out, n, err, Command(back.Cmd), back.Kind, back.Keys, Command(orig.Cmd), orig.Kind, keys)
	}
}

// respRequests are the requests whose responses FuzzParseResponse frames,
// one picked by the first byte of each input (modulo their number). A
// corpus entry in testdata/fuzz picks by place: add to the end.
var respRequests = []string{
	"GET a\r\n",
	"SET a b\r\n",
	"DEL a b\r\n",
	"SIZE\r\n",
	"MGET a\r\n",
	"MGET a b\r\n",
	"MGET a b c d e f g h\r\n",
	"PING\r\n",
}

// respSeed makes resp, a response to the request to, a seed: the first
// byte picks the request of respRequests of the same command with as
// many keys, or the most there are.
func respSeed(f *testing.F, to, resp string) string {
	c := newCodec(f, protocols.Options{})
	var want protocols.Request
	c.ParseRequest([]byte(to), &want)
	pick := -1
	for i, r := range respRequests {
		var req protocols.Request
		c.ParseRequest([]byte(r), &req)
		if req.Cmd != want.Cmd {
			continue
		}
		pick = i
		if len(req.Keys) >= len(want.Keys) {
			break
		}
	}
	if pick < 0 {
		f.Fatalf("no request in respRequests answered as %q is", to)
	}
	return string([]byte{byte(pick)}) + resp
}

func FuzzParseResponse(f *testing.F) {
	var seeds []string
	for _, tr := range trips {
		for _, r := range tr.Responses {
			seeds = append(seeds, respSeed(f, tr.Request, r))
		}
	}
	for _, tab := range [][]codectest.Response{responses, badResponses, limited.Responses, limited.BadResponses} {
		for _, r := range tab {
			seeds = append(seeds, respSeed(f, r.To, r.In))
		}
	}
	codectest.FuzzResponses(f, fuzzCodecs(f), respRequests, checkReply, seeds...)
}

// checkReply checks that whatever a backend answered, the client gets
// whole lines: as the one part of the request, and as both parts of a
// split. Missed must not fail on it either.
func checkReply(t *testing.T, pc protocols.Codec, resp []byte, to *protocols.Request) {
	c := pc.(*Codec)
	if to.Kind == protocols.Local {
		return
	}
	checkLines(t, c.AppendReply(nil, to, []protocols.Part{{Resp: resp}}))
	if len(to.Keys) > 1 {
		parts := []protocols.Part{{Keys: []int32{0}, Resp: resp}, {Keys: []int32{1}, Resp: resp}}
		checkLines(t, c.AppendReply(nil, to, parts))
	}
	c.Missed(to, resp)
}

// checkLines checks that r is lines ended by CRLF.
func checkLines(t *testing.T, r []byte) {
	if !bytes.HasSuffix(r, []byte("\r\n")) {
		t.Fatalf("reply %q does not end a line", r)
	}
	for i, b := range r {
		if b == '\n' && (i == 0 || r[i-1] != '\r') {
			t.Fatalf("reply %q has an LF without a CR", r)
		}
	}
}

func FuzzGreetingAndHealth(f *testing.F) {
	for _, s := range []string{"OK\r\n", "ERROR no\r\n", "PONG\r\n", "PONG x\r\n", "garbage", "\r\n"} {
		f.Add([]byte(s))
	}
	c := fuzzCodecs(f)[1].(*Codec)
	f.Fuzz(func(t *testing.T, buf []byte) {
		if n, err := c.GreetingReply(0, buf); n < 0 || n > len(buf) || (err != nil && n != 0) {
			t.Fatalf("GreetingReply: n=%d err=%v", n, err)
		}
		if n, ok, err := c.HealthReply(buf); n < 0 || n > len(buf) || (err != nil && (n != 0 || ok)) {
			t.Fatalf("HealthReply: n=%d ok=%v err=%v", n, ok, err)
		}
	})
}

// within reports whether a is a slice of buf, not a copy.
func within(buf, a []byte) bool {
	for i := range buf {
		if &buf[i] == &a[0] {
			return i+len(a) <= len(buf)
		}
	}
	return false
}

func strs(bs [][]byte) []string {
	var out []string
	for _, b := range bs {
		out = append(out, string(b))
	}
	return out
}
