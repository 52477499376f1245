package codectest

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/walnutproxy/walnut/protocols"
)

// tiny is a small line protocol that keeps the contract, for the kit to
// pass; the broken codecs of codectest_test.go are tiny with one mistake
// each.
//
// A request is a line of at most maxTinyLine bytes before its '\n':
// "get K" (Forward), "mget K..." (Split), "set K N" followed by N bytes
// and '\n' (Forward), "ping" and "quit" (Local); any other line is
// answered locally with an error. A response is "+line", "-line",
// "$N" followed by N bytes and '\n', "$-1", or "*M" followed by M of
// those (mget's). Values are at most maxTinyValue bytes.
type tiny struct{}

const (
	maxTinyLine  = 64
	maxTinyValue = 1000
)

const (
	tinyGet = iota + 1
	tinyMget
	tinySet
	tinyPing
	tinyQuit
)

var (
	errTinyLine   = protocols.Errorf("line too long")
	errTinyLength = protocols.Errorf("bad value length")
	errTinyChunk  = protocols.Errorf("value not followed by a newline")
	errTinyReply  = errors.New("tiny: malformed response")
)

// lineEnd returns the index of the '\n' ending the line at the start of
// buf, 0 with a nil error if buf does not hold it yet.
func lineEnd(buf []byte) (int, error) {
	i := bytes.IndexByte(buf[:min(len(buf), maxTinyLine+1)], '\n')
	if i < 0 {
		if len(buf) > maxTinyLine {
			return 0, errTinyLine
		}
		return 0, nil
	}
	return i, nil
}

// tinyLen parses a decimal length of at most maxTinyValue.
func tinyLen(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 4 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= maxTinyValue
}

func (tiny) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	end, err := lineEnd(buf)
	if end == 0 && (err != nil || len(buf) == 0 || buf[0] != '\n') {
		return 0, err
	}
	line := buf[:end]
	n := end + 1
	cmd, rest, _ := bytes.Cut(line, []byte(" "))
	var args [][]byte
	for len(rest) > 0 {
		var a []byte
		a, rest, _ = bytes.Cut(rest, []byte(" "))
		args = append(req.Keys, a)
		req.Keys = args
	}
	switch {
	case string(cmd) == "get" && len(args) == 1:
		req.Kind, req.Cmd = protocols.Forward, tinyGet
	case string(cmd) == "mget" && len(args) > 0:
		req.Kind, req.Cmd = protocols.Split, tinyMget
	case string(cmd) == "set" && len(args) == 2:
		size, ok := tinyLen(args[1])
		if !ok {
			req.Keys = req.Keys[:0]
			return 0, errTinyLength
		}
		if len(buf) < n+size+1 {
			req.Keys = req.Keys[:0]
			return 0, nil
		}
		if buf[n+size] != '\n' {
			req.Keys = req.Keys[:0]
			return 0, errTinyChunk
		}
		req.Args = append(req.Args, buf[n:n+size])
		req.Keys = req.Keys[:1]
		req.Kind, req.Cmd = protocols.Forward, tinySet
		n += size + 1
	case string(cmd) == "ping" && len(args) == 0:
		req.Kind, req.Cmd = protocols.Local, tinyPing
		req.Reply = append(req.Reply, "+pong\n"...)
	case string(cmd) == "quit" && len(args) == 0:
		req.Kind, req.Cmd, req.Close = protocols.Local, tinyQuit, true
	default:
		req.Keys = req.Keys[:0]
		req.Kind = protocols.Local
		req.Reply = append(req.Reply, "-ERR unknown command or wrong arguments\n"...)
	}
	req.Raw = buf[:n]
	return n, nil
}

func (tiny) AppendRequest(dst []byte, req *protocols.Request, keys []int32) []byte {
	if keys == nil {
		return append(dst, req.Raw...)
	}
	dst = append(dst, "mget"...)
	for _, k := range keys {
		dst = append(dst, ' ')
		dst = append(dst, req.Keys[k]...)
	}
	return append(dst, '\n')
}

// valueLen frames one value ("+", "-", "$") at the start of buf.
func valueLen(buf []byte) (int, error) {
	end, err := lineEnd(buf)
	if end == 0 {
		if err == nil && len(buf) > 0 && buf[0] == '\n' {
			err = errTinyReply
		}
		return 0, err
	}
	switch buf[0] {
	case '+', '-':
		return end + 1, nil
	case '$':
		if string(buf[1:end]) == "-1" {
			return end + 1, nil
		}
		size, ok := tinyLen(buf[1:end])
		if !ok {
			return 0, errTinyReply
		}
		n := end + 1 + size + 1
		if len(buf) < n {
			return 0, nil
		}
		if buf[n-1] != '\n' {
			return 0, errTinyReply
		}
		return n, nil
	}
	return 0, errTinyReply
}

func (tiny) ParseResponse(buf []byte, req *protocols.Request) (int, error) {
	if len(buf) == 0 || buf[0] != '*' {
		return valueLen(buf)
	}
	end, err := lineEnd(buf)
	if end == 0 {
		return 0, err
	}
	count, ok := tinyLen(buf[1:end])
	if !ok {
		return 0, errTinyReply
	}
	pos := end + 1
	for range count {
		if pos < len(buf) && buf[pos] != '$' {
			return 0, errTinyReply
		}
		n, err := valueLen(buf[pos:])
		if n == 0 {
			return 0, err
		}
		pos += n
	}
	return pos, nil
}

func appendTinyError(dst []byte, prefix, msg string) []byte {
	dst = append(dst, prefix...)
	for i := range len(msg) {
		c := msg[i]
		if c == '\n' || c == '\r' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, '\n')
}

// elements returns the values of an mget response, each followed by
// the start of the next, as a cursor over resp.
func elements(resp []byte) (count, pos int, ok bool) {
	end := bytes.IndexByte(resp, '\n')
	if len(resp) == 0 || resp[0] != '*' || end < 0 {
		return 0, 0, false
	}
	count, ok = tinyLen(resp[1:end])
	return count, end + 1, ok
}

func (tiny) AppendReply(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	if len(parts) == 0 {
		return append(dst, "-ERR no reply\n"...)
	}
	for i := range parts {
		if parts[i].Err != nil {
			return appendTinyError(dst, "-ERR ", parts[i].Err.Error())
		}
		if r := parts[i].Resp; len(r) > 0 && r[0] == '-' {
			return append(dst, r...)
		}
	}
	if req.Kind != protocols.Split || len(parts) == 1 && parts[0].Keys == nil {
		return append(dst, parts[0].Resp...)
	}
	// Each part answers its keys, in ascending order, in order: key k is
	// the next element of the part that carried it.
	var cursors [8]struct{ pos, next int }
	if len(parts) > len(cursors) {
		return append(dst, "-ERR too many parts\n"...)
	}
	for i := range parts {
		count, pos, ok := elements(parts[i].Resp)
		if !ok || count != len(parts[i].Keys) {
			return append(dst, "-ERR response does not match the keys\n"...)
		}
		cursors[i].pos = pos
	}
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(req.Keys)), 10)
	dst = append(dst, '\n')
	for k := range req.Keys {
		found := false
		for i := range parts {
			c := &cursors[i]
			if c.next < len(parts[i].Keys) && int(parts[i].Keys[c.next]) == k {
				n, _ := valueLen(parts[i].Resp[c.pos:])
				dst = append(dst, parts[i].Resp[c.pos:c.pos+n]...)
				c.pos += n
				c.next++
				found = true
				break
			}
		}
		if !found {
			dst = append(dst, "$-1\n"...)
		}
	}
	return dst
}

func (tiny) AppendError(dst []byte, err error) []byte {
	var pe *protocols.ProtocolError
	if errors.As(err, &pe) {
		return appendTinyError(dst, "-ERR Protocol error: ", pe.Msg)
	}
	return appendTinyError(dst, "-ERR ", err.Error())
}

// RequestSize implements protocols.Sizer: a set's line gives its size.
func (tiny) RequestSize(buf []byte) int {
	end, _ := lineEnd(buf)
	line := buf[:end]
	if !bytes.HasPrefix(line, []byte("set ")) {
		return 0
	}
	i := bytes.LastIndexByte(line, ' ')
	size, ok := tinyLen(line[i+1:])
	if !ok || bytes.Count(line, []byte(" ")) != 2 {
		return 0
	}
	return end + 1 + size + 1
}

// ResponseSize implements protocols.Sizer: a value's line gives its size.
func (tiny) ResponseSize(buf []byte) int {
	end, _ := lineEnd(buf)
	if end == 0 || buf[0] != '$' {
		return 0
	}
	size, ok := tinyLen(buf[1:end])
	if !ok {
		return 0
	}
	return end + 1 + size + 1
}

// tinyCases are tiny's own cases.
var tinyCases = Cases{
	Requests: []Request{
		{In: "get k\n", Want: &Want{Kind: protocols.Forward, Keys: []string{"k"}}},
		{In: "mget a b c\n", Want: &Want{Kind: protocols.Split, Keys: []string{"a", "b", "c"}}},
		{In: "mget aaaaaaaa bbbbbbbb cccccccc dddddddd\n", Want: &Want{Kind: protocols.Split, Keys: []string{"aaaaaaaa", "bbbbbbbb", "cccccccc", "dddddddd"}}},
		{In: "set k 5\nhello\n", Want: &Want{Kind: protocols.Forward, Keys: []string{"k"}}},
		{In: "set k 0\n\n", Want: &Want{Kind: protocols.Forward, Keys: []string{"k"}}},
		{In: "ping\n", Want: &Want{Kind: protocols.Local, Reply: "+pong\n"}},
		{In: "quit\n", Want: &Want{Kind: protocols.Local, Close: true}},
		{In: "\n", Want: &Want{Kind: protocols.Local, Reply: "-ERR unknown command or wrong arguments\n"}},
		{In: "get\n", Want: &Want{Kind: protocols.Local, Reply: "-ERR unknown command or wrong arguments\n"}},
	},
	Bad: []string{
		"set k x\n",
		"set k 2\nabc\n",
		"get " + string(bytes.Repeat([]byte("k"), 100)) + "\n",
	},
	Responses: []Response{
		{In: "+OK\n"},
		{In: "$5\nhello\n"},
		{In: "$-1\n"},
		{In: "-ERR no\n"},
		{To: "mget a b\n", In: "*2\n$1\nx\n$-1\n"},
		{In: "+OK\n+OK\n", Len: 4},
	},
	BadResponses: []Response{
		{In: "?\n"},
		{In: "$2\nabc\n"},
		{To: "mget a\n", In: "*1\n+OK\n"},
	},
	Trips: []Trip{
		{Name: "get", Request: "get k\n", Responses: []string{"$5\nhello\n"}, Reply: "$5\nhello\n"},
		{Name: "set", Request: "set k 5\nhello\n", Responses: []string{"+OK\n"}, Reply: "+OK\n"},
		{Name: "ping", Request: "ping\n", Reply: "+pong\n"},
		{Name: "quit", Request: "quit\n", NoReply: true},
		{
			Name: "mget/2 parts", Request: "mget a b c\n",
			Parts:     [][]int32{{0, 2}, {1}},
			Responses: []string{"*2\n$1\nA\n$-1\n", "*1\n$1\nB\n"},
			Reply:     "*3\n$1\nA\n$1\nB\n$-1\n",
		},
	},
}
