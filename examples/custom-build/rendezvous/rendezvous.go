package rendezvous

import (
	"fmt"
	"hash/fnv"
	"math"

	"github.com/walnutproxy/walnut/distributions"
)

func init() { distributions.Register("rendezvous", Rendezvous{}) }

// Rendezvous builds weighted rendezvous tables.
type Rendezvous struct{}

// Build keeps, per live server, its index, weight and a seed from its
// name: placement depends on names, as nutcracker's does, not on the
// order or addresses of the servers.
func (Rendezvous) Build(servers []distributions.Server) (distributions.Table, error) {
	t := &table{}
	for i, s := range servers {
		if s.Weight < 1 {
			return nil, fmt.Errorf("rendezvous: server %d (%q) has weight %d", i, s.Name, s.Weight)
		}
		if !s.Alive {
			continue
		}
		h := fnv.New64a()
		h.Write([]byte(s.Name))
		t.nodes = append(t.nodes, node{index: i, weight: float64(s.Weight), seed: h.Sum64()})
	}
	return t, nil
}

type node struct {
	index  int
	weight float64
	seed   uint64
}

type table struct{ nodes []node }

// Pick returns the live server with the highest score for hash, or -1.
func (t *table) Pick(hash uint32) int {
	best, bestScore := -1, math.Inf(-1)
	for _, n := range t.nodes {
		// 53 random bits, as a float in (0, 1): never 0, whose log is -Inf.
		u := (float64(mix(n.seed^uint64(hash))>>11) + 0.5) / (1 << 53)
		if score := -n.weight / math.Log(u); score > bestScore {
			best, bestScore = n.index, score
		}
	}
	return best
}

// mix is SplitMix64's finalizer: every bit of the key and seed moves
// every bit of the score.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
