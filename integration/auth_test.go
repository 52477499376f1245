package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// redis_auth: walnut authenticates to servers that require a password;
// password: clients must give one to walnut (nutcracker's redis_auth is
// both, and a YAML file's still is). redis_db selects a database on every
// server connection.
func TestRedisAuthAndDB(t *testing.T) {
	servers := []*testbed.Process{testbed.Redis(t, "--requirepass", "s3cret"), testbed.Redis(t, "--requirepass", "s3cret")}
	_, addrs := startWalnut(t, redisPool("p", servers, "hash = \"md5\"\nredis_auth = \"s3cret\"\npassword = \"s3cret\"\nredis_db = 3\nhealth_check_interval = \"100ms\""))
	c := dialRaw(t, addrs["p"])
	steps := []struct{ send, want string }{
		{"GET k\r\n", "-NOAUTH Authentication required.\r\n"},
		{"PING\r\n", "-NOAUTH Authentication required.\r\n"},
		{"AUTH wrong\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{"AUTH default wrong\r\n", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{"AUTH s3cret\r\n", "+OK\r\n"},
		{"PING\r\n", "+PONG\r\n"},
		{"SET k v\r\n", "+OK\r\n"},
		{"GET k\r\n", "$1\r\n"},
	}
	for _, s := range steps {
		c.send(t, s.send)
		if got := c.line(t); got != s.want {
			t.Fatalf("%q: got %q, want %q", s.send, got, s.want)
		}
	}
	// The key is in database 3 of its server, not in 0.
	ctx := context.Background()
	found := 0
	for _, s := range servers {
		for db, want := range map[int]int64{0: 0, 3: 1} {
			d := redis.NewClient(&redis.Options{Addr: s.Addr, Password: "s3cret", DB: db, Protocol: 2})
			n, err := d.Exists(ctx, "k").Result()
			d.Close()
			if err != nil {
				t.Fatal(err)
			}
			if db == 0 && n != 0 {
				t.Fatalf("key landed in database 0 of %s", s.Addr)
			}
			if db == 3 && n == want {
				found++
			}
		}
	}
	if found != 1 {
		t.Fatalf("key found in database 3 of %d servers, want 1", found)
	}
	// go-redis with a password works as against Redis.
	cl := newClient(t, addrs["p"], func(o *redis.Options) { o.Password = "s3cret" })
	if err := cl.Set(ctx, "x", "y", 0).Err(); err != nil {
		t.Fatalf("go-redis with a password: %v", err)
	}
}

// Without redis_auth, AUTH gets Redis' own answer for a server with no
// password, and the connection goes on.
func TestAuthWithoutPassword(t *testing.T) {
	_, addr := redisWalnut(t, 1, "p", "")
	c := dialRaw(t, addr)
	c.send(t, "AUTH x\r\nPING\r\n")
	if got := c.line(t); got != "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n" {
		t.Fatalf("AUTH without a password: %q", got)
	}
	if got := c.line(t); got != "+PONG\r\n" {
		t.Fatalf("after AUTH: %q", got)
	}
}

// A server that refuses walnut's AUTH fails the requests sent to it with
// the server's reason.
func TestServerRefusesAuth(t *testing.T) {
	servers := []*testbed.Process{testbed.Redis(t, "--requirepass", "other")}
	_, addrs := startWalnut(t, redisPool("p", servers, "redis_auth = \"mine\""))
	c := dialRaw(t, addrs["p"])
	c.send(t, "AUTH mine\r\nGET k\r\n")
	c.line(t)
	got := c.line(t)
	if !strings.HasPrefix(got, "-ERR") || !strings.Contains(got, "WRONGPASS") {
		t.Fatalf("GET through a server refusing AUTH: %q", got)
	}
}
