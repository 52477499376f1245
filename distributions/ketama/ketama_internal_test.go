package ketama

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
)

// TestPointsFor pins nutcracker's float32 point counts, including the
// equal-weight pools that lose a hash to rounding (25 servers: 156).
func TestPointsFor(t *testing.T) {
	tests := []struct{ weight, total, live, want uint32 }{
		{1, 1, 1, 160},
		{1, 2, 2, 160},
		{1, 24, 24, 160},
		{1, 25, 25, 156},
		{1, 26, 26, 160},
		{1, 47, 47, 156},
		{1, 100, 100, 156},
		{1, 3, 2, 104},
		{2, 3, 2, 212},
		{1, 5, 4, 128},
		{2, 5, 4, 256},
		{3, 15, 4, 128},
		{1, 1000, 1, 0}, // too light to place a single hash
		// Counts follow the share of the live weight, so ejection changes
		// the survivors' counts unless weights are equal: ejecting the
		// weight-1 server of 1, 2, 3, 4 takes the weight-2 one from 128
		// points to 104, and some of its keys move (to nutcracker's
		// servers as to walnut's).
		{2, 10, 4, 128},
		{2, 9, 3, 104},
	}
	for _, tt := range tests {
		if got := pointsFor(tt.weight, tt.total, tt.live); got != tt.want {
			t.Errorf("pointsFor(%d, %d, %d) = %d, want %d", tt.weight, tt.total, tt.live, got, tt.want)
		}
	}
}

// TestPickSearch checks the masked binary search against the plain
// definition (first point at or after hash, else the first point) on
// every size up to 70, with runs of equal points, at every boundary.
func TestPickSearch(t *testing.T) {
	for n := 1; n <= 70; n++ {
		tb := &table{}
		v := uint32(0)
		for i := range n {
			if i%3 != 1 { // every third point repeats its predecessor
				v += uint32(1 + i*7919%97)
			}
			tb.values = append(tb.values, v)
			tb.servers = append(tb.servers, int32(i))
		}
		tb.buildIndex()
		probes := []uint32{0, 1, ^uint32(0)}
		for _, p := range tb.values {
			probes = append(probes, p-1, p, p+1)
		}
		for _, h := range probes {
			want := 0
			for i, p := range tb.values {
				if p >= h {
					want = i
					break
				}
			}
			if got := tb.Pick(h); got != want {
				t.Fatalf("n=%d: Pick(%d) = %d, want %d (points %v)", n, h, got, want, tb.values)
			}
		}
	}
}

// TestPickIndex checks the bucket index on continuums spread over the
// whole hash range, with empty buckets, crowded buckets and points on
// bucket boundaries, against the plain definition.
func TestPickIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 640, 1000, 16000} {
		tb := &table{}
		for range n {
			v := rng.Uint32()
			switch rng.IntN(8) {
			case 0:
				v &^= 0xfffff // on a bucket boundary
			case 1:
				v = 0x80000000 + uint32(rng.IntN(64)) // a crowded bucket
			}
			tb.values = append(tb.values, v)
		}
		slices.Sort(tb.values)
		for i := range tb.values {
			tb.servers = append(tb.servers, int32(i))
		}
		tb.buildIndex()
		probes := []uint32{0, 1, ^uint32(0)}
		for _, p := range tb.values {
			probes = append(probes, p-1, p, p+1)
		}
		for range 10000 {
			probes = append(probes, rng.Uint32())
		}
		for _, h := range probes {
			want, _ := slices.BinarySearch(tb.values, h)
			if want == len(tb.values) {
				want = 0
			}
			if got := tb.Pick(h); got != want {
				t.Fatalf("n=%d: Pick(%#x) = point %d (%#x), want point %d (%#x)", n, h, got, tb.values[got], want, tb.values[want])
			}
		}
	}
}

// BenchmarkContinuumMemory builds the continuum for 4, 100 and 1000 servers and
// reports its memory (table-bytes): what a pool of that size keeps per
// routing table.
func BenchmarkContinuumMemory(b *testing.B) {
	for _, n := range []int{4, 100, 1000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			servers := make([]distributions.Server, n)
			for i := range servers {
				servers[i] = distributions.Server{Name: fmt.Sprintf("10.0.%d.%d:6379", i/250, i%250), Weight: 1, Alive: true}
			}
			var size int
			for b.Loop() {
				tb, err := Ketama{}.Build(servers)
				if err != nil {
					b.Fatal(err)
				}
				size = tb.(*table).Size()
			}
			b.ReportMetric(float64(size), "table-bytes")
		})
	}
}
