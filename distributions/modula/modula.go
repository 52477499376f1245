package modula

import (
	"fmt"
	"math"

	"github.com/walnutproxy/walnut/distributions"
)

func init() { distributions.Register("modula", Modula{}) }

// maxSlots bounds the table that lists every slot; past it, Pick searches
// cumulative weights instead, so a huge weight costs no memory.
const maxSlots = 1 << 16

// Modula builds nutcracker's modula continuum: each live server, in
// order, repeated weight times, and a key goes to slot hash % len.
type Modula struct{}

// Build fails for a weight below 1 or a total live weight beyond 32 bits,
// where nutcracker's uint32 count would wrap.
func (Modula) Build(servers []distributions.Server) (distributions.Table, error) {
	var total uint64
	for i, s := range servers {
		if s.Weight < 1 {
			return nil, fmt.Errorf("modula: server %d (%q) has weight %d", i, s.Name, s.Weight)
		}
		if s.Alive {
			total += uint64(s.Weight)
			if total > math.MaxUint32 {
				return nil, fmt.Errorf("modula: total weight of live servers overflows 32 bits")
			}
		}
	}
	if total == 0 {
		return slots(nil), nil
	}
	if total <= maxSlots {
		t := make(slots, 0, total)
		for i, s := range servers {
			if s.Alive {
				for range s.Weight {
					t = append(t, int32(i))
				}
			}
		}
		return t, nil
	}
	t := &ranges{total: uint32(total)}
	var end uint32
	for i, s := range servers {
		if s.Alive {
			end += uint32(s.Weight)
			t.ends = append(t.ends, end)
			t.servers = append(t.servers, int32(i))
		}
	}
	return t, nil
}

// slots lists the server of every slot, as nutcracker's continuum does.
type slots []int32

func (t slots) Pick(hash uint32) int {
	if len(t) == 0 {
		return -1
	}
	return int(t[hash%uint32(len(t))])
}

// ranges is the same mapping for large total weights: the slot's server
// is the first whose cumulative weight exceeds the slot.
type ranges struct {
	total   uint32
	ends    []uint32
	servers []int32
}

func (t *ranges) Pick(hash uint32) int {
	slot := hash % t.total
	lo, hi := 0, len(t.ends)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if t.ends[mid] <= slot {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return int(t.servers[lo])
}
