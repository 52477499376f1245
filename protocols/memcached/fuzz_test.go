package memcached

import (
	"bytes"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/codectest"
)

// The seed corpora live in testdata/fuzz, so that plain `go test` runs
// every seed; `go test -fuzz FuzzParseRequest` explores from them.
// TestSeedCorpus keeps them in step with the test tables: run it with
// -update-seeds after adding cases.

var updateSeeds = flag.Bool("update-seeds", false, "write the test tables' cases to testdata/fuzz")

// The kit checks what every codec promises; the hooks here what
// memcached's does.

func FuzzParseRequest(f *testing.F) {
	codectest.FuzzRequests(f, []protocols.Codec{
		newCodec(f, protocols.Options{}),
		newCodec(f, protocols.Options{MaxRequestSize: 64, MaxValueSize: 16}),
	}, checkRequest)
}

// checkRequest checks a request parsed whole: its keys and arguments are
// slices of it, a local reply is one line, a routed request has valid
// keys, and what goes to the servers parses back to the same request.
func checkRequest(t *testing.T, pc protocols.Codec, msg []byte, req *protocols.Request) {
	c := pc.(*Codec)
	for _, a := range append(append([][]byte(nil), req.Args...), req.Keys...) {
		if len(a) > 0 && !within(msg, a) {
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
		checkResend(t, c.AppendRequest(nil, req, nil), req, strs(req.Keys))
		if req.Kind == protocols.Split {
			for k := range req.Keys {
				checkResend(t, c.AppendRequest(nil, req, []int32{int32(k)}), req, []string{string(req.Keys[k])})
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
	if err != nil || n != len(out) || req.Kind != orig.Kind || req.Cmd != orig.Cmd || req.Flags != 0 || !slices.Equal(strs(req.Keys), keys) {
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
// the first byte of its input; the seeds in testdata/fuzz pick them by
// their place here.
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
	requests := make([]string, len(respCmds))
	for i, cmd := range respCmds {
		requests[i] = cmdRequests[cmd]
	}
	codectest.FuzzResponses(f, []protocols.Codec{
		newCodec(f, protocols.Options{}),
		newCodec(f, protocols.Options{MaxValueSize: 8}),
	}, requests, checkMergeAny)
}

// checkMergeAny merges a framed retrieval response as one part of a
// three-key get: whatever it holds, the reply is a well-formed answer or
// one error line.
func checkMergeAny(t *testing.T, pc protocols.Codec, resp []byte, to *protocols.Request) {
	c := pc.(*Codec)
	if cmd := to.Cmd; cmd != cmdGet && cmd != cmdGets && cmd != cmdGat {
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

// maxSeed bounds the cases that become seeds: the fuzz bodies check
// every prefix of inputs up to 4 KiB, and only those are worth a file.
const maxSeed = 4096

// TestSeedCorpus checks that every case of the test tables is a seed.
func TestSeedCorpus(t *testing.T) {
	var reqs, resps [][]byte
	for _, tc := range validRequests {
		reqs = append(reqs, []byte(tc.in))
	}
	for _, tc := range badRequests {
		if len(tc.in) <= maxSeed {
			reqs = append(reqs, []byte(tc.in))
		}
	}
	c := newCodec(t, protocols.Options{})
	for _, tr := range trips {
		reqs = append(reqs, []byte(tr.Request))
		var req protocols.Request
		if _, err := c.ParseRequest([]byte(tr.Request), &req); err != nil {
			t.Fatal(err)
		}
		for _, r := range tr.Responses {
			if req.Cmd != cmdNone {
				resps = append(resps, respSeed(req.Cmd, r))
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
