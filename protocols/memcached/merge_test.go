package memcached

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

func val(key, data string) string {
	return fmt.Sprintf("VALUE %s 0 %d\r\n%s\r\n", key, len(data), data)
}

// parsedReq parses in, which must be one whole request.
func parsedReq(t testing.TB, c *Codec, in string) *protocols.Request {
	t.Helper()
	req := &protocols.Request{}
	if n, err := c.ParseRequest([]byte(in), req); n != len(in) || err != nil {
		t.Fatalf("%q: n=%d err=%v", in, n, err)
	}
	return req
}

func part(keys []int32, resp string) protocols.Part {
	return protocols.Part{Keys: keys, Resp: []byte(resp)}
}

func TestMerge(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range []struct {
		name  string
		in    string
		parts []protocols.Part
		want  string
	}{
		{
			name: "client order across parts, misses absent",
			in:   "get a b c d e f\r\n",
			parts: []protocols.Part{
				part([]int32{0, 3}, val("a", "1")+val("d", "4")+"END\r\n"),
				part([]int32{1, 4}, val("e", "5")+"END\r\n"),
				part([]int32{2, 5}, "END\r\n"),
			},
			want: val("a", "1") + val("d", "4") + val("e", "5") + "END\r\n",
		},
		{
			name: "reverse order of servers",
			in:   "get a b c\r\n",
			parts: []protocols.Part{
				part([]int32{2}, val("c", "3")+"END\r\n"),
				part([]int32{0, 1}, val("a", "1")+val("b", "2")+"END\r\n"),
			},
			want: val("a", "1") + val("b", "2") + val("c", "3") + "END\r\n",
		},
		{
			name: "gets keeps the cas",
			in:   "gets a b\r\n",
			parts: []protocols.Part{
				part([]int32{0}, "VALUE a 5 1 77\r\nx\r\nEND\r\n"),
				part([]int32{1}, "VALUE b 6 2 78\r\nyz\r\nEND\r\n"),
			},
			want: "VALUE a 5 1 77\r\nx\r\nVALUE b 6 2 78\r\nyz\r\nEND\r\n",
		},
		{
			name: "data that looks like lines",
			in:   "get a b\r\n",
			parts: []protocols.Part{
				part([]int32{0}, val("a", "END\r\nVALUE b 0 1\r\n")+"END\r\n"),
				part([]int32{1}, "END\r\n"),
			},
			want: val("a", "END\r\nVALUE b 0 1\r\n") + "END\r\n",
		},
		{
			name: "duplicate keys, as memcached answers each",
			in:   "get a b a\r\n",
			parts: []protocols.Part{
				part([]int32{0, 2}, val("a", "1")+val("a", "1")+"END\r\n"),
				part([]int32{1}, val("b", "2")+"END\r\n"),
			},
			want: val("a", "1") + val("b", "2") + val("a", "1") + "END\r\n",
		},
		{
			name: "duplicate key missing",
			in:   "get a b a\r\n",
			parts: []protocols.Part{
				part([]int32{0, 2}, "END\r\n"),
				part([]int32{1}, val("b", "2")+"END\r\n"),
			},
			want: val("b", "2") + "END\r\n",
		},
		{
			name: "all missing",
			in:   "get a b\r\n",
			parts: []protocols.Part{
				part([]int32{0}, "END\r\n"),
				part([]int32{1}, "END\r\n"),
			},
			want: "END\r\n",
		},
		{
			name:  "one server for all keys: its response as is",
			in:    "get a b\r\n",
			parts: []protocols.Part{part(nil, val("b", "2")+"END\r\n")},
			want:  val("b", "2") + "END\r\n",
		},
		{
			name: "keys not in ascending order",
			in:   "get a b c d\r\n",
			parts: []protocols.Part{
				part([]int32{3, 0}, val("d", "4")+val("a", "1")+"END\r\n"),
				part([]int32{2, 1}, val("b", "2")+"END\r\n"),
			},
			want: val("a", "1") + val("b", "2") + val("d", "4") + "END\r\n",
		},
		{
			name: "a part failed",
			in:   "get a b\r\n",
			parts: []protocols.Part{
				part([]int32{0}, val("a", "1")+"END\r\n"),
				{Keys: []int32{1}, Err: errors.New("pool p: server s: timed out after 400ms")},
			},
			want: "SERVER_ERROR pool p: server s: timed out after 400ms\r\n",
		},
		{
			name: "an error line from a server",
			in:   "get a b\r\n",
			parts: []protocols.Part{
				part([]int32{0}, val("a", "1")+"END\r\n"),
				part([]int32{1}, val("b", "1")+"SERVER_ERROR out of memory writing get response\r\n"),
			},
			want: "SERVER_ERROR out of memory writing get response\r\n",
		},
		{
			name: "a value for a key the part did not carry",
			in:   "get a b\r\n",
			parts: []protocols.Part{
				part([]int32{0}, val("a", "1")+val("x", "1")+"END\r\n"),
				part([]int32{1}, "END\r\n"),
			},
			want: replyMismatch,
		},
		{
			name: "values out of order",
			in:   "get a b c\r\n",
			parts: []protocols.Part{
				part([]int32{0, 2}, val("c", "3")+val("a", "1")+"END\r\n"),
				part([]int32{1}, "END\r\n"),
			},
			want: replyMismatch,
		},
		{
			name: "more values than keys",
			in:   "get a b\r\n",
			parts: []protocols.Part{
				part([]int32{0}, val("a", "1")+val("a", "1")+"END\r\n"),
				part([]int32{1}, "END\r\n"),
			},
			want: replyMismatch,
		},
		{
			name: "a key in no part",
			in:   "get a b c\r\n",
			parts: []protocols.Part{
				part([]int32{0}, "END\r\n"),
				part([]int32{2}, "END\r\n"),
			},
			want: replyMismatch,
		},
		{
			name: "a key in two parts",
			in:   "get a b\r\n",
			parts: []protocols.Part{
				part([]int32{0, 1}, "END\r\n"),
				part([]int32{1}, "END\r\n"),
			},
			want: replyMismatch,
		},
		{
			name: "a key index out of range",
			in:   "get a b\r\n",
			parts: []protocols.Part{
				part([]int32{0, 1}, "END\r\n"),
				part([]int32{7}, "END\r\n"),
			},
			want: replyMismatch,
		},
		{
			name: "a truncated response",
			in:   "get a b\r\n",
			parts: []protocols.Part{
				part([]int32{0}, "VALUE a 0 5\r\nab\r\nEND\r\n"),
				part([]int32{1}, "END\r\n"),
			},
			want: replyMismatch,
		},
		{
			name:  "no parts",
			in:    "get a b\r\n",
			parts: nil,
			want:  replyNoParts,
		},
	} {
		req := parsedReq(t, c, tc.in)
		if got := string(c.AppendReply([]byte(">"), req, tc.parts)); got != ">"+tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, ">"+tc.want)
		}
	}
}

// TestMergeManyParts spreads keys over more parts than the stack holds.
func TestMergeManyParts(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	const nkeys, nparts = 1000, 100
	var keys []string
	var want strings.Builder
	parts := make([]protocols.Part, nparts)
	resps := make([]strings.Builder, nparts)
	for i := range nkeys {
		k := fmt.Sprintf("k%d", i)
		keys = append(keys, k)
		p := (i * 7) % nparts
		parts[p].Keys = append(parts[p].Keys, int32(i))
		if i%4 != 0 {
			resps[p].WriteString(val(k, k))
			want.WriteString(val(k, k))
		}
	}
	want.WriteString("END\r\n")
	for p := range parts {
		resps[p].WriteString("END\r\n")
		parts[p].Resp = []byte(resps[p].String())
	}
	req := parsedReq(t, c, "get "+strings.Join(keys, " ")+"\r\n")
	if got := string(c.AppendReply(nil, req, parts)); got != want.String() {
		t.Fatalf("got %.200q", got)
	}
}

func TestReplySingle(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	timeout := errors.New("pool p: server s: timed out after 400ms")
	for _, tc := range []struct {
		in, resp string
		err      error
		want     string
	}{
		{"set k 0 0 1\r\nx\r\n", "STORED\r\n", nil, "STORED\r\n"},
		{"set k 0 0 1\r\nx\r\n", "", timeout, "SERVER_ERROR pool p: server s: timed out after 400ms\r\n"},
		{"set k 0 0 1 noreply\r\nx\r\n", "STORED\r\n", nil, ""},
		{"set k 0 0 1 noreply\r\nx\r\n", "SERVER_ERROR out of memory storing object\r\n", nil, ""},
		{"set k 0 0 1 noreply\r\nx\r\n", "", timeout, ""},
		{"incr k 1 noreply\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n", nil, ""},
		{"delete k noreply\r\n", "NOT_FOUND\r\n", nil, ""},
		{"incr k 1\r\n", "2\r\n", nil, "2\r\n"},
		{"mg k v\r\n", "EN\r\n", nil, "EN\r\n"},
		{"mg k q v\r\n", "EN\r\n", nil, ""},
		{"mg k q v O1 k\r\n", "EN O1 kk\r\n", nil, ""},
		{"mg k q v\r\n", "VA 1\r\nx\r\n", nil, "VA 1\r\nx\r\n"},
		{"mg k q\r\n", "HD\r\n", nil, "HD\r\n"},
		{"mg k q\r\n", "", timeout, "SERVER_ERROR pool p: server s: timed out after 400ms\r\n"},
		{"mg k q v\r\n", "CLIENT_ERROR bad data chunk\r\n", nil, "CLIENT_ERROR bad data chunk\r\n"},
		{"ms k 1 q\r\nx\r\n", "HD\r\n", nil, ""},
		{"ms k 1 q O5\r\nx\r\n", "HD O5\r\n", nil, ""},
		{"ms k 1 q\r\nx\r\n", "NS\r\n", nil, "NS\r\n"},
		{"ms k 1\r\nx\r\n", "HD\r\n", nil, "HD\r\n"},
		{"md k q\r\n", "HD\r\n", nil, ""},
		{"md k q O7\r\n", "NF O7\r\n", nil, "NF O7\r\n"},
		{"ma k q\r\n", "HD\r\n", nil, ""},
		{"ma k q v\r\n", "VA 1\r\n7\r\n", nil, "VA 1\r\n7\r\n"},
		{"ma k q\r\n", "NF\r\n", nil, "NF\r\n"},
		{"get a\r\n", val("a", "1") + "END\r\n", nil, val("a", "1") + "END\r\n"},
	} {
		req := parsedReq(t, c, tc.in)
		parts := []protocols.Part{{Resp: []byte(tc.resp), Err: tc.err}}
		if got := string(c.AppendReply([]byte(">"), req, parts)); got != ">"+tc.want {
			t.Errorf("%q / %q %v: %q, want %q", tc.in, tc.resp, tc.err, got, ">"+tc.want)
		}
	}
}
