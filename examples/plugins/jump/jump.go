package main

import (
	"fmt"

	"github.com/walnutproxy/walnut/plugins/sdk"
)

// Jump builds a bucket table of Buckets entries (a power of two). With
// N the total weight of all servers, each server owning weight
// consecutive virtual buckets in walnut's order, and L the live ones'
// virtual buckets in that order, entry i is the owner of virtual bucket
// jump(i, N) if that server is alive, else the owner of
// L[jump(splitmix64(i), len(L))]. walnut routes a hash h to entry
// h >> (32 - log2(Buckets)).
//
// Jumping over every server, dead or alive, and only then moving the
// dead ones' entries means an ejection moves the keys of the ejected
// server and no others; the second jump uses a key of its own so that
// those keys spread over all live servers rather than follow the first
// jump's path.
type Jump struct{ Buckets int }

// Build computes the table; it never calls out and takes about a
// millisecond for 65536 buckets.
func (j Jump) Build(servers []sdk.Server) (sdk.Table, error) {
	if j.Buckets < 1 || j.Buckets&(j.Buckets-1) != 0 || j.Buckets > 1<<24 {
		return sdk.Table{}, fmt.Errorf("jump: -buckets %d is not a power of two up to 2^24", j.Buckets)
	}
	var owner, live []int32 // by virtual bucket; live ones only
	for i, s := range servers {
		for range s.Weight {
			owner = append(owner, int32(i))
			if s.Alive {
				live = append(live, int32(i))
			}
		}
	}
	if len(live) == 0 {
		return sdk.Table{}, nil
	}
	t := sdk.Table{Buckets: make([]int32, j.Buckets)}
	for i := range t.Buckets {
		s := owner[jump(uint64(i), len(owner))]
		if !servers[s].Alive {
			s = live[jump(splitmix64(uint64(i)), len(live))]
		}
		t.Buckets[i] = s
	}
	return t, nil
}

// jump is Lamping and Veach's function: the bucket in [0, n) of key,
// such that going from n to n+1 buckets moves 1/(n+1) of the keys, all
// to the new bucket.
func jump(key uint64, n int) int {
	b, next := int64(-1), int64(0)
	for next < int64(n) {
		b = next
		key = key*2862933555777941757 + 1
		next = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// splitmix64 is Steele, Lea and Flood's mixer: an independent key from
// a bucket number.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
