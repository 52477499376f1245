package kvline

import (
	"bytes"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// The fuzz targets start from the test tables; `go test -fuzz
// FuzzParseRequest` explores from there. Plain `go test` runs the seeds.

// maxPrefixCheck bounds the quadratic every-prefix check, so that a
// large input the fuzzer finds does not stall it.
const maxPrefixCheck = 2048

// fuzzCodecs are a codec with the defaults and one with limits small
// enough for the fuzzer to reach.
func fuzzCodecs(f *testing.F) []*Codec {
	return []*Codec{newCodec(f, protocols.Options{}), newCodec(f, protocols.Options{MaxRequestSize: 48, MaxValueSize: 8})}
}

func FuzzParseRequest(f *testing.F) {
	for _, tr := range trips {
		f.Add([]byte(tr.request))
	}
	for _, b := range badRequests[2:] { // the first two are a megabyte each
		f.Add([]byte(b.input))
	}
	f.Add([]byte("GET a\r\nSET b c\r\nMGET a b\n"))
	codecs := fuzzCodecs(f)
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
		// Fed a byte at a time, every shorter buffer is "need more" or
		// the same verdict.
		var p protocols.Request
		for i := range len(data) {
			p.Reset()
			pn, perr := c.ParseRequest(data[:i], &p)
			if (pn != 0 || perr != nil) && (pn != n || perr != err) {
				t.Fatalf("prefix %d: n=%d err=%v; whole: n=%d err=%v", i, pn, perr, n, err)
			}
		}
	}
	if n == 0 {
		return
	}
	if !bytes.Equal(req.Raw, data[:n]) {
		t.Fatalf("raw %q, want %q", req.Raw, data[:n])
	}
	for _, k := range req.Keys {
		if len(k) == 0 || len(k) > MaxKeyLen || bytes.ContainsAny(k, " \r\n") {
			t.Fatalf("key %q", k)
		}
	}
	switch req.Kind {
	case protocols.Local:
		r := req.Reply
		if !bytes.HasSuffix(r, []byte("\r\n")) || bytes.IndexByte(r, '\n') != len(r)-1 {
			t.Fatalf("local reply %q is not one line", r)
		}
	case protocols.Forward, protocols.Split:
		if len(req.Keys) == 0 {
			t.Fatalf("%v request without keys", Command(req.Cmd))
		}
		// What a part sends is one line the codec parses back to the
		// same command and keys.
		keys := make([]int32, len(req.Keys))
		for i := range keys {
			keys[i] = int32(i)
		}
		if req.Kind == protocols.Forward {
			keys = nil
		}
		out := c.AppendRequest(nil, &req, keys)
		var back protocols.Request
		if m, err := c.ParseRequest(out, &back); m != len(out) || err != nil || back.Cmd != req.Cmd || len(back.Keys) != len(req.Keys) {
			t.Fatalf("sent %q, which parses as n=%d err=%v cmd %v", out, m, err, Command(back.Cmd))
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	for _, tr := range trips {
		for _, r := range tr.responses {
			f.Add([]byte(tr.request), []byte(r))
		}
	}
	for _, b := range badResponses[:len(badResponses)-1] {
		f.Add([]byte(b.request), []byte(b.response))
	}
	codecs := fuzzCodecs(f)
	f.Fuzz(func(t *testing.T, request, resp []byte) {
		for _, c := range codecs {
			var req protocols.Request
			if n, err := c.ParseRequest(request, &req); n == 0 || err != nil || req.Kind == protocols.Local {
				continue
			}
			n, err := c.ParseResponse(resp, &req)
			if n < 0 || n > len(resp) || (err != nil && n != 0) {
				t.Fatalf("n=%d err=%v for %d bytes", n, err, len(resp))
			}
			if len(resp) <= maxPrefixCheck {
				for i := range len(resp) {
					pn, perr := c.ParseResponse(resp[:i], &req)
					if (pn != 0 || perr != nil) && (pn != n || perr != err) {
						t.Fatalf("prefix %d: n=%d err=%v; whole: n=%d err=%v", i, pn, perr, n, err)
					}
				}
			}
			if n == 0 {
				continue
			}
			// Whatever a backend answered, the reply the client gets is
			// whole lines, and never a crash: as one part, and as the
			// parts of a split.
			checkReply(t, c.AppendReply(nil, &req, []protocols.Part{{Resp: resp[:n]}}))
			if len(req.Keys) > 1 {
				parts := []protocols.Part{{Keys: []int32{0}, Resp: resp[:n]}, {Keys: []int32{1}, Resp: resp[:n]}}
				checkReply(t, c.AppendReply(nil, &req, parts))
			}
			c.Missed(&req, resp[:n])
		}
	})
}

func checkReply(t *testing.T, r []byte) {
	if !bytes.HasSuffix(r, []byte("\r\n")) {
		t.Fatalf("reply %q does not end a line", r)
	}
}

func FuzzGreetingAndHealth(f *testing.F) {
	for _, s := range []string{"OK\r\n", "ERROR no\r\n", "PONG\r\n", "PONG x\r\n", "garbage", "\r\n"} {
		f.Add([]byte(s))
	}
	c := fuzzCodecs(f)[1]
	f.Fuzz(func(t *testing.T, buf []byte) {
		if n, err := c.GreetingReply(0, buf); n < 0 || n > len(buf) || (err != nil && n != 0) {
			t.Fatalf("GreetingReply: n=%d err=%v", n, err)
		}
		if n, ok, err := c.HealthReply(buf); n < 0 || n > len(buf) || (err != nil && (n != 0 || ok)) {
			t.Fatalf("HealthReply: n=%d ok=%v err=%v", n, ok, err)
		}
	})
}
