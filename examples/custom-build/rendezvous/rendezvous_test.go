package rendezvous

import (
	"testing"

	"github.com/walnutproxy/walnut/distributions/disttest"
)

// TestContract runs walnut's conformance kit, which a distribution of
// your own should pass too: rendezvous hashing is consistent, so the kit
// also checks that adding or ejecting a server moves only its keys.
func TestContract(t *testing.T) {
	disttest.TestDistribution(t, "rendezvous", Rendezvous{}, disttest.Consistent())
}

func FuzzBuild(f *testing.F) { disttest.FuzzBuild(f, Rendezvous{}) }
