package redis

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
)

// fn describes one function of a FUNCTION LIST entry.
type fn struct {
	name  string
	flags []string
}

// libEntry is one library of a FUNCTION LIST reply, with its code when
// code is not "".
func libEntry(name, code string, fns ...fn) string {
	var fs []string
	for _, f := range fns {
		var flags []string
		for _, fl := range f.flags {
			flags = append(flags, "+"+fl+"\r\n")
		}
		fs = append(fs, arr(bulk("name"), bulk(f.name), bulk("description"), "$-1\r\n", bulk("flags"), arr(flags...)))
	}
	elems := []string{bulk("library_name"), bulk(name), bulk("engine"), bulk("LUA"), bulk("functions"), arr(fs...)}
	if code != "" {
		elems = append(elems, bulk("library_code"), bulk(code))
	}
	return arr(elems...)
}

const (
	libCode  = "#!lua name=mylib\nredis.register_function{function_name='ro', callback=function() return 1 end, flags={'no-writes'}}"
	libCode2 = "#!lua name=mylib\nredis.register_function('rw', function() return 1 end)"
)

func TestLibraryName(t *testing.T) {
	for _, tc := range []struct {
		args []string
		name string
	}{
		{[]string{"FUNCTION", "LOAD", "#!lua name=mylib\nx"}, "mylib"},
		{[]string{"FUNCTION", "LOAD", "REPLACE", "#!lua   NAME=mylib \r\nx"}, "mylib"},
		{[]string{"FUNCTION", "LOAD", "replace", "replace", "#!lua name=a\n"}, "a"},
		{[]string{"FUNCTION", "LOAD", "#!lua name=a name=b\nx"}, ""},
		{[]string{"FUNCTION", "LOAD", "#!lua name=\nx"}, ""},
		{[]string{"FUNCTION", "LOAD", "#!lua\nx"}, ""},
		{[]string{"FUNCTION", "LOAD", "#!lua name=a"}, ""},
		{[]string{"FUNCTION", "LOAD", "#!lua other=a\nx"}, ""},
		{[]string{"FUNCTION", "LOAD", "#!lua 'name=a'\nx"}, ""},
		{[]string{"FUNCTION", "LOAD", "return 1"}, ""},
		{[]string{"FUNCTION", "LOAD", "NX", "#!lua name=a\n"}, ""},
	} {
		var args [][]byte
		for _, a := range tc.args {
			args = append(args, []byte(a))
		}
		name, ok := libraryName(args)
		if string(name) != tc.name || ok != (tc.name != "") {
			t.Errorf("%q: name %q %v, want %q", tc.args, name, ok, tc.name)
		}
	}
}

// TestFunctionLoad follows FUNCTION LOAD through the codec: what goes to
// the servers, the merge of their answers, and what walnut remembers.
func TestFunctionLoad(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	in := mb("FUNCTION", "LOAD", libCode)
	req := parsed(t, c, in)
	if req.Kind != protocols.Broadcast {
		t.Fatalf("kind %d", req.Kind)
	}
	if got, want := string(c.AppendRequest(nil, req, nil)), in+mb("FUNCTION", "LIST", "LIBRARYNAME", "mylib"); got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
	list := arr(libEntry("mylib", "", fn{"ro", []string{"no-writes"}}))
	resp := bulk("mylib") + list
	if n, err := c.ParseResponse([]byte(resp+"+extra"), req); n != len(resp) || err != nil {
		t.Errorf("ParseResponse of the pair: %d %v, want %d", n, err, len(resp))
	}
	if n, err := c.ParseResponse([]byte(bulk("mylib")+"*1\r\n"), req); n != 0 || err != nil {
		t.Errorf("ParseResponse of half the pair: %d %v, want 0", n, err)
	}
	if got := fanOut(t, c, in, 3, resp, resp, resp); got != bulk("mylib") {
		t.Errorf("agreed: %q", got)
	}
	if f, ok := c.fn.functionFlags([]byte("ro")); !ok || f != sfShebang|sfNoWrites {
		t.Errorf("flags of ro: %b %v", f, ok)
	}
	prime, n := c.Prime("s0")
	if n != 2 || !strings.HasPrefix(string(prime), mb("FUNCTION", "LOAD", "REPLACE", libCode)) ||
		!strings.HasSuffix(string(prime), mb("FUNCTION", "LIST", "WITHCODE")) {
		t.Errorf("Prime: %d %q", n, prime)
	}

	// The same error everywhere is Redis' answer.
	bad := mb("FUNCTION", "LOAD", "return 1")
	if req := parsed(t, c, bad); req.Flags&reqRewrite != 0 {
		t.Errorf("FUNCTION LOAD of code without a name asks for a list")
	}
	e := "-ERR Missing library metadata\r\n"
	if got := fanOut(t, c, bad, 2, e, e); got != e {
		t.Errorf("the same error: %q", got)
	}
	// Disagreement names the servers.
	exists := "-ERR Library 'mylib' already exists\r\n"
	in2 := mb("FUNCTION", "LOAD", libCode2)
	got := fanOut(t, c, in2, 3, bulk("mylib")+list, exists+list, bulk("mylib")+list)
	want := "-ERR FUNCTION LOAD: the servers disagree: s0, s2 answered \"mylib\"; s1 answered \"ERR Library 'mylib' already exists\"\r\n"
	if got != want {
		t.Errorf("disagreement: %q, want %q", got, want)
	}
	if lib := c.fn.libs["mylib"]; lib == nil || string(lib.code) != libCode {
		t.Errorf("a load the servers disagreed on replaced the library walnut knows")
	}
	// A server that failed: the others' agreement is remembered, the
	// client gets the failure.
	req = parsed(t, c, in2)
	req.Servers = 2
	parts := []protocols.Part{{Resp: []byte(bulk("mylib") + arr(libEntry("mylib", "", fn{"rw", nil}))), Name: "s0"},
		{Err: errors.New("Connection refused (pool p, server s1)"), Name: "s1", Server: 1}}
	if got := string(c.AppendReply(nil, req, parts)); got != "-ERR Connection refused (pool p, server s1)\r\n" {
		t.Errorf("with a failure: %q", got)
	}
	if lib := c.fn.libs["mylib"]; lib == nil || string(lib.code) != libCode2 {
		t.Errorf("the load the answering servers agreed on is not remembered")
	}
	if _, ok := c.fn.functionFlags([]byte("ro")); ok {
		t.Errorf("the replaced library's function is still known")
	}
	if f, ok := c.fn.functionFlags([]byte("rw")); !ok || f != sfShebang {
		t.Errorf("flags of rw: %b %v", f, ok)
	}
}

func TestFunctionDeleteFlushRestore(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	load := mb("FUNCTION", "LOAD", libCode)
	resp := bulk("mylib") + arr(libEntry("mylib", "", fn{"ro", []string{"no-writes"}}))
	fanOut(t, c, load, 2, resp, resp)
	if got := fanOut(t, c, mb("FUNCTION", "DELETE", "nosuch"), 2, "-ERR Library not found\r\n", "-ERR Library not found\r\n"); got != "-ERR Library not found\r\n" {
		t.Errorf("DELETE of nothing: %q", got)
	}
	if got := fanOut(t, c, mb("FUNCTION", "DELETE", "mylib"), 2, "+OK\r\n", "-ERR Library not found\r\n"); !strings.HasPrefix(got, "-ERR FUNCTION DELETE: the servers disagree: s0 answered \"OK\"; s1 answered") {
		t.Errorf("DELETE disagreement: %q", got)
	}
	if got := fanOut(t, c, mb("FUNCTION", "DELETE", "mylib"), 2, "+OK\r\n", "+OK\r\n"); got != "+OK\r\n" {
		t.Errorf("DELETE: %q", got)
	}
	if libs, _ := c.fn.counts(); libs != 0 {
		t.Errorf("DELETE left %d libraries", libs)
	}
	// Learned no more from a server that still has it.
	if c.fn.learn("s9", valueOf(t, arr(libEntry("mylib", libCode, fn{"ro", nil})))) {
		t.Errorf("a deleted library was learned again")
	}

	fanOut(t, c, load, 2, resp, resp)
	if got := fanOut(t, c, mb("FUNCTION", "FLUSH"), 2, "+OK\r\n", "+OK\r\n"); got != "+OK\r\n" {
		t.Errorf("FLUSH: %q", got)
	}
	if libs, _ := c.fn.counts(); libs != 0 || !c.fn.settled {
		t.Errorf("FLUSH left %d libraries", libs)
	}
	if _, n := c.Prime("new server"); n != 0 {
		t.Errorf("after FLUSH, a server is still asked for its libraries")
	}

	restore := mb("FUNCTION", "RESTORE", "payload", "APPEND")
	req := parsed(t, c, restore)
	if got, want := string(c.AppendRequest(nil, req, nil)), restore+mb("FUNCTION", "LIST", "WITHCODE"); got != want {
		t.Errorf("RESTORE sent %q", got)
	}
	listed := arr(libEntry("a", "#!lua name=a\n", fn{"fa", nil}), libEntry("b", "#!lua name=b\n", fn{"fb", []string{"no-writes"}}))
	if got := fanOut(t, c, restore, 2, "+OK\r\n"+listed, "+OK\r\n"+listed); got != "+OK\r\n" {
		t.Errorf("RESTORE: %q", got)
	}
	if libs, _ := c.fn.counts(); libs != 2 {
		t.Errorf("RESTORE: %d libraries known", libs)
	}
	if f, ok := c.fn.functionFlags([]byte("fb")); !ok || f&sfNoWrites == 0 {
		t.Errorf("restored fb: %b %v", f, ok)
	}
	e := "-ERR DUMP payload version or checksum are wrong\r\n"
	if got := fanOut(t, c, restore, 2, e+listed, e+listed); got != e {
		t.Errorf("RESTORE refused: %q", got)
	}
}

func valueOf(t *testing.T, s string) *value {
	t.Helper()
	v, ok := parseValue([]byte(s))
	if !ok {
		t.Fatalf("cannot read %q", s)
	}
	return &v
}

func TestFunctionList(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	in := mb("FUNCTION", "LIST")
	a := libEntry("a", "", fn{"f1", nil}, fn{"f2", []string{"no-writes"}})
	aSwapped := libEntry("a", "", fn{"f2", []string{"no-writes"}}, fn{"f1", nil})
	b := libEntry("b", "", fn{"g", nil})
	for _, tc := range []struct {
		name    string
		replies []string
		want    string
	}{
		{"same", []string{arr(a, b), arr(a, b)}, arr(a, b)},
		{"in another order", []string{arr(a, b), arr(b, aSwapped)}, arr(a, b)},
		{"missing", []string{arr(a, b), arr(a)}, "-ERR FUNCTION LIST: the servers disagree: library \"b\" is on s0 but not on s1\r\n"},
		{"extra", []string{arr(a), arr(a, b)}, "-ERR FUNCTION LIST: the servers disagree: library \"b\" is on s1 but not on s0\r\n"},
		{"differs", []string{arr(a), arr(libEntry("a", "", fn{"f1", nil}))}, "-ERR FUNCTION LIST: the servers disagree: library \"a\" differs between s0 and s1\r\n"},
		{"same error", []string{"-ERR Unknown argument x\r\n", "-ERR Unknown argument x\r\n"}, "-ERR Unknown argument x\r\n"},
		{"one error", []string{arr(a), "-BUSY busy\r\n"}, "-BUSY busy (server s1)\r\n"},
		{"not a list", []string{arr(a), ":1\r\n"}, "-ERR Invalid argument (unexpected reply from server s1)\r\n"},
	} {
		if got := fanOut(t, c, in, len(tc.replies), tc.replies...); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestFunctionStatsAndKill(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	engines := arr(bulk("LUA"), arr(bulk("libraries_count"), ":1\r\n", bulk("functions_count"), ":2\r\n"))
	idle := arr(bulk("running_script"), "$-1\r\n", bulk("engines"), engines)
	running := arr(bulk("name"), bulk("spin"), bulk("command"), arr(bulk("fcall"), bulk("spin"), bulk("0")), bulk("duration_ms"), ":521\r\n")
	busy := arr(bulk("running_script"), running, bulk("engines"), engines)
	stats := mb("FUNCTION", "STATS")
	if req := parsed(t, c, stats); req.Conn != protocols.Once || req.Kind != protocols.Broadcast {
		t.Errorf("STATS: conn %d kind %d, want a dedicated connection to every server", req.Conn, req.Kind)
	}
	if got := fanOut(t, c, stats, 3, idle, busy, idle); got != busy {
		t.Errorf("STATS with a busy server: %q", got)
	}
	if got := fanOut(t, c, stats, 2, idle, idle); got != idle {
		t.Errorf("STATS idle: %q", got)
	}
	if got := fanOut(t, c, stats, 2, idle, ":1\r\n"); got != "-ERR Invalid argument (unexpected reply from server s1)\r\n" {
		t.Errorf("STATS unexpected: %q", got)
	}

	notBusy := "-NOTBUSY No scripts in execution right now.\r\n"
	for _, in := range []string{mb("FUNCTION", "KILL"), mb("SCRIPT", "KILL")} {
		if req := parsed(t, c, in); req.Conn != protocols.Once || req.Kind != protocols.Broadcast || req.ConnState != protocols.AnyState {
			t.Errorf("%q: conn %d kind %d state %d", in, req.Conn, req.Kind, req.ConnState)
		}
		// A client in another database: no SELECT, which a busy server
		// refuses.
		inDB3 := &protocols.Request{Session: &session{db: 3}}
		if _, err := c.ParseRequest([]byte(in), inDB3); err != nil || inDB3.ConnState != protocols.AnyState {
			t.Errorf("%q in database 3: state %d, %v", in, inDB3.ConnState, err)
		}
		for _, tc := range []struct {
			replies []string
			want    string
		}{
			{[]string{notBusy, "+OK\r\n", notBusy}, "+OK\r\n"},
			{[]string{notBusy, notBusy}, notBusy},
			{[]string{notBusy}, notBusy},
			{[]string{"-UNKILLABLE Sorry the script already executed write commands\r\n"}, "-UNKILLABLE Sorry the script already executed write commands\r\n"},
			{[]string{notBusy, "-UNKILLABLE Sorry\r\n"}, "-UNKILLABLE Sorry (server s1)\r\n"},
		} {
			if got := fanOut(t, c, in, len(tc.replies), tc.replies...); got != tc.want {
				t.Errorf("%q answered %q: %q, want %q", in, tc.replies, got, tc.want)
			}
		}
		req := parsed(t, c, in)
		parts := []protocols.Part{{Resp: []byte(notBusy)}, {Err: errors.New("Connection refused"), Name: "s1"}}
		if got := string(c.AppendReply(nil, req, parts)); got != "-ERR Connection refused\r\n" {
			t.Errorf("%q, one server failed, none busy: %q", in, got)
		}
		parts[0].Resp = []byte("+OK\r\n")
		if got := string(c.AppendReply(nil, req, parts)); got != "+OK\r\n" {
			t.Errorf("%q, one server failed, one killed its script: %q", in, got)
		}
		req.Flags |= reqRefusal
		req.Reply = []byte("-ERR pool p: too many dedicated server connections (max_dedicated 1)\r\n")
		if got := string(c.AppendReply(nil, req, nil)); got != string(req.Reply) {
			t.Errorf("%q refused a connection: %q", in, got)
		}
	}
	if got := fanOut(t, c, mb("FUNCTION", "DUMP"), 3, "$3\r\nabc\r\n"); got != "$3\r\nabc\r\n" {
		t.Errorf("DUMP: %q", got)
	}
}

// TestPrime follows what walnut loads again on a server, and what it
// learns from one.
func TestPrime(t *testing.T) {
	var reprimed int
	c := newCodec(t, protocols.Options{Reprime: func() { reprimed++ }})
	if p, n := c.Prime("s0"); n != 1 || string(p) != mb("FUNCTION", "LIST", "WITHCODE") {
		t.Fatalf("first priming: %d %q", n, p)
	}
	list := arr(libEntry("a", "#!lua name=a\nA", fn{"fa", []string{"no-writes"}}), libEntry("b", "#!lua name=b\nB", fn{"fb", nil}))
	c.PrimeReply("s0", 0, []byte(list))
	if reprimed != 1 {
		t.Errorf("learning libraries reprimed %d times", reprimed)
	}
	p, n := c.Prime("s0")
	if want := mb("FUNCTION", "LOAD", "#!lua name=a\nA") + mb("FUNCTION", "LOAD", "#!lua name=b\nB"); n != 2 || string(p) != want {
		t.Errorf("priming of a taught server: %d %q, want %q", n, p, want)
	}
	if _, n := c.Prime("s1"); n != 3 {
		t.Errorf("priming of another server: %d requests, want the loads and a list", n)
	}
	// What the other server has in another version stays its own.
	c.PrimeReply("s1", 2, []byte(arr(libEntry("a", "#!lua name=a\nother", fn{"fa", nil}), libEntry("c", "#!lua name=c\nC"))))
	if lib := c.fn.libs["a"]; string(lib.code) != "#!lua name=a\nA" {
		t.Errorf("a second version replaced the first: %q", lib.code)
	}
	if c.fn.libs["c"] == nil || reprimed != 2 {
		t.Errorf("library c not learned, or not pushed: %d", reprimed)
	}
	c.PrimeReply("s1", 0, []byte("-ERR Library 'a' already exists\r\n"))
	c.PrimeReply("s1", 1, []byte(bulk("b")))
	c.PrimeReply("s1", 1, []byte("-BUSY Redis is busy running a script\r\n"))
	if r, f := c.fn.reloads.Load(), c.fn.reloadErrors.Load(); r != 1 || f != 1 {
		t.Errorf("reloads %d, failures %d; want 1 and 1", r, f)
	}
	info := string(c.infoText(secStats, nil))
	for _, line := range []string{"walnut_function_libraries:3\r\n", "walnut_reloads:1\r\n", "walnut_reload_failures:1\r\n"} {
		if !strings.Contains(info, line) {
			t.Errorf("INFO lacks %q:\n%s", line, info)
		}
	}

	// Scripts loaded through walnut go again too, within the bound.
	s := mb("SCRIPT", "LOAD", "return 1")
	sha := bulk("e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
	fanOut(t, c, s, 2, sha, sha)
	if p, _ := c.Prime("s0"); !strings.HasSuffix(string(p), s) {
		t.Errorf("priming lacks the script: %q", p)
	}
	fanOut(t, c, mb("SCRIPT", "FLUSH"), 2, "+OK\r\n", "+OK\r\n")
	if p, _ := c.Prime("s0"); strings.Contains(string(p), "SCRIPT") {
		t.Errorf("priming after SCRIPT FLUSH: %q", p)
	}
	for i := range maxScripts + 5 {
		c.fn.scriptLoaded([]byte("return " + strings.Repeat("1", i)))
	}
	if _, scripts := c.fn.counts(); scripts != maxScripts || c.fn.dropped.Load() != 5 {
		t.Errorf("%d scripts remembered, %d not; want %d and 5", scripts, c.fn.dropped.Load(), maxScripts)
	}

	// A reload's codec knows what its predecessor knew.
	next := newCodec(t, protocols.Options{})
	next.Inherit(c)
	if libs, _ := next.fn.counts(); libs != 3 {
		t.Errorf("the next codec knows %d libraries", libs)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range next.fn.libs {
			if !yield(n) {
				return
			}
		}
	})
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("libraries %q", names)
	}
}

// FuzzFunctionReplies feeds server replies walnut reads rather than
// frames (FUNCTION LIST, STATS, LOAD's pair, a priming's) to the merges
// and the registry: whatever a server says, walnut answers one RESP value
// and does not crash.
func FuzzFunctionReplies(f *testing.F) {
	f.Add(arr(libEntry("a", "#!lua name=a\n", fn{"f", []string{"no-writes"}})))
	f.Add(arr(bulk("running_script"), "$-1\r\n", bulk("engines"), arr()))
	f.Add(bulk("mylib") + arr(libEntry("mylib", "", fn{"ro", nil})))
	f.Add("*1\r\n*2\r\n$12\r\nlibrary_name\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n")
	f.Add("-NOTBUSY No scripts in execution right now.\r\n")
	// Servers in RESP3 (functions_resp3_test.go).
	f.Add(arr(libEntry3("a", "#!lua name=a\n", fn{"f", []string{"no-writes"}})))
	f.Add("%2\r\n" + bulk("running_script") + "%1\r\n" + bulk("name") + "~1\r\n+x\r\n" + bulk("engines") + "%1\r\n" + bulk("LUA") + "%0\r\n")
	f.Add(bulk("mylib") + arr(libEntry3("mylib", "", fn{"ro", nil})))
	c := newCodec(f, protocols.Options{})
	reqs := []*protocols.Request{
		parsed(f, c, mb("FUNCTION", "LIST", "WITHCODE")), parsed(f, c, mb("FUNCTION", "STATS")),
		parsed(f, c, mb("FUNCTION", "LOAD", libCode)), parsed(f, c, mb("FUNCTION", "RESTORE", "x")),
		parsed(f, c, mb("FUNCTION", "KILL")), parsed(f, c, mb("SCRIPT", "LOAD", "return 1")),
	}
	for _, in := range []string{mb("FUNCTION", "STATS"), mb("FUNCTION", "LIST")} {
		req := &protocols.Request{Session: resp3Session()}
		if _, err := c.ParseRequest([]byte(in), req); err != nil {
			f.Fatal(err)
		}
		reqs = append(reqs, req)
	}
	f.Fuzz(func(t *testing.T, resp string) {
		c.PrimeReply("s", 0, []byte(resp))
		for _, req := range reqs {
			n, err := c.ParseResponse([]byte(resp), req)
			if n != len(resp) || err != nil {
				continue
			}
			other := arr()
			if twoReplies(req) {
				other = bulk("x") + arr()
			}
			for _, parts := range [][]protocols.Part{
				{{Resp: []byte(resp), Name: "s0"}},
				{{Resp: []byte(resp), Name: "s0"}, {Resp: []byte(resp), Name: "s1"}},
				{{Resp: []byte(resp), Name: "s0"}, {Resp: []byte(other), Name: "s1"}},
			} {
				out := c.AppendReply(nil, req, parts)
				if m, err := replyLen(out, defaultMaxBulk); err != nil || m != len(out) {
					t.Fatalf("%s answered %q: reply %q is not one RESP value", policies[req.Cmd].upper, resp, out)
				}
			}
		}
	})
}
