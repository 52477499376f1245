package plugins

import (
	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/plugins/shared"
)

// newTable checks a plugin's table against the servers it was built for
// and converts it to one that routes in walnut's process, as fast as a
// builtin's and without allocating.
func newTable(t shared.Table, servers []shared.Server) (distributions.Table, error) {
	if err := t.Check(servers); err != nil {
		return nil, err
	}
	switch {
	case len(t.Continuum) > 0:
		c := &continuumTable{points: make([]uint32, len(t.Continuum)), servers: make([]int32, len(t.Continuum))}
		for i, p := range t.Continuum {
			c.points[i], c.servers[i] = p.Hash, p.Server
		}
		return c, nil
	case len(t.Buckets) > 0:
		return &bucketTable{servers: append([]int32(nil), t.Buckets...), shift: shared.BucketShift(len(t.Buckets))}, nil
	default:
		return emptyTable{}, nil
	}
}

// continuumTable keeps points and servers in parallel slices, as ketama's
// table does: the search reads only points, half the cache lines of a
// slice of pairs.
type continuumTable struct {
	points  []uint32
	servers []int32
}

// Pick returns the server of the first point at or after hash, wrapping
// past the last point to the first. The search halves the range with a
// mask rather than a branch (see distributions/ketama): on random hashes
// a branch mispredicts half the time.
func (t *continuumTable) Pick(hash uint32) int {
	v := t.points
	base := 0
	for n := len(v); n > 1; n -= n >> 1 {
		half := n >> 1
		below := int((int64(v[base+half-1]) - int64(hash)) >> 63) // all ones when that point < hash
		base += half & below
	}
	if v[base] < hash {
		base++
		if base == len(v) {
			base = 0
		}
	}
	return int(t.servers[base])
}

// bucketTable routes by the top bits of the hash: one shift, one load.
type bucketTable struct {
	servers []int32
	shift   uint
}

func (t *bucketTable) Pick(hash uint32) int { return int(t.servers[hash>>t.shift]) }

// emptyTable routes nothing: no server is alive, or the plugin said so.
type emptyTable struct{}

func (emptyTable) Pick(uint32) int { return -1 }
