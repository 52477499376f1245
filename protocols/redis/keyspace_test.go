package redis

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

func bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

func arr(elems ...string) string {
	return "*" + strconv.Itoa(len(elems)) + "\r\n" + strings.Join(elems, "")
}

// fanOut parses in and answers it with one part per reply, server i
// answering replies[i], in a pool of servers servers.
func fanOut(t *testing.T, c *Codec, in string, servers int, replies ...string) string {
	t.Helper()
	req := parsed(t, c, in)
	if req.Kind != protocols.Broadcast && req.Kind != protocols.Targeted {
		t.Fatalf("%q: kind %d", in, req.Kind)
	}
	req.Servers = servers
	var parts []protocols.Part
	for i, r := range replies {
		srv := i
		if req.Kind == protocols.Targeted {
			srv = req.Target
		}
		parts = append(parts, protocols.Part{Resp: []byte(r), Server: srv, Name: "s" + strconv.Itoa(srv)})
	}
	return string(c.AppendReply(nil, req, parts))
}

func TestMergeKeyspace(t *testing.T) {
	c := newCodec(t, protocols.Options{Own: &Options{AllowFlush: true, Databases: 16}})
	cases := []struct {
		name, in string
		replies  []string
		want     string
	}{
		{"KEYS", mb("KEYS", "*"), []string{arr(bulk("a"), bulk("b")), arr(), arr(bulk("c"))}, arr(bulk("a"), bulk("b"), bulk("c"))},
		{"KEYS none", mb("KEYS", "x*"), []string{arr(), arr()}, arr()},
		{"KEYS one server", mb("KEYS", "*"), []string{arr(bulk("a"))}, arr(bulk("a"))},
		{"KEYS not an array", mb("KEYS", "*"), []string{arr(), ":1\r\n"}, "-ERR Invalid argument (unexpected reply from server s1)\r\n"},
		{"DBSIZE", mb("DBSIZE"), []string{":3\r\n", ":0\r\n", ":4\r\n"}, ":7\r\n"},
		{"DBSIZE bad", mb("DBSIZE"), []string{":3\r\n", "+OK\r\n"}, "-ERR Invalid argument (unexpected reply from server s1)\r\n"},
		{"LASTSAVE", mb("LASTSAVE"), []string{":1700000300\r\n", ":1700000100\r\n", ":1700000200\r\n"}, ":1700000100\r\n"},
		{"RANDOMKEY all empty", mb("RANDOMKEY"), []string{"$-1\r\n", "$-1\r\n"}, "$-1\r\n"},
		{"RANDOMKEY one has keys", mb("RANDOMKEY"), []string{"$-1\r\n", bulk("k"), "$-1\r\n"}, bulk("k")},
		{"FLUSHDB", mb("FLUSHDB"), []string{"+OK\r\n", "+OK\r\n"}, "+OK\r\n"},
		{"FLUSHALL", mb("FLUSHALL", "ASYNC"), []string{"+OK\r\n"}, "+OK\r\n"},
		{"SCRIPT FLUSH", mb("SCRIPT", "FLUSH"), []string{"+OK\r\n", "+OK\r\n"}, "+OK\r\n"},
		{"SCRIPT LOAD", mb("SCRIPT", "LOAD", "return 1"), []string{bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db"), bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")}, bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")},
		{"SCRIPT LOAD disagree", mb("SCRIPT", "LOAD", "return 1"), []string{bulk("aa"), bulk("bb")}, "-ERR SCRIPT LOAD: the servers disagree: s0 answered \"aa\"; s1 answered \"bb\"\r\n"},
		{"SCRIPT EXISTS", mb("SCRIPT", "EXISTS", "a", "b", "c"), []string{arr(":1\r\n", ":1\r\n", ":0\r\n"), arr(":1\r\n", ":0\r\n", ":0\r\n")}, arr(":1\r\n", ":0\r\n", ":0\r\n")},
		{"SCRIPT EXISTS short", mb("SCRIPT", "EXISTS", "a", "b"), []string{arr(":1\r\n", ":1\r\n"), arr(":1\r\n")}, "-ERR Invalid argument (unexpected reply from server s1)\r\n"},
		{"TIME", mb("TIME"), []string{arr(bulk("1700000000"), bulk("12"))}, arr(bulk("1700000000"), bulk("12"))},
		{"INFO servers", mb("INFO", "servers"), []string{bulk("# Server\r\nredis_version:7.0.15\r\n"), bulk("# Server\r\nredis_version:7.2.4\r\n")},
			bulk("# walnut server s0\r\n# Server\r\nredis_version:7.0.15\r\n\r\n# walnut server s1\r\n# Server\r\nredis_version:7.2.4\r\n")},
		// A server's error names the server, with its code kept first.
		{"error", mb("KEYS", "*"), []string{arr(), "-BUSY Redis is busy running a script\r\n"}, "-BUSY Redis is busy running a script (server s1)\r\n"},
		{"error in a targeted one", mb("SCAN", "0", "COUNT", "0"), []string{"-ERR syntax error\r\n"}, "-ERR syntax error (server s0)\r\n"},
		// Every server's alike: as one Redis answers it.
		{"the same error everywhere", mb("FLUSHDB", "x"), []string{"-ERR syntax error\r\n", "-ERR syntax error\r\n"}, "-ERR syntax error\r\n"},
		{"errors that differ", mb("KEYS", "*"), []string{"-BUSY a\r\n", "-BUSY b\r\n"}, "-BUSY a (server s0)\r\n"},
	}
	for _, tc := range cases {
		if got := fanOut(t, c, tc.in, 3, tc.replies...); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	// A part that failed makes the reply its error, which names the
	// server (the core's text does).
	req := parsed(t, c, mb("DBSIZE"))
	parts := []protocols.Part{{Resp: []byte(":1\r\n")}, {Err: errors.New("pool p: server 10.0.0.2:6379: timed out after 1s")}}
	if got := string(c.AppendReply(nil, req, parts)); got != "-ERR pool p: server 10.0.0.2:6379: timed out after 1s\r\n" {
		t.Errorf("failed part: %q", got)
	}
	if got := string(c.AppendReply(nil, req, nil)); got != replyNoServer {
		t.Errorf("no part: %q", got)
	}
	// RANDOMKEY picks among the servers that have keys.
	seen := map[string]bool{}
	for range 200 {
		seen[fanOut(t, c, mb("RANDOMKEY"), 3, bulk("a"), "$-1\r\n", bulk("c"))] = true
	}
	if len(seen) != 2 || !seen[bulk("a")] || !seen[bulk("c")] {
		t.Errorf("RANDOMKEY answers: %v", seen)
	}
}

// The composite SCAN cursor: server index above bit 47, the server's own
// cursor below; a finished server hands over to the next, the last one
// ends the walk.
func TestScanCursor(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	const s1 = 1 << scanShift
	page := arr(bulk("k1"), bulk("k2"))
	cases := []struct {
		cursor         string
		servers        int
		target         int
		sent           string
		serverCursor   string
		wantNextCursor uint64
	}{
		{"0", 3, 0, "0", "12", 12},
		{"12", 3, 0, "12", "0", s1},
		{strconv.FormatUint(s1, 10), 3, 1, "0", "7", s1 | 7},
		{strconv.FormatUint(s1|7, 10), 3, 1, "7", "0", 2 * s1},
		{strconv.FormatUint(2*s1|5, 10), 3, 2, "5", "0", 0},
		{"0", 1, 0, "0", "0", 0},
		{"00012", 1, 0, "12", "3", 3},
		{strconv.FormatUint(scanCursorMask, 10), 2, 0, strconv.FormatUint(scanCursorMask, 10), "99", 99},
	}
	for _, tc := range cases {
		req := parsed(t, c, mb("SCAN", tc.cursor, "MATCH", "user*", "COUNT", "1000"))
		if req.Kind != protocols.Targeted || req.Target != tc.target {
			t.Errorf("%s: kind %d target %d, want target %d", tc.cursor, req.Kind, req.Target, tc.target)
			continue
		}
		if got, want := string(c.AppendRequest(nil, req, nil)), mb("SCAN", tc.sent, "MATCH", "user*", "COUNT", "1000"); got != want {
			t.Errorf("%s: sent %q, want %q", tc.cursor, got, want)
		}
		req.Servers = tc.servers
		reply := arr(bulk(tc.serverCursor), page)
		got := string(c.AppendReply(nil, req, []protocols.Part{{Resp: []byte(reply), Server: req.Target, Name: "s"}}))
		if want := arr(bulk(strconv.FormatUint(tc.wantNextCursor, 10)), page); got != want {
			t.Errorf("%s: reply %q, want %q", tc.cursor, got, want)
		}
		if tc.wantNextCursor >= 1<<63 {
			t.Errorf("%s: cursor %d does not fit a signed 64-bit number", tc.cursor, tc.wantNextCursor)
		}
	}
	// The core moved the request on from an ejected server: the next one
	// is walked from its start, and the cursor names it.
	req := parsed(t, c, mb("SCAN", strconv.FormatUint(s1|77, 10)))
	req.Target, req.Servers = 2, 3
	if got, want := string(c.AppendRequest(nil, req, nil)), mb("SCAN", "0"); got != want {
		t.Errorf("moved on: sent %q, want %q", got, want)
	}
	got := string(c.AppendReply(nil, req, []protocols.Part{{Resp: []byte(arr(bulk("4"), arr())), Server: 2}}))
	if want := arr(bulk(strconv.FormatUint(2*s1|4, 10)), arr()); got != want {
		t.Errorf("moved on: reply %q, want %q", got, want)
	}
	// The core found no server at or after the target: the walk is over.
	req = parsed(t, c, mb("SCAN", strconv.FormatUint(5*s1, 10)))
	if got := string(c.AppendReply(nil, req, nil)); got != replyScanDone {
		t.Errorf("past the last server: %q", got)
	}
	// A server cursor too large to encode is an error, not a wrong walk.
	req = parsed(t, c, mb("SCAN", "0"))
	req.Servers = 2
	got = string(c.AppendReply(nil, req, []protocols.Part{{Resp: []byte(arr(bulk(strconv.FormatUint(1<<scanShift, 10)), arr())), Name: "s"}}))
	if !strings.HasPrefix(got, "-ERR Invalid argument (server s answered a SCAN cursor too large") {
		t.Errorf("huge server cursor: %q", got)
	}
	// Inline SCAN is rewritten too.
	req = parsed(t, c, "scan "+strconv.FormatUint(s1|9, 10)+" count 5\r\n")
	if got, want := string(c.AppendRequest(nil, req, nil)), mb("scan", "9", "count", "5"); got != want {
		t.Errorf("inline: sent %q, want %q", got, want)
	}
}

func TestInfoServersRequest(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for in, want := range map[string]string{
		mb("INFO", "servers"):                     mb("INFO"),
		mb("info", "memory", "SERVERS", "server"): mb("info", "memory", "server"),
	} {
		req := parsed(t, c, in)
		if got := string(c.AppendRequest(nil, req, nil)); got != want {
			t.Errorf("%q: sent %q, want %q", in, got, want)
		}
	}
}

func TestCrossServerError(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, tc := range []struct {
		cmd        string
		first, key string
		want       string
	}{
		{"eval", "a", "b", "-ERR keys of EVAL are on different servers: \"b\" is not with \"a\" (use a hash tag)\r\n"},
		{"rename", "x\r\ny", "z", "-ERR keys of RENAME are on different servers: \"z\" is not with \"x\\r\\ny\" (use a hash tag)\r\n"},
		{"object|encoding", "a", "b", "-ERR keys of OBJECT ENCODING are on different servers: \"b\" is not with \"a\" (use a hash tag)\r\n"},
	} {
		err := &protocols.CrossServerError{Cmd: uint16(find(tc.cmd)), First: tc.first, Key: tc.key}
		if got := string(c.AppendError(nil, err)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
}
