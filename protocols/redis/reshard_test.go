package redis

import (
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/move"
)

// walnut reshard finds the mover through the registered driver, and the
// pool's redis_db before and after is its home namespace.
func TestDriverMover(t *testing.T) {
	d, err := protocols.Lookup("redis")
	if err != nil {
		t.Fatal(err)
	}
	r, ok := d.(move.Resharder)
	if !ok {
		t.Fatal("the redis driver offers no mover")
	}
	m, err := r.NewMover(move.Pool{Old: &Options{DB: 2, Databases: 16}, NewServers: []string{"10.0.0.1:6379"}})
	if err != nil {
		t.Fatal(err)
	}
	if h := m.Home(); h != (move.Namespace{Old: 2, New: 0}) {
		t.Fatalf("home %+v, want redis_db 2 to 0", h)
	}
	if a, b := m.ServerID("10.0.0.1:6379", 0), m.ServerID("10.0.0.1:6379", 2); a != "10.0.0.1:6379" || b != "10.0.0.1:6379/db2" {
		t.Fatalf("server ids %q, %q", a, b)
	}
	if _, err := r.NewMover(move.Pool{New: &Options{DB: 16, Databases: 16}}); err == nil || !strings.Contains(err.Error(), "redis_db") {
		t.Fatalf("redis_db beyond databases: %v", err)
	}
}
