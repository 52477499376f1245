package redis

import (
	"errors"
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

func parsed(t testing.TB, c *Codec, in string) *protocols.Request {
	t.Helper()
	req := new(protocols.Request)
	n, err := c.ParseRequest([]byte(in), req)
	if err != nil || n != len(in) {
		t.Fatalf("%q: n=%d err=%v", in, n, err)
	}
	return req
}

func TestAppendRequest(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	cases := []struct {
		in   string
		keys []int32
		want string
	}{
		{mb("GET", "k"), nil, mb("GET", "k")},
		{"get  k\r\n", nil, mb("get", "k")},
		{"SET k \"a b\"\n", nil, mb("SET", "k", "a b")},
		{mb("MGET", "a", "b", "c"), nil, mb("MGET", "a", "b", "c")},
		{mb("mGet", "a", "b", "c"), []int32{0, 2}, mb("mGet", "a", "c")},
		{"mget a b c\r\n", []int32{1}, mb("mget", "b")},
		{mb("MSET", "a", "1", "b", "2", "c", "3"), []int32{0, 2}, mb("MSET", "a", "1", "c", "3")},
		{mb("MSET", "a", "1", "b", "2", "c", "3"), []int32{1}, mb("MSET", "b", "2")},
		{mb("DEL", "a", "b", "c"), []int32{2, 0}, mb("DEL", "c", "a")},
		{mb("EXISTS", "a", "a"), []int32{0, 1}, mb("EXISTS", "a", "a")},
	}
	for _, tc := range cases {
		req := parsed(t, c, tc.in)
		got := string(c.AppendRequest([]byte("prefix"), req, tc.keys))
		if got != "prefix"+tc.want {
			t.Errorf("%q %v: got %q, want %q", tc.in, tc.keys, got, tc.want)
		}
	}
}

func TestAppendReplyForward(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	req := parsed(t, c, mb("GET", "k"))
	if got := string(c.AppendReply(nil, req, []protocols.Part{{Resp: []byte("$1\r\nv\r\n")}})); got != "$1\r\nv\r\n" {
		t.Errorf("got %q", got)
	}
	got := string(c.AppendReply(nil, req, []protocols.Part{{Err: errors.New("server down:\r\nreally")}}))
	if got != "-ERR server down:  really\r\n" {
		t.Errorf("got %q", got)
	}
	// A Split request whose keys all went to one server is answered by
	// that server as a whole.
	req = parsed(t, c, mb("MGET", "a", "b"))
	if got := string(c.AppendReply(nil, req, []protocols.Part{{Resp: []byte("*2\r\n$1\r\n1\r\n$-1\r\n")}})); got != "*2\r\n$1\r\n1\r\n$-1\r\n" {
		t.Errorf("got %q", got)
	}
	if got := string(c.AppendReply(nil, req, nil)); got != replyNoParts {
		t.Errorf("got %q", got)
	}
}

func TestMergeMGET(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	req := parsed(t, c, mb("MGET", "k0", "k1", "k2", "k3", "k4"))
	v := func(s string) string { return "$" + fmt.Sprint(len(s)) + "\r\n" + s + "\r\n" }
	want := "*5\r\n" + v("v0") + "$-1\r\n" + v("v2") + v("") + v("v4")
	cases := []struct {
		name  string
		parts []protocols.Part
		want  string
	}{
		{"three parts", []protocols.Part{
			{Keys: []int32{0, 3}, Resp: []byte("*2\r\n" + v("v0") + v(""))},
			{Keys: []int32{1, 4}, Resp: []byte("*2\r\n$-1\r\n" + v("v4"))},
			{Keys: []int32{2}, Resp: []byte("*1\r\n" + v("v2"))},
		}, want},
		{"one part per key", []protocols.Part{
			{Keys: []int32{4}, Resp: []byte("*1\r\n" + v("v4"))},
			{Keys: []int32{3}, Resp: []byte("*1\r\n" + v(""))},
			{Keys: []int32{2}, Resp: []byte("*1\r\n" + v("v2"))},
			{Keys: []int32{1}, Resp: []byte("*1\r\n$-1\r\n")},
			{Keys: []int32{0}, Resp: []byte("*1\r\n" + v("v0"))},
		}, want},
		{"keys out of order", []protocols.Part{
			{Keys: []int32{3, 0}, Resp: []byte("*2\r\n" + v("") + v("v0"))},
			{Keys: []int32{4, 2, 1}, Resp: []byte("*3\r\n" + v("v4") + v("v2") + "$-1\r\n")},
		}, want},
		{"one part with all keys listed", []protocols.Part{
			{Keys: []int32{0, 1, 2, 3, 4}, Resp: []byte(want)},
		}, want},
		{"too few elements", []protocols.Part{
			{Keys: []int32{0, 3}, Resp: []byte("*1\r\n" + v("v0"))},
			{Keys: []int32{1, 2, 4}, Resp: []byte("*3\r\n$-1\r\n" + v("v2") + v("v4"))},
		}, replyMismatch},
		{"too many elements", []protocols.Part{
			{Keys: []int32{0, 3}, Resp: []byte("*3\r\n" + v("v0") + v("") + v("x"))},
			{Keys: []int32{1, 2, 4}, Resp: []byte("*3\r\n$-1\r\n" + v("v2") + v("v4"))},
		}, replyMismatch},
		{"not an array", []protocols.Part{
			{Keys: []int32{0, 3}, Resp: []byte("+OK\r\n")},
			{Keys: []int32{1, 2, 4}, Resp: []byte("*3\r\n$-1\r\n" + v("v2") + v("v4"))},
		}, replyMismatch},
		{"a key missing", []protocols.Part{
			{Keys: []int32{0, 3}, Resp: []byte("*2\r\n" + v("v0") + v(""))},
			{Keys: []int32{1, 4}, Resp: []byte("*2\r\n$-1\r\n" + v("v4"))},
		}, replyMismatch},
		{"a key twice", []protocols.Part{
			{Keys: []int32{0, 3, 3}, Resp: []byte("*3\r\n" + v("v0") + v("") + v(""))},
			{Keys: []int32{1, 4}, Resp: []byte("*2\r\n$-1\r\n" + v("v4"))},
		}, replyMismatch},
		{"a server error", []protocols.Part{
			{Keys: []int32{0, 3}, Resp: []byte("*2\r\n" + v("v0") + v(""))},
			{Keys: []int32{1, 2, 4}, Resp: []byte("-LOADING Redis is loading\r\n")},
		}, "-ERR Invalid argument (a server answered: LOADING Redis is loading)\r\n"},
		{"a failed part", []protocols.Part{
			{Keys: []int32{0, 3}, Err: errors.New("timeout")},
			{Keys: []int32{1, 2, 4}, Resp: []byte("-LOADING Redis is loading\r\n")},
		}, "-ERR timeout\r\n"},
	}
	for _, tc := range cases {
		got := string(c.AppendReply([]byte("prefix"), req, tc.parts))
		if got != "prefix"+tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMergeMGETManyParts(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	args := []string{"MGET"}
	var parts []protocols.Part
	want := appendCount(nil, '*', 40)
	for i := 0; i < 40; i++ {
		k := fmt.Sprint("k", i)
		args = append(args, k)
		resp := appendBulk(appendCount(nil, '*', 1), []byte("v"+k))
		parts = append(parts, protocols.Part{Keys: []int32{int32(i)}, Resp: resp})
		want = appendBulk(want, []byte("v"+k))
	}
	req := parsed(t, c, mb(args...))
	if got := string(c.AppendReply(nil, req, parts)); got != string(want) {
		t.Errorf("got %q", got)
	}
}

func TestMergeMSET(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	req := parsed(t, c, mb("MSET", "a", "1", "b", "2", "c", "3"))
	ok := []byte("+OK\r\n")
	cases := []struct {
		parts []protocols.Part
		want  string
	}{
		{[]protocols.Part{{Keys: []int32{0, 2}, Resp: ok}, {Keys: []int32{1}, Resp: ok}}, "+OK\r\n"},
		{[]protocols.Part{{Keys: []int32{0, 2}, Resp: ok}, {Keys: []int32{1}, Resp: []byte("-OOM no\r\n")}}, "-ERR Invalid argument (a server answered: OOM no)\r\n"},
		{[]protocols.Part{{Keys: []int32{0, 2}, Resp: []byte("-MOVED x\r\n")}, {Keys: []int32{1}, Resp: []byte("-OOM no\r\n")}}, "-ERR Invalid argument (a server answered: MOVED x)\r\n"},
		{[]protocols.Part{{Keys: []int32{0, 2}, Resp: ok}, {Keys: []int32{1}, Err: errors.New("connection lost")}}, "-ERR connection lost\r\n"},
		{[]protocols.Part{{Keys: []int32{0, 2}, Resp: ok}, {Keys: []int32{1}, Resp: []byte(":1\r\n")}}, replyUnexpected},
	}
	for i, tc := range cases {
		if got := string(c.AppendReply(nil, req, tc.parts)); got != tc.want {
			t.Errorf("case %d: got %q, want %q", i, got, tc.want)
		}
	}
}

func TestMergeSum(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, cmd := range []string{"DEL", "UNLINK", "TOUCH", "EXISTS"} {
		req := parsed(t, c, mb(cmd, "a", "b", "a", "c"))
		cases := []struct {
			parts []protocols.Part
			want  string
		}{
			{[]protocols.Part{{Keys: []int32{0, 2}, Resp: []byte(":2\r\n")}, {Keys: []int32{1, 3}, Resp: []byte(":1\r\n")}}, ":3\r\n"},
			{[]protocols.Part{{Keys: []int32{0, 2}, Resp: []byte(":0\r\n")}, {Keys: []int32{1}, Resp: []byte(":0\r\n")}, {Keys: []int32{3}, Resp: []byte(":0\r\n")}}, ":0\r\n"},
			{[]protocols.Part{{Keys: []int32{0, 2}, Resp: []byte(":2\r\n")}, {Keys: []int32{1, 3}, Resp: []byte("-ERR x\r\n")}}, "-ERR Invalid argument (a server answered: ERR x)\r\n"},
			{[]protocols.Part{{Keys: []int32{0, 2}, Resp: []byte(":2\r\n")}, {Keys: []int32{1, 3}, Resp: []byte("+OK\r\n")}}, replyUnexpected},
			{[]protocols.Part{{Keys: []int32{0, 2}, Resp: []byte(":2\r\n")}, {Keys: []int32{1, 3}, Resp: []byte(":x\r\n")}}, replyUnexpected},
		}
		for i, tc := range cases {
			if got := string(c.AppendReply(nil, req, tc.parts)); got != tc.want {
				t.Errorf("%s case %d: got %q, want %q", cmd, i, got, tc.want)
			}
		}
	}
}

type wrapped struct{ err error }

func (w wrapped) Error() string { return "wrapped: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func TestAppendError(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	cases := []struct {
		err  error
		want string
	}{
		{errors.New("boom"), "-ERR boom\r\n"},
		{errors.New("two\r\nlines\n"), "-ERR two  lines \r\n"},
		{errMultibulkLen, "-ERR Protocol error: invalid multibulk length\r\n"},
		{errExpected['\r'], "-ERR Protocol error: expected '$', got ' '\r\n"},
		{protocols.ErrRequestTooLarge, "-ERR Protocol error: request too large\r\n"},
		{wrapped{errBulkLen}, "-ERR Protocol error: invalid bulk length\r\n"},
	}
	for _, tc := range cases {
		if got := string(c.AppendError([]byte("x"), tc.err)); got != "x"+tc.want {
			t.Errorf("%v: got %q, want %q", tc.err, got, tc.want)
		}
	}
}
