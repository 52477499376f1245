package plugins

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/distributions"
	_ "github.com/walnutproxy/walnut/distributions/hash"
)

// BenchmarkHashPerKey measures what a key costs to hash through a hash
// plugin, by batch size: batch_1 is one RPC per key (what core avoids),
// the others what core's per-iteration batching gives under load; the
// builtin is the same kind of hash in process. Compare the ns/key
// metrics. Run: go test -run '^$' -bench HashPerKey -benchmem ./plugins/
func BenchmarkHashPerKey(b *testing.B) {
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key:__rand_int__:%06d", i)
	}
	b.Run("builtin_fnv1a_64", func(b *testing.B) {
		fn, err := distributions.LookupHash("fnv1a_64")
		if err != nil {
			b.Fatal(err)
		}
		var sum uint32
		i := 0
		for b.Loop() {
			sum += fn(keys[i%len(keys)])
			i++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/key")
		_ = sum
	})
	h, err := Start([]config.Plugin{testPlugin(b, "fnv", "fnv")}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	hs, _ := h.Hasher("fnv")
	for _, n := range []int{1, 16, 100, 1000} {
		b.Run(fmt.Sprintf("plugin_batch_%d", n), func(b *testing.B) {
			out := make([]uint32, n)
			for b.Loop() {
				if err := hs.HashBatch(keys[:n], out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
		})
	}
}
