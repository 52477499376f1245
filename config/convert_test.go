package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/config"
)

// nutcracker 0.5's conf/ examples (Debian ships the first as
// /usr/share/doc/nutcracker/examples/nutcracker.yml), and files that use
// what they do not: every key, unix sockets with permissions, names
// TOML must quote.
var convertCases = map[string]string{
	"nutcracker.yml": `alpha:
  listen: 127.0.0.1:22121
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: true
  redis: true
  server_retry_timeout: 2000
  server_failure_limit: 1
  servers:
   - 127.0.0.1:6379:1

beta:
  listen: 127.0.0.1:22122
  hash: fnv1a_64
  hash_tag: "{}"
  distribution: ketama
  auto_eject_hosts: false
  timeout: 400
  redis: true
  servers:
   - 127.0.0.1:6380:1 server1
   - 127.0.0.1:6381:1 server2
   - 127.0.0.1:6382:1 server3
   - 127.0.0.1:6383:1 server4

gamma:
  listen: 127.0.0.1:22123
  hash: fnv1a_64
  distribution: ketama
  timeout: 400
  backlog: 1024
  preconnect: true
  auto_eject_hosts: true
  server_retry_timeout: 2000
  server_failure_limit: 3
  servers:
   - 127.0.0.1:11212:1
   - 127.0.0.1:11213:1

delta:
  listen: 127.0.0.1:22124
  hash: fnv1a_64
  distribution: ketama
  timeout: 100
  auto_eject_hosts: true
  server_retry_timeout: 2000
  server_failure_limit: 1
  servers:
   - 127.0.0.1:11214:1
   - 127.0.0.1:11215:1
   - 127.0.0.1:11216:1
   - 127.0.0.1:11217:1
   - 127.0.0.1:11218:1
   - 127.0.0.1:11219:1
   - 127.0.0.1:11220:1
   - 127.0.0.1:11221:1
   - 127.0.0.1:11222:1
   - 127.0.0.1:11223:1

omega:
  listen: /tmp/gamma
  hash: hsieh
  distribution: ketama
  auto_eject_hosts: false
  servers:
   - 127.0.0.1:11214:100000
   - 127.0.0.1:11215:1
`,
	"nutcracker.root.yml": `root:
  listen: 127.0.0.1:22120
  hash: fnv1a_64
  distribution: ketama
  preconnect: true
  auto_eject_hosts: false
  servers:
   - 127.0.0.1:22121:1
`,
	"nutcracker.leaf.yml": `leaf:
  listen: 127.0.0.1:22121
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: true
  server_retry_timeout: 2000
  server_failure_limit: 1
  servers:
   - 127.0.0.1:11212:1
   - 127.0.0.1:11213:1
`,
	"every-key.yml": "# every nutcracker key\r\n" +
		"z-last:\r\n" +
		"  servers:\r\n" +
		"   - 10.0.0.2:6379:2 b:name\r\n" +
		"   - 10.0.0.1:6379:1 a:name\r\n" +
		"   - /var/run/redis.sock:3\r\n" +
		"  listen: /tmp/walnut convert.sock 0660\r\n" +
		"  hash: murmur\r\n" +
		"  hash_tag: \"$$\"\r\n" +
		"  distribution: modula\r\n" +
		"  timeout: 90000\r\n" +
		"  backlog: 64\r\n" +
		"  client_connections: 100\r\n" +
		"  redis: true\r\n" +
		"  redis_auth: 'p\"a\\ss'\r\n" +
		"  redis_db: 3\r\n" +
		"  preconnect: true\r\n" +
		"  auto_eject_hosts: true\r\n" +
		"  server_connections: 4\r\n" +
		"  server_retry_timeout: 1500\r\n" +
		"  server_failure_limit: 5\r\n" +
		"\"a pool.with dots\":\r\n" +
		"  listen: 0.0.0.0:11311\r\n" +
		"  redis: false\r\n" +
		"  client_connections: 0\r\n" +
		"  servers:\r\n" +
		"   - 127.0.0.1:11211:1\r\n" +
		"   - 127.0.0.2:11211:1\r\n",
}

// A YAML file converted to TOML reads back as the same configuration.
// encodeTOML is config.EncodeTOML of a configuration that must encode.
func encodeTOML(t *testing.T, cfg *config.Config) []byte {
	t.Helper()
	out, err := config.EncodeTOML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEncodeTOMLRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for name, body := range convertCases {
		t.Run(name, func(t *testing.T) {
			yml := filepath.Join(dir, name)
			// config_test.go's stand-in hashes lack hsieh.
			body = strings.ReplaceAll(body, "hash: hsieh", "hash: murmur")
			if err := os.WriteFile(yml, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			want, err := config.Load(yml)
			if err != nil {
				t.Fatal(err)
			}
			out := encodeTOML(t, want)
			toml := strings.TrimSuffix(yml, ".yml") + ".toml"
			if err := os.WriteFile(toml, out, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := config.Load(toml)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			got.Path = want.Path
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip differs\n got %+v\nwant %+v\n%s", got, want, out)
				for i := range min(len(got.Pools), len(want.Pools)) {
					if !reflect.DeepEqual(got.Pools[i], want.Pools[i]) {
						t.Errorf("pool %d:\n got %+v\nwant %+v", i, *got.Pools[i], *want.Pools[i])
					}
				}
			}
			// The encoding is stable: encoding what it reads back gives
			// the same text.
			again, err := config.EncodeTOML(got)
			if err != nil || string(again) != string(out) {
				t.Errorf("second encoding differs (%v):\n%s\n---\n%s", err, out, again)
			}
		})
	}
}

// Every pool key is written out, in a fixed order, pools in file order.
func TestEncodeTOMLLayout(t *testing.T) {
	cfg, err := config.ParseYAML("nc.yml", []byte(convertCases["every-key.yml"]))
	if err != nil {
		t.Fatal(err)
	}
	out := encodeTOML(t, cfg)
	text := string(out)
	for _, want := range []string{
		"[proxy]\nworkers = 0", "[stats]\nlisten = \"\"", "[log]\nlevel = \"info\"\nformat = \"text\"\n",
		"\n[pools.z-last]\nlisten = \"/tmp/walnut convert.sock 0660\"\nprotocol = \"redis\"\nhash = \"murmur\"\n" +
			"hash_tag = \"$$\"\ndistribution = \"modula\"\ntimeout = \"1m30s\"\nbacklog = 64\npreconnect = true\n" +
			"redis_auth = \"p\\\"a\\\\ss\"\npassword = \"p\\\"a\\\\ss\"  # clients' password; nutcracker's redis_auth is both\n" +
			"redis_db = 3\ndatabases = 16\nallow_flush = false\nserver_connections = 4\nauto_eject_hosts = true\n" +
			"server_failure_limit = 5\nserver_retry_timeout = \"1.5s\"\ndial_timeout = \"1s\"\n" +
			"health_check_interval = \"0s\"\nclient_connections = 100\ntcpkeepalive = false\nclient_timeout = \"0s\"\n" +
			"max_request_size = 67108864\nmax_value_size = 67108864\nmax_pipeline = 256\n" +
			"max_client_output = 4194304\nmax_dedicated = 1024\nservers = [\n  \"10.0.0.1:6379:1 a:name\",\n" +
			"  \"10.0.0.2:6379:2 b:name\",\n  \"/var/run/redis.sock:3\",\n]\n",
		"\n[pools.\"a pool.with dots\"]\nlisten = \"0.0.0.0:11311\"\nprotocol = \"memcached\"",
		// A pool's protocol writes its own keys, and only those.
		"preconnect = false\nstrict_keys = false\nserver_connections = 1\n",
		"timeout = \"0s\"  # 0s: no timeout\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Index(text, "[pools.z-last]") > strings.Index(text, "[pools.\"a pool.with dots\"]") {
		t.Errorf("pools out of file order:\n%s", text)
	}
	if _, err := config.EncodeTOML(&config.Config{Pools: []*config.Pool{{Name: "bad\xff"}}}); err == nil {
		t.Error("invalid UTF-8 encoded")
	}
}
