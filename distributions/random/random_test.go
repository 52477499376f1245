package random_test

import (
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/distributions/disttest"
	"github.com/walnutproxy/walnut/distributions/random"
)

func servers(weights []int, alive []bool) []distributions.Server {
	s := make([]distributions.Server, len(weights))
	for i := range s {
		s[i] = distributions.Server{Name: fmt.Sprintf("s%d", i), Weight: weights[i], Alive: alive[i]}
	}
	return s
}

// TestContract runs the conformance kit. Like nutcracker's, random
// ignores keys and weights: every live server gets an equal share.
func TestContract(t *testing.T) {
	disttest.TestDistribution(t, "random", random.Random{}, disttest.Random(), disttest.IgnoresWeights())
}

func FuzzBuild(f *testing.F) {
	disttest.FuzzBuild(f, random.Random{}, disttest.Random(), disttest.IgnoresWeights())
}

func TestBadWeight(t *testing.T) {
	if _, err := (random.Random{}).Build(servers([]int{1, 0}, []bool{true, true})); err == nil {
		t.Error("weight 0 accepted")
	}
}

func BenchmarkPick(b *testing.B) { disttest.BenchmarkPick(b, random.Random{}) }
