package mover

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/internal/movetest"
	"github.com/walnutproxy/walnut/protocols/move"
	"github.com/walnutproxy/walnut/protocols/redis/internal/redisserver"
)

func library(name, body string) string {
	return "#!lua name=" + name + "\nredis.register_function('" + name + "_f', function() return '" + body + "' end)"
}

// Before its keys, an old server's function libraries go to every new
// server that lacks them; a new server that has another version keeps
// it, and the run says so; a dry run copies nothing.
func TestMoveServerCopiesFunctions(t *testing.T) {
	oldAddr, newA, newB := startRedis(t), startRedis(t), startRedis(t)
	old, a, b := in(t, oldAddr, 0), in(t, newA, 0), in(t, newB, 0)
	for _, l := range []string{library("shared", "old"), library("fresh", "v1")} {
		do(t, old, "FUNCTION", "LOAD", l)
	}
	do(t, old, "SET", "k", "v")
	do(t, b, "FUNCTION", "LOAD", library("shared", "theirs"))
	side := Side{Databases: 16}
	settings := move.Settings{Batch: 10, ScanCount: 10, BytesSample: 1, Timeout: 5 * time.Second}
	route := func([]byte) int { return 0 }

	m := New(move.Pool{NewServers: []string{newA, newB, oldAddr}}, side, side)
	dry := settings
	dry.DryRun = true
	job := movetest.New(oldAddr, dry, route)
	if err := m.MoveServer(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if v := do(t, a, "FUNCTION", "LIST"); len(v.([]any)) != 0 {
		t.Fatalf("a dry run copied libraries: %v", v)
	}
	if notes := strings.Join(job.Report().Notes, "\n"); !strings.Contains(notes, `"fresh" would be copied from `+oldAddr+" to "+newA) {
		t.Fatalf("dry run notes: %s", notes)
	}

	job = movetest.New(oldAddr, settings, route)
	if err := m.MoveServer(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	r := job.Report()
	if len(r.Failed) > 0 {
		t.Fatalf("failed %v", r.Failed)
	}
	notes := strings.Join(r.Notes, "\n")
	if !strings.Contains(notes, `function library "shared": `+newB+" has another version than "+oldAddr) || len(r.Notes) != 1 {
		t.Fatalf("notes: %s", notes)
	}
	for _, tc := range []struct {
		c        *redisserver.Conn
		fn, want string
	}{{a, "shared_f", "old"}, {a, "fresh_f", "v1"}, {b, "shared_f", "theirs"}, {b, "fresh_f", "v1"}} {
		if v := do(t, tc.c, "FCALL", tc.fn, "0"); v != tc.want {
			t.Errorf("FCALL %s = %v, want %s", tc.fn, v, tc.want)
		}
	}
	if v := do(t, a, "GET", "k"); v != "v" {
		t.Fatalf("the key did not move after the functions: %v", v)
	}
	// Again: nothing to copy, the conflict said again.
	job = movetest.New(oldAddr, settings, route)
	if err := m.MoveServer(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	if n := len(job.Report().Notes); n != 1 {
		t.Fatalf("second run: %d notes", n)
	}
}
