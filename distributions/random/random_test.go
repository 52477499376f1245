package random_test

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/distributions/random"
)

func servers(weights []int, alive []bool) []distributions.Server {
	s := make([]distributions.Server, len(weights))
	for i := range s {
		s[i] = distributions.Server{Name: fmt.Sprintf("s%d", i), Weight: weights[i], Alive: alive[i]}
	}
	return s
}

func build(t testing.TB, s []distributions.Server) distributions.Table {
	t.Helper()
	table, err := random.Random{}.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

func TestRegistered(t *testing.T) {
	if _, err := distributions.Lookup("random"); err != nil {
		t.Fatal(err)
	}
}

func TestPick(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		alive   []bool
		want    []float64 // share per server
	}{
		{"none", nil, nil, nil},
		{"all dead", []int{1, 1}, []bool{false, false}, nil},
		{"one", []int{5}, []bool{true}, []float64{1}},
		{"one live", []int{1, 1, 1}, []bool{false, true, false}, []float64{0, 1, 0}},
		// nutcracker gives every live server one slot, whatever its weight
		{"weights ignored", []int{1, 9}, []bool{true, true}, []float64{.5, .5}},
		{"dead skipped", []int{1, 1, 1, 1}, []bool{true, false, true, true}, []float64{1. / 3, 0, 1. / 3, 1. / 3}},
	}
	const n = 30000
	for _, tt := range tests {
		table := build(t, servers(tt.weights, tt.alive))
		counts := make([]float64, len(tt.weights))
		for i := range n {
			p := table.Pick(uint32(i))
			if tt.want == nil {
				if p != -1 {
					t.Fatalf("%s: Pick = %d, want -1", tt.name, p)
				}
				continue
			}
			counts[p]++
		}
		for i, want := range tt.want {
			if got := counts[i] / n; math.Abs(got-want) > 0.03 {
				t.Errorf("%s: server %d has %.1f%% of picks, want about %.0f%%", tt.name, i, 100*got, 100*want)
			}
		}
	}
}

func TestConcurrentPick(t *testing.T) {
	table := build(t, servers([]int{1, 1, 1}, []bool{true, true, true}))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 10000 {
				if p := table.Pick(uint32(i)); p < 0 || p > 2 {
					t.Errorf("Pick = %d", p)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestBadWeight(t *testing.T) {
	if _, err := (random.Random{}).Build(servers([]int{1, 0}, []bool{true, true})); err == nil {
		t.Error("weight 0 accepted")
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	table := build(t, servers([]int{1, 1, 1}, []bool{true, true, true}))
	if n := testing.AllocsPerRun(1000, func() { table.Pick(0) }); n != 0 {
		t.Errorf("Pick allocates %v times", n)
	}
}

func BenchmarkPick(b *testing.B) {
	for _, n := range []int{4, 1000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			w, a := make([]int, n), make([]bool, n)
			for i := range w {
				w[i], a[i] = 1, true
			}
			table := build(b, servers(w, a))
			b.ReportAllocs()
			for b.Loop() {
				table.Pick(0)
			}
		})
	}
}
