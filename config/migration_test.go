package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/protocols/redis"
)

func TestMigrationFrom(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("old.toml", `
[pools.alpha]
listen = "127.0.0.1:22121"
hash = "md5"
hash_tag = "{}"
redis_auth = "old-secret"
servers = ["127.0.0.1:7001:1", "127.0.0.1:7002:1"]

[pools.alpha.migration]
from = "older.toml"   # not followed: no chains
`)
	newPath := write("new.toml", `
[pools.alpha]
listen = "127.0.0.1:22121"
servers = ["127.0.0.1:7001:1", "127.0.0.1:7002:1", "127.0.0.1:7003:1"]

[pools.alpha.migration]
from = "old.toml"
`)
	cfg, err := config.Load(newPath)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Pools[0].Migration
	if m == nil || m.From != "old.toml" || m.Old == nil {
		t.Fatalf("migration = %+v", m)
	}
	if m.Old.Hash != "md5" || m.Old.HashTag != "{}" || redis.OptionsOf(m.Old.Options).Auth != "old-secret" || len(m.Old.Servers) != 2 || m.Old.Migration != nil {
		t.Fatalf("old pool = %+v", m.Old)
	}
}

func TestMigrationServers(t *testing.T) {
	cfg, err := config.Parse("w.toml", []byte(`
[pools.alpha]
listen = "127.0.0.1:22121"
hash = "murmur"
servers = ["127.0.0.1:7001:1", "127.0.0.1:7002:1", "127.0.0.1:7003:1"]

[pools.alpha.migration]
servers = ["127.0.0.1:7002:1", "127.0.0.1:7001:1 one"]
distribution = "modula"
`))
	if err != nil {
		t.Fatal(err)
	}
	old := cfg.Pools[0].Migration.Old
	if old.Hash != "murmur" || old.Distribution != "modula" || len(old.Servers) != 2 || old.Servers[0].Name != "one" || old.Listen != "127.0.0.1:22121" {
		t.Fatalf("old pool = %+v", old)
	}
	if len(cfg.Pools[0].Servers) != 3 || cfg.Pools[0].Distribution != "ketama" {
		t.Fatalf("the pool itself changed: %+v", cfg.Pools[0])
	}
}

func TestMigrationErrors(t *testing.T) {
	const pool = "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\n[pools.a.migration]\n"
	for _, c := range []struct{ name, body, want string }{
		{"empty", pool, "pools.a.migration.from: missing"},
		{"both", pool + "from = \"x.toml\"\nservers = [\"127.0.0.1:6380:1\"]\n", "not both"},
		{"missing file", pool + "from = \"nope.toml\"\n", "pools.a.migration.from: open"},
		{"hash with from", pool + "from = \"nope.toml\"\nhash = \"md5\"\n", "pools.a.migration.hash: comes from the pool"},
		{"bad server", pool + "servers = [\"x\"]\n", "pools.a.migration.servers[0]"},
		{"bad hash", pool + "servers = [\"127.0.0.1:6380:1\"]\nhash = \"sha\"\n", "pools.a.migration.hash: unknown hash"},
		{"pool with servers", pool + "servers = [\"127.0.0.1:6380:1\"]\npool = \"b\"\n", "pools.a.migration.pool"},
		{"unknown key", pool + "servers = [\"127.0.0.1:6380:1\"]\nfrm = 1\n", "pools.a.migration.frm: unknown key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse(filepath.Join(t.TempDir(), "w.toml"), []byte(c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestMigrationFromOtherProtocol(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "old.toml"), []byte("[pools.a]\nlisten = \"127.0.0.1:1\"\nprotocol = \"memcached\"\nservers = [\"127.0.0.1:11211:1\"]\n"), 0o644)
	_, err := config.Parse(filepath.Join(dir, "new.toml"), []byte("[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\n[pools.a.migration]\nfrom = \"old.toml\"\n"))
	if err == nil || !strings.Contains(err.Error(), "speaks memcached") {
		t.Fatalf("error %v", err)
	}
	_, err = config.Parse(filepath.Join(dir, "new.toml"), []byte("[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\n[pools.a.migration]\nfrom = \"old.toml\"\npool = \"b\"\n"))
	if err == nil || !strings.Contains(err.Error(), `has no pool "b"`) {
		t.Fatalf("error %v", err)
	}
}

// EncodeTOML writes the migration tables, and what it writes reads back
// as the same configuration from another directory: from made absolute,
// pool when it names another, the servers form with its placement keys,
// and the pools' password, databases, redis_db and allow_flush, which
// the old pools read from from or copied for servers carry too.
func TestMigrationEncodeTOML(t *testing.T) {
	dir := t.TempDir()
	write := func(path, body string) string {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write(filepath.Join(dir, "old.toml"), `
[pools.alpha]
listen = "127.0.0.1:22121"
hash = "md5"
redis_auth = "old-secret"
password = "old-clients"
databases = 4
redis_db = 3
allow_flush = true
servers = ["127.0.0.1:7001:1", "127.0.0.1:7002:1"]
`)
	newPath := write(filepath.Join(dir, "new.toml"), `
[pools.alpha]
listen = "127.0.0.1:22121"
servers = ["127.0.0.1:7001:1", "127.0.0.1:7002:1", "127.0.0.1:7003:1"]

[pools.alpha.migration]
from = "old.toml"

[pools.beta]
listen = "127.0.0.1:22122"
servers = ["127.0.0.1:7001:1", "127.0.0.1:7003:1"]

[pools.beta.migration]
from = "old.toml"
pool = "alpha"

[pools.gamma]
listen = "127.0.0.1:22123"
hash = "murmur"
password = "clients"
databases = 32
redis_db = 20
allow_flush = true
servers = ["127.0.0.1:7001:1", "127.0.0.1:7002:1", "127.0.0.1:7003:1"]

[pools.gamma.migration]
servers = ["127.0.0.1:7002:1", "127.0.0.1:7001:1 one"]
distribution = "modula"
hash_tag = "{}"

[pools.delta]
listen = "127.0.0.1:22124"
servers = ["127.0.0.1:7001:1"]
`)
	want, err := config.Load(newPath)
	if err != nil {
		t.Fatal(err)
	}
	out := encodeTOML(t, want)
	text := string(out)
	oldPath := filepath.Join(dir, "old.toml")
	// The pool keys main added are written too, before the migration
	// table, whose servers form takes them from its pool.
	if !strings.Contains(text, "[pools.gamma]\n") || !strings.Contains(text, "password = \"clients\"") ||
		!strings.Contains(text, "redis_db = 20\ndatabases = 32\nallow_flush = true\n") {
		t.Errorf("output lacks gamma's password, redis_db, databases or allow_flush:\n%s", text)
	}
	if o := redis.OptionsOf(want.Pools[2].Migration.Old.Options); o.Password != "clients" || o.Databases != 32 || o.DB != 20 || !o.AllowFlush {
		t.Errorf("gamma's old pool: password %q, databases %d, redis_db %d, allow_flush %v", o.Password, o.Databases, o.DB, o.AllowFlush)
	}
	if o := redis.OptionsOf(want.Pools[0].Migration.Old.Options); o.Password != "old-clients" || o.Databases != 4 || o.DB != 3 || !o.AllowFlush {
		t.Errorf("alpha's old pool: password %q, databases %d, redis_db %d, allow_flush %v", o.Password, o.Databases, o.DB, o.AllowFlush)
	}
	for _, s := range []string{
		"\n[pools.alpha.migration]\nfrom = \"" + oldPath + "\"  # the configuration before the reshard\n\n",
		"\n[pools.beta.migration]\nfrom = \"" + oldPath + "\"  # the configuration before the reshard\npool = \"alpha\"\n",
		"\n[pools.gamma.migration]\nhash = \"murmur\"\nhash_tag = \"{}\"\ndistribution = \"modula\"\nservers = [  # the servers before the reshard\n" +
			"  \"127.0.0.1:7001:1 one\",\n  \"127.0.0.1:7002:1\",\n]\n",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("output lacks %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, "[pools.delta.migration]") {
		t.Errorf("a migration table for a pool without one:\n%s", text)
	}
	elsewhere := filepath.Join(t.TempDir(), "converted.toml")
	got, err := config.Load(write(elsewhere, text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	got.Path = want.Path
	for i, p := range got.Pools {
		if m := p.Migration; m != nil && m.From != "" {
			if m.From != oldPath {
				t.Errorf("pool %s: from = %q, want %q", p.Name, m.From, oldPath)
			}
			m.From = want.Pools[i].Migration.From
		}
	}
	for i := range want.Pools {
		if !reflect.DeepEqual(got.Pools[i], want.Pools[i]) {
			t.Errorf("pool %s read back differs:\n got %+v\n     %+v\nwant %+v\n     %+v", want.Pools[i].Name,
				*got.Pools[i], got.Pools[i].Migration, *want.Pools[i], want.Pools[i].Migration)
		}
	}
	if again, err := config.EncodeTOML(got); err != nil || string(again) != text {
		t.Errorf("second encoding differs (%v):\n%s\n---\n%s", err, text, again)
	}
}
