package redis

import (
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/codectest"
)

// mgetTrip is an MGET of n keys spread over nparts servers in turn.
func mgetTrip(n, nparts int) codectest.Trip {
	args := []string{"MGET"}
	tr := codectest.Trip{Name: fmt.Sprintf("MGET%d/%d parts", n, nparts), Parts: make([][]int32, nparts)}
	var values []byte
	for i := range n {
		args = append(args, fmt.Sprintf("key:%06d", i))
		tr.Parts[i%nparts] = append(tr.Parts[i%nparts], int32(i))
		values = appendBulk(values, fmt.Appendf(nil, "value-for-key-%06d", i))
	}
	for _, p := range tr.Parts {
		r := appendCount(nil, '*', len(p))
		for _, k := range p {
			r = appendBulk(r, fmt.Appendf(nil, "value-for-key-%06d", k))
		}
		tr.Responses = append(tr.Responses, string(r))
	}
	tr.Request = mb(args...)
	tr.Reply = string(appendCount(nil, '*', n)) + string(values)
	return tr
}

// msetTrip is an MSET of n keys spread over nparts servers in turn.
func msetTrip(n, nparts int) codectest.Trip {
	args := []string{"MSET"}
	tr := codectest.Trip{Name: fmt.Sprintf("MSET%d/%d parts", n, nparts), Parts: make([][]int32, nparts), Reply: "+OK\r\n"}
	for i := range n {
		args = append(args, fmt.Sprintf("key:%06d", i), fmt.Sprintf("value-%06d", i))
		tr.Parts[i%nparts] = append(tr.Parts[i%nparts], int32(i))
	}
	for range tr.Parts {
		tr.Responses = append(tr.Responses, "+OK\r\n")
	}
	tr.Request = mb(args...)
	return tr
}

// trips are requests' whole ways through the codec, for the kit and
// BenchmarkTrip.
var trips = []codectest.Trip{
	{Name: "GET", Request: mb("GET", "key:000001"), Responses: []string{"$16\r\nvalue-for-key-01\r\n"}, Reply: "$16\r\nvalue-for-key-01\r\n"},
	{Name: "SET", Request: mb("SET", "key:000001", "value-for-key-01"), Responses: []string{"+OK\r\n"}, Reply: "+OK\r\n"},
	{Name: "inline GET", Request: "GET key:000001\r\n", Responses: []string{"$-1\r\n"}, Reply: "$-1\r\n"},
	mgetTrip(10, 3),
	msetTrip(10, 3),
	{Name: "DEL3/2 parts", Request: mb("DEL", "a", "b", "c"), Parts: [][]int32{{0, 2}, {1}}, Responses: []string{":2\r\n", ":1\r\n"}, Reply: ":3\r\n"},
	{Name: "EVAL", Request: mb("EVAL", "return 1", "1", "k"), Responses: []string{":1\r\n"}, Reply: ":1\r\n"},
	{Name: "PING", Request: mb("PING"), Reply: "+PONG\r\n"},
	{Name: "unsupported", Request: mb("MONITOR"), Reply: "-ERR unsupported command 'MONITOR'\r\n"},
	// The cursor's top bits name server 1 of 3; the server's own cursor
	// 17 goes on with that server.
	{Name: "SCAN", Request: mb("SCAN", "140737488355330", "COUNT", "100"), Servers: 3,
		Responses: []string{"*2\r\n$2\r\n17\r\n*1\r\n$1\r\nk\r\n"}, Reply: "*2\r\n$15\r\n140737488355345\r\n*1\r\n$1\r\nk\r\n"},
	{Name: "DBSIZE/3 servers", Request: mb("DBSIZE"), Responses: []string{":1\r\n", ":2\r\n", ":3\r\n"}, Reply: ":6\r\n"},
	{Name: "arity", Request: mb("GET"), Reply: "-ERR wrong number of arguments for 'get' command\r\n"},
	// Redis 7's words for what is not a command; *-10 is skipped.
	{Name: "unknown", Request: mb("NOSUCH", "a", "b"), Reply: "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n"},
	{Name: "unknown subcommand", Request: mb("OBJECT", "NOPE"), Reply: "-ERR unknown subcommand 'NOPE'. Try OBJECT HELP.\r\n"},
	{Name: "negative multibulk", Request: "*-10\r\n", NoReply: true},
	// An argument error, and a HELP, any server words: relayed as it is.
	{Name: "ZUNION 0", Request: mb("ZUNION", "0", "a"), Servers: 3,
		Responses: []string{"-ERR at least 1 input key is needed for 'zunion' command\r\n"},
		Reply:     "-ERR at least 1 input key is needed for 'zunion' command\r\n"},
	{Name: "OBJECT HELP", Request: mb("OBJECT", "HELP"), Servers: 3,
		Responses: []string{"*2\r\n+OBJECT <subcommand>\r\n+HELP\r\n"}, Reply: "*2\r\n+OBJECT <subcommand>\r\n+HELP\r\n"},
	// A pool of one server forwards what it refuses across servers, and
	// passes its answers on as they are, errors included.
	{Name: "one server: CONFIG GET", Request: mb("CONFIG", "GET", "maxmemory"), Servers: 1,
		Responses: []string{"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"}, Reply: "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"},
	{Name: "one server: PING busy", Request: mb("PING"), Servers: 1,
		Responses: []string{"-BUSY Redis is busy running a script.\r\n"}, Reply: "-BUSY Redis is busy running a script.\r\n"},
	{Name: "one server: KEYS busy", Request: mb("KEYS", "*"), Servers: 1,
		Responses: []string{"-BUSY Redis is busy running a script.\r\n"}, Reply: "-BUSY Redis is busy running a script.\r\n"},
	{Name: "one server: module command", Request: mb("JSON.GET", "k"), Servers: 1,
		Responses: []string{"$2\r\n{}\r\n"}, Reply: "$2\r\n{}\r\n"},
	{Name: "one server: CONFIG SET", Request: mb("CONFIG", "SET", "maxmemory", "1"), Servers: 1,
		Reply: "-ERR unsupported command 'CONFIG SET'\r\n"},
	// PUBSUB's introspection merged over the servers.
	{Name: "PUBSUB CHANNELS", Request: mb("PUBSUB", "CHANNELS"),
		Responses: []string{"*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*0\r\n", "*2\r\n$1\r\nc\r\n$1\r\na\r\n"},
		Reply:     "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
	{Name: "PUBSUB NUMSUB", Request: mb("PUBSUB", "NUMSUB", "x", "y"),
		Responses: []string{"*4\r\n$1\r\nx\r\n:2\r\n$1\r\ny\r\n:0\r\n", "*4\r\n$1\r\nx\r\n:1\r\n$1\r\ny\r\n:5\r\n"},
		Reply:     "*4\r\n$1\r\nx\r\n:3\r\n$1\r\ny\r\n:5\r\n"},
	{Name: "PUBSUB NUMPAT", Request: mb("PUBSUB", "NUMPAT"), Responses: []string{":2\r\n", ":3\r\n", ":2\r\n"}, Reply: ":3\r\n"},
}

// TestContract runs the codec kit on the tables of the parse, response
// and trip tests; badReplies need a codec of their own, whose values are
// limited.
func TestContract(t *testing.T) {
	var cases codectest.Cases
	for _, tc := range validRequests {
		cases.Requests = append(cases.Requests, codectest.Request{In: tc.in})
	}
	for _, tc := range badRequests {
		cases.Bad = append(cases.Bad, tc.in)
	}
	for _, r := range validReplies {
		cases.Responses = append(cases.Responses, codectest.Response{In: r})
	}
	cases.Trips = trips
	t.Run("defaults", func(t *testing.T) {
		codectest.TestCodec(t, newCodec(t, protocols.Options{}), cases)
	})
	var limited codectest.Cases
	for _, tc := range badReplies {
		limited.BadResponses = append(limited.BadResponses, codectest.Response{In: tc.in})
	}
	t.Run("MaxValueSize=100", func(t *testing.T) {
		codectest.TestCodec(t, newCodec(t, protocols.Options{MaxValueSize: 100}), limited)
	})
}
