package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// What a client reads when a server fails its request: nutcracker's
// words first, which clients and twemproxy's own tests match on
// ('Connection refused|reset by peer|Broken pipe', 'timed out', 'Host is
// down'), then walnut's context in parentheses.

// deadAddr returns a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", testbed.FreePort(t))
}

func wantLine(t *testing.T, c *rawConn, want string) {
	t.Helper()
	if got := c.line(t); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestServerErrorTexts(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		dead := deadAddr(t)
		_, addrs := startWalnut(t, fmt.Sprintf("[pools.r]\nlisten = \"127.0.0.1:0\"\nservers = [%q]\n"+
			"[pools.m]\nlisten = \"127.0.0.1:0\"\nprotocol = \"memcached\"\nservers = [%q]\n", dead+":1", dead+":1"))
		r := dialRaw(t, addrs["r"])
		// Fails fast while the server stays down, every time. (PING goes
		// to a pool's only server too; CLIENT GETNAME does not.)
		r.send(t, resp("GET", "k")+resp("SET", "k", "v")+resp("PING")+resp("CLIENT", "GETNAME"))
		wantLine(t, r, "-ERR Connection refused (pool r, server "+dead+")\r\n")
		wantLine(t, r, "-ERR Connection refused (pool r, server "+dead+")\r\n")
		wantLine(t, r, "-ERR Connection refused (pool r, server "+dead+")\r\n")
		wantLine(t, r, "$-1\r\n")
		m := dialRaw(t, addrs["m"])
		m.send(t, "get k\r\nset k 0 0 1 noreply\r\nx\r\nset k 0 0 1\r\nx\r\n")
		wantLine(t, m, "SERVER_ERROR Connection refused (pool m, server "+dead+")\r\n")
		// noreply: nothing, even for a failure.
		wantLine(t, m, "SERVER_ERROR Connection refused (pool m, server "+dead+")\r\n")
	})

	t.Run("host is down", func(t *testing.T) {
		_, addrs := startWalnut(t, "[pools.r]\nlisten = \"127.0.0.1:0\"\nservers = [\"no.such.host.invalid:6379:1\"]\n"+
			"[pools.m]\nlisten = \"127.0.0.1:0\"\nprotocol = \"memcached\"\nservers = [\"no.such.host.invalid:11211:1\"]\n")
		r := dialRaw(t, addrs["r"])
		r.send(t, resp("GET", "k"))
		got := r.line(t)
		if !strings.HasPrefix(got, "-ERR Host is down (pool r, server no.such.host.invalid:6379: cannot resolve no.such.host.invalid") {
			t.Fatalf("redis: %q", got)
		}
		m := dialRaw(t, addrs["m"])
		m.send(t, "get a b\r\n")
		if got := m.line(t); !strings.HasPrefix(got, "SERVER_ERROR Host is down (pool m, server no.such.host.invalid:11211") {
			t.Fatalf("memcached: %q", got)
		}
		// nutcracker closes a multi-get's connection there, without a
		// reply; walnut answers and reads on.
		m.send(t, "mn\r\n")
		wantLine(t, m, "MN\r\n")
	})

	t.Run("killed server", func(t *testing.T) {
		rs := testbed.Redises(t, 2)
		ms := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t)}
		_, addrs := startWalnut(t, redisPool("r", rs, `hash = "md5"`)+mcPool("m", ms, `hash = "md5"`))
		ctx := context.Background()
		c := newClient(t, addrs["r"])
		keyOn := keyPerServer(t, ctx, c, direct(t, rs))
		rs[1].Kill()
		r := dialRaw(t, addrs["r"])
		r.send(t, resp("GET", keyOn[1]))
		wantLine(t, r, "-ERR Connection refused (pool r, server "+rs[1].Addr+")\r\n")
		// A multi-key command with a failed part: one error, and the
		// connection stays (nutcracker closes it after a failed MGET).
		r.send(t, resp("MGET", keyOn[0], keyOn[1]))
		wantLine(t, r, "-ERR Connection refused (pool r, server "+rs[1].Addr+")\r\n")
		r.send(t, resp("DEL", keyOn[0], keyOn[1])+resp("PING"))
		wantLine(t, r, "-ERR Connection refused (pool r, server "+rs[1].Addr+")\r\n")
		wantLine(t, r, "+PONG\r\n")

		mkeys := map[int]string{}
		mds := mcDirect(t, ms)
		mc := dialRaw(t, addrs["m"])
		for i := 0; len(mkeys) < 2 && i < 1000; i++ {
			k := fmt.Sprintf("k%d", i)
			mc.send(t, "set "+k+" 0 0 1\r\nx\r\n")
			wantLine(t, mc, "STORED\r\n")
			mkeys[mcOwners(t, mds, k)[0]] = k
		}
		ms[0].Kill()
		mc.send(t, "get "+mkeys[0]+" "+mkeys[1]+"\r\n")
		wantLine(t, mc, "SERVER_ERROR Connection refused (pool m, server "+ms[0].Addr+")\r\n")
		mc.send(t, "get "+mkeys[1]+"\r\n")
		wantLine(t, mc, "VALUE "+mkeys[1]+" 0 1\r\n")
	})

	t.Run("timed out", func(t *testing.T) {
		rs := testbed.Redises(t, 2)
		ms := []*testbed.Process{testbed.Memcached(t)}
		_, addrs := startWalnut(t, redisPool("r", rs, "hash = \"md5\"\ntimeout = \"300ms\"")+mcPool("m", ms, "timeout = \"300ms\""))
		ctx := context.Background()
		keyOn := keyPerServer(t, ctx, newClient(t, addrs["r"]), direct(t, rs))
		rs[0].Stop()
		ms[0].Stop()
		defer rs[0].Continue()
		defer ms[0].Continue()
		r := dialRaw(t, addrs["r"])
		start := time.Now()
		// Every request queued on the hung connection gets the error;
		// the other server and PING carry on.
		r.send(t, resp("GET", keyOn[0])+resp("SET", keyOn[0], "x")+resp("GET", keyOn[1])+resp("PING"))
		want := "-ERR Connection timed out (pool r, server " + rs[0].Addr + ": no reply within 300ms)\r\n"
		wantLine(t, r, want)
		if took := time.Since(start); took < 300*time.Millisecond || took > 3*time.Second {
			t.Errorf("timed out after %v", took)
		}
		wantLine(t, r, want)
		wantLine(t, r, fmt.Sprintf("$%d\r\n", len(keyOn[1])))
		r.line(t)
		wantLine(t, r, "+PONG\r\n")
		m := dialRaw(t, addrs["m"])
		m.send(t, "get a\r\nget b\r\nset c 0 0 1 noreply\r\nx\r\nmn\r\n")
		want = "SERVER_ERROR Connection timed out (pool m, server " + ms[0].Addr + ": no reply within 300ms)\r\n"
		wantLine(t, m, want)
		wantLine(t, m, want)
		wantLine(t, m, "MN\r\n")
	})

	t.Run("all ejected", func(t *testing.T) {
		// Once ejected, no server is left to refuse: nutcracker's text
		// all the same.
		ejectAll(t, resp("GET", "k"))
	})

	t.Run("reset and closed by the server", func(t *testing.T) {
		// A server that reads a request and then drops the connection:
		// with a reset (SO_LINGER 0) or a plain close.
		fake := func(reset bool) string {
			return fakeServer(t, func(c net.Conn) {
				buf := make([]byte, 512)
				c.Read(buf)
				if reset {
					c.(*net.TCPConn).SetLinger(0)
				}
				c.Close()
			})
		}
		rst, eof := fake(true), fake(false)
		_, addrs := startWalnut(t, fmt.Sprintf("[pools.rst]\nlisten = \"127.0.0.1:0\"\nservers = [%q]\n"+
			"[pools.eof]\nlisten = \"127.0.0.1:0\"\nprotocol = \"memcached\"\nservers = [%q]\n", rst+":1", eof+":1"))
		r := dialRaw(t, addrs["rst"])
		r.send(t, resp("GET", "k"))
		wantLine(t, r, "-ERR Connection reset by peer (pool rst, server "+rst+")\r\n")
		m := dialRaw(t, addrs["eof"])
		m.send(t, "get k\r\n")
		wantLine(t, m, "SERVER_ERROR Connection closed by server (pool eof, server "+eof+")\r\n")
	})

	t.Run("dial timeout", func(t *testing.T) {
		addr := fullListenQueue(t)
		_, addrs := startWalnut(t, fmt.Sprintf("[pools.p]\nlisten = \"127.0.0.1:0\"\ndial_timeout = \"300ms\"\nservers = [%q]\n", addr+":1"))
		r := dialRaw(t, addrs["p"])
		r.send(t, resp("GET", "k"))
		wantLine(t, r, "-ERR Connection timed out (pool p, server "+addr+": no connection within 300ms)\r\n")
	})
}

// ejectAll starts walnut with a pool e over one dead server, which its
// first failure ejects, and sends req until it is refused by the server
// and then by the pool, every server being ejected. It returns the
// pool's address.
func ejectAll(t *testing.T, req string) string {
	t.Helper()
	dead := deadAddr(t)
	_, addrs := startWalnut(t, fmt.Sprintf("[pools.e]\nlisten = \"127.0.0.1:0\"\nauto_eject_hosts = true\n"+
		"server_failure_limit = 1\nserver_retry_timeout = \"60s\"\nservers = [%q]\n", dead+":1"))
	r := dialRaw(t, addrs["e"])
	r.send(t, req)
	wantLine(t, r, "-ERR Connection refused (pool e, server "+dead+")\r\n")
	deadline := time.Now().Add(3 * time.Second)
	for {
		r.send(t, req)
		got := r.line(t)
		if got == "-ERR Connection refused (pool e: every server is ejected)\r\n" {
			return addrs["e"]
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ejected; last answer %q", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fullListenQueue returns the address of a socket whose listen queue is
// full: connecting to it hangs until the dialer gives up.
func fullListenQueue(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 4 {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

// A server's error replies: passed through as they are for a request one
// server answers, the connection kept; for a request split over servers,
// nutcracker's "Invalid argument" with the server's words.
func TestServerErrorReplies(t *testing.T) {
	master := testbed.Redis(t)
	replica := testbed.Redis(t, "--replicaof", "127.0.0.1", fmt.Sprint(master.Port))
	servers := []*testbed.Process{master, replica}
	_, addrs := startWalnut(t, redisPool("p", servers, `hash = "md5"`))
	// A key of each server: the replica refuses writes.
	var onMaster, onReplica string
	for i := 0; (onMaster == "" || onReplica == "") && i < 1000; i++ {
		k := fmt.Sprintf("k%d", i)
		c := dialRaw(t, addrs["p"])
		c.send(t, resp("SET", k, "v"))
		switch got := c.line(t); {
		case got == "+OK\r\n":
			onMaster = k
		case strings.HasPrefix(got, "-READONLY "):
			onReplica = k
		default:
			t.Fatalf("SET %s: %q", k, got)
		}
	}
	c := dialRaw(t, addrs["p"])
	c.send(t, resp("DEL", onReplica)+
		resp("DEL", onMaster, onReplica)+
		resp("MSET", onMaster, "1", onReplica, "2")+
		resp("HSET", onMaster)+
		resp("HGET", onMaster, "f")+
		resp("EVAL", "return redis.error_reply('dummyerror')", "1", onMaster)+
		resp("PING"))
	wantLine(t, c, "-READONLY You can't write against a read only replica.\r\n")
	wantLine(t, c, "-ERR Invalid argument (a server answered: READONLY You can't write against a read only replica.)\r\n")
	wantLine(t, c, "-ERR Invalid argument (a server answered: READONLY You can't write against a read only replica.)\r\n")
	wantLine(t, c, "-ERR wrong number of arguments for 'hset' command\r\n")
	wantLine(t, c, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
	wantLine(t, c, "-ERR dummyerror\r\n")
	wantLine(t, c, "+PONG\r\n")
}

// redis_db: the database is selected on every server connection; a
// server that refuses the SELECT gets no request at all on that
// connection (nutcracker logs the refusal and writes to database 0).
func TestRedisDBSelect(t *testing.T) {
	s := testbed.Redis(t)
	_, addrs := startWalnut(t, redisPool("db3", []*testbed.Process{s}, "redis_db = 3")+
		redisPool("db99", []*testbed.Process{s}, "redis_db = 99\ndatabases = 100"))
	c := dialRaw(t, addrs["db3"])
	c.send(t, resp("SET", "in3", "v"))
	wantLine(t, c, "+OK\r\n")
	ctx := context.Background()
	d0 := newClient(t, s.Addr)
	d3 := newClient(t, s.Addr, func(o *redis.Options) { o.DB = 3 })
	if n, err := d3.Exists(ctx, "in3").Result(); err != nil || n != 1 {
		t.Fatalf("redis_db 3: key not in database 3 (%v)", err)
	}
	bad := dialRaw(t, addrs["db99"])
	bad.send(t, resp("SET", "in99", "v")+resp("GET", "in99")+resp("CLIENT", "GETNAME"))
	want := "-ERR SELECT 99 refused by the server: ERR DB index is out of range (pool db99, server " + s.Addr + ")\r\n"
	wantLine(t, bad, want)
	wantLine(t, bad, want)
	wantLine(t, bad, "$-1\r\n")
	if n, err := d0.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("database 0 holds %d keys (%v): a request went through the refused SELECT", n, err)
	}
}

// What nutcracker's clients rely on, beside errors (twemproxy's tests
// and its observed behaviour).
func TestNutcrackerClientBehaviour(t *testing.T) {
	rs := testbed.Redises(t, 2)
	ms := []*testbed.Process{testbed.Memcached(t), testbed.Memcached(t)}
	dead, dead2 := deadAddr(t), deadAddr(t)
	_, addrs := startWalnut(t, redisPool("r", rs, "")+mcPool("m", ms, "")+
		fmt.Sprintf("[pools.dead]\nlisten = \"127.0.0.1:0\"\nservers = [%q, %q]\n", dead+":1", dead2+":1")+
		fmt.Sprintf("[pools.dead1]\nlisten = \"127.0.0.1:0\"\nservers = [%q]\n", dead+":1"))

	t.Run("PING is answered by walnut", func(t *testing.T) {
		c := dialRaw(t, addrs["dead"])
		c.send(t, resp("PING"))
		wantLine(t, c, "+PONG\r\n")
		// A pool of one server is that server (docs/redis.md): its PING
		// says what the server would.
		c = dialRaw(t, addrs["dead1"])
		c.send(t, resp("PING"))
		wantLine(t, c, "-ERR Connection refused (pool dead1, server "+dead+")\r\n")
	})
	t.Run("empty key", func(t *testing.T) {
		c := dialRaw(t, addrs["r"])
		c.send(t, resp("SET", "", "v")+resp("GET", "")+resp("MSET", "", "val", "k", "v")+resp("GET", ""))
		for _, w := range []string{"+OK\r\n", "$1\r\n", "v\r\n", "+OK\r\n", "$3\r\n", "val\r\n"} {
			wantLine(t, c, w)
		}
	})
	t.Run("EVAL nested replies", func(t *testing.T) {
		c := dialRaw(t, addrs["r"])
		c.send(t, resp("EVAL", "return {1, redis.call('set', 'x', '1')}", "1", "tmp")+
			resp("EVAL", "return "+strings.Repeat("{", 20)+"1"+strings.Repeat("}", 20), "1", "tmp"))
		for _, w := range []string{"*2\r\n", ":1\r\n", "+OK\r\n"} {
			wantLine(t, c, w)
		}
		for range 20 {
			wantLine(t, c, "*1\r\n")
		}
		wantLine(t, c, ":1\r\n")
	})
	t.Run("COMMAND is walnut's, LOLWUT goes to a server", func(t *testing.T) {
		// nutcracker forwards both to the owner of "placeholder". walnut
		// answers COMMAND with its own table, which lists what walnut
		// serves: fewer commands than a server has.
		d := dialRaw(t, rs[0].Addr)
		d.send(t, resp("COMMAND", "COUNT"))
		var server, walnut int
		if _, err := fmt.Sscanf(d.line(t), ":%d\r\n", &server); err != nil {
			t.Fatalf("a server's COMMAND COUNT: %v", err)
		}
		c := dialRaw(t, addrs["r"])
		c.send(t, resp("COMMAND", "COUNT")+resp("LOLWUT", "VERSION", "5", "1", "1", "1"))
		got := c.line(t)
		if !regexp.MustCompile(`^:\d{3}\r\n$`).MatchString(got) {
			t.Fatalf("COMMAND COUNT: %q", got)
		}
		fmt.Sscanf(got, ":%d\r\n", &walnut)
		if walnut >= server {
			t.Fatalf("COMMAND COUNT: walnut's %d, the server's %d: not walnut's table", walnut, server)
		}
		if got := c.line(t); !strings.HasPrefix(got, "$") {
			t.Fatalf("LOLWUT: %q", got)
		}
	})
	t.Run("memcached version is a server's", func(t *testing.T) {
		d := dialRaw(t, ms[0].Addr)
		d.send(t, "version\r\n")
		want := d.line(t)
		c := dialRaw(t, addrs["m"])
		c.send(t, "version\r\n")
		wantLine(t, c, want)
		// quit: closed, no reply.
		c.send(t, "quit\r\nversion\r\n")
		if !c.closed() {
			t.Fatal("quit did not close the connection")
		}
	})
}

// tcpkeepalive turns on TCP keepalive on the pool's client connections,
// as nutcracker's does: the kernel shows the keepalive timer armed (timer
// 02 in /proc/net/tcp) on walnut's side of the connection.
func TestTCPKeepalive(t *testing.T) {
	s := testbed.Redis(t)
	_, addrs := startWalnut(t, redisPool("on", []*testbed.Process{s}, "tcpkeepalive = true")+
		redisPool("off", []*testbed.Process{s}, ""))
	for pool, want := range map[string]string{"on": "02", "off": "00"} {
		c := dialRaw(t, addrs[pool])
		c.send(t, resp("PING"))
		wantLine(t, c, "+PONG\r\n")
		if got := tcpTimer(t, addrs[pool], c.LocalAddr().String()); got != want {
			t.Errorf("pool %s: timer %q on walnut's side of the client connection, want %q", pool, got, want)
		}
	}
}

// tcpTimer returns the timer column ("tr") of the IPv4 socket local ->
// remote in /proc/net/tcp.
func tcpTimer(t *testing.T, local, remote string) string {
	t.Helper()
	hexPort := func(addr string) string {
		_, p, _ := net.SplitHostPort(addr)
		var n int
		fmt.Sscan(p, &n)
		return fmt.Sprintf("%04X", n)
	}
	lp, rp := hexPort(local), hexPort(remote)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 5 && strings.HasSuffix(f[1], ":"+lp) && strings.HasSuffix(f[2], ":"+rp) {
			return strings.SplitN(f[5], ":", 2)[0]
		}
	}
	t.Fatalf("no socket %s -> %s in /proc/net/tcp", local, remote)
	return ""
}
