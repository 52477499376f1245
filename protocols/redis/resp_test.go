package redis

import (
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// validReplies are whole replies, which TestContract frames whole, alone,
// followed by more, and cut short.
var validReplies = []string{
	"+OK\r\n",
	"+\r\n",
	"-ERR wrong type\r\n",
	":0\r\n",
	":-12345\r\n",
	"$5\r\nhello\r\n",
	"$0\r\n\r\n",
	"$-1\r\n",
	"$4\r\na\r\nb\r\n",
	"*0\r\n",
	"*-1\r\n",
	"*3\r\n$1\r\na\r\n$-1\r\n:7\r\n",
	"*2\r\n*2\r\n+a\r\n*0\r\n*1\r\n*1\r\n*1\r\n-ERR deep\r\n",
	"*3\r\n*-1\r\n$-1\r\n*1\r\n$0\r\n\r\n",
	// RESP3
	"_\r\n",
	",3.14\r\n",
	"#t\r\n",
	"(12345678901234567890\r\n",
	"!5\r\nERR x\r\n",
	"=8\r\ntxt:abcd\r\n",
	"%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n_\r\n",
	"~2\r\n+a\r\n+b\r\n",
	">2\r\n+message\r\n$1\r\nx\r\n",
	"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
	// RESP3 as redis-server 7.0 sends it: HELLO 3, HGETALL, SMEMBERS,
	// ZSCORE, a missing key, booleans, big numbers and verbatim strings
	// from Lua, CLIENT INFO, a message and a confirmation pushed to a
	// subscriber, MGET with nulls; doubles Redis writes; the spec's
	// attribute example, and an attribute inside an array.
	"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:3\r\n" +
		"$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
	"%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
	"~2\r\n$1\r\nx\r\n$1\r\ny\r\n",
	",1.5\r\n",
	"#f\r\n",
	"(1234567890123456789012\r\n",
	"(-7\r\n",
	"=12\r\ntxt:hi there\r\n",
	"=4\r\ntxt:\r\n",
	"=13\r\nmkd:# a\r\nb\r\nc\r\n",
	"=27\r\ntxt:id=3 name= db=0 resp=3\n\r\n",
	">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n",
	">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n",
	"*2\r\n_\r\n$1\r\nc\r\n",
	",inf\r\n",
	",-inf\r\n",
	",nan\r\n",
	",1e+300\r\n",
	",-0.5\r\n",
	"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
	"*2\r\n|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n:1\r\n",
	"%1\r\n~1\r\n_\r\n%0\r\n",
	"!0\r\n\r\n",
}

func TestParseResponseDeep(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	// Nesting that would overflow a recursive parser's stack budget in a
	// goroutine is just counting here.
	depth := 1 << 20
	r := strings.Repeat("*1\r\n", depth) + ":1\r\n"
	n, err := c.ParseResponse([]byte(r), nil)
	if err != nil || n != len(r) {
		t.Fatalf("n=%d err=%v", n, err)
	}
	r = "*100000\r\n" + strings.Repeat("$1\r\nx\r\n", 100000)
	if n, err := c.ParseResponse([]byte(r), nil); err != nil || n != len(r) {
		t.Fatalf("wide: n=%d err=%v", n, err)
	}
}

// badReplies are replies refused with an error, by a codec whose
// MaxValueSize is 100.
var badReplies = []struct {
	in  string
	err error
}{
	{"x\r\n", errBadReply},
	{"\r\n", errBadReply},
	{"+OK\n", errBadReply},
	{"+O\rK\r\n", errBadReply},
	{"\n", errBadReply},
	{":abc\r\n", errBadReply},
	{":\r\n", errBadReply},
	{"$x\r\n", errBadReply},
	{"$-2\r\n", errBadReply},
	{"$3\r\nabcd\r\n", errBadReply},
	{"$3\r\nab\r\n\r\n", errBadReply},
	{"$101\r\n", errReplyTooBig},
	{"!-1\r\n", errBadReply},
	{"*-2\r\n", errBadReply},
	{"~-1\r\n", errBadReply},
	{"*2147483648\r\n", errBadReply},
	{"*1\r\n?\r\n", errBadReply},
	{"*2\r\n:1\r\n$1\r\nab\r\n", errBadReply},
	{"#x\r\n", errBadReply},
	{"_x\r\n", errBadReply},
	{"$?\r\n", errBadReply},
	{"=3\r\ntxt\r\n", errBadReply},
	{"=5\r\ntxtab\r\n", errBadReply},
	{"=0\r\n\r\n", errBadReply},
	{"=101\r\n", errReplyTooBig},
	{"=-1\r\n", errBadReply},
	{"(\r\n", errBadReply},
	{"(-\r\n", errBadReply},
	{"(12a\r\n", errBadReply},
	{",\r\n", errBadReply},
	{",1.5x\r\n", errBadReply},
	{"#tt\r\n", errBadReply},
	{"%-1\r\n", errBadReply},
	{"*?\r\n", errBadReply},
	{"%?\r\n", errBadReply},
	{"%1\r\n$1\r\na\r\n?\r\n", errBadReply},
	{"|1\r\n+a\r\n:x\r\n", errBadReply},
	{">1\r\n$101\r\n", errReplyTooBig},
	{"+" + strings.Repeat("x", inlineMax+2), errReplyTooBig},
	{"+" + strings.Repeat("x", inlineMax+1) + "\r\n", errReplyTooBig},
}

// TestParseResponseErrors pins the error of each bad reply; TestContract
// checks that every prefix that shows the fault gets it too.
func TestParseResponseErrors(t *testing.T) {
	c := newCodec(t, protocols.Options{MaxValueSize: 100})
	for _, tc := range badReplies {
		n, err := c.ParseResponse([]byte(tc.in), nil)
		if err != tc.err || n != 0 {
			t.Errorf("%q: n=%d err=%v, want %v", tc.in, n, err, tc.err)
		}
	}
	// Without MaxValueSize, MaxRequestSize bounds reply values.
	c = newCodec(t, protocols.Options{MaxRequestSize: 10})
	if _, err := c.ParseResponse([]byte("$11\r\n"), nil); err != errReplyTooBig {
		t.Errorf("MaxRequestSize: %v", err)
	}
	if n, err := c.ParseResponse([]byte("-"+strings.Repeat("x", inlineMax)+"\r\n"), nil); err != nil || n != inlineMax+3 {
		t.Errorf("a long error line: n=%d err=%v", n, err)
	}
	c = newCodec(t, protocols.Options{})
	if _, err := c.ParseResponse([]byte("$536870913\r\n"), nil); err != errReplyTooBig {
		t.Errorf("default: %v", err)
	}
}
