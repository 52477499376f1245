package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/internal/testbed"
)

func TestCLICheckConfig(t *testing.T) {
	bin := testbed.WalnutBinary(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) (string, int) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}

	good := write("good.toml", `
[stats]
listen = "127.0.0.1:22222"
[pools.alpha]
listen = "127.0.0.1:22121"
protocol = "redis"
hash = "fnv1a_64"
hash_tag = "{}"
distribution = "ketama"
timeout = "400ms"
server_connections = 1
servers = ["127.0.0.1:6379:1 redis-a", "127.0.0.1:6380:2"]
`)
	if out, code := run("-t", "-c", good); code != 0 || !strings.Contains(out, "syntax is ok") {
		t.Fatalf("-t on a good config: exit %d\n%s", code, out)
	}
	// The example configuration is valid, and so are the benchmark
	// harness's templates once their placeholders are filled.
	if out, code := run("-t", "-c", filepath.Join("..", "examples", "quickstart.toml")); code != 0 {
		t.Fatalf("examples/quickstart.toml: exit %d\n%s", code, out)
	}
	for _, tmpl := range []string{"walnut-redis.toml.tmpl"} {
		src, err := os.ReadFile(filepath.Join("..", "..", "shared", "bench", tmpl))
		if err != nil {
			t.Logf("benchmark template %s not found beside the repository: %v", tmpl, err)
			continue
		}
		text := string(src)
		for i, ph := range []string{"{redis_server_1}", "{redis_server_2}", "{redis_server_3}", "{redis_server_4}"} {
			text = strings.ReplaceAll(text, ph, "127.0.0.1:"+[]string{"30001", "30002", "30003", "30004"}[i])
		}
		text = strings.ReplaceAll(text, "{redis_listen}", "127.0.0.1:30031")
		if out, code := run("-t", "-c", write(tmpl+".toml", text)); code != 0 {
			t.Fatalf("%s: exit %d\n%s", tmpl, code, out)
		}
	}

	bad := []struct {
		name, body string
		want       []string
	}{
		{"unknown key", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\nhashh = \"md5\"\n",
			[]string{"pools.a.hashh: unknown key"}},
		{"unknown hash", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\nhash = \"sha1\"\n",
			[]string{"pools.a.hash", `unknown hash "sha1"`, "fnv1a_64", "murmur"}},
		{"unknown distribution", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\ndistribution = \"maglev\"\n",
			[]string{"pools.a.distribution", `unknown distribution "maglev"`, "ketama, modula, random"}},
		{"wrong type", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\ntimeout = 400\n",
			[]string{"pools.a.timeout", "duration", "integer 400"}},
		{"bad address", "[pools.a]\nlisten = \"localhost\"\nservers = [\"127.0.0.1:6379:1\"]\n",
			[]string{"pools.a.listen", "host:port"}},
		{"zero weight", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:0\"]\n",
			[]string{"pools.a.servers[0]", "weight"}},
		{"duplicate listen", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\n[pools.b]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\n",
			[]string{"pools.b.listen", "already used by pools.a.listen"}},
		{"bad hash tag", "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\nhash_tag = \"{\"\n",
			[]string{"pools.a.hash_tag", "two characters"}},
		{"syntax error", "[pools.a\n", []string{"bad.toml:2"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			path := write("bad.toml", tc.body)
			out, code := run("-t", "-c", path)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, out)
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(out, w) {
					t.Errorf("message lacks %q:\n%s", w, out)
				}
			}
		})
	}
	if out, code := run("-t", "-c", filepath.Join(dir, "missing.toml")); code != 1 || !strings.Contains(out, "missing.toml") {
		t.Fatalf("missing file: exit %d\n%s", code, out)
	}
	if out, code := run("--version"); code != 0 || !strings.HasPrefix(out, "walnut ") {
		t.Fatalf("--version: exit %d\n%s", code, out)
	}
}

func TestBinaryServes(t *testing.T) {
	servers := testbed.Redises(t, 2)
	port := testbed.FreePort(t)
	conf := strings.Replace(redisPool("alpha", servers, ""), "127.0.0.1:0", "127.0.0.1:"+itoa(port), 1)
	testbed.Walnut(t, conf, "127.0.0.1:"+itoa(port))
	c := dialRaw(t, "127.0.0.1:"+itoa(port))
	c.send(t, "PING\r\n")
	if got := c.line(t); got != "+PONG\r\n" {
		t.Fatalf("PING through the binary: %q", got)
	}
}

// Logs are structured, text or JSON as configured, one line per event:
// here a client closed for bad input, with its address and the reason.
func TestJSONLogs(t *testing.T) {
	servers := testbed.Redises(t, 1)
	port := testbed.FreePort(t)
	conf := "[log]\nformat = \"json\"\n" + strings.Replace(redisPool("alpha", servers, ""), "127.0.0.1:0", "127.0.0.1:"+itoa(port), 1)
	w := testbed.Walnut(t, conf, "127.0.0.1:"+itoa(port))
	c := dialRaw(t, "127.0.0.1:"+itoa(port))
	c.send(t, "*1\r\n$x\r\n")
	c.line(t)
	local := c.LocalAddr().String()
	var found bool
	waitFor(3*time.Second, func() bool {
		for _, line := range testbed.Lines(w.Log()) {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line is not JSON: %q", line)
			}
			if rec["msg"] == "client closed for bad input" {
				if rec["client"] != local || !strings.Contains(fmt.Sprint(rec["err"]), "bulk length") || rec["pool"] != "alpha" {
					t.Fatalf("bad-input log line lacks the client or reason: %q", line)
				}
				found = true
			}
		}
		return found
	})
	if !found {
		t.Fatalf("no log line for the bad input:\n%s", w.Log())
	}
}
