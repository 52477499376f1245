package core

import (
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/config"
	_ "github.com/walnutproxy/walnut/distributions/modula"
	_ "github.com/walnutproxy/walnut/protocols/redis"
)

// TestRouterRoutesLikeThePool checks that a Router, which walnut reshard
// places keys with, answers what a running pool's table does.
func TestRouterRoutesLikeThePool(t *testing.T) {
	for _, extra := range []string{"", `hash_tag = "{}"`, `distribution = "modula"` + "\nhash = \"murmur\""} {
		cfg, err := config.Parse("r.toml", []byte(`
[pools.a]
listen = "127.0.0.1:0"
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
			keys[i] = fmt.Appendf(nil, "user:{%d}:%d", i%37, i)
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
