package disttest

import (
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
)

// BenchmarkPick measures Pick on tables of 4 and of 1000 live servers of
// weight 1, as the sub-benchmarks servers=4 and servers=1000, over the
// kit's spread of hashes, and reports allocations: a distribution's
// benchmark of its hot path is a line, and every distribution's measures
// alike.
func BenchmarkPick(b *testing.B, d distributions.Distribution) {
	b.Helper()
	hs := hashes()[:spreadHashes] // a power of two, to index by mask
	for _, n := range []int{4, 1000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			tab, err := d.Build(equal(n))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tab.Pick(hs[i&(len(hs)-1)])
				i++
			}
		})
	}
}
