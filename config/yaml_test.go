package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/protocols/redis"
)

// A config as blog posts write it, with comments, quoted and unquoted
// values and Windows line ends.
const blogYAML = "# twemproxy for redis\r\n" +
	"redis_pool:\r\n" +
	"  listen: 0.0.0.0:22121\r\n" +
	"  hash: fnv1a_64\r\n" +
	"  hash_tag: \"{}\"\r\n" +
	"  distribution: ketama\r\n" +
	"  auto_eject_hosts: true\r\n" +
	"  redis: true\r\n" +
	"  server_retry_timeout: 2000\r\n" +
	"  server_failure_limit: 1\r\n" +
	"  timeout: '400'   # ms\r\n" +
	"  servers:\r\n" +
	"   - 127.0.0.1:6379:1\r\n" +
	"   - \"127.0.0.1:6380:1 second\"\r\n" +
	"memcache_pool:\r\n" +
	"  listen: /tmp/walnut-test.sock 0660\r\n" +
	"  servers:\r\n" +
	"   - 127.0.0.1:11211:1\r\n"

func TestYAMLLikeNutcracker(t *testing.T) {
	if !config.IsYAML("twemproxy.conf", []byte(blogYAML)) {
		t.Fatal("YAML content not detected without an extension")
	}
	cfg, err := config.ParseYAML("nc.yml", []byte(blogYAML))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Pools) != 2 || cfg.Pools[0].Name != "redis_pool" || cfg.Pools[1].Name != "memcache_pool" {
		t.Fatalf("pools: %+v", cfg.Pools)
	}
	r := cfg.Pools[0]
	if r.Protocol != "redis" || r.Listen != "0.0.0.0:22121" || r.HashTag != "{}" || !r.AutoEjectHosts ||
		r.ServerRetryTimeout != 2*time.Second || r.ServerFailureLimit != 1 || r.Timeout != 400*time.Millisecond ||
		len(r.Servers) != 2 || r.Servers[0].Name != "second" {
		t.Fatalf("redis_pool = %+v", r)
	}
	m := cfg.Pools[1]
	// nutcracker's defaults: memcached unless redis: true, no timeout, a
	// 30s retry, 2 failures, and the host alone names a port-11211 server.
	if m.Protocol != "memcached" || m.Timeout != 0 || m.ServerRetryTimeout != 30*time.Second ||
		m.ServerFailureLimit != 2 || m.Listen != "/tmp/walnut-test.sock" || m.ListenMode != 0o660 ||
		m.Servers[0].Name != "127.0.0.1" || m.Hash != "fnv1a_64" || m.Distribution != "ketama" {
		t.Fatalf("memcache_pool = %+v", m)
	}
}

func TestYAMLErrorsNameTheLine(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"unknown key", "a:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:6379:1\n  hashh: md5\n", "nc.yml:5: pools.a.hashh: unknown key"},
		{"bad bool", "a:\n  listen: 127.0.0.1:1\n  redis: yes\n  servers:\n   - 127.0.0.1:6379:1\n", `nc.yml:3: pools.a.redis: is not "true" or "false"`},
		{"bad number", "a:\n  listen: 127.0.0.1:1\n  timeout: fast\n  servers:\n   - 127.0.0.1:6379:1\n", "nc.yml:3: pools.a.timeout: is not a number (digits only)"},
		{"bad hash", "a:\n  listen: 127.0.0.1:1\n  hash: sha1\n  servers:\n   - 127.0.0.1:6379:1\n", `nc.yml:3: pools.a.hash: unknown hash "sha1"`},
		{"bad server", "a:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:6379:1\n   - 127.0.0.1\n", "nc.yml:5: pools.a.servers[1]:"},
		{"duplicate key", "a:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\n  servers:\n   - 127.0.0.1:6379:1\n", "nc.yml:3: pools.a.listen: is a duplicate"},
		{"no listen", "a:\n  servers:\n   - 127.0.0.1:6379:1\n", "nc.yml:1: pools.a.listen: missing"},
		{"bad permissions", "a:\n  listen: /tmp/x.sock 0999\n  servers:\n   - 127.0.0.1:6379:1\n", "nc.yml:2: pools.a.listen: invalid file permission"},
		{"not a pool", "a: 3\n", "nc.yml:1: pools.a: want the pool's keys"},
		{"syntax", "a:\n  listen: [1,\n", "nc.yml:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.ParseYAML("nc.yml", []byte(c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestIsYAML(t *testing.T) {
	for _, c := range []struct {
		path, body string
		want       bool
	}{
		{"x.yml", "", true},
		{"x.yaml", "", true},
		{"x.toml", "a:\n", false},
		{"x.conf", "[pools.a]\nlisten = \"x\"\n", false},
		{"x.conf", "# comment\nalpha:\n  listen: 127.0.0.1:1\n", true},
		{"x", "workers = 2\n", false},
	} {
		if got := config.IsYAML(c.path, []byte(c.body)); got != c.want {
			t.Errorf("IsYAML(%q, %q) = %v", c.path, c.body, got)
		}
	}
}

// nutcracker's redis_auth is both the servers' password and the one
// clients must give.
func TestYAMLRedisAuthIsBoth(t *testing.T) {
	cfg, err := config.ParseYAML("nc.yml", []byte("p:\n  listen: 127.0.0.1:22121\n  redis: true\n  redis_auth: s3cret\n  redis_db: 2\n  servers:\n   - 127.0.0.1:6379:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := redis.OptionsOf(cfg.Pools[0].Options); p.Auth != "s3cret" || p.Password != "s3cret" || p.DB != 2 || p.Databases != redis.DefaultDatabases {
		t.Fatalf("pool = %+v", p)
	}
	// nutcracker takes any redis_db; walnut's databases grow to hold it.
	cfg, err = config.ParseYAML("nc.yml", []byte("p:\n  listen: 127.0.0.1:22121\n  redis: true\n  redis_db: 99\n  servers:\n   - 127.0.0.1:6379:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := redis.OptionsOf(cfg.Pools[0].Options); p.DB != 99 || p.Databases != 100 {
		t.Fatalf("redis_db 99: pool = %+v", p)
	}
}
