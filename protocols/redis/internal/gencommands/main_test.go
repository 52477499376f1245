package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/walnutproxy/walnut/internal/testbed"
	"github.com/walnutproxy/walnut/protocols/redis/internal/redisserver"
)

// TestGeneratedTableIsCurrent regenerates the command table from the
// installed redis-server and compares it with the committed one, so that
// a hand edit or a stale table fails. It fails (never skips) without
// redis-server.
func TestGeneratedTableIsCurrent(t *testing.T) {
	s := testbed.Redis(t)
	out := filepath.Join(t.TempDir(), "commands_gen.go")
	if err := run(s.Addr, "", out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../commands_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := bytes.SplitN(got, []byte("\n"), 2)[0], bytes.SplitN(want, []byte("\n"), 2)[0]
		t.Fatalf("commands_gen.go is not what the installed redis-server generates; run go generate ./protocols/redis\ncommitted: %s\ngenerated: %s", wl, gl)
	}
}

// TestGenerateStartsItsOwnServer covers the default path: no -addr.
func TestGenerateStartsItsOwnServer(t *testing.T) {
	out := filepath.Join(t.TempDir(), "commands_gen.go")
	if err := run("", "", out); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte(`{name: "get", arity: 2,`)) {
		t.Fatalf("no GET in the generated table")
	}
}

func TestMissingServerFails(t *testing.T) {
	_, err := redisserver.Start(filepath.Join(t.TempDir(), "no-such-redis-server"))
	if err == nil {
		t.Fatal("started a server that does not exist")
	}
	t.Setenv("PATH", t.TempDir())
	_, err = redisserver.Start("")
	if err == nil || err.Error() != redisserver.InstallHint {
		t.Fatalf("error %v, want the install hint", err)
	}
}
