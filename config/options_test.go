package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/memcached"
	"github.com/walnutproxy/walnut/protocols/redis"
)

// toyOptions is what the toy protocol below reads: one of each kind of
// key a protocol may have, and a table of tables of names the user
// chooses.
type toyOptions struct {
	Greeting string
	Loud     bool
	Repeat   int
	Pause    time.Duration
	Buffer   int
	Words    []string
	Users    map[string]string
}

type toyDriver struct{}

func (toyDriver) NewCodec(protocols.Options) (protocols.Codec, error) { return nil, nil }

func (toyDriver) DecodeOptions(t protocols.OptionTable) any {
	o := &toyOptions{
		Greeting: t.String("greeting", "hello"),
		Loud:     t.Bool("loud", false),
		Repeat:   t.Int("repeat", 1, 1),
		Pause:    t.Duration("pause", time.Second),
		Buffer:   t.Size("buffer", 4096),
		Words:    t.Strings("words"),
	}
	if o.Greeting == "" {
		t.Errorf("greeting", "want some words")
	}
	if users := t.Table("users"); users != nil {
		o.Users = map[string]string{}
		for _, name := range users.Keys() {
			if u := users.Table(name); u != nil {
				o.Users[name] = u.String("password", "")
			}
		}
	}
	return o
}

func init() { protocols.Register("toy", toyDriver{}) }

const poolHead = "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\n"

func parsePool(t *testing.T, body string) (*config.Config, error) {
	t.Helper()
	return config.Parse("w.toml", []byte(poolHead+body))
}

// A protocol reads its own keys, of every kind, flat in the pool's table
// and in tables below it; its checks and its unknown keys are reported
// as config's own are, naming the file, the pool and the key.
func TestProtocolDecodesItsOwnKeys(t *testing.T) {
	cfg, err := parsePool(t, "protocol = \"toy\"\ngreeting = \"hi\"\nloud = true\nrepeat = 3\npause = \"250ms\"\nbuffer = \"1KiB\"\n"+
		"words = [\"a\", \"b\"]\n[pools.a.users.ann]\npassword = \"x\"\n[pools.a.users.bob]\npassword = \"y\"\n")
	if err != nil {
		t.Fatal(err)
	}
	want := &toyOptions{Greeting: "hi", Loud: true, Repeat: 3, Pause: 250 * time.Millisecond, Buffer: 1024,
		Words: []string{"a", "b"}, Users: map[string]string{"ann": "x", "bob": "y"}}
	if got := cfg.Pools[0].Options; !reflect.DeepEqual(got, want) {
		t.Fatalf("options %+v, want %+v", got, want)
	}

	for body, msg := range map[string]string{
		"greeting = \"\"\n":                        "w.toml: pools.a.greeting: want some words",
		"loud = \"yes\"\n":                         "w.toml: pools.a.loud: want true or false",
		"repeat = 0\n":                             "w.toml: pools.a.repeat: want at least 1, got 0",
		"pause = \"soon\"\n":                       "w.toml: pools.a.pause: want a duration",
		"buffer = \"lots\"\n":                      "w.toml: pools.a.buffer: want a size",
		"greting = \"hi\"\n":                       "w.toml: pools.a.greting: unknown key",
		"[pools.a.users.ann]\npasword = \"x\"\n":   "w.toml: pools.a.users.ann.pasword: unknown key",
		"redis_auth = \"secret\"\n":                "w.toml: pools.a.redis_auth: only a redis pool takes redis_auth (this pool's protocol is toy)",
		"[pools.a.users]\nann = \"not a table\"\n": "w.toml: pools.a.users.ann: want a table",
	} {
		_, err := parsePool(t, "protocol = \"toy\"\n"+body)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want %q", body, err, msg)
		}
	}
}

// The Redis and memcached keys belong to their protocols: set on
// another protocol's pool they are refused, except where walnut accepted
// them before and they change nothing.
func TestKeysOfAnotherProtocol(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		err, warn  string
	}{
		{name: "password on memcached", body: "protocol = \"memcached\"\npassword = \"pw\"\n",
			err: "pools.a.password: only a redis pool takes password (this pool's protocol is memcached)"},
		{name: "redis_auth on memcached", body: "protocol = \"memcached\"\nredis_auth = \"pw\"\n",
			err: "pools.a.redis_auth: only a redis pool takes redis_auth"},
		// What walnut convert wrote for every memcached pool: every key,
		// defaults included.
		{name: "redis defaults on memcached", body: "protocol = \"memcached\"\nredis_auth = \"\"\npassword = \"\"\nredis_db = 0\ndatabases = 16\nallow_flush = false\n"},
		{name: "memcached default on redis", body: "strict_keys = false\n"},
		{name: "redis_db on memcached", body: "protocol = \"memcached\"\nredis_db = 2\n",
			warn: "w.toml: pools.a.redis_db: ignored: only a redis pool uses it (this pool's protocol is memcached)"},
		{name: "strict_keys on redis", body: "strict_keys = true\n",
			warn: "w.toml: pools.a.strict_keys: ignored: only a memcached pool uses it (this pool's protocol is redis)"},
		{name: "a typo", body: "redis_dv = 2\n", err: "w.toml: pools.a.redis_dv: unknown key"},
		{name: "unknown protocol", body: "protocol = \"http\"\nwhatever = 1\n", err: "pools.a.protocol: unknown protocol \"http\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parsePool(t, tc.body)
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if strings.Count(err.Error(), "\n") != 0 {
					t.Fatalf("more than the one error expected:\n%v", err)
				}
			case err != nil:
				t.Fatal(err)
			case tc.warn == "" && len(cfg.Warnings) > 0:
				t.Fatalf("warnings %q, want none", cfg.Warnings)
			case tc.warn != "" && (len(cfg.Warnings) != 1 || cfg.Warnings[0] != tc.warn):
				t.Fatalf("warnings %q, want %q", cfg.Warnings, tc.warn)
			}
		})
	}
}

// A plugin may not take a builtin's name: which of the two a pool would
// get would depend on the order of a lookup.
func TestPluginCannotShadowABuiltin(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "plugin")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, kind := range map[string]string{"md5": "hash", "ketama": "distribution", "jump": ""} {
		_, err := parsePool(t, "hash = \""+name+"\"\n[plugins."+name+"]\npath = \""+exe+"\"\n")
		if kind == "" {
			if err != nil && !strings.Contains(err.Error(), "serves no") {
				t.Errorf("plugin %s: %v", name, err)
			}
			continue
		}
		want := "w.toml: plugins." + name + ": a plugin cannot be called \"" + name + "\": it is the name of a builtin " + kind
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("plugin %s: error %v, want %q", name, err, want)
		}
	}
}

// Options survive walnut convert: each protocol writes its own keys
// back, and only those.
func TestProtocolOptionsRoundTrip(t *testing.T) {
	cfg, err := config.Parse("w.toml", []byte(poolHead+"password = \"p\"\nredis_auth = \"s\"\nredis_db = 2\ndatabases = 4\nallow_flush = true\n"+
		"[pools.m]\nlisten = \"127.0.0.1:2\"\nprotocol = \"memcached\"\nstrict_keys = true\nservers = [\"127.0.0.1:11211:1\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	out := encodeTOML(t, cfg)
	back, err := config.Parse("w.toml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := redis.OptionsOf(back.Pools[0].Options); *got != (redis.Options{Password: "p", Auth: "s", DB: 2, Databases: 4, AllowFlush: true}) {
		t.Errorf("redis options %+v", got)
	}
	if got := memcached.OptionsOf(back.Pools[1].Options); !got.StrictKeys {
		t.Errorf("memcached options %+v", got)
	}
	m := string(out[strings.Index(string(out), "[pools.m]"):])
	if strings.Contains(m, "redis_") || strings.Contains(m, "databases") {
		t.Errorf("the memcached pool has Redis keys:\n%s", m)
	}
}
