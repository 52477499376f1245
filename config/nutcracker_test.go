package config_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/internal/testbed"
	"github.com/walnutproxy/walnut/protocols/redis"
)

// testdata/nutcracker holds nutcracker 0.5 YAML files: ok/ those that
// `nutcracker -t` accepts, invalid/ those it refuses
// (TestNutcrackerOracle checks the sorting against nutcracker itself).
// walnut gives the same verdict for each, except for the files listed
// here, where it refuses what nutcracker silently misreads.
var walnutRefuses = map[string]string{
	"ok/timeout-overflow-wraps.yml":     "nutcracker wraps 99999999999 around to 1215752191 ms; walnut refuses numbers over 2147483647",
	"ok/listen-unix-perm-0999.yml":      "nutcracker reads the octal 0999 as 0, no chmod; walnut refuses the permissions",
	"ok/listen-unix-perm-not-octal.yml": "nutcracker reads the permissions \"rw\" as 0, no chmod; walnut refuses them",
	"ok/server-empty-host.yml":          "nutcracker takes \":6379:1\" and fails to resolve \"\" at the first request; walnut refuses it",
	"ok/server-empty-name.yml":          "nutcracker names \"127.0.0.1:6379:1 \" \"\" (its name follows the space); walnut refuses an empty name",
}

// What walnut says about each invalid file: the file, the line and the
// key, and enough of the reason.
var walnutErrors = map[string]string{
	"alias.yml":                    "alias.yml:6: pools.beta.listen: aliases (*name) are not allowed",
	"anchor.yml":                   "anchor.yml:2: pools.alpha.listen: anchors (&name) are not allowed",
	"bad-distribution.yml":         `bad-distribution.yml:3: pools.alpha.distribution: unknown distribution "rendezvous"`,
	"bad-hash.yml":                 `bad-hash.yml:3: pools.alpha.hash: unknown hash "sha1"`,
	"bad-indentation.yml":          "bad-indentation.yml:3: mapping values are not allowed",
	"bare-scalar.yml":              "bare-scalar.yml:1: want pools",
	"bool-True.yml":                `bool-True.yml:3: pools.alpha.redis: is not "true" or "false": "True"`,
	"bool-number.yml":              `bool-number.yml:3: pools.alpha.preconnect: is not "true" or "false": "1"`,
	"bool-yes.yml":                 `bool-yes.yml:3: pools.alpha.redis: is not "true" or "false": "yes"`,
	"command-list.yml":             "command-list.yml:6: pools.alpha.command: unknown key (nutcracker knows: auto_eject_hosts,",
	"comment-without-space.yml":    `comment-without-space.yml:2: pools.alpha.listen: invalid port "22121#clients"`,
	"document-end.yml":             `document-end.yml:6: a document end ("...") is not allowed`,
	"document-start.yml":           `document-start.yml:1: a document start ("---") is not allowed`,
	"duplicate-key.yml":            "duplicate-key.yml:4: pools.alpha.timeout: is a duplicate",
	"duplicate-listen.yml":         "duplicate-listen.yml:3: pools.alpha.listen: is a duplicate",
	"duplicate-server-address.yml": `duplicate-server-address.yml:3: pools.alpha.servers: servers "127.0.0.1:6379:1" and "127.0.0.1:6379:2" have the same name "127.0.0.1:6379"`,
	"duplicate-server-name.yml":    `duplicate-server-name.yml:3: pools.alpha.servers: servers "127.0.0.1:6379:1 s1" and "127.0.0.1:6380:1 s1" have the same name "s1"`,
	"empty-value.yml":              "empty-value.yml:3: pools.alpha.hash: has no value",
	"empty.yml":                    "empty.yml: no pools are defined",
	"flow-mapping.yml":             "flow-mapping.yml:1: pools.alpha: a flow mapping ({...}) is not allowed",
	"flow-sequence.yml":            "flow-sequence.yml:3: pools.alpha.servers: a flow list ([...]) is not allowed",
	"hash-as-list.yml":             "hash-as-list.yml:4: pools.alpha.hash: want a value, got a list",
	"hash-tag-empty.yml":           "hash-tag-empty.yml:3: pools.alpha.hash_tag: has no value",
	"hash-tag-one-char.yml":        `hash-tag-one-char.yml:3: pools.alpha.hash_tag: want exactly two characters (such as "{}"), got "{"`,
	"hash-tag-three-chars.yml":     `hash-tag-three-chars.yml:3: pools.alpha.hash_tag: want exactly two characters (such as "{}"), got "{}}"`,
	"key-upper-case.yml":           "key-upper-case.yml:3: pools.alpha.Redis: unknown key",
	"listen-block-scalar.yml":      `listen-block-scalar.yml:2: pools.alpha.listen: invalid port "22121\n"`,
	"listen-empty-host.yml":        `listen-empty-host.yml:2: pools.alpha.listen: ":22121": missing host`,
	"listen-ipv6-brackets.yml":     `listen-ipv6-brackets.yml:2: pools.alpha.listen: "[::1]:22121": nutcracker takes no brackets; write an IPv6 address as ::1:22121`,
	"listen-no-colon.yml":          `listen-no-colon.yml:2: pools.alpha.listen: want "host:port" or "/path/to.sock [permissions]", got "127.0.0.1"`,
	"listen-perm-over-0777.yml":    `listen-perm-over-0777.yml:2: pools.alpha.listen: invalid file permission "01777"`,
	"listen-port-0.yml":            `listen-port-0.yml:2: pools.alpha.listen: invalid port "0" in "127.0.0.1:0" (want 1 to 65535)`,
	"listen-port-65536.yml":        `listen-port-65536.yml:2: pools.alpha.listen: invalid port "65536"`,
	"listen-relative-path.yml":     `listen-relative-path.yml:2: pools.alpha.listen: want "host:port" or "/path/to.sock [permissions]", got "walnut.sock"`,
	"listen-trailing-space.yml":    `listen-trailing-space.yml:2: pools.alpha.listen: invalid port "22121 "`,
	"listen-unresolvable.yml":      `listen-unresolvable.yml:2: pools.alpha.listen: cannot resolve "no.such.host.invalid"`,
	"nested-mapping.yml":           "nested-mapping.yml:4: pools.alpha.hash: want a value, got a mapping",
	"no-listen.yml":                "no-listen.yml:1: pools.alpha.listen: missing",
	"no-servers.yml":               "no-servers.yml:1: pools.alpha.servers: missing",
	"number-float.yml":             `number-float.yml:3: pools.alpha.timeout: is not a number (digits only): "1.5"`,
	"number-negative.yml":          `number-negative.yml:3: pools.alpha.timeout: is not a number (digits only): "-1"`,
	"number-overflow-negative.yml": "number-overflow-negative.yml:3: pools.alpha.timeout: 3000000000 is too large (at most 2147483647",
	"number-plus.yml":              `number-plus.yml:3: pools.alpha.timeout: is not a number (digits only): "+5"`,
	"number-word.yml":              `number-word.yml:3: pools.alpha.server_failure_limit: is not a number (digits only): "two"`,
	"only-comments.yml":            "only-comments.yml: no pools are defined",
	"pool-empty-name.yml":          "pool-empty-name.yml:1: a pool needs a name",
	"pool-not-mapping.yml":         "pool-not-mapping.yml:1: pools.alpha: want the pool's keys",
	"pool-without-keys.yml":        "pool-without-keys.yml:6: pools.beta: want the pool's keys",
	"protocol-key.yml":             "protocol-key.yml:3: pools.alpha.protocol: unknown key",
	"redis-auth-empty.yml":         "redis-auth-empty.yml:4: pools.alpha.redis_auth: has no value",
	"redis-auth-memcache.yml":      "redis-auth-memcache.yml:3: pools.alpha.redis_auth: only a redis pool takes a password",
	"same-listen.yml":              `same-listen.yml:7: pools.beta.listen: address "127.0.0.1:22121" is already used by pools.alpha.listen`,
	"same-pool-name.yml":           "same-pool-name.yml:6: pools.alpha: pool defined twice",
	"select-key.yml":               "select-key.yml:4: pools.alpha.select: unknown key",
	"sentinels.yml":                "sentinels.yml:6: pools.alpha.sentinels: unknown key",
	"server-connections-0.yml":     "server-connections-0.yml:3: pools.alpha.server_connections: want at least 1, got 0",
	"server-name-with-space.yml":   `server-name-with-space.yml:4: pools.alpha.servers[0]: "127.0.0.1:6379:1 my server": a server name cannot contain spaces`,
	"server-no-weight.yml":         `server-no-weight.yml:4: pools.alpha.servers[0]: "127.0.0.1:2": want "host:port:weight [name]"`,
	"server-not-address.yml":       `server-not-address.yml:4: pools.alpha.servers[0]: "12": want "host:port:weight [name]"`,
	"server-port-0.yml":            `server-port-0.yml:4: pools.alpha.servers[0]: "127.0.0.1:0:1": invalid port "0"`,
	"server-port-70000.yml":        `server-port-70000.yml:4: pools.alpha.servers[0]: "127.0.0.1:70000:1": invalid port "70000"`,
	"server-two-spaces.yml":        `server-two-spaces.yml:4: pools.alpha.servers[0]: "127.0.0.1:6379:1  name": a server name cannot contain spaces, nor follow more than one space`,
	"server-weight-0.yml":          `server-weight-0.yml:4: pools.alpha.servers[0]: "127.0.0.1:6379:0": weight "0" must be a whole number from 1`,
	"server-weight-plus.yml":       `server-weight-plus.yml:4: pools.alpha.servers[0]: "127.0.0.1:6379:+1": weight "+1" must be a whole number from 1`,
	"server-weight-word.yml":       `server-weight-word.yml:4: pools.alpha.servers[0]: "127.0.0.1:6379:one": weight "one" must be a whole number from 1`,
	"servers-empty.yml":            "servers-empty.yml:3: pools.alpha.servers: empty: every pool needs at least one server",
	"servers-twice.yml":            "servers-twice.yml:6: pools.alpha.servers: is a duplicate",
	"service-type-key.yml":         "service-type-key.yml:3: pools.alpha.service_type: unknown key",
	"tab-indentation.yml":          "tab-indentation.yml:2: found character that cannot start any token",
	"tag.yml":                      "tag.yml:2: pools.alpha.listen: tags (!!str) are not allowed",
	"tilde-hash.yml":               `tilde-hash.yml:3: pools.alpha.hash: unknown hash "~"`,
	"top-level-list.yml":           "top-level-list.yml:1: want pools",
	"two-documents.yml":            `two-documents.yml:6: a document start ("---") is not allowed`,
	"unknown-key.yml":              "unknown-key.yml:4: pools.alpha.foo: unknown key (nutcracker knows: auto_eject_hosts, backlog, client_connections, distribution, hash, hash_tag, listen, preconnect, redis, redis_auth, redis_db, server_connections, server_failure_limit, server_retry_timeout, servers, tcpkeepalive, timeout)",
	"version-directive.yml":        `version-directive.yml:1: a directive ("%...") is not allowed`,
	"walnut-key.yml":               "walnut-key.yml:3: pools.alpha.dial_timeout: unknown key",
}

func nutcrackerFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "nutcracker", "*", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in testdata/nutcracker: %v", err)
	}
	return files
}

// rel is a file's name under testdata/nutcracker: "ok/crlf.yml".
func rel(file string) string {
	return filepath.Base(filepath.Dir(file)) + "/" + filepath.Base(file)
}

// Every nutcracker file gets nutcracker's verdict from walnut, except
// where walnutRefuses says why not; every refusal names the file, the
// line and the key.
func TestNutcrackerConformance(t *testing.T) {
	seenErrs := map[string]bool{}
	for _, file := range nutcrackerFiles(t) {
		name := rel(file)
		t.Run(name, func(t *testing.T) {
			nutcrackerOK := strings.HasPrefix(name, "ok/")
			_, err := config.Load(file)
			why := walnutRefuses[name]
			switch {
			case nutcrackerOK && why != "":
				if err == nil {
					t.Fatalf("walnut accepts it; the test says it refuses it (%s)", why)
				}
				t.Logf("walnut refuses what nutcracker accepts (%s): %v", why, err)
			case nutcrackerOK && err != nil:
				t.Fatalf("nutcracker accepts it, walnut does not: %v", err)
			case !nutcrackerOK && err == nil:
				t.Fatal("nutcracker refuses it, walnut accepts it")
			case !nutcrackerOK:
				base := filepath.Base(file)
				want, ok := walnutErrors[base]
				if !ok {
					t.Fatalf("no expected message for %s; walnut says:\n%v", base, err)
				}
				seenErrs[base] = true
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error\n%v\nwant it to contain\n%s", err, want)
				}
				if !strings.HasPrefix(err.Error(), file) {
					t.Fatalf("error does not start with the file's name %s: %v", file, err)
				}
			}
		})
	}
	for base := range walnutErrors {
		if !seenErrs[base] {
			t.Errorf("walnutErrors has %s, which is not in testdata/nutcracker/invalid", base)
		}
	}
}

// The files are sorted by nutcracker's own verdict: `nutcracker -t`
// accepts every file of ok/ and refuses every file of invalid/.
func TestNutcrackerOracle(t *testing.T) {
	bin := testbed.Need(t, "nutcracker")
	for _, file := range nutcrackerFiles(t) {
		name := rel(file)
		out, err := exec.Command(bin, "-t", "-c", file).CombinedOutput()
		accepted := err == nil
		if _, exit := err.(*exec.ExitError); err != nil && !exit {
			t.Fatalf("%s: %v", name, err)
		}
		if accepted != strings.HasPrefix(name, "ok/") {
			t.Errorf("%s: nutcracker -t says accepted=%v:\n%s", name, accepted, out)
		}
	}
}

// What walnut makes of nutcracker's files: nutcracker's defaults, names
// and meanings.
func TestNutcrackerMeanings(t *testing.T) {
	load := func(name string) *config.Config {
		t.Helper()
		cfg, err := config.Load(filepath.Join("testdata", "nutcracker", name))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	pool := func(cfg *config.Config, name string) *config.Pool {
		t.Helper()
		for _, p := range cfg.Pools {
			if p.Name == name {
				return p
			}
		}
		t.Fatalf("no pool %s in %s", name, cfg.Path)
		return nil
	}

	// conf/nutcracker.yml: five pools in the file's order; omega listens
	// on a unix socket, with the README's permissions in the variant.
	nc := load("ok/conf-nutcracker.yml")
	var names []string
	for _, p := range nc.Pools {
		names = append(names, p.Name)
	}
	if strings.Join(names, " ") != "alpha beta gamma delta omega" {
		t.Fatalf("pools %v", names)
	}
	if o := pool(nc, "omega"); o.Listen != "/tmp/gamma" || o.ListenMode != 0 || o.Hash != "hsieh" || o.Protocol != "memcached" ||
		o.Servers[0].Weight != 100000 {
		t.Fatalf("omega = %+v", o)
	}
	if o := pool(load("ok/conf-nutcracker-readme.yml"), "omega"); o.Listen != "/tmp/gamma" || o.ListenMode != 0o666 {
		t.Fatalf("omega (README) = %+v", o)
	}
	if b := pool(nc, "beta"); b.Protocol != "redis" || b.HashTag != "{}" || b.Timeout != 400*time.Millisecond ||
		b.AutoEjectHosts || b.Servers[0].Name != "server1" {
		t.Fatalf("beta = %+v", b)
	}
	if g := pool(nc, "gamma"); g.Protocol != "memcached" || g.Backlog != 1024 || !g.Preconnect || g.ServerFailureLimit != 3 ||
		g.ServerRetryTimeout != 2*time.Second || g.Servers[0].Name != "127.0.0.1:11212" {
		t.Fatalf("gamma = %+v", g)
	}

	// The way blog posts write it.
	blog := load("ok/blog-post.yml")
	if r := pool(blog, "redis_cluster"); r.Listen != "0.0.0.0:22121" || r.Protocol != "redis" || r.Hash != "fnv1a_64" ||
		r.Distribution != "ketama" || !r.AutoEjectHosts || r.ServerRetryTimeout != 2*time.Second || r.ServerFailureLimit != 1 ||
		len(r.Servers) != 3 || r.Servers[0].Addr != "127.0.0.1:6379" || r.Servers[0].Weight != 1 {
		t.Fatalf("redis_cluster = %+v", r)
	}
	// Port 11211 names a server by its host alone (libmemcached's ketama).
	if m := pool(blog, "memcached_cluster"); m.Servers[0].Name != "127.0.0.1" || m.Servers[1].Name != "127.0.0.2" {
		t.Fatalf("memcached_cluster servers = %+v", m.Servers)
	}

	// Every key at once.
	a := pool(load("ok/all-keys.yml"), "alpha")
	if a.Listen != "127.0.0.1:22121" || a.HashTag != "{}" || a.Timeout != 400*time.Millisecond || a.Backlog != 1024 ||
		a.ClientConnections != 100 || a.Protocol != "redis" || !a.TCPKeepalive || redis.OptionsOf(a.Options).Auth != "hellopasswd" ||
		redis.OptionsOf(a.Options).DB != 3 || !a.Preconnect || !a.AutoEjectHosts || a.ServerConnections != 2 ||
		a.ServerRetryTimeout != 2*time.Second || a.ServerFailureLimit != 3 || a.Servers[1].Weight != 2 {
		t.Fatalf("all keys = %+v", a)
	}

	// The test suite's file: client_connections 0 is walnut's default, a
	// CR before the line end of redis_auth changes nothing.
	ts := pool(load("ok/test-suite-auth.yml"), "ntest")
	if ts.ClientConnections != config.DefaultClientConnections || redis.OptionsOf(ts.Options).Auth != "hellopasswd" || ts.Distribution != "modula" {
		t.Fatalf("test suite = %+v", ts)
	}

	// Zeros mean what they mean to nutcracker: no timeout, the smallest
	// listen queue, ejection at the first failure, retry at once.
	z := pool(load("ok/zero-numbers.yml"), "alpha")
	if z.Timeout != 0 || z.Backlog != 1 || z.ClientConnections != config.DefaultClientConnections || redis.OptionsOf(z.Options).DB != 0 ||
		z.ServerRetryTimeout != 0 || z.ServerFailureLimit != 1 {
		t.Fatalf("zeros = %+v", z)
	}
	if l := pool(load("ok/leading-zeros.yml"), "alpha"); l.Timeout != 400*time.Millisecond || l.ServerRetryTimeout != 2*time.Second {
		t.Fatalf("leading zeros = %+v", l)
	}

	// Addresses: IPv6 as nutcracker writes it, named as nutcracker names
	// it; unix sockets named "path:".
	if l := pool(load("ok/listen-ipv6-unbracketed.yml"), "alpha"); l.Listen != "[::1]:22121" {
		t.Fatalf("listen ::1:22121 = %q", l.Listen)
	}
	v6 := pool(load("ok/ipv6-server.yml"), "alpha").Servers
	if len(v6) != 2 || v6[0].Name != "::1" || v6[0].Addr != "[::1]:11211" || v6[1].Name != "::1:6379" || v6[1].Addr != "[::1]:6379" {
		t.Fatalf("IPv6 servers = %+v", v6)
	}
	ux := pool(load("ok/unix-servers.yml"), "alpha").Servers
	// (In nutcracker's order: shorter names first.)
	if len(ux) != 2 || ux[1].Name != "/tmp/redis-a.sock:" || ux[1].Addr != "/tmp/redis-a.sock" || ux[0].Name != "redis-b" {
		t.Fatalf("unix servers = %+v", ux)
	}
	if u := pool(load("ok/listen-unix-perm.yml"), "alpha"); u.Listen != "/tmp/walnut-nc-test.sock" || u.ListenMode != 0o600 {
		t.Fatalf("unix listen = %+v", u)
	}

	// Scalars compare as text: "true" is true, '400' is 400.
	q := pool(load("ok/quoted-scalars.yml"), "alpha")
	if q.Protocol != "redis" || q.AutoEjectHosts || q.Timeout != 400*time.Millisecond || q.Servers[0].Name != "first" {
		t.Fatalf("quoted = %+v", q)
	}
	// ~ is text too: a password of one tilde, as nutcracker reads it.
	if p := pool(load("ok/tilde-password.yml"), "alpha"); redis.OptionsOf(p.Options).Auth != "~" {
		t.Fatalf("redis_auth ~ = %q", redis.OptionsOf(p.Options).Auth)
	}
	if k := pool(load("ok/tcpkeepalive.yml"), "alpha"); !k.TCPKeepalive {
		t.Fatal("tcpkeepalive: true not read")
	}
}

// The CRLF file must keep its line ends in the repository.
func TestNutcrackerCRLFKept(t *testing.T) {
	for _, f := range []string{"ok/crlf.yml", "ok/test-suite-auth.yml"} {
		b, err := os.ReadFile(filepath.Join("testdata", "nutcracker", f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\r\n") {
			t.Errorf("%s has lost its CRLF line ends (see testdata/nutcracker/.gitattributes)", f)
		}
	}
}
