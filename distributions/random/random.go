package random

import (
	"fmt"
	"math/rand/v2"

	"github.com/walnutproxy/walnut/distributions"
)

func init() { distributions.Register("random", Random{}) }

// Random builds nutcracker's random distribution. Like nutcracker it
// ignores weights: each live server holds exactly one slot.
type Random struct{}

// Build fails only for a weight below 1, which a configuration must not
// have even though this distribution would not use it.
func (Random) Build(servers []distributions.Server) (distributions.Table, error) {
	var t table
	for i, s := range servers {
		if s.Weight < 1 {
			return nil, fmt.Errorf("random: server %d (%q) has weight %d", i, s.Name, s.Weight)
		}
		if s.Alive {
			t = append(t, int32(i))
		}
	}
	return t, nil
}

type table []int32

// Pick ignores hash. math/rand/v2's top-level source is per-thread and
// lock-free, so concurrent Picks do not contend.
func (t table) Pick(uint32) int {
	switch len(t) {
	case 0:
		return -1
	case 1:
		return int(t[0])
	}
	return int(t[rand.IntN(len(t))])
}
