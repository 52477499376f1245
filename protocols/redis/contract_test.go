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
	// A CLIENT subcommand walnut does not know stays walnut's on one
	// server: a newer server's would change the shared connection.
	{Name: "one server: unknown CLIENT subcommand", Request: mb("CLIENT", "NO-TOUCH", "ON"), Servers: 1,
		Reply: "-ERR unknown subcommand 'NO-TOUCH'. Try CLIENT HELP.\r\n"},
	// For a RESP3 client, walnut's answers and merges take Redis' RESP3
	// forms.
	{Name: "CLIENT TRACKINGINFO RESP3", Request: mb("CLIENT", "TRACKINGINFO"), Session: resp3Client, Reply: replyTrackInfo3},
	{Name: "PUBSUB NUMSUB RESP3", Request: mb("PUBSUB", "NUMSUB", "x"), Session: resp3Client,
		Responses: []string{"*2\r\n$1\r\nx\r\n:2\r\n", "*2\r\n$1\r\nx\r\n:1\r\n"}, Reply: "*2\r\n$1\r\nx\r\n:3\r\n"},
	{Name: "one server: CONFIG GET RESP3", Request: mb("CONFIG", "GET", "maxmemory"), Servers: 1, Session: resp3Client,
		Responses: []string{"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"}, Reply: "%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"},
	// Scripts without keys and functions (scripts.go, functions.go).
	{Name: "EVAL no-writes without keys", Request: mb("EVAL", "#!lua flags=no-writes\nreturn 1", "0"), Servers: 3,
		Responses: []string{":1\r\n"}, Reply: ":1\r\n"},
	{Name: "EVALSHA unknown without keys", Request: mb("EVALSHA", "0000000000000000000000000000000000000000", "0"), Servers: 3,
		Responses: []string{"-ERR Can not execute a script with write flag using *_ro command.\r\n"},
		Reply:     "-ERR walnut cannot route EVALSHA" + whyScriptRW + "\r\n"},
	{Name: "FCALL_RO without keys", Request: mb("FCALL_RO", "f", "0"), Servers: 2, Responses: []string{"-ERR Function not found\r\n"},
		Reply: "-ERR Function not found\r\n"},
	{Name: "FUNCTION LOAD", Request: mb("FUNCTION", "LOAD", "REPLACE", libCode),
		Responses: []string{bulk("mylib") + arr(libEntry("mylib", "", fn{"ro", []string{"no-writes"}})),
			bulk("mylib") + arr(libEntry("mylib", "", fn{"ro", []string{"no-writes"}}))}, Reply: bulk("mylib")},
	{Name: "FUNCTION DELETE", Request: mb("FUNCTION", "DELETE", "gone"), Responses: []string{"+OK\r\n", "+OK\r\n"}, Reply: "+OK\r\n"},
	{Name: "FUNCTION LIST", Request: mb("FUNCTION", "LIST"),
		Responses: []string{arr(libEntry("a", "", fn{"f", nil})), arr(libEntry("a", "", fn{"f", nil}))}, Reply: arr(libEntry("a", "", fn{"f", nil}))},
	{Name: "FUNCTION DUMP", Request: mb("FUNCTION", "DUMP"), Servers: 3, Responses: []string{"$4\r\ndump\r\n"}, Reply: "$4\r\ndump\r\n"},
	{Name: "FUNCTION STATS", Request: mb("FUNCTION", "STATS"),
		Responses: []string{arr(bulk("running_script"), "$-1\r\n", bulk("engines"), arr()),
			arr(bulk("running_script"), arr(bulk("name"), bulk("f")), bulk("engines"), arr())},
		Reply: arr(bulk("running_script"), arr(bulk("name"), bulk("f")), bulk("engines"), arr())},
	{Name: "FUNCTION KILL", Request: mb("FUNCTION", "KILL"),
		Responses: []string{"-NOTBUSY No scripts in execution right now.\r\n", "+OK\r\n"}, Reply: "+OK\r\n"},
	{Name: "SCRIPT LOAD", Request: mb("SCRIPT", "LOAD", "return 1"),
		Responses: []string{bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db"), bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")},
		Reply:     bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")},
	// What a server in RESP3 answers a RESP3 client's request is relayed
	// as it came, or merged in RESP3.
	{Name: "HGETALL RESP3 map", Request: mb("HGETALL", "h"), Responses: []string{"%1\r\n$1\r\na\r\n$1\r\n1\r\n"}, Reply: "%1\r\n$1\r\na\r\n$1\r\n1\r\n"},
	{Name: "ZSCORE RESP3 double", Request: mb("ZSCORE", "z", "m"), Responses: []string{",1.5\r\n"}, Reply: ",1.5\r\n"},
	{Name: "GET RESP3 null", Request: mb("GET", "k"), Responses: []string{"_\r\n"}, Reply: "_\r\n"},
	{Name: "MGET3/2 parts RESP3 nulls", Request: mb("MGET", "a", "b", "c"), Parts: [][]int32{{0, 2}, {1}},
		Responses: []string{"*2\r\n_\r\n$1\r\nc\r\n", "*1\r\n_\r\n"}, Reply: "*3\r\n_\r\n_\r\n$1\r\nc\r\n"},
	{Name: "EVAL RESP3 attribute", Request: mb("EVAL", "return 1", "1", "k"), Responses: []string{"|1\r\n+ttl\r\n:3\r\n#t\r\n"}, Reply: "|1\r\n+ttl\r\n:3\r\n#t\r\n"},
	{Name: "HELLO 3", Request: mb("HELLO", "3")},
	// Functions and scripts for a client that said HELLO 3: FUNCTION
	// STATS rebuilt in RESP3 whatever protocol its servers answered in,
	// the rest relayed as servers in RESP3 send it.
	{Name: "FUNCTION STATS RESP3", Request: mb("FUNCTION", "STATS"), Session: resp3Client,
		Responses: []string{arr(bulk("running_script"), "$-1\r\n", bulk("engines"), arr(bulk("LUA"), arr(bulk("libraries_count"), ":1\r\n", bulk("functions_count"), ":1\r\n"))),
			"%2\r\n" + bulk("running_script") + "%3\r\n" + bulk("name") + bulk("f") + bulk("command") + arr(bulk("fcall"), bulk("f"), bulk("0")) +
				bulk("duration_ms") + ":7\r\n" + bulk("engines") + "%1\r\n" + bulk("LUA") + "%2\r\n" + bulk("libraries_count") + ":1\r\n" + bulk("functions_count") + ":1\r\n"},
		Reply: "%2\r\n" + bulk("running_script") + "%3\r\n" + bulk("name") + bulk("f") + bulk("command") + arr(bulk("fcall"), bulk("f"), bulk("0")) +
			bulk("duration_ms") + ":7\r\n" + bulk("engines") + "%1\r\n" + bulk("LUA") + "%2\r\n" + bulk("libraries_count") + ":1\r\n" + bulk("functions_count") + ":1\r\n"},
	{Name: "FUNCTION STATS RESP2 from RESP3 servers", Request: mb("FUNCTION", "STATS"),
		Responses: []string{"%2\r\n" + bulk("running_script") + "_\r\n" + bulk("engines") + "%0\r\n", "%2\r\n" + bulk("running_script") + "_\r\n" + bulk("engines") + "%0\r\n"},
		Reply:     arr(bulk("running_script"), "$-1\r\n", bulk("engines"), arr())},
	{Name: "FUNCTION LIST RESP3", Request: mb("FUNCTION", "LIST"), Session: resp3Client,
		Responses: []string{arr(libEntry3("a", "", fn{"f", []string{"no-writes"}})), arr(libEntry3("a", "", fn{"f", []string{"no-writes"}}))},
		Reply:     arr(libEntry3("a", "", fn{"f", []string{"no-writes"}}))},
	{Name: "FUNCTION LOAD RESP3", Request: mb("FUNCTION", "LOAD", "REPLACE", libCode), Session: resp3Client,
		Responses: []string{bulk("mylib") + arr(libEntry3("mylib", "", fn{"ro", []string{"no-writes"}})),
			bulk("mylib") + arr(libEntry3("mylib", "", fn{"ro", []string{"no-writes"}}))}, Reply: bulk("mylib")},
	{Name: "FUNCTION KILL RESP3", Request: mb("FUNCTION", "KILL"), Session: resp3Client,
		Responses: []string{"+OK\r\n", "-NOTBUSY No scripts in execution right now.\r\n"}, Reply: "+OK\r\n"},
	{Name: "EVAL no-writes without keys RESP3", Request: mb("EVAL", "#!lua flags=no-writes\nreturn {map={a=1}}", "0"), Servers: 3, Session: resp3Client,
		Responses: []string{"%1\r\n$1\r\na\r\n:1\r\n"}, Reply: "%1\r\n$1\r\na\r\n:1\r\n"},
}

// resp3Client is the session of a client that said HELLO 3, marshalled
// for codectest.Trip.Session.
var resp3Client = (*Codec)(nil).MarshalSession(resp3Session())

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
