package disttest

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
)

const (
	// fuzzMaxServers and fuzzMaxName bound what one input decodes to, and
	// weights stay within ±127·256: a distribution may well take time or
	// memory in proportion to servers and total weight (jump lists a
	// virtual bucket per unit of weight), and the fuzzer should find
	// mistakes, not exhaust the machine.
	fuzzMaxServers = 64
	fuzzMaxName    = 32
	// fuzzPicks is how many hashes each input's table is asked about.
	fuzzPicks = 64
)

// FuzzBuild fuzzes d: server lists of any length up to 64, with any
// names, weights (0 and negative included) and alive flags, and the
// hashes Pick is asked about. Build must not panic nor change its
// argument; a table it returns must route as LiveOnly and BadInput
// require (see the package comment), and unless Random, alike for the
// same hash and across two Builds. The seeds (a few typical and odd
// lists) run in every go test; go test -fuzz explores from them.
func FuzzBuild(f *testing.F, d distributions.Distribution, opts ...Option) {
	f.Helper()
	s, err := newSuite("", d, opts)
	if err != nil {
		f.Fatal(err)
	}
	srv := func(name string, weight int, alive bool) distributions.Server {
		return distributions.Server{Name: name, Weight: weight, Alive: alive}
	}
	for i, seed := range [][]distributions.Server{
		nil,
		pool(1),
		pool(1, 3),
		withDead(equal(3), 1),
		withDead(equal(2), 0, 1),
		pool(1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
		pool(100<<8, 1),
		{srv("", 0, true)},
		{srv("a", -1, true), srv("b", 2, true)},
		{srv("a", 1, true), srv("a", 1, true)},
		{srv("\x00\xff", 1, false), srv(string(make([]byte, fuzzMaxName)), 1, true)},
	} {
		f.Add(encodeServers(seed), uint32(splitmix64(uint64(i))))
	}
	f.Fuzz(func(t *testing.T, data []byte, hash uint32) { s.fuzzOne(t, data, hash) })
}

// fuzzOne is FuzzBuild's body.
func (s *suite) fuzzOne(r reporter, data []byte, hash uint32) {
	servers := decodeServers(data)
	tab, err := s.tryBuild(r, servers)
	if err != nil {
		return
	}
	hs := []uint32{hash, ^hash, 0, math.MaxUint32}
	for i := range uint64(fuzzPicks - len(hs)) {
		hs = append(hs, uint32(splitmix64(uint64(hash)<<8|i)>>32))
	}
	what := describe(servers)
	s.checkPicks(r, what, tab, servers, hs)
	if s.random {
		return
	}
	again, err := s.tryBuild(r, servers)
	if err != nil {
		if err != errReported {
			r.Errorf("%s: Build succeeded once, then failed: %v", what, err)
		}
		return
	}
	pickAll(r, what, tab, hs, func(h uint32, p int) {
		if q, o := tab.Pick(h), again.Pick(h); q != p || o != p {
			r.Errorf("%s: Pick(%#x) = %d, then %d, and %d after a second Build", what, h, p, q, o)
		}
	})
}

// decodeServers reads a server list: per server a flags byte (bit 0:
// alive; bit 1: weight times 256), the weight as a signed byte, the
// name's length (modulo fuzzMaxName+1), then the name, cut short if data
// ends.
func decodeServers(data []byte) []distributions.Server {
	var servers []distributions.Server
	for len(data) >= 3 && len(servers) < fuzzMaxServers {
		flags, weight, n := data[0], int(int8(data[1])), int(data[2])%(fuzzMaxName+1)
		data = data[3:]
		if flags&2 != 0 {
			weight *= 256
		}
		n = min(n, len(data))
		name := string(data[:n])
		data = data[n:]
		servers = append(servers, distributions.Server{
			Name: name, Addr: fmt.Sprintf("127.0.0.%d:6379", len(servers)+1), Weight: weight, Alive: flags&1 != 0,
		})
	}
	return servers
}

// encodeServers is decodeServers' inverse, for the seeds; it panics on
// what decodeServers cannot express, so that a seed is what it says.
func encodeServers(servers []distributions.Server) []byte {
	var b []byte
	for _, s := range servers {
		var flags byte
		if s.Alive {
			flags |= 1
		}
		w := s.Weight
		if w != int(int8(w)) {
			flags |= 2
			w /= 256
		}
		b = append(b, flags, byte(int8(w)), byte(len(s.Name)))
		b = append(b, s.Name...)
	}
	if got := decodeServers(b); len(servers) > 0 && !slices.EqualFunc(got, servers, func(a, b distributions.Server) bool {
		return a.Name == b.Name && a.Weight == b.Weight && a.Alive == b.Alive
	}) {
		panic(fmt.Sprintf("disttest: seed %s decodes as %s", describe(servers), describe(got)))
	}
	return b
}
