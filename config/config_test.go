package config_test

import (
	"strings"
	"testing"
	"time"

	_ "github.com/walnutproxy/walnut/builtins"
	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/protocols/redis"
)

func TestParseFull(t *testing.T) {
	cfg, err := config.Parse("w.toml", []byte(`
[stats]
listen = "127.0.0.1:22222"

[pools.zeta]
listen = "127.0.0.1:22121"
protocol = "redis"
hash = "md5"
hash_tag = "{}"
distribution = "modula"
timeout = "400ms"
server_connections = 2
max_request_size = "1MiB"
max_pipeline = 64
servers = ["127.0.0.1:6379:1 redis-a", "127.0.0.1:6380:2", "10.0.0.1:11211:1", "/tmp/redis.sock:3 sock"]

[pools.alpha]
listen = "/tmp/walnut.sock"
servers = ["127.0.0.1:6379:1"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stats.Listen != "127.0.0.1:22222" || len(cfg.Pools) != 2 {
		t.Fatalf("cfg = %+v", cfg)
	}
	z := cfg.Pools[0]
	if z.Name != "zeta" || cfg.Pools[1].Name != "alpha" {
		t.Fatalf("pools not in file order: %s, %s", z.Name, cfg.Pools[1].Name)
	}
	if z.Hash != "md5" || z.Distribution != "modula" || z.HashTag != "{}" || z.Timeout != 400*time.Millisecond ||
		z.ServerConnections != 2 || z.MaxRequestSize != 1<<20 || z.MaxPipeline != 64 {
		t.Fatalf("zeta = %+v", z)
	}
	// nutcracker's order: by name, shorter names first.
	var names []string
	for _, s := range z.Servers {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "sock,redis-a,10.0.0.1,127.0.0.1:6380" {
		t.Fatalf("server order = %s", got)
	}
	if s := z.Servers[0]; s.Addr != "/tmp/redis.sock" || s.Weight != 3 {
		t.Fatalf("unix server = %+v", s)
	}
	a := cfg.Pools[1]
	if a.Hash != config.DefaultHash || a.Distribution != config.DefaultDistribution || a.Protocol != "redis" ||
		a.Timeout != config.DefaultTimeout || a.ServerConnections != 1 || a.MaxRequestSize != config.DefaultMaxRequestSize {
		t.Fatalf("defaults not applied: %+v", a)
	}
}

func TestParseErrors(t *testing.T) {
	const ok = "listen = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\n"
	cases := []struct {
		name, body string
		want       []string
	}{
		{"no pools", "[stats]\nlisten = \"127.0.0.1:1\"\n", []string{"w.toml: pools: no pools"}},
		{"unknown top-level key", "colour = 1\n[pools.a]\n" + ok, []string{"w.toml: colour: unknown key"}},
		{"unknown pool key", "[pools.a]\n" + ok + "hashtag = \"{}\"\n", []string{"w.toml: pools.a.hashtag: unknown key"}},
		{"unknown stats key", "[stats]\nport = 1\n[pools.a]\n" + ok, []string{"w.toml: stats.port: unknown key"}},
		{"missing listen", "[pools.a]\nservers = [\"127.0.0.1:6379:1\"]\n", []string{"pools.a.listen: missing"}},
		{"missing servers", "[pools.a]\nlisten = \"127.0.0.1:1\"\n", []string{"pools.a.servers: missing"}},
		{"empty servers", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = []\n", []string{"pools.a.servers: empty"}},
		{"server not a string", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [1]\n", []string{"pools.a.servers[0]: want a string, got integer 1"}},
		{"server without weight", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379\"]\n", []string{"pools.a.servers[0]", "weight"}},
		{"negative weight", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:-1\"]\n", []string{"pools.a.servers[0]", "from 1 to"}},
		{"bad port", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:99999:1\"]\n", []string{"pools.a.servers[0]", "invalid port"}},
		{"duplicate names", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1 x\", \"127.0.0.1:6380:1 x\"]\n", []string{"same name \"x\""}},
		{"duplicate servers", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\", \"127.0.0.1:6379:2\"]\n", []string{"same name \"127.0.0.1:6379\""}},
		{"bad listen port", "[pools.a]\nlisten = \"127.0.0.1:http\"\nservers = [\"127.0.0.1:6379:1\"]\n", []string{"pools.a.listen", "invalid port"}},
		{"listen without host", "[pools.a]\nlisten = \":22121\"\nservers = [\"127.0.0.1:6379:1\"]\n", []string{"pools.a.listen", "missing host"}},
		{"bad protocol", "[pools.a]\n" + ok + "protocol = \"http\"\n", []string{"pools.a.protocol", "unknown protocol \"http\" (known: memcached, redis"}},
		{"bad hash", "[pools.a]\n" + ok + "hash = \"sha\"\n", []string{"pools.a.hash", "unknown hash \"sha\" (known: crc16, crc32,"}},
		{"bad distribution", "[pools.a]\n" + ok + "distribution = \"x\"\n", []string{"pools.a.distribution", "(known: ketama, modula, random)"}},
		{"bad duration", "[pools.a]\n" + ok + "timeout = \"fast\"\n", []string{"pools.a.timeout", "\"fast\""}},
		{"negative duration", "[pools.a]\n" + ok + "timeout = \"-1s\"\n", []string{"pools.a.timeout"}},
		{"duration as integer", "[pools.a]\n" + ok + "timeout = 400\n", []string{"pools.a.timeout: want a duration string", "integer 400"}},
		{"zero connections", "[pools.a]\n" + ok + "server_connections = 0\n", []string{"pools.a.server_connections: want at least 1, got 0"}},
		{"connections as string", "[pools.a]\n" + ok + "server_connections = \"2\"\n", []string{"pools.a.server_connections: want an integer"}},
		{"bad size", "[pools.a]\n" + ok + "max_request_size = \"lots\"\n", []string{"pools.a.max_request_size", "\"lots\""}},
		{"pool not a table", "pools = 3\n", []string{"pools: want a table"}},
		{"stats listen bad", "[stats]\nlisten = \"nope\"\n[pools.a]\n" + ok, []string{"stats.listen", "host:port"}},
		{"listen shared with stats", "[stats]\nlisten = \"127.0.0.1:1\"\n[pools.a]\n" + ok, []string{"pools.a.listen", "already used by stats.listen"}},
		{"toml syntax", "[pools.a]\nlisten = \"x\n", []string{"w.toml:2:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("w.toml", []byte(tc.body))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if !strings.HasPrefix(err.Error(), "w.toml") {
				t.Errorf("error does not start with the file name: %v", err)
			}
		})
	}
}

// Several mistakes are all reported at once, not one per run.
func TestParseReportsEveryError(t *testing.T) {
	_, err := config.Parse("w.toml", []byte("[pools.a]\nlisten = \"x\"\nhash = \"sha\"\nservers = [\"bad\"]\n"))
	if err == nil {
		t.Fatal("no error")
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Fatalf("%d errors reported, want 3:\n%v", n, err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "64KiB": 64 << 10, "16MiB": 16 << 20, "1GiB": 1 << 30, "2MB": 2 << 20, "10 K": 10 << 10} {
		if got, err := config.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1.5MiB", "99999999999GiB"} {
		if _, err := config.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): want an error", in)
		}
	}
}

// password is the clients', redis_auth the servers'; allow_flush and
// databases are off and 16 unless set; redis_db must be a database.
func TestParseRedisAccessKeys(t *testing.T) {
	const ok = "listen = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\n"
	cfg, err := config.Parse("w.toml", []byte("[pools.a]\n"+ok+"password = \"pw\"\nredis_auth = \"srv\"\nallow_flush = true\ndatabases = 4\nredis_db = 3\n[pools.b]\nlisten = \"127.0.0.1:2\"\nservers = [\"127.0.0.1:6379:1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := redis.OptionsOf(cfg.Pools[0].Options), redis.OptionsOf(cfg.Pools[1].Options)
	if *a != (redis.Options{Password: "pw", Auth: "srv", AllowFlush: true, Databases: 4, DB: 3}) {
		t.Fatalf("a = %+v", a)
	}
	if *b != *redis.DefaultOptions() {
		t.Fatalf("defaults: b = %+v", b)
	}
	for body, want := range map[string]string{
		"redis_db = 16\n":             "pools.a.redis_db: want a database below databases (16), got 16",
		"databases = 0\n":             "pools.a.databases: want at least 1, got 0",
		"allow_flush = \"yes\"\n":     "pools.a.allow_flush",
		"password = 1\n":              "pools.a.password",
		"databases = 2\nredis_db = 2": "pools.a.redis_db: want a database below databases (2), got 2",
	} {
		_, err := config.Parse("w.toml", []byte("[pools.a]\n"+ok+body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
	}
}
