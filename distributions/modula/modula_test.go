package modula_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/distributions/disttest"
	"github.com/walnutproxy/walnut/distributions/modula"
)

type srv struct {
	weight int
	alive  bool
}

func servers(specs ...srv) []distributions.Server {
	s := make([]distributions.Server, len(specs))
	for i, sp := range specs {
		s[i] = distributions.Server{Name: fmt.Sprintf("s%d", i), Weight: sp.weight, Alive: sp.alive}
	}
	return s
}

func build(t testing.TB, s []distributions.Server) distributions.Table {
	t.Helper()
	table, err := modula.Modula{}.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// reference is nutcracker's continuum taken literally: each live server,
// in order, weight times; the key goes to slot hash % len.
func reference(s []distributions.Server) func(hash uint32) int {
	var slots []int
	for i, sv := range s {
		if sv.Alive {
			for range sv.Weight {
				slots = append(slots, i)
			}
		}
	}
	return func(hash uint32) int {
		if len(slots) == 0 {
			return -1
		}
		return slots[hash%uint32(len(slots))]
	}
}

// TestContract runs the conformance kit. modula is not consistent: a
// server more or less remaps almost every key.
func TestContract(t *testing.T) {
	disttest.TestDistribution(t, "modula", modula.Modula{})
}

func FuzzBuild(f *testing.F) { disttest.FuzzBuild(f, modula.Modula{}) }

func TestPick(t *testing.T) {
	up := func(w int) srv { return srv{w, true} }
	down := func(w int) srv { return srv{w, false} }
	tests := []struct {
		name  string
		s     []distributions.Server
		picks map[uint32]int // hash: server
	}{
		{"none", nil, map[uint32]int{0: -1, 7: -1}},
		{"all dead", servers(down(1), down(2)), map[uint32]int{0: -1, 7: -1}},
		{"one", servers(up(3)), map[uint32]int{0: 0, 1: 0, math.MaxUint32: 0}},
		{"one live", servers(down(1), up(2), down(1)), map[uint32]int{0: 1, 5: 1, math.MaxUint32: 1}},
		// slots 0 1 1 2
		{"weights", servers(up(1), up(2), up(1)), map[uint32]int{0: 0, 1: 1, 2: 1, 3: 2, 4: 0, 7: 2, math.MaxUint32: 2}},
		// the dead server leaves the slots: 0 2 2 2
		{"dead", servers(up(1), down(5), up(3)), map[uint32]int{0: 0, 1: 2, 3: 2, 4: 0, 5: 2}},
	}
	for _, tt := range tests {
		table := build(t, tt.s)
		for h, want := range tt.picks {
			if got := table.Pick(h); got != want {
				t.Errorf("%s: Pick(%d) = %d, want %d", tt.name, h, got, want)
			}
			if ref := reference(tt.s)(h); ref != want {
				t.Errorf("%s: reference(%d) = %d, want %d (bad test)", tt.name, h, ref, want)
			}
		}
	}
}

// TestLargeWeights covers the path that searches cumulative weights
// instead of listing slots, against the literal continuum.
func TestLargeWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := servers(srv{40000, true}, srv{7, true}, srv{30000, false}, srv{25000, true}, srv{1, true})
	table, ref := build(t, s), reference(s)
	for _, h := range append([]uint32{0, 39999, 40000, 40006, 40007, 65006, 65007, math.MaxUint32}, hashes(r, 20000)...) {
		if got, want := table.Pick(h), ref(h); got != want {
			t.Fatalf("Pick(%d) = %d, want %d", h, got, want)
		}
	}
}

func TestBadWeight(t *testing.T) {
	for _, s := range [][]distributions.Server{
		servers(srv{1, true}, srv{0, true}),
		servers(srv{-1, false}),
		servers(srv{math.MaxInt32, true}, srv{math.MaxInt32, true}, srv{2, true}), // 2^32 in all
	} {
		if _, err := (modula.Modula{}).Build(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

func hashes(r *rand.Rand, n int) []uint32 {
	h := make([]uint32, n)
	for i := range h {
		h[i] = r.Uint32()
	}
	return h
}

func BenchmarkPick(b *testing.B) { disttest.BenchmarkPick(b, modula.Modula{}) }
