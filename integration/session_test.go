package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// SELECT with go-redis' DB option: keys land in that database of their
// server, clients of other databases do not see them, and KEYS, SCAN,
// DBSIZE and FLUSHDB act on the client's database only.
func TestSelectWithGoRedis(t *testing.T) {
	servers, addr := redisWalnut(t, 3, "p", "hash = \"md5\"\nallow_flush = true")
	ctx := context.Background()
	db0 := newClient(t, addr)
	db3 := newClient(t, addr, func(o *redis.Options) { o.DB = 3 })
	db5 := newClient(t, addr, func(o *redis.Options) { o.DB = 5 })
	for i := range 100 {
		k := fmt.Sprintf("k%d", i)
		if err := db3.Set(ctx, k, "three", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := db5.Set(ctx, k, "five", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := db0.Set(ctx, "k0", "zero", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for c, want := range map[*redis.Client]string{db0: "zero", db3: "three", db5: "five"} {
		if got, err := c.Get(ctx, "k0").Result(); err != nil || got != want {
			t.Fatalf("GET k0 = %q, %v; want %q", got, err, want)
		}
	}
	if vs, err := db3.MGet(ctx, "k1", "k2", "k3", "k99").Result(); err != nil || fmt.Sprint(vs) != "[three three three three]" {
		t.Fatalf("MGET in db 3 = %v, %v", vs, err)
	}
	// Where the keys are: database 3 of their servers.
	var in3 int64
	for _, s := range servers {
		d := newClient(t, s.Addr, func(o *redis.Options) { o.DB = 3 })
		n, _ := d.DBSize(ctx).Result()
		in3 += n
	}
	if in3 != 100 {
		t.Fatalf("database 3 of the servers holds %d keys, want 100", in3)
	}
	for c, want := range map[*redis.Client]int64{db0: 1, db3: 100, db5: 100} {
		if n, err := c.DBSize(ctx).Result(); err != nil || n != want {
			t.Fatalf("DBSIZE = %d, %v; want %d", n, err, want)
		}
		if keys, err := c.Keys(ctx, "*").Result(); err != nil || int64(len(keys)) != want {
			t.Fatalf("KEYS * = %d keys, %v; want %d", len(keys), err, want)
		}
		if keys := scanAll(t, ctx, c, "*", 10, ""); int64(len(keys)) != want {
			t.Fatalf("SCAN = %d keys; want %d", len(keys), want)
		}
	}
	if err := db5.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for c, want := range map[*redis.Client]int64{db0: 1, db3: 100, db5: 0} {
		if n, _ := c.DBSize(ctx).Result(); n != want {
			t.Fatalf("after FLUSHDB in db 5: DBSIZE = %d; want %d", n, want)
		}
	}
}

// Clients on different databases pipelining at once over the shared
// loops never see each other's keys; SELECT back to the pool's database
// returns to the shared connections.
func TestSelectIsolation(t *testing.T) {
	servers, addr := redisWalnut(t, 2, "p", "hash = \"md5\"\nredis_db = 1\ndatabases = 8")
	ctx := context.Background()
	ok := concurrently(t, 8, func(db int) error {
		// go-redis sends no SELECT for DB 0: ask for it.
		c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, PoolSize: 1,
			OnConnect: func(ctx context.Context, cn *redis.Conn) error { return cn.Select(ctx, db).Err() }})
		defer c.Close()
		for round := range 30 {
			cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := range 10 {
					k := fmt.Sprintf("key%d", (round*10+i)%40)
					p.Set(ctx, k, db, 0)
					p.Get(ctx, k)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for i := 1; i < len(cmds); i += 2 {
				if v := cmds[i].(*redis.StringCmd).Val(); v != strconv.Itoa(db) {
					return fmt.Errorf("db %d read %q", db, v)
				}
			}
		}
		return nil
	})
	if !ok {
		t.FailNow()
	}
	// Database 1 is the pool's: its keys are in database 1 of the servers.
	c := dialRaw(t, addr)
	for _, st := range []struct{ send, want string }{
		{"GET key0", "$1\r\n1\r\n"},
		{"SELECT 0", "+OK\r\n"},
		{"GET key0", "$1\r\n0\r\n"},
		{"SELECT 7", "+OK\r\n"},
		{"GET key0", "$1\r\n7\r\n"},
		{"SELECT 8", "-ERR DB index is out of range\r\n"},
		{"GET key0", "$1\r\n7\r\n"},
		{"SELECT 1", "+OK\r\n"},
		{"GET key0", "$1\r\n1\r\n"},
		{"SELECT x", "-ERR value is not an integer or out of range\r\n"},
		{"SELECT", "-ERR wrong number of arguments for 'select' command\r\n"},
		{"PING", "+PONG\r\n"},
	} {
		if got := c.do(t, st.send); got != st.want {
			t.Fatalf("%s: %q, want %q", st.send, got, st.want)
		}
	}
	// The pool's database is database 1 of the servers.
	var in1 int64
	for _, s := range servers {
		n, _ := newClient(t, s.Addr, func(o *redis.Options) { o.DB = 1 }).Exists(ctx, "key0").Result()
		in1 += n
	}
	if in1 != 1 {
		t.Fatalf("key0 is in database 1 of %d servers, want 1", in1)
	}
}

// Walnut's answers to SELECT, AUTH, HELLO and CLIENT errors are Redis 7's:
// the same command sent to walnut and to a redis-server gets the same
// reply.
func TestSessionRepliesMatchRedis(t *testing.T) {
	ref := testbed.Redis(t)
	refPW := testbed.Redis(t, "--requirepass", "pw")
	servers := testbed.Redises(t, 2)
	_, addrs := startWalnut(t, redisPool("open", servers, "")+redisPool("locked", servers, `password = "pw"`))
	compare := func(walnut, redis string, cmds ...string) {
		t.Helper()
		w, r := dialRaw(t, walnut), dialRaw(t, redis)
		for _, cmd := range cmds {
			got, want := w.do(t, cmd), r.do(t, cmd)
			if got != want {
				t.Errorf("%s: walnut %q, redis-server %q", cmd, got, want)
			}
		}
	}
	compare(addrs["open"], ref.Addr,
		"SELECT 15", "SELECT 16", "SELECT -1", "SELECT abc", "SELECT 0",
		"AUTH pw", "AUTH default pw", "AUTH someone pw", "AUTH a b c",
		"HELLO 4", "HELLO abc", "HELLO 2 BOGUS", "HELLO 2 SETNAME", "HELLO 2 SETNAME 'a b'",
		"CLIENT SETNAME 'bad name'", "CLIENT SETNAME good", "CLIENT GETNAME", "CLIENT SETNAME ''", "CLIENT GETNAME",
		"ECHO hello", "RESET", "COMMAND INFO get hset rename nosuch", "COMMAND GETKEYS SET a b", "COMMAND GETKEYS ZUNIONSTORE d 2 a b",
		"COMMAND GETKEYS GET", "COMMAND GETKEYS NOSUCH a", "COMMAND GETKEYS PING x")
	compare(addrs["locked"], refPW.Addr,
		"GET k", "SELECT 1", "CLIENT SETNAME x", "HELLO 2", "HELLO 2 AUTH default wrong", "AUTH wrong", "AUTH someone pw",
		"GET k", "AUTH pw", "GET k", "AUTH wrong", "GET k", "RESET", "GET k", "AUTH default pw", "PING")
}

// go-redis with a password connects with HELLO ... AUTH, whether it asks
// for RESP2 or RESP3; HELLO 2 and HELLO 3 answer as Redis 7 does.
func TestAuthAndHelloWithGoRedis(t *testing.T) {
	_, addr := redisWalnut(t, 2, "p", `password = "pw"`)
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		c := redis.NewClient(&redis.Options{Addr: addr, Password: "pw", Protocol: proto, ClientName: "app" + strconv.Itoa(proto), DB: 2})
		defer c.Close()
		if err := c.Set(ctx, "k", proto, 0).Err(); err != nil {
			t.Fatalf("protocol %d: SET: %v", proto, err)
		}
		if name, err := c.ClientGetName(ctx).Result(); err != nil || name != "app"+strconv.Itoa(proto) {
			t.Fatalf("protocol %d: CLIENT GETNAME = %q, %v", proto, name, err)
		}
		bad := redis.NewClient(&redis.Options{Addr: addr, Password: "nope", Protocol: proto})
		defer bad.Close()
		if err := bad.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
			t.Fatalf("protocol %d, wrong password: %v", proto, err)
		}
	}
	c := dialRaw(t, addr)
	hello := c.do(t, "HELLO 2 AUTH default pw SETNAME raw")
	want := regexp.MustCompile(`^\*14\r\n\$6\r\nserver\r\n\$5\r\nredis\r\n\$7\r\nversion\r\n\$6\r\n7\.0\.15\r\n\$5\r\nproto\r\n:2\r\n\$2\r\nid\r\n:(\d+)\r\n\$4\r\nmode\r\n\$10\r\nstandalone\r\n\$4\r\nrole\r\n\$6\r\nmaster\r\n\$7\r\nmodules\r\n\*0\r\n$`)
	m := want.FindStringSubmatch(hello)
	if m == nil {
		t.Fatalf("HELLO 2: %q", hello)
	}
	if got := c.do(t, "CLIENT ID"); got != ":"+m[1]+"\r\n" {
		t.Fatalf("CLIENT ID %q, HELLO said id %s", got, m[1])
	}
	if got := c.do(t, "CLIENT INFO"); !strings.Contains(got, "id="+m[1]+" name=raw db=0 ") {
		t.Fatalf("CLIENT INFO: %q", got)
	}
	if got := c.call(t, "HELLO", "3"); !strings.HasPrefix(got, "%7\r\n") || !strings.Contains(got, "$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:"+m[1]+"\r\n") {
		t.Fatalf("HELLO 3: %q", got)
	}
	if got := c.call(t, "HELLO", "4"); got != "-NOPROTO unsupported protocol version\r\n" {
		t.Fatalf("HELLO 4: %q", got)
	}
}

// COMMAND describes walnut's table: what it serves, in Redis' format
// (GET's entry is byte for byte redis-server's), not what it refuses;
// on a pool of several servers (one server's answers COMMAND itself).
func TestCommandTable(t *testing.T) {
	ref := testbed.Redis(t)
	_, addr := redisWalnut(t, 2, "p", "")
	ctx := context.Background()
	c := newClient(t, addr)
	n, err := c.Do(ctx, "COMMAND", "COUNT").Int64()
	if err != nil || n < 150 || n > 230 {
		t.Fatalf("COMMAND COUNT = %d, %v", n, err)
	}
	infos, err := c.Command(ctx).Result()
	if err != nil || int64(len(infos)) != n {
		t.Fatalf("COMMAND: %d entries, %v; COUNT said %d", len(infos), err, n)
	}
	for _, name := range []string{"get", "keys", "scan", "select", "client", "script", "mget", "blpop", "subscribe", "multi"} {
		if infos[name] == nil {
			t.Errorf("COMMAND lacks %s", name)
		}
	}
	for _, name := range []string{"monitor", "cluster", "debug", "shutdown", "swapdb"} {
		if infos[name] != nil {
			t.Errorf("COMMAND lists %s, which walnut refuses", name)
		}
	}
	refInfos, _ := newClient(t, ref.Addr).Command(ctx).Result()
	for _, name := range []string{"get", "set", "mget", "mset", "rename", "hset", "eval", "zunionstore"} {
		// Command tips (CommandPolicy) are Redis' advice to cluster
		// clients, which walnut does not give.
		w, r := *infos[name], *refInfos[name]
		w.CommandPolicy, r.CommandPolicy = nil, nil
		got, want := fmt.Sprintf("%+v", w), fmt.Sprintf("%+v", r)
		if got != want {
			t.Errorf("COMMAND's %s:\nwalnut %s\nredis  %s", name, got, want)
		}
	}
	w, r := dialRaw(t, addr), dialRaw(t, ref.Addr)
	if got, want := w.do(t, "COMMAND INFO get"), r.do(t, "COMMAND INFO get"); got != want {
		t.Errorf("COMMAND INFO get:\nwalnut %q\nredis  %q", got, want)
	}
	docs := w.do(t, "COMMAND DOCS keys")
	if !strings.Contains(docs, "sent to every server") {
		t.Errorf("COMMAND DOCS keys: %q", docs)
	}
}

// Commands walnut cannot route get a precise error and the connection
// goes on.
func TestUnroutableCommands(t *testing.T) {
	_, addr := redisWalnut(t, 2, "p", "")
	c := dialRaw(t, addr)
	for cmd, want := range map[string]string{
		"CLUSTER INFO":      "-ERR unsupported command 'CLUSTER INFO'\r\n",
		"MONITOR":           "-ERR unsupported command 'MONITOR'\r\n",
		"SYNC":              "-ERR unsupported command 'SYNC'\r\n",
		"SWAPDB 0 1":        "-ERR unsupported command 'SWAPDB'\r\n",
		"CONFIG GET *":      "-ERR unsupported command 'CONFIG GET'\r\n",
		"CLIENT LIST":       "-ERR unsupported command 'CLIENT LIST'\r\n",
		"SCRIPT DEBUG YES":  "-ERR unsupported command 'SCRIPT DEBUG'\r\n",
		"MOVE k 1":          "-ERR unsupported command 'MOVE'\r\n",
		"EVAL 'return 1' 0": "-ERR walnut cannot route EVAL without keys: the script may write; declare it read-only (#!lua flags=no-writes, or an _RO command) or pass the keys it uses\r\n",
	} {
		if got := c.do(t, cmd); got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
		if got := c.do(t, "PING"); got != "+PONG\r\n" {
			t.Fatalf("after %s: %q", cmd, got)
		}
	}
}

// A client's database, name and authentication go over to the new
// process in a binary upgrade.
func TestSessionSurvivesUpgrade(t *testing.T) {
	servers := testbed.Redises(t, 2)
	w, addr := walnutAt(t, redisPool("p", servers, "hash = \"md5\"\npassword = \"pw\""))
	c := dialRaw(t, addr)
	for _, cmd := range []string{"AUTH pw", "SELECT 4", "CLIENT SETNAME survivor", "SET k in4"} {
		if got := c.do(t, cmd); got != "+OK\r\n" {
			t.Fatalf("%s: %q", cmd, got)
		}
	}
	id := c.do(t, "CLIENT ID")
	oldPid := w.Pid()
	if upgrade(t, w) == oldPid {
		t.Fatal("no new process")
	}
	for cmd, want := range map[string]string{
		"GET k":          "$3\r\nin4\r\n",
		"CLIENT GETNAME": "$8\r\nsurvivor\r\n",
		"CLIENT ID":      id,
	} {
		if got := c.do(t, cmd); got != want {
			t.Errorf("after the upgrade, %s: %q, want %q", cmd, got, want)
		}
	}
	if got := dialRaw(t, addr).do(t, "GET k"); got != "-NOAUTH Authentication required.\r\n" {
		t.Errorf("a new client after the upgrade: %q", got)
	}
}

// databases larger than the servers have: the SELECT walnut sends is
// refused, the request fails with the server's reason and the
// connection is set up anew, so the pool's other clients carry on.
// Nothing queued behind the refused SELECT reaches the server: a write
// pipelined after it does not land in the database the connection was
// in.
func TestSelectBeyondServersDatabases(t *testing.T) {
	servers, addr := redisWalnut(t, 1, "p", "databases = 32")
	other := dialRaw(t, addr)
	if got := other.do(t, "SET k v"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	c := dialRaw(t, addr)
	if got := c.do(t, "SELECT 20"); got != "+OK\r\n" {
		t.Fatalf("SELECT 20: %q", got)
	}
	refused := "-ERR SELECT 20 refused by the server: ERR DB index is out of range (pool p, server " + servers[0].Addr + ")\r\n"
	if got := c.do(t, "GET k"); got != refused {
		t.Fatalf("GET in database 20 of a server with 16: %q, want %q", got, refused)
	}
	c.send(t, "SET leaked v\r\nSET leaked2 v\r\n")
	for range 2 {
		if got := c.reply(t); got != refused {
			t.Fatalf("SET in database 20 of a server with 16: %q, want %q", got, refused)
		}
	}
	for _, k := range []string{"leaked", "leaked2"} {
		if got := other.do(t, "EXISTS "+k); got != ":0\r\n" {
			t.Fatalf("a write behind the refused SELECT reached database 0: EXISTS %s: %q", k, got)
		}
	}
	if got := c.do(t, "SELECT 3"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	if got := c.do(t, "GET k"); got != "$-1\r\n" {
		t.Fatalf("GET in database 3 after the refusal: %q", got)
	}
	if got := other.do(t, "GET k"); got != "$1\r\nv\r\n" {
		t.Fatalf("another client after the refusal: %q", got)
	}
}

// A connection whose dial fails forgets the database it was asked for:
// the next one starts in the pool's database and selects again.
func TestSelectAfterFailedDial(t *testing.T) {
	port := testbed.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	_, addrs := startWalnut(t, "[pools.p]\nlisten = \"127.0.0.1:0\"\nservers = [\""+addr+":1\"]\n")
	c := dialRaw(t, addrs["p"])
	if got := c.do(t, "SELECT 3"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	if got := c.do(t, "GET k"); got != "-ERR Connection refused (pool p, server "+addr+")\r\n" {
		t.Fatalf("GET with the server down: %q", got)
	}
	srv := testbed.StartAt(t, "redis-server", "127.0.0.1", port, "redis-server", "--port", strconv.Itoa(port),
		"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	ctx := context.Background()
	if err := newClient(t, srv.Addr).Set(ctx, "k", "db0", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := newClient(t, srv.Addr, func(o *redis.Options) { o.DB = 3 }).Set(ctx, "k", "db3", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var got string
	if !waitFor(5*time.Second, func() bool { got = c.do(t, "GET k"); return !strings.HasPrefix(got, "-") }) {
		t.Fatalf("GET after the server came up: %q", got)
	}
	if got != "$3\r\ndb3\r\n" {
		t.Fatalf("GET in database 3 after a failed dial: %q", got)
	}
}

// The first SELECT of a database on a server connection goes out alone:
// what follows waits for its +OK, so that a refusal lets nothing run in
// the database the connection was in. Once the server has taken the
// database, SELECTs of it are pipelined with the requests around them.
// A scripted server sees exactly what walnut writes, and when.
func TestSelectHeldUntilTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, addrs := startWalnut(t, "[pools.p]\nlisten = \"127.0.0.1:0\"\nservers = [\""+ln.Addr().String()+":1\"]\n")
	c := dialRaw(t, addrs["p"])
	c.send(t, "SELECT 3\r\nGET a\r\n")
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	// expect reads exactly want, then nothing more for a while if quiet.
	expect := func(want string, quiet bool) {
		t.Helper()
		srv.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(srv, got); err != nil || string(got) != want {
			t.Fatalf("the server got %q (%v), want %q", got, err, want)
		}
		if quiet {
			srv.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			var b [64]byte
			if n, err := srv.Read(b[:]); n > 0 || !os.IsTimeout(err) {
				t.Fatalf("the server got %q (%v) before it answered", b[:n], err)
			}
		}
	}
	// After the FUNCTION LIST WITHCODE walnut asks a server first
	// (protocols/redis/registry.go), which holds nothing back.
	expect(resp("FUNCTION", "LIST", "WITHCODE")+resp("SELECT", "3"), true)
	io.WriteString(srv, "*0\r\n+OK\r\n")
	expect(resp("GET", "a"), false)
	io.WriteString(srv, "$-1\r\n")
	for _, want := range []string{"+OK\r\n", "$-1\r\n"} {
		if got := c.reply(t); got != want {
			t.Fatalf("reply %q, want %q", got, want)
		}
	}
	// Database 3 is taken on this connection, and the pool's database
	// needs no check: four requests in a row, no reply waited for.
	c.send(t, "SELECT 0\r\nGET b\r\nSELECT 3\r\nGET c\r\n")
	expect(resp("SELECT", "0")+resp("GET", "b")+resp("SELECT", "3")+resp("GET", "c"), false)
	io.WriteString(srv, "+OK\r\n$1\r\nB\r\n+OK\r\n$1\r\nC\r\n")
	for _, want := range []string{"+OK\r\n", "$1\r\nB\r\n", "+OK\r\n", "$1\r\nC\r\n"} {
		if got := c.reply(t); got != want {
			t.Fatalf("reply %q, want %q", got, want)
		}
	}
	// Another database is held again; refused, its request fails and
	// never reaches the server, which sees the connection close.
	c.send(t, "SELECT 5\r\nSET k v\r\n")
	expect(resp("SELECT", "5"), true)
	io.WriteString(srv, "-ERR DB index is out of range\r\n")
	for _, want := range []string{"+OK\r\n", "-ERR SELECT 5 refused by the server: ERR DB index is out of range (pool p, server " + ln.Addr().String() + ")\r\n"} {
		if got := c.reply(t); got != want {
			t.Fatalf("reply %q, want %q", got, want)
		}
	}
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(srv); len(b) > 0 {
		t.Fatalf("after the refusal the server got %q (%v)", b, err)
	}
}
