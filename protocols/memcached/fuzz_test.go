package memcached

import (
	"bytes"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// The seed corpora live in testdata/fuzz, so that plain `go test` runs
// every seed; `go test -fuzz FuzzParseRequest` explores from them.
// TestSeedCorpus keeps them in step with the test tables: run it with
// -update-seeds after adding cases.

var updateSeeds = flag.Bool("update-seeds", false, "write the test tables' cases to testdata/fuzz")

// maxPrefixCheck bounds the quadratic every-prefix checks, so that a large
// input found by the fuzzer does not stall it.
const maxPrefixCheck = 4096

func FuzzParseRequest(f *testing.F) {
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
			if (pn != 0 || perr != nil) && (pn != n || perr != err) {
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
		if len(a) > 0 && !within(data[:n], a) {
			t.Fatalf("%q is not a slice of the request", a)
		}
	}
	switch req.Kind {
	case protocols.Local:
		r := req.Reply
		if len(r) > 0 && (!bytes.HasSuffix(r, []byte("\r\n")) || bytes.IndexByte(r, '\n') != len(r)-1) {
			t.Fatalf("local reply %q is not one line", r)
		}
		if len(req.Keys) != 0 || (req.Close && len(r) != 0) {
			t.Fatalf("local request with keys %q, close %v", req.Keys, req.Close)
		}
	case protocols.Forward, protocols.Split:
		if len(req.Keys) == 0 || (req.Kind == protocols.Forward && len(req.Keys) != 1) {
			t.Fatalf("kind %d with keys %q", req.Kind, req.Keys)
		}
		for _, k := range req.Keys {
			if !c.validKey(k) && !(req.Cmd == cmdVersion && len(k) == 0) {
				t.Fatalf("routed with a bad key %q", k)
			}
		}
		// What goes to the server parses back to the same request,
		// without noreply or q.
		checkResend(t, c.AppendRequest(nil, &req, nil), &req, strs(req.Keys))
		if req.Kind == protocols.Split {
			for k := range req.Keys {
				checkResend(t, c.AppendRequest(nil, &req, []int32{int32(k)}), &req, []string{string(req.Keys[k])})
			}
		}
	}
}

func checkResend(t *testing.T, out []byte, orig *protocols.Request, keys []string) {
	// The server-side request may be longer than the client-side limit
	// (a part's line is rebuilt), so parse it without limits.
	c2 := newCodec(t, protocols.Options{})
	var req protocols.Request
	n, err := c2.ParseRequest(out, &req)
	if err != nil || n != len(out) || req.Kind != orig.Kind || req.Cmd != orig.Cmd || req.Flags != 0 || !eqStrs(strs(req.Keys), keys) {
		t.Fatalf("request to server %q parses as kind %d cmd %d flags %b keys %q (n=%d err=%v), want kind %d cmd %d keys %q",
			out, req.Kind, req.Cmd, req.Flags, req.Keys, n, err, orig.Kind, orig.Cmd, keys)
	}
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

// respCmds are the commands whose responses the fuzzer frames, chosen by
// the first byte of its input.
var respCmds = []uint16{cmdGet, cmdGets, cmdGat, cmdSet, cmdCas, cmdIncr, cmdDelete, cmdTouch, cmdMg, cmdMs, cmdMd, cmdMa, cmdVersion}

func respSeed(cmd uint16, resp string) []byte {
	for i, c := range respCmds {
		if c == cmd {
			return append([]byte{byte(i)}, resp...)
		}
	}
	panic(fmt.Sprintf("no fuzz selector for command %d", cmd))
}

func FuzzParseResponse(f *testing.F) {
	codecs := []*Codec{
		newCodec(f, protocols.Options{}),
		newCodec(f, protocols.Options{MaxValueSize: 8}),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		req := &protocols.Request{Cmd: respCmds[int(data[0])%len(respCmds)]}
		data = data[1:]
		for _, c := range codecs {
			n, err := c.ParseResponse(data, req)
			if n < 0 || n > len(data) || (err != nil && n != 0) {
				t.Fatalf("n=%d err=%v for %d bytes", n, err, len(data))
			}
			if len(data) <= maxPrefixCheck {
				for i := 0; i < len(data); i++ {
					pn, perr := c.ParseResponse(data[:i], req)
					if s := c.ResponseSize(data[:i]); s != 0 && n > 0 && err == nil && s > n {
						t.Fatalf("prefix %d: ResponseSize %d, reply %d bytes", i, s, n)
					}
					if (pn != 0 || perr != nil) && (pn != n || perr != err) {
						t.Fatalf("prefix %d: n=%d err=%v; whole: n=%d err=%v", i, pn, perr, n, err)
					}
				}
			}
			if n == 0 {
				continue
			}
			if n2, err := c.ParseResponse(data[:n], req); n2 != n || err != nil {
				t.Fatalf("the response alone: n=%d err=%v, want %d", n2, err, n)
			}
			checkMergeAny(t, c, req.Cmd, data[:n])
		}
	})
}

// checkMergeAny merges a framed retrieval response as one part of a
// three-key get: whatever it holds, the reply is a well-formed answer or
// one error line.
func checkMergeAny(t *testing.T, c *Codec, cmd uint16, resp []byte) {
	if cmd != cmdGet && cmd != cmdGets && cmd != cmdGat {
		return
	}
	var req protocols.Request
	if _, err := c.ParseRequest([]byte("get a b c\r\n"), &req); err != nil {
		t.Fatal(err)
	}
	out := c.AppendReply(nil, &req, []protocols.Part{
		{Keys: []int32{0, 2}, Resp: resp},
		{Keys: []int32{1}, Resp: []byte("VALUE b 0 1\r\nx\r\nEND\r\n")},
	})
	if isErrorLine(bytes.TrimSuffix(out, []byte("\r\n"))) && bytes.IndexByte(out, '\n') == len(out)-1 {
		return
	}
	if n, err := c.ParseResponse(out, &req); n != len(out) || err != nil || !bytes.HasSuffix(out, []byte("\r\nEND\r\n")) {
		t.Fatalf("merged %q into %q: n=%d err=%v", resp, out, n, err)
	}
}

// TestSeedCorpus checks that every case of the test tables is a seed.
func TestSeedCorpus(t *testing.T) {
	var reqs, resps [][]byte
	for _, tc := range validRequests {
		reqs = append(reqs, []byte(tc.in))
	}
	for _, tc := range badRequests {
		if len(tc.in) <= maxPrefixCheck {
			reqs = append(reqs, []byte(tc.in))
		}
	}
	for i := range scenarios {
		reqs = append(reqs, []byte(scenarios[i].request))
		for _, r := range scenarios[i].responses {
			if cmd := newTrip(&scenarios[i]).cmd(t); cmd != cmdNone {
				resps = append(resps, respSeed(cmd, r))
			}
		}
	}
	for _, tc := range validResponses {
		if tc.cmd == cmdAdd || tc.cmd == cmdDecr {
			continue
		}
		resps = append(resps, respSeed(tc.cmd, tc.resp))
	}
	checkSeeds(t, "FuzzParseRequest", reqs)
	checkSeeds(t, "FuzzParseResponse", resps)
}

// cmd is the command of the trip's request.
func (tr *trip) cmd(t *testing.T) uint16 {
	var req protocols.Request
	if _, err := newCodec(t, protocols.Options{}).ParseRequest(tr.reqBytes, &req); err != nil {
		t.Fatal(err)
	}
	return req.Cmd
}

func checkSeeds(t *testing.T, target string, seeds [][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	for _, s := range seeds {
		h := fnv.New64a()
		h.Write(s)
		file := filepath.Join(dir, fmt.Sprintf("seed-%016x", h.Sum64()))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		got, err := os.ReadFile(file)
		if err == nil && string(got) == want {
			continue
		}
		if !*updateSeeds {
			t.Errorf("%s: seed %.40q missing: run go test -run TestSeedCorpus -update-seeds", target, s)
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
