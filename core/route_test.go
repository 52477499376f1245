//go:build linux

package core

import (
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
	_ "github.com/walnutproxy/walnut/distributions/hash"
	_ "github.com/walnutproxy/walnut/distributions/ketama"
)

func benchTable(b *testing.B, servers int, tag bool) *table {
	hash, err := distributions.LookupHash("fnv1a_64")
	if err != nil {
		b.Fatal(err)
	}
	dist, err := distributions.Lookup("ketama")
	if err != nil {
		b.Fatal(err)
	}
	ss := make([]distributions.Server, servers)
	for i := range ss {
		ss[i] = distributions.Server{Name: fmt.Sprintf("10.0.%d.%d:6379", i/250, i%250), Weight: 1, Alive: true}
	}
	pick, err := dist.Build(ss)
	if err != nil {
		b.Fatal(err)
	}
	return &table{pick: pick, hash: hash, hasTag: tag, tag: [2]byte{'{', '}'}}
}

// BenchmarkRoute is the per-key routing cost: hash tag, hash, ketama
// lookup. It should not grow with the number of servers beyond the
// continuum's binary search.
func BenchmarkRoute(b *testing.B) {
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "user:{%d}:profile:%d", i%97, i)
	}
	for _, n := range []int{4, 100, 1000} {
		for _, tag := range []bool{false, true} {
			b.Run(fmt.Sprintf("servers=%d/tag=%v", n, tag), func(b *testing.B) {
				t := benchTable(b, n, tag)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if t.route(keys[i&1023]) < 0 {
						b.Fatal("no server")
					}
					i++
				}
			})
		}
	}
}
