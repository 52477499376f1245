package ketama_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/distributions/hash"
	"github.com/walnutproxy/walnut/distributions/ketama"
)

func servers(n int) []distributions.Server {
	s := make([]distributions.Server, n)
	for i := range s {
		s[i] = distributions.Server{Name: fmt.Sprintf("10.0.0.%d:6379", i+1), Weight: 1, Alive: true}
	}
	return s
}

func build(t testing.TB, s []distributions.Server) distributions.Table {
	t.Helper()
	table, err := ketama.Ketama{}.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// shares places n keys and returns each server's fraction of them.
func shares(table distributions.Table, nservers, n int) []float64 {
	counts := make([]float64, nservers)
	for i := range n {
		counts[table.Pick(hash.FNV1a64(fmt.Appendf(nil, "key:%d", i)))]++
	}
	for i := range counts {
		counts[i] /= float64(n)
	}
	return counts
}

func TestRegistered(t *testing.T) {
	if _, err := distributions.Lookup("ketama"); err != nil {
		t.Fatal(err)
	}
}

func TestNoLiveServer(t *testing.T) {
	dead := servers(3)
	for i := range dead {
		dead[i].Alive = false
	}
	for _, s := range [][]distributions.Server{nil, dead} {
		table := build(t, s)
		for _, h := range []uint32{0, 1, math.MaxUint32} {
			if got := table.Pick(h); got != -1 {
				t.Errorf("Pick(%d) with no live server = %d, want -1", h, got)
			}
		}
	}
}

func TestOneLiveServer(t *testing.T) {
	tests := []struct {
		name  string
		alive []bool
		want  int
	}{
		{"alone", []bool{true}, 0},
		{"others dead", []bool{false, false, true, false}, 2},
	}
	for _, tt := range tests {
		s := servers(len(tt.alive))
		for i, a := range tt.alive {
			s[i].Alive = a
		}
		table := build(t, s)
		r := rand.New(rand.NewPCG(1, 2))
		for _, h := range append([]uint32{0, math.MaxUint32}, randomHashes(r, 1000)...) {
			if got := table.Pick(h); got != tt.want {
				t.Fatalf("%s: Pick(%d) = %d, want %d", tt.name, h, got, tt.want)
			}
		}
	}
}

func TestDeadNeverPicked(t *testing.T) {
	s := servers(8)
	s[1].Alive, s[6].Alive = false, false
	for i, share := range shares(build(t, s), len(s), 20000) {
		if !s[i].Alive && share != 0 {
			t.Errorf("dead server %d got %.2f%% of keys", i, 100*share)
		}
	}
}

func TestBalanceAndWeights(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		want    []float64 // expected shares
		slack   float64
	}{
		{"equal", []int{1, 1, 1, 1}, []float64{.25, .25, .25, .25}, .05},
		{"one heavy", []int{1, 3}, []float64{.25, .75}, .05},
		{"spread", []int{1, 2, 3, 4}, []float64{.1, .2, .3, .4}, .05},
	}
	for _, tt := range tests {
		s := servers(len(tt.weights))
		for i, w := range tt.weights {
			s[i].Weight = w
		}
		for i, got := range shares(build(t, s), len(s), 100000) {
			if math.Abs(got-tt.want[i]) > tt.slack {
				t.Errorf("%s: server %d has %.1f%% of keys, want about %.0f%%", tt.name, i, 100*got, 100*tt.want[i])
			}
		}
	}
}

// TestConsistent checks the promise of consistent hashing: ejecting a
// server moves its own keys and no other. It holds exactly when the
// survivors keep their point count (here 160 at both 5 and 4 servers).
func TestConsistent(t *testing.T) {
	s := servers(5)
	before := build(t, s)
	s[2].Alive = false
	after := build(t, s)
	moved := 0
	for i := range 100000 {
		h := hash.FNV1a64(fmt.Appendf(nil, "key:%d", i))
		b, a := before.Pick(h), after.Pick(h)
		switch {
		case b == 2:
			moved++
			if a == 2 {
				t.Fatalf("key %d stays on the ejected server", i)
			}
		case a != b:
			t.Fatalf("key %d moved from live server %d to %d", i, b, a)
		}
	}
	if moved == 0 {
		t.Fatal("the ejected server had no keys")
	}
}

// TestLongNames checks that names beyond nutcracker's 272-byte point key
// build a table that still routes, though all points of such a server
// coincide.
func TestLongNames(t *testing.T) {
	s := servers(3)
	s[0].Name = string(make([]byte, 400))
	table := build(t, s)
	seen := map[int]bool{}
	for i := range 10000 {
		seen[table.Pick(uint32(i)*429497)] = true
	}
	if len(seen) != 3 {
		t.Errorf("only servers %v are picked", seen)
	}
}

func TestBadWeight(t *testing.T) {
	for _, w := range []int{0, -1} {
		s := servers(2)
		s[1].Weight = w
		if _, err := (ketama.Ketama{}).Build(s); err == nil {
			t.Errorf("weight %d accepted", w)
		}
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, n := range []int{1, 4, 1000} {
		table := build(t, servers(n))
		h := uint32(12345)
		if allocs := testing.AllocsPerRun(1000, func() { h = h*2654435761 + uint32(table.Pick(h)) }); allocs != 0 {
			t.Errorf("Pick with %d servers allocates %v times", n, allocs)
		}
	}
}

func randomHashes(r *rand.Rand, n int) []uint32 {
	h := make([]uint32, n)
	for i := range h {
		h[i] = r.Uint32()
	}
	return h
}

func BenchmarkPick(b *testing.B) {
	for _, n := range []int{4, 1000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			table := build(b, servers(n))
			hashes := randomHashes(rand.New(rand.NewPCG(1, 2)), 1<<16)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				table.Pick(hashes[i&(1<<16-1)])
				i++
			}
		})
	}
}

func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{4, 1000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			s := servers(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (ketama.Ketama{}).Build(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
