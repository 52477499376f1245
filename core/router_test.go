//go:build linux

package core

import (
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/distributions"
)

// TestRouterRoutesLikeThePool checks that a Router, which walnut reshard
// places keys with, answers what a running pool's table does. The ring
// distribution places by the servers' names and weights, which the
// Router must hand it as the pool does.
func TestRouterRoutesLikeThePool(t *testing.T) {
	for _, extra := range []string{
		`distribution = "testring"`,
		`distribution = "testring"` + "\n" + `hash_tag = "{}"`,
		`distribution = "testmod"` + "\n" + `hash_tag = "[]"`,
	} {
		cfg, err := config.Parse("r.toml", []byte(`
[pools.a]
listen = "127.0.0.1:0"
protocol = "fake"
hash = "testkey"
`+extra+`
servers = ["10.0.0.1:6379:1", "10.0.0.2:6379:2", "10.0.0.3:6379:1 third", "10.0.0.10:6379:1"]
`))
		if err != nil {
			t.Fatal(err)
		}
		px, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewRouter(cfg.Pools[0])
		if err != nil {
			t.Fatal(err)
		}
		tb := px.pools[0].table.Load()
		keys := make([][]byte, 2000)
		for i := range keys {
			keys[i] = fmt.Appendf(nil, "user:{%d}:[%d]%d", i%37, i%5, i)
		}
		out := make([]int, len(keys))
		if err := r.RouteBatch(keys, out); err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			want := tb.route(k)
			if got := r.Route(k); got != want || out[i] != want {
				t.Fatalf("%s: key %q: Router says %d (batch %d), the pool %d", extra, k, got, out[i], want)
			}
			if tb.backends[want].addr != cfg.Pools[0].Servers[want].Addr {
				t.Fatalf("index %d is %s in the pool, %s in the configuration", want, tb.backends[want].addr, cfg.Pools[0].Servers[want].Addr)
			}
		}
	}
}

// zeroOnly places hash 0 on the first server and no other hash
// anywhere: a pool that routes a key by hash 0 without hashing it shows.
type zeroOnly struct{}

func (zeroOnly) Build([]distributions.Server) (distributions.Table, error) { return zeroOnly{}, nil }
func (zeroOnly) Pick(h uint32) int {
	if h == 0 {
		return 0
	}
	return -1
}

// sevens hashes every key to 7.
type sevens struct{}

func (sevens) HashBatch(keys [][]byte, out []uint32) error {
	for i := range out {
		out[i] = 7
	}
	return nil
}

// TestRouterEdgeRules: a pool of one server routes without hashing, and
// an external hash function's value for an empty key is replaced by 0;
// the Router follows both rules.
func TestRouterEdgeRules(t *testing.T) {
	cfg, err := config.Parse("r.toml", []byte(`
[plugins.probe]
path = "/bin/true"
[pools.one]
listen = "127.0.0.1:0"
protocol = "fake"
hash = "testkey"
distribution = "probe"
servers = ["10.0.0.1:6379:1"]
[pools.ext]
listen = "127.0.0.1:0"
protocol = "fake"
hash = "probe"
distribution = "testmod"
servers = ["10.0.0.1:6379:1", "10.0.0.2:6379:1", "10.0.0.3:6379:1"]
`))
	if err != nil {
		t.Fatal(err)
	}
	opts := []Option{WithDistribution("probe", zeroOnly{}), WithHasher("probe", sevens{})}
	px, err := New(cfg, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}

	one, err := NewRouter(cfg.Pools[0], opts...)
	if err != nil {
		t.Fatal(err)
	}
	tb := px.pools[0].table.Load()
	for _, k := range []string{"a", "some key", ""} {
		if got, want := one.Route([]byte(k)), tb.route([]byte(k)); got != want || want != 0 {
			t.Errorf("one server, key %q: Router %d, pool %d, want 0", k, got, want)
		}
		out := []int{-9}
		if err := one.RouteBatch([][]byte{[]byte(k)}, out); err != nil || out[0] != 0 {
			t.Errorf("one server, key %q: RouteBatch %d, %v", k, out[0], err)
		}
	}

	ext, err := NewRouter(cfg.Pools[1], opts...)
	if err != nil {
		t.Fatal(err)
	}
	tb = px.pools[1].table.Load()
	out := make([]int, 2)
	if err := ext.RouteBatch([][]byte{[]byte(""), []byte("k")}, out); err != nil {
		t.Fatal(err)
	}
	if want := []int{tb.pick.Pick(0), tb.pick.Pick(7)}; out[0] != want[0] || out[1] != want[1] || want[0] == want[1] {
		t.Errorf("external hash: RouteBatch of \"\" and \"k\" = %v, the pool %v", out, want)
	}
}
