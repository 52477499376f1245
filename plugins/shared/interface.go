package shared

import (
	"errors"
	"fmt"
	"math/bits"
)

// Server is one backend of a pool, as a distribution plugin sees it.
type Server struct {
	// Name is what placement should be computed from: the configured
	// name, or the address as nutcracker derives it.
	Name string
	// Addr is the dial address (host:port or a unix socket path).
	Addr string
	// Weight is at least 1.
	Weight int
	// Alive is false for a server ejected from the pool: the table must
	// not route to it.
	Alive bool
}

// Point is a point of a continuum: hashes up to Hash (and past the
// previous point) go to server Server.
type Point struct {
	Hash   uint32
	Server int32
}

// MaxBucketsLog2 bounds a bucket table at 2^24 entries (64 MiB in
// walnut): far past what any spread needs, short of what would hurt.
const MaxBucketsLog2 = 24

// Table is a routing table, in one of two forms that walnut looks up in
// its own process, without a call to the plugin:
//
//   - Continuum, a hash ring sorted by Hash: a key whose hash is h goes
//     to the server of the first point with Hash >= h, wrapping past the
//     last point to the first (what ketama builds);
//   - Buckets, of a power-of-two length 2^b (b <= 24): a key whose hash
//     is h goes to Buckets[h >> (32-b)], its top b bits.
//
// Server indices point into the slice given to Build; -1 routes nowhere
// (such requests get an error). A Table with neither set routes nothing,
// as when no server is alive.
type Table struct {
	Continuum []Point
	Buckets   []int32
}

// Distribution is what a distribution plugin implements. Build runs when
// a pool starts and whenever its servers change (ejection, return,
// reload, a restart of the plugin), never per request.
type Distribution interface {
	Build(servers []Server) (Table, error)
}

// Hash is what a hash plugin implements: it writes the hash of keys[i]
// to out[i] (len(out) == len(keys)). walnut sends the keys of one event
// loop iteration in one call, and never an empty key (it hashes those to
// 0 itself, as nutcracker does).
type Hash interface {
	Hash(keys [][]byte, out []uint32) error
}

// Check reports what is wrong with t as a table over servers: an index
// out of range or of a server that is not alive, a continuum out of
// order, a bucket count that is not a power of two. Both sides check:
// the SDK so that a plugin's author sees the mistake in the plugin's own
// error, walnut because a plugin need not use the SDK.
func (t Table) Check(servers []Server) error {
	if len(t.Continuum) > 0 && len(t.Buckets) > 0 {
		return errors.New("table has both a continuum and buckets; want one")
	}
	server := func(what string, i int, s int32) error {
		switch {
		case s == -1:
			return nil
		case s < 0 || int(s) >= len(servers):
			return fmt.Errorf("%s %d: server index %d out of range (%d servers)", what, i, s, len(servers))
		case !servers[s].Alive:
			return fmt.Errorf("%s %d: server %d (%q) is not alive", what, i, s, servers[s].Name)
		}
		return nil
	}
	for i, p := range t.Continuum {
		if i > 0 && p.Hash < t.Continuum[i-1].Hash {
			return fmt.Errorf("continuum point %d: hash %#x after %#x; points must be sorted", i, p.Hash, t.Continuum[i-1].Hash)
		}
		if err := server("continuum point", i, p.Server); err != nil {
			return err
		}
	}
	if n := len(t.Buckets); n > 0 && (n&(n-1) != 0 || n > 1<<MaxBucketsLog2) {
		return fmt.Errorf("%d buckets; want a power of two up to 2^%d", n, MaxBucketsLog2)
	}
	for i, s := range t.Buckets {
		if err := server("bucket", i, s); err != nil {
			return err
		}
	}
	return nil
}

// BucketShift is the shift that takes a hash to its bucket in a table of
// n buckets (a power of two): 32 - log2(n). For n = 1 it is 32, and Go
// defines h >> 32 as 0 for a uint32.
func BucketShift(n int) uint {
	return uint(33 - bits.Len(uint(n)))
}
