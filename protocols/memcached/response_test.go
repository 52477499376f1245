package memcached

import (
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// respCase is a server response to a command. Responses with several
// parts in them are framed up to the first's end. TestContract frames
// each whole, alone, followed by more, and cut short.
type respCase struct {
	cmd  uint16
	resp string
	n    int // the first response's length, when resp holds more
}

var validResponses = []respCase{
	{cmd: cmdGet, resp: "END\r\n"},
	{cmd: cmdGet, resp: "VALUE a 0 1\r\nx\r\nEND\r\n"},
	{cmd: cmdGet, resp: "VALUE a 0 1\r\nx\r\nVALUE b 42 5\r\nEND\r\n\r\nEND\r\n"},
	{cmd: cmdGet, resp: "VALUE a 4294967295 0\r\n\r\nEND\r\n"},
	{cmd: cmdGets, resp: "VALUE a 0 1 18446744073709551615\r\nx\r\nEND\r\n"},
	{cmd: cmdGat, resp: "VALUE a 0 2 7\r\n\r\n\r\nEND\r\n"},
	{cmd: cmdGet, resp: "VALUE a 0 1\r\nx\r\nSERVER_ERROR out of memory writing get response\r\n"},
	{cmd: cmdGet, resp: "CLIENT_ERROR bad command line format\r\n"},
	{cmd: cmdGet, resp: "ERROR\r\n"},
	{cmd: cmdGet, resp: "END\r\nEND\r\n", n: 5},
	{cmd: cmdSet, resp: "STORED\r\n"},
	{cmd: cmdAdd, resp: "NOT_STORED\r\n"},
	{cmd: cmdCas, resp: "EXISTS\r\n"},
	{cmd: cmdCas, resp: "NOT_FOUND\r\n"},
	{cmd: cmdSet, resp: "SERVER_ERROR object too large for cache\r\n"},
	{cmd: cmdSet, resp: "SERVER_ERROR\r\n"},
	{cmd: cmdSet, resp: "STORED\r\nSTORED\r\n", n: 8},
	{cmd: cmdIncr, resp: "15\r\n"},
	{cmd: cmdDecr, resp: "0\r\n"},
	{cmd: cmdIncr, resp: "99 \r\n"},
	{cmd: cmdIncr, resp: "18446744073709551615\r\n"},
	{cmd: cmdIncr, resp: "NOT_FOUND\r\n"},
	{cmd: cmdIncr, resp: "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
	{cmd: cmdDelete, resp: "DELETED\r\n"},
	{cmd: cmdDelete, resp: "NOT_FOUND\r\n"},
	{cmd: cmdTouch, resp: "TOUCHED\r\n"},
	{cmd: cmdTouch, resp: "NOT_FOUND\r\n"},
	{cmd: cmdMg, resp: "EN\r\n"},
	{cmd: cmdMg, resp: "HD\r\n"},
	{cmd: cmdMg, resp: "HD f0 O123 kfoo\r\n"},
	{cmd: cmdMg, resp: "VA 2 O1\r\nhi\r\n"},
	{cmd: cmdMg, resp: "VA 0\r\n\r\n"},
	{cmd: cmdMg, resp: "VA 4 W Z\r\n\r\n\r\n\r\n"},
	{cmd: cmdMs, resp: "HD\r\n"},
	{cmd: cmdMs, resp: "NS O9\r\n"},
	{cmd: cmdMs, resp: "CLIENT_ERROR bad data chunk\r\n"},
	{cmd: cmdMd, resp: "NF\r\n"},
	{cmd: cmdMa, resp: "VA 2 c5\r\n13\r\n"},
	{cmd: cmdMa, resp: "EX\r\n"},
	{cmd: cmdMg, resp: "EN\r\nMN\r\n", n: 4},
}

// badResponses are responses walnut refuses, and the error it closes
// the server connection with.
var badResponses = []struct {
	cmd  uint16
	resp string
	err  error
	opts protocols.Options
}{
	{cmdGet, "STORED\r\n", errBadResponse, protocols.Options{}},
	{cmdGet, "VALUE a 0\r\n", errBadResponse, protocols.Options{}},
	{cmdGet, "VALUE a 0 x\r\n", errBadResponse, protocols.Options{}},
	{cmdGet, "VALUE a 0 1 2 3\r\n", errBadResponse, protocols.Options{}},
	{cmdGet, "VALUE a 0 1 x\r\n", errBadResponse, protocols.Options{}},
	{cmdGet, "VALUE a 4294967296 1\r\n", errBadResponse, protocols.Options{}},
	{cmdGet, "VALUE a 0 1\r\nxy\r\n", errBadResponse, protocols.Options{}},
	{cmdGet, "VALUE a 0 1\r\nx\r\nEND\n", errBadResponse, protocols.Options{}},
	{cmdGet, "END\n", errBadResponse, protocols.Options{}},
	{cmdGet, "end\r\n", errBadResponse, protocols.Options{}},
	{cmdGet, "ERRORS\r\n", errBadResponse, protocols.Options{}},
	{cmdGet, "VALUE a 0 2000\r\n", errRespTooLarge, protocols.Options{MaxValueSize: 1000}},
	{cmdGet, "VALUE a 0 99999999999999999999999\r\n", errBadResponse, protocols.Options{}},
	{cmdGet, strings.Repeat("x", maxRespLine+2), errRespLineTooLong, protocols.Options{}},
	{cmdSet, "VALUE a 0 1\r\nx\r\nEND\r\n", errBadResponse, protocols.Options{}},
	{cmdSet, "DELETED\r\n", errBadResponse, protocols.Options{}},
	{cmdSet, "\r\n", errBadResponse, protocols.Options{}},
	{cmdIncr, "-1\r\n", errBadResponse, protocols.Options{}},
	{cmdIncr, "STORED\r\n", errBadResponse, protocols.Options{}},
	{cmdDelete, "TOUCHED\r\n", errBadResponse, protocols.Options{}},
	{cmdTouch, "DELETED\r\n", errBadResponse, protocols.Options{}},
	{cmdMg, "VALUE a 0 1\r\n", errBadResponse, protocols.Options{}},
	{cmdMg, "VA x\r\n", errBadResponse, protocols.Options{}},
	{cmdMg, "VA\r\n", errBadResponse, protocols.Options{}},
	{cmdMg, "Va 1\r\n", errBadResponse, protocols.Options{}},
	{cmdMg, "HDX\r\n", errBadResponse, protocols.Options{}},
	{cmdMg, "VA 1\r\nxy\r\n", errBadResponse, protocols.Options{}},
	{cmdMg, "VA 2000\r\n", errRespTooLarge, protocols.Options{MaxValueSize: 1000}},
	{cmdNone, "STORED\r\n", errUnknownRespOwner, protocols.Options{}},
}

// TestParseResponseBad pins the error of each bad response; TestContract
// checks that every prefix that shows the fault gets it too.
func TestParseResponseBad(t *testing.T) {
	for _, tc := range badResponses {
		c := newCodec(t, tc.opts)
		req := &protocols.Request{Cmd: tc.cmd}
		if n, err := c.ParseResponse([]byte(tc.resp), req); n != 0 || err != tc.err {
			t.Errorf("%d %.40q: n=%d err=%v, want %v", tc.cmd, tc.resp, n, err, tc.err)
		}
	}
}

// TestParseResponseManyValues frames a response to thousands of keys.
func TestParseResponseManyValues(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	var b strings.Builder
	for i := range 5000 {
		b.WriteString("VALUE key:" + strings.Repeat("x", i%30) + " 0 3\r\nabc\r\n")
	}
	b.WriteString("END\r\n")
	resp := []byte(b.String())
	if n, err := c.ParseResponse(resp, &protocols.Request{Cmd: cmdGets}); n != len(resp) || err != nil {
		t.Fatalf("n=%d err=%v, want %d", n, err, len(resp))
	}
	if n, err := c.ParseResponse(resp[:len(resp)-1], &protocols.Request{Cmd: cmdGets}); n != 0 || err != nil {
		t.Fatalf("short: n=%d err=%v", n, err)
	}
}

// TestAppendRequestParts checks the request rebuilt for one server's
// share of a multi-get's keys.
func TestAppendRequestParts(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range []struct {
		in   string
		keys []int32
		want string
	}{
		{"get a b c d\r\n", []int32{1, 3}, "get b d\r\n"},
		{"get a b c d\r\n", []int32{0, 1, 2, 3}, "get a b c d\r\n"},
		{"gets a b\n", []int32{1}, "gets b\r\n"},
		{"  get   a  b \r\n", []int32{0}, "get a\r\n"},
		{"gat 10 a b c\r\n", []int32{0, 2}, "gat 10 a c\r\n"},
		{"gats -1 a b c\r\n", []int32{2}, "gats -1 c\r\n"},
		{"get a b a\r\n", []int32{0, 2}, "get a a\r\n"},
	} {
		var req protocols.Request
		if _, err := c.ParseRequest([]byte(tc.in), &req); err != nil {
			t.Fatal(err)
		}
		if got := string(c.AppendRequest(nil, &req, tc.keys)); got != tc.want {
			t.Errorf("%q %v: %q, want %q", tc.in, tc.keys, got, tc.want)
		}
		// The whole request goes as the client sent it.
		if got := string(c.AppendRequest([]byte("x"), &req, nil)); got != "x"+tc.in {
			t.Errorf("%q: whole %q", tc.in, got)
		}
	}
}

func TestAppendError(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errBadChunk, "CLIENT_ERROR bad data chunk\r\n"},
		{protocols.ErrRequestTooLarge, "CLIENT_ERROR request too large\r\n"},
		{wrapped{errBadFormat}, "CLIENT_ERROR bad command line format\r\n"},
		{protocols.Errorf("bad\r\nline"), "CLIENT_ERROR bad  line\r\n"},
		{errorString("no server is available"), "SERVER_ERROR no server is available\r\n"},
		{errorString("pool p: server s: timed out after 400ms"), "SERVER_ERROR pool p: server s: timed out after 400ms\r\n"},
		{errorString("a\nb\rc"), "SERVER_ERROR a b c\r\n"},
	} {
		if got := string(c.AppendError([]byte(">"), tc.err)); got != ">"+tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

type wrapped struct{ err error }

func (w wrapped) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }
