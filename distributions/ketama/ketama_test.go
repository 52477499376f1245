package ketama_test

import (
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/distributions/disttest"
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

// TestContract runs the conformance kit: ketama is consistent, and the
// kit's pools (up to 9 servers of weight 1) are sizes at which
// nutcracker's float32 point counts stay at 160, so not a key strays.
func TestContract(t *testing.T) {
	disttest.TestDistribution(t, "ketama", ketama.Ketama{}, disttest.Consistent())
}

func FuzzBuild(f *testing.F) { disttest.FuzzBuild(f, ketama.Ketama{}) }

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

func BenchmarkPick(b *testing.B) { disttest.BenchmarkPick(b, ketama.Ketama{}) }

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
