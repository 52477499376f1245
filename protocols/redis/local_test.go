package redis

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/protocols"
)

// step sends one inline command with session s and checks the reply (for
// Local requests) or the kind and class.
type step struct {
	in    string
	reply string         // for a Local request
	kind  protocols.Kind // else
	class int
}

func runSteps(t *testing.T, c *Codec, s any, steps []step) {
	t.Helper()
	var req protocols.Request
	for _, st := range steps {
		req.Reset()
		req.Session = s
		in := st.in + "\r\n"
		if n, err := c.ParseRequest([]byte(in), &req); err != nil || n != len(in) {
			t.Fatalf("%s: n=%d err=%v", st.in, n, err)
		}
		if st.reply != "" {
			if req.Kind != protocols.Local || string(req.Reply) != st.reply {
				t.Errorf("%s: kind %d reply %q, want %q", st.in, req.Kind, req.Reply, st.reply)
			}
			continue
		}
		if req.Kind != st.kind || req.ConnState != st.class {
			t.Errorf("%s: kind %d class %d reply %q, want kind %d class %d", st.in, req.Kind, req.ConnState, req.Reply, st.kind, st.class)
		}
	}
}

func TestSelect(t *testing.T) {
	c := newCodec(t, protocols.Options{Own: &Options{DB: 2, Databases: 4}})
	s := c.NewSession()
	runSteps(t, c, s, []step{
		{in: "GET k", kind: fwd, class: 0},
		{in: "SELECT 0", reply: "+OK\r\n"},
		{in: "GET k", kind: fwd, class: 2},
		{in: "KEYS *", kind: bcast, class: 2},
		{in: "SCAN 0", kind: targ, class: 2},
		{in: "SELECT 4", reply: "-ERR DB index is out of range\r\n"},
		{in: "GET k", kind: fwd, class: 2},
		{in: "SELECT 3", reply: "+OK\r\n"},
		{in: "MGET a b", kind: split, class: 8},
		{in: "SELECT 2", reply: "+OK\r\n"},
		{in: "GET k", kind: fwd, class: 0},
		{in: "SELECT 1", reply: "+OK\r\n"},
		{in: "RESET", reply: "+RESET\r\n"},
		{in: "GET k", kind: fwd, class: 0},
	})
	// State 2(db+1) is database db; state 0 the pool's, database 2.
	for state, want := range map[int]string{0: mb("SELECT", "2"), 2: mb("SELECT", "0"), 8: mb("SELECT", "3")} {
		if got, n := c.SwitchState(nil, 6, state); string(got) != want || n != 1 {
			t.Errorf("state %d: switch %q (%d replies), want %q", state, got, n, want)
		}
	}
	c = newCodec(t, protocols.Options{Own: &Options{Databases: 1000}})
	if got, _ := c.SwitchState(nil, 0, 2000); string(got) != mb("SELECT", "999") {
		t.Errorf("state 2000: switch %q", got)
	}
	if c.SwitchReply(0, 6, 0, []byte("+OK\r\n")) != nil {
		t.Error("+OK refused")
	}
	if err := c.SwitchReply(0, 42, 0, []byte("-ERR DB index is out of range\r\n")); err == nil || err.Error() != "SELECT 20 refused by the server: ERR DB index is out of range" {
		t.Errorf("refusal: %v", err)
	}
	if _, err := New(protocols.Options{Own: &Options{DB: 16, Databases: 16}}); err == nil {
		t.Error("redis_db 16 of 16 databases accepted")
	}
}

func TestAuthGate(t *testing.T) {
	c := newCodec(t, protocols.Options{Own: &Options{Password: "s3cret", Databases: 16}})
	s := c.NewSession()
	runSteps(t, c, s, []step{
		{in: "GET k", reply: replyNoAuth},
		{in: "SELECT 1", reply: replyNoAuth},
		{in: "CLIENT SETNAME x", reply: replyNoAuth},
		{in: "KEYS *", reply: replyNoAuth},
		// Redis tells these before it asks for the password.
		{in: "NOSUCH", reply: "-ERR unknown command 'NOSUCH', with args beginning with: \r\n"},
		{in: "OBJECT NOPE", reply: "-ERR unknown subcommand 'NOPE'. Try OBJECT HELP.\r\n"},
		{in: "GET", reply: "-ERR wrong number of arguments for 'get' command\r\n"},
		{in: "HELLO", reply: replyHelloNoAuth},
		{in: "HELLO 2", reply: replyHelloNoAuth},
		{in: "HELLO 2 AUTH default nope", reply: replyWrongPass},
		{in: "AUTH", reply: "-ERR wrong number of arguments for 'auth' command\r\n"},
		{in: "AUTH nope", reply: replyWrongPass},
		{in: "AUTH someone s3cret", reply: replyWrongPass},
		{in: "AUTH default s3cret", reply: "+OK\r\n"},
		{in: "GET k", kind: fwd},
		// A wrong password later leaves the client authenticated, as in
		// Redis.
		{in: "AUTH nope", reply: replyWrongPass},
		{in: "GET k", kind: fwd},
		{in: "SELECT 5", reply: "+OK\r\n"},
		{in: "RESET", reply: "+RESET\r\n"},
		{in: "GET k", reply: replyNoAuth},
		{in: "AUTH s3cret", reply: "+OK\r\n"},
		{in: "GET k", kind: fwd, class: 0},
		{in: "RESET", reply: "+RESET\r\n"},
		{in: "QUIT", reply: "+OK\r\n"},
	})
	s = c.NewSession()
	id := s.(*session).id
	runSteps(t, c, s, []step{
		{in: "HELLO 2 AUTH default s3cret SETNAME app", reply: helloReply(id)},
		{in: "CLIENT GETNAME", reply: bulk("app")},
		{in: "GET k", kind: fwd},
	})
}

func helloReply(id uint64) string {
	return arr(bulk("server"), bulk("redis"), bulk("version"), bulk(redisVersion), bulk("proto"), ":2\r\n",
		bulk("id"), ":"+strconv.FormatUint(id, 10)+"\r\n", bulk("mode"), bulk("standalone"), bulk("role"), bulk("master"),
		bulk("modules"), "*0\r\n")
}

func TestClientCommands(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	s := c.NewSession()
	id := strconv.FormatUint(s.(*session).id, 10)
	runSteps(t, c, s, []step{
		{in: "HELLO", reply: helloReply(s.(*session).id)},
		{in: "HELLO 2 SETNAME first", reply: helloReply(s.(*session).id)},
		{in: "CLIENT GETNAME", reply: bulk("first")},
		{in: "CLIENT SETNAME second", reply: "+OK\r\n"},
		{in: "client getname", reply: bulk("second")},
		{in: "CLIENT ID", reply: ":" + id + "\r\n"},
		{in: "SELECT 3", reply: "+OK\r\n"},
		{in: "CLIENT INFO", reply: bulk("id=" + id + " name=second db=3 user=default resp=2\n")},
		{in: "CLIENT SETNAME ''", reply: "+OK\r\n"},
		{in: "CLIENT GETNAME", reply: "$-1\r\n"},
		{in: "HELLO 2 SETNAME 'a b'", reply: replyBadName},
		{in: "ECHO 'hello world'", reply: bulk("hello world")},
		{in: "ECHO", reply: "-ERR wrong number of arguments for 'echo' command\r\n"},
	})
	if other := c.NewSession().(*session).id; strconv.FormatUint(other, 10) == id {
		t.Error("two clients with one id")
	}
}

func TestSessionSurvivesUpgrade(t *testing.T) {
	c := newCodec(t, protocols.Options{Own: &Options{Password: "pw", DB: 1, Databases: 16}})
	s := c.NewSession().(*session)
	s.authed, s.db, s.name = true, 9, []byte("worker-7")
	b := c.MarshalSession(s)
	// The new process: a fresh codec, ids restarting low.
	got, ok := c.UnmarshalSession(b).(*session)
	if !ok || !got.authed || got.db != 9 || string(got.name) != "worker-7" || got.id != s.id {
		t.Fatalf("unmarshalled %+v from %+v", got, s)
	}
	if next := c.NewSession().(*session).id; next <= s.id {
		t.Errorf("a new client got id %d, not after the handed-over %d", next, s.id)
	}
	// The format of the first walnut with sessions: one byte.
	if s := c.UnmarshalSession([]byte{1}).(*session); !s.authed || s.db != 1 {
		t.Errorf("old format, authenticated: %+v", s)
	}
	if s := c.UnmarshalSession([]byte{0}).(*session); s.authed || s.db != 1 {
		t.Errorf("old format, not authenticated: %+v", s)
	}
	// Garbage makes a fresh, unauthenticated session.
	for _, bad := range [][]byte{nil, {2}, {2, 1}, {2, 1, 0x80}, {2, 3, 0, 0, 0}, append(b, 'x'), b[:len(b)-1]} {
		if s := c.UnmarshalSession(bad).(*session); s.authed || s.db != 1 {
			t.Errorf("%q: %+v", bad, s)
		}
	}
	// A session without a name.
	s.name = nil
	if got := c.UnmarshalSession(c.MarshalSession(s)).(*session); got.name != nil || got.db != 9 {
		t.Errorf("no name: %+v", got)
	}
}

func TestInfo(t *testing.T) {
	start := time.Now().Add(-90 * time.Second)
	c := newCodec(t, protocols.Options{Info: func() protocols.ProxyInfo {
		return protocols.ProxyInfo{Version: "1.2.3", Pool: "alpha", Listen: "127.0.0.1:22121", Start: start, Workers: 1,
			Clients: 5, MaxClients: 100, ClientsAccepted: 42, Requests: 1000, Servers: 3, Ejected: 1, Rejected: 7,
			ConfigFile: "/etc/walnut.toml"}
	}})
	req := parsed(t, c, mb("INFO", "server", "Clients", "STATS", "cpu", "replication", "nosuch"))
	if req.Kind != protocols.Local {
		t.Fatalf("INFO of walnut's own sections: kind %d", req.Kind)
	}
	text := string(req.Reply)
	for _, want := range []string{"# Server\r\n", "redis_version:" + redisVersion + "\r\n", "walnut_version:1.2.3\r\n",
		"walnut_pool:alpha\r\n", "tcp_port:22121\r\n", "uptime_in_seconds:9", "config_file:/etc/walnut.toml\r\n",
		"\r\n\r\n# Clients\r\nconnected_clients:5\r\ncluster_connections:0\r\nmaxclients:100\r\nblocked_clients:0\r\n",
		"\r\n\r\n# Stats\r\ntotal_connections_received:42\r\ntotal_commands_processed:1000\r\n",
		"rejected_connections:7\r\n", "walnut_servers:3\r\nwalnut_servers_ejected:1\r\n",
		"\r\n\r\n# Replication\r\nrole:master\r\n", "\r\n\r\n# CPU\r\nused_cpu_sys:", "used_cpu_user:"} {
		if !strings.Contains(text, want) {
			t.Errorf("INFO lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "# Stats") > strings.Index(text, "# Replication") || strings.Contains(text, "# Memory") {
		t.Errorf("INFO sections out of Redis' order, or unasked:\n%s", text)
	}
	if _, err := replyLen(req.Reply, defaultMaxBulk); err != nil {
		t.Fatalf("INFO is not one bulk string: %v", err)
	}
	if got := string(parsed(t, c, mb("INFO", "nosuch")).Reply); got != "$0\r\n\r\n" {
		t.Errorf("INFO nosuch: %q, want an empty text as Redis", got)
	}
	// The servers' figures: keyspace, errorstats, cached scripts.
	for _, in := range [][]string{{"INFO"}, {"INFO", "keyspace"}, {"info", "DEFAULT"}, {"INFO", "everything"}, {"INFO", "errorstats", "cpu"}} {
		req = parsed(t, c, mb(in...))
		if req.Kind != protocols.Broadcast {
			t.Errorf("%q: kind %d, want Broadcast", in, req.Kind)
		}
		if got := string(c.AppendRequest(nil, req, nil)); got != string(infoServerReq) {
			t.Errorf("%q: sent %q", in, got)
		}
	}
	req = parsed(t, c, mb("INFO", "keyspace", "errorstats", "memory"))
	server := func(s string) protocols.Part { return protocols.Part{Resp: appendBulk(nil, []byte(s)), Name: "s"} }
	out := string(c.AppendReply(nil, req, []protocols.Part{
		server("# Keyspace\r\ndb0:keys=10,expires=2,avg_ttl=1000\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n# Errorstats\r\nerrorstat_ERR:count=2\r\nerrorstat_WRONGTYPE:count=1\r\n# Memory\r\nnumber_of_cached_scripts:4\r\n"),
		server("# Keyspace\r\ndb0:keys=5,expires=2,avg_ttl=3000\r\n# Errorstats\r\nerrorstat_ERR:count=3\r\nerrorstat_BUSY:count=1\r\n# Memory\r\nnumber_of_cached_scripts:2\r\n"),
	}))
	for _, want := range []string{"number_of_cached_scripts:4\r\n",
		"# Errorstats\r\nerrorstat_BUSY:count=1\r\nerrorstat_ERR:count=5\r\nerrorstat_WRONGTYPE:count=1\r\n",
		"# Keyspace\r\ndb0:keys=15,expires=4,avg_ttl=2000\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("merged INFO lacks %q:\n%s", want, out)
		}
	}
	// A RESP3 client's INFO is a verbatim string, made from the servers'
	// verbatim strings (its requests reach them in RESP3).
	s3 := resp3Session()
	out = fanOutAs(t, c, s3, mb("INFO", "keyspace"), 2,
		"=48\r\ntxt:# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\n\r\n", "=48\r\ntxt:# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=9\r\n\r\n")
	if want := "=48\r\ntxt:# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=9\r\n\r\n"; out != want {
		t.Errorf("INFO keyspace in RESP3: %q, want %q", out, want)
	}
	if got := parsed3(t, c, s3, "INFO nosuch"); got != "=4\r\ntxt:\r\n" {
		t.Errorf("INFO nosuch in RESP3: %q, want an empty verbatim text as Redis", got)
	}
	// Inside MULTI walnut answers INFO itself, without the servers.
	s := c.NewSession().(*session)
	s.transaction().multi = true
	req = &protocols.Request{Session: s}
	if _, err := c.ParseRequest([]byte(mb("INFO")), req); err != nil {
		t.Fatal(err)
	}
	if req.Kind != protocols.Local || string(req.Reply) != "+QUEUED\r\n" || !strings.Contains(string(s.tx.locals), "# Keyspace\r\n") {
		t.Errorf("INFO in MULTI: kind %d %q, queued %q", req.Kind, req.Reply, s.tx.locals)
	}
}

func TestCommandInfo(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	get := arr(bulk("get"), ":2\r\n", arr("+readonly\r\n", "+fast\r\n"), ":1\r\n", ":1\r\n", ":1\r\n",
		arr("+@read\r\n", "+@string\r\n", "+@fast\r\n"), arr(),
		arr(arr(bulk("flags"), arr("+RO\r\n", "+access\r\n"),
			bulk("begin_search"), arr(bulk("type"), bulk("index"), bulk("spec"), arr(bulk("index"), ":1\r\n")),
			bulk("find_keys"), arr(bulk("type"), bulk("range"), bulk("spec"), arr(bulk("lastkey"), ":0\r\n", bulk("keystep"), ":1\r\n", bulk("limit"), ":0\r\n")))),
		arr())
	req := parsed(t, c, mb("COMMAND", "INFO", "GET", "monitor"))
	if got, want := string(req.Reply), arr(get, "$-1\r\n"); got != want {
		t.Errorf("COMMAND INFO GET:\n got %q\nwant %q", got, want)
	}
	// Legacy first/last/step as Redis computes them.
	for name, want := range map[string][3]int{"mset": {1, -1, 2}, "mget": {1, -1, 1}, "rename": {1, 2, 1},
		"eval": {0, 0, 0}, "ping": {0, 0, 0}, "bitop": {2, -1, 1}, "georadius": {1, 1, 1}} {
		f, l, s := legacyRange(&commandTable[find(name)])
		if [3]int{f, l, s} != want {
			t.Errorf("%s: legacy range %d %d %d, want %v", name, f, l, s, want)
		}
	}
	// COMMAND and COUNT agree, and list only what walnut serves.
	all := parsed(t, c, mb("COMMAND")).Reply
	n, _, _ := arrayHeader(all)
	count := string(parsed(t, c, mb("COMMAND", "COUNT")).Reply)
	if count != ":"+strconv.FormatInt(n, 10)+"\r\n" || n < 150 {
		t.Errorf("COMMAND has %d entries, COUNT says %q", n, count)
	}
	if l, err := replyLen(all, defaultMaxBulk); err != nil || l != len(all) {
		t.Errorf("COMMAND reply is not one RESP value: %d of %d, %v", l, len(all), err)
	}
	text := string(all)
	for _, served := range []string{bulk("get"), bulk("blpop"), bulk("multi"), bulk("subscribe"), bulk("keys"), bulk("scan"), bulk("select"), bulk("client|setname"), bulk("script|load")} {
		if !strings.Contains(text, served) {
			t.Errorf("COMMAND lacks %q", served)
		}
	}
	for _, refused := range []string{bulk("monitor"), bulk("client|kill"), bulk("script|debug"), bulk("cluster")} {
		if strings.Contains(text, refused) {
			t.Errorf("COMMAND lists %q, which walnut refuses", refused)
		}
	}
	docs := parsed(t, c, mb("COMMAND", "DOCS", "get", "nope", "script")).Reply
	if l, err := replyLen(docs, defaultMaxBulk); err != nil || l != len(docs) || !strings.HasPrefix(string(docs), "*4\r\n$3\r\nget\r\n") ||
		!strings.Contains(string(docs), bulk("subcommands")) {
		t.Errorf("COMMAND DOCS: %q %v", docs, err)
	}
	list := parsed(t, c, mb("COMMAND", "LIST")).Reply
	if !strings.Contains(string(list), bulk("client|getname")) {
		t.Errorf("COMMAND LIST lacks subcommands")
	}
}

// A request in another database than the pool's costs no allocation.
func TestSelectedZeroAllocations(t *testing.T) {
	c := newCodec(t, protocols.Options{})
	s := c.NewSession()
	runSteps(t, c, s, []step{{in: "SELECT 3", reply: "+OK\r\n"}})
	in := []byte(mb("GET", "k"))
	var req protocols.Request
	out := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(200, func() {
		req.Reset()
		req.Session = s
		if n, err := c.ParseRequest(in, &req); err != nil || n != len(in) || req.ConnState != 8 {
			t.Fatalf("n=%d err=%v state %d", n, err, req.ConnState)
		}
		out, _ = c.SwitchState(out[:0], 0, req.ConnState)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request", allocs)
	}
}
