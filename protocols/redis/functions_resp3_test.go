package redis

import (
	"strconv"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// Functions and scripts for a client that said HELLO 3: what walnut
// builds (FUNCTION STATS) takes RESP3's forms, what servers answer on a
// connection switched to RESP3 comes as it is, and what walnut reads from
// them (libraries, their functions' flags) it reads in either protocol.

// libEntry3 is libEntry as a server sends it in RESP3, with Redis 7.0's
// forms: maps, a null description, a set of flags.
func libEntry3(name, code string, fns ...fn) string {
	var fs []string
	for _, f := range fns {
		flags := "~" + strconv.Itoa(len(f.flags)) + "\r\n"
		for _, fl := range f.flags {
			flags += "+" + fl + "\r\n"
		}
		fs = append(fs, "%3\r\n"+bulk("name")+bulk(f.name)+bulk("description")+"_\r\n"+bulk("flags")+flags)
	}
	pairs := 3
	body := bulk("library_name") + bulk(name) + bulk("engine") + bulk("LUA") + bulk("functions") + arr(fs...)
	if code != "" {
		pairs++
		body += bulk("library_code") + bulk(code)
	}
	return "%" + strconv.Itoa(pairs) + "\r\n" + body
}

// resp3Session is a client's session after HELLO 3, in the pool's
// database.
func resp3Session() *session { return &session{resp3: true} }

// fanOutAs is fanOut for the client of session s.
func fanOutAs(t *testing.T, c *Codec, s *session, in string, servers int, replies ...string) string {
	t.Helper()
	req := &protocols.Request{Session: s}
	if n, err := c.ParseRequest([]byte(in), req); err != nil || n != len(in) {
		t.Fatalf("%q: n=%d err=%v", in, n, err)
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

// FUNCTION STATS' servers answer on dedicated connections in whatever
// protocol each was left in; the client gets its own protocol's forms,
// as Redis 7.0 sends them (checked against a redis-server in
// integration's TestFunctionsResp3LikeRedis).
func TestFunctionStatsResp3(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	engines2 := arr(bulk("LUA"), arr(bulk("libraries_count"), ":1\r\n", bulk("functions_count"), ":2\r\n"))
	engines3 := "%1\r\n" + bulk("LUA") + "%2\r\n" + bulk("libraries_count") + ":1\r\n" + bulk("functions_count") + ":2\r\n"
	command := arr(bulk("fcall"), bulk("spin"), bulk("0"))
	running2 := arr(bulk("name"), bulk("spin"), bulk("command"), command, bulk("duration_ms"), ":521\r\n")
	running3 := "%3\r\n" + bulk("name") + bulk("spin") + bulk("command") + command + bulk("duration_ms") + ":521\r\n"
	idle2 := arr(bulk("running_script"), "$-1\r\n", bulk("engines"), engines2)
	busy2 := arr(bulk("running_script"), running2, bulk("engines"), engines2)
	idle3 := "%2\r\n" + bulk("running_script") + "_\r\n" + bulk("engines") + engines3
	busy3 := "%2\r\n" + bulk("running_script") + running3 + bulk("engines") + engines3
	stats := mb("FUNCTION", "STATS")
	for _, tc := range []struct {
		name    string
		r3      bool
		replies []string
		want    string
	}{
		{"RESP3 client, RESP2 servers", true, []string{idle2, busy2, idle2}, busy3},
		{"RESP3 client, RESP2 servers, idle", true, []string{idle2, idle2}, idle3},
		{"RESP3 client, RESP3 servers", true, []string{idle3, busy3}, busy3},
		{"RESP3 client, both", true, []string{busy2, idle3}, busy3},
		{"RESP2 client, RESP3 servers", false, []string{idle3, busy3, idle3}, busy2},
		{"RESP2 client, both", false, []string{idle3, idle2}, idle2},
		{"RESP2 client, RESP2 servers", false, []string{idle2, busy2}, busy2},
		{"RESP3 client, null array", true, []string{arr(bulk("running_script"), "*-1\r\n", bulk("engines"), engines2)}, idle3},
		{"RESP3 client, not a map", true, []string{idle2, "%1\r\n" + bulk("engines") + engines3}, "-ERR Invalid argument (unexpected reply from server s1)\r\n"},
		{"RESP3 client, odd map", true, []string{arr(bulk("running_script"), arr(bulk("name")), bulk("engines"), engines2)},
			"-ERR Invalid argument (unexpected reply from server s0)\r\n"},
		{"RESP3 client, odd engines", true, []string{arr(bulk("running_script"), "$-1\r\n", bulk("engines"), arr(bulk("LUA")))},
			"-ERR Invalid argument (unexpected reply from server s0)\r\n"},
	} {
		s := &session{resp3: tc.r3}
		if got := fanOutAs(t, c, s, stats, len(tc.replies), tc.replies...); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// The merge allocates nothing, in either protocol.
	req := &protocols.Request{Session: resp3Session()}
	if _, err := c.ParseRequest([]byte(stats), req); err != nil {
		t.Fatal(err)
	}
	parts := []protocols.Part{{Resp: []byte(idle2), Name: "s0"}, {Resp: []byte(busy3), Name: "s1", Server: 1}}
	out := make([]byte, 0, 512)
	if a := testing.AllocsPerRun(100, func() { out = c.AppendReply(out[:0], req, parts) }); a != 0 {
		t.Errorf("%v allocations per merge", a)
	}
}

// KILL and STATS of a RESP3 client go in any state, as a RESP2 one's:
// a busy server refuses SELECT. What else a RESP3 client sends about
// functions goes on connections in RESP3.
func TestFunctionsResp3States(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	for _, s := range []*session{resp3Session(), {resp3: true, db: 5}} {
		for _, in := range []string{mb("FUNCTION", "KILL"), mb("SCRIPT", "KILL"), mb("FUNCTION", "STATS")} {
			req := &protocols.Request{Session: s}
			if _, err := c.ParseRequest([]byte(in), req); err != nil || req.ConnState != protocols.AnyState || !isResp3(req) {
				t.Errorf("%q in database %d: state %d, RESP3 %v, %v", in, s.db, req.ConnState, isResp3(req), err)
			}
		}
		want := c.connState(s.db, true)
		for _, in := range []string{mb("FUNCTION", "LIST"), mb("FUNCTION", "LOAD", libCode), mb("SCRIPT", "LOAD", "return 1"),
			mb("EVAL", "#!lua flags=no-writes\nreturn 1", "0"), mb("FCALL_RO", "f", "0")} {
			req := &protocols.Request{Session: s}
			if _, err := c.ParseRequest([]byte(in), req); err != nil || req.ConnState != want {
				t.Errorf("%q in database %d: state %d, want %d, %v", in, s.db, req.ConnState, want, err)
			}
		}
	}
}

// Servers in RESP3 list libraries as maps and flags as sets: walnut
// compares them, learns them and relays the first server's list as it
// came.
func TestFunctionsResp3Replies(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	s := resp3Session()
	load := mb("FUNCTION", "LOAD", libCode)
	resp := bulk("mylib") + arr(libEntry3("mylib", "", fn{"ro", []string{"no-writes"}}))
	if got := fanOutAs(t, c, s, load, 2, resp, resp); got != bulk("mylib") {
		t.Errorf("LOAD: %q", got)
	}
	if f, ok := c.fn.functionFlags([]byte("ro")); !ok || f&sfNoWrites == 0 {
		t.Errorf("ro learned from a RESP3 list: flags %b, %v", f, ok)
	}

	a := libEntry3("a", "", fn{"f1", nil}, fn{"f2", []string{"no-writes"}})
	aSwapped := libEntry3("a", "", fn{"f2", []string{"no-writes"}}, fn{"f1", nil})
	list := mb("FUNCTION", "LIST")
	if got := fanOutAs(t, c, s, list, 2, arr(a), arr(aSwapped)); got != arr(a) {
		t.Errorf("LIST in another order: %q", got)
	}
	if got := fanOutAs(t, c, s, list, 2, arr(a), arr(libEntry3("a", "", fn{"f1", nil}))); got != "-ERR FUNCTION LIST: the servers disagree: library \"a\" differs between s0 and s1\r\n" {
		t.Errorf("LIST differs: %q", got)
	}

	restore := mb("FUNCTION", "RESTORE", "payload")
	listed := arr(libEntry3("b", "#!lua name=b\n", fn{"fb", []string{"no-writes", "allow-stale"}}))
	if got := fanOutAs(t, c, s, restore, 2, "+OK\r\n"+listed, "+OK\r\n"+listed); got != "+OK\r\n" {
		t.Errorf("RESTORE: %q", got)
	}
	if f, ok := c.fn.functionFlags([]byte("fb")); !ok || f&sfNoWrites == 0 {
		t.Errorf("fb restored from a RESP3 list: flags %b, %v", f, ok)
	}

	// A priming on a connection a RESP3 client's request left in RESP3
	// is read alike.
	c = newCodec(t, protocols.Options{})
	c.PrimeReply("s0", 0, []byte(arr(libEntry3("l", "#!lua name=l\nL", fn{"lf", []string{"no-writes"}}))))
	if p, n := c.Prime("s0"); n != 1 || string(p) != mb("FUNCTION", "LOAD", "#!lua name=l\nL") {
		t.Errorf("learned from a RESP3 list: %d %q", n, p)
	}

	// Replies that are the same in both protocols, and scripts' replies,
	// come as the servers sent them.
	for _, tc := range []struct {
		in      string
		replies []string
		want    string
	}{
		{mb("SCRIPT", "KILL"), []string{"-NOTBUSY No scripts in execution right now.\r\n", "+OK\r\n"}, "+OK\r\n"},
		{mb("FUNCTION", "KILL"), []string{"-NOTBUSY No scripts in execution right now.\r\n"}, "-NOTBUSY No scripts in execution right now.\r\n"},
		{mb("SCRIPT", "LOAD", "return 1"), []string{bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db"), bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")},
			bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")},
		{mb("EVAL", "#!lua flags=no-writes\nreturn {map={a=1}}", "0"), []string{"%1\r\n$1\r\na\r\n:1\r\n"}, "%1\r\n$1\r\na\r\n:1\r\n"},
		{mb("FCALL_RO", "ro", "0"), []string{"_\r\n"}, "_\r\n"},
		{mb("EVALSHA", "0000000000000000000000000000000000000000", "0"), []string{"-ERR Can not execute a script with write flag using *_ro command.\r\n"},
			"-ERR walnut cannot route EVALSHA" + whyScriptRW + "\r\n"},
	} {
		if got := fanOutAs(t, c, s, tc.in, len(tc.replies), tc.replies...); got != tc.want {
			t.Errorf("%q: %q, want %q", strings.ReplaceAll(tc.in, "\r\n", " "), got, tc.want)
		}
	}
}
