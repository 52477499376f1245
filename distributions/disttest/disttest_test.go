package disttest

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
)

// hrw is weighted rendezvous hashing, a correct consistent distribution:
// the kit must pass it, and the broken distributions below are it with
// one mistake each.
type hrw struct{ salt uint64 }

type hrwNode struct {
	index  int
	weight float64
	seed   uint64
}

type hrwTable []hrwNode

func (d hrw) Build(servers []distributions.Server) (distributions.Table, error) {
	t := hrwTable{}
	for i, s := range servers {
		if s.Weight < 1 {
			return nil, fmt.Errorf("server %d has weight %d", i, s.Weight)
		}
		if s.Alive {
			h := fnv.New64a()
			h.Write([]byte(s.Name))
			t = append(t, hrwNode{i, float64(s.Weight), h.Sum64() ^ d.salt})
		}
	}
	return t, nil
}

func (t hrwTable) Pick(hash uint32) int {
	best, bestScore := -1, math.Inf(-1)
	for _, n := range t {
		u := (float64(splitmix64(n.seed^uint64(hash))>>11) + 0.5) / (1 << 53)
		if score := -n.weight / math.Log(u); score > bestScore {
			best, bestScore = n.index, score
		}
	}
	return best
}

// modulo is a weighted hash-modulo distribution, like modula: correct,
// but not consistent.
type modulo struct{}

type slots []int

func (modulo) Build(servers []distributions.Server) (distributions.Table, error) {
	t := slots{}
	for i, s := range servers {
		if s.Weight < 1 {
			return nil, fmt.Errorf("server %d has weight %d", i, s.Weight)
		}
		w := s.Weight
		if w >= 1<<20 {
			w >>= 10 // the kit's large weights, in fewer slots
		}
		for range w {
			if s.Alive {
				t = append(t, i)
			}
		}
	}
	return t, nil
}

func (t slots) Pick(hash uint32) int {
	if len(t) == 0 {
		return -1
	}
	return t[hash%uint32(len(t))]
}

// unweighted is hrw with every weight taken as 1.
type unweighted struct{}

func (unweighted) Build(servers []distributions.Server) (distributions.Table, error) {
	s := slices.Clone(servers)
	for i := range s {
		s[i].Weight = 1
	}
	return hrw{}.Build(s)
}

// deadPicker forgets that some servers are dead.
type deadPicker struct{}

type countTable int

func (deadPicker) Build(servers []distributions.Server) (distributions.Table, error) {
	return countTable(len(servers)), nil
}

func (n countTable) Pick(hash uint32) int {
	if n == 0 {
		return -1
	}
	return int(hash % uint32(n))
}

// noMinusOne routes to server 0 when no server is alive.
type noMinusOne struct{}

type orZero struct{ distributions.Table }

func (noMinusOne) Build(servers []distributions.Server) (distributions.Table, error) {
	t, err := hrw{}.Build(servers)
	return orZero{t}, err
}

func (t orZero) Pick(hash uint32) int { return max(t.Table.Pick(hash), 0) }

// allocating allocates on every Pick.
type allocating struct{}

type allocTable struct{ distributions.Table }

var escape atomic.Pointer[[4]int]

func (allocating) Build(servers []distributions.Server) (distributions.Table, error) {
	t, err := hrw{}.Build(servers)
	return allocTable{t}, err
}

func (t allocTable) Pick(hash uint32) int {
	escape.Store(new([4]int))
	return t.Table.Pick(hash)
}

// flaky routes odd hashes to a random live server.
type flaky struct{}

type flakyTable struct {
	hrwTable
}

func (flaky) Build(servers []distributions.Server) (distributions.Table, error) {
	t, err := hrw{}.Build(servers)
	if err != nil {
		return nil, err
	}
	return flakyTable{t.(hrwTable)}, nil
}

func (t flakyTable) Pick(hash uint32) int {
	if hash&1 == 0 || len(t.hrwTable) == 0 {
		return t.hrwTable.Pick(hash)
	}
	return t.hrwTable[rand.IntN(len(t.hrwTable))].index
}

// reseeded places keys afresh on every Build.
type reseeded struct{}

func (reseeded) Build(servers []distributions.Server) (distributions.Table, error) {
	return hrw{salt: rand.Uint64()}.Build(servers)
}

// panicky panics on a weight below 1 instead of refusing it.
type panicky struct{}

func (panicky) Build(servers []distributions.Server) (distributions.Table, error) {
	share := make([]int, len(servers))
	for i, s := range servers {
		share[i] = 100 / s.Weight
	}
	return hrw{}.Build(servers)
}

// mutating marks the servers it was given as dead.
type mutating struct{}

func (mutating) Build(servers []distributions.Server) (distributions.Table, error) {
	t, err := hrw{}.Build(servers)
	for i := range servers {
		servers[i].Alive = false
	}
	return t, err
}

// nilTable returns no table and no error for an empty list.
type nilTable struct{}

func (nilTable) Build(servers []distributions.Server) (distributions.Table, error) {
	if len(servers) == 0 {
		return nil, nil
	}
	return hrw{}.Build(servers)
}

func init() {
	distributions.Register("disttest-hrw", hrw{salt: 1})
}

// TestKitCatches runs the kit on correct distributions, which must pass
// every check, and on broken ones, each of which must fail exactly the
// checks its mistake breaks, with a message that says so.
func TestKitCatches(t *testing.T) {
	tests := []struct {
		name     string
		register string
		d        distributions.Distribution
		opts     []Option
		fail     []string // the checks that must fail, and no other
		msg      string   // in one of the failures
	}{
		{name: "hrw", register: "disttest-hrw", d: hrw{salt: 1}, opts: []Option{Consistent()}},
		{name: "modulo", d: modulo{}},
		{name: "unweighted, said so", d: unweighted{}, opts: []Option{IgnoresWeights(), Consistent()}},

		{name: "not registered", register: "disttest-none", d: hrw{salt: 1},
			fail: []string{"Registered"}, msg: `unknown distribution "disttest-none"`},
		{name: "another registered", register: "disttest-hrw", d: hrw{salt: 2},
			fail: []string{"Registered"}, msg: "not the distribution under test"},
		{name: "picks dead servers", d: deadPicker{},
			fail: []string{"NoLiveServer", "LiveOnly", "Weights", "BadInput", "Concurrent", "Eject"},
			msg:  "a dead server"},
		{name: "no -1", d: noMinusOne{},
			fail: []string{"NoLiveServer"}, msg: "all dead: Pick(0x0) = 0, a dead server"},
		{name: "allocates", d: allocating{}, opts: []Option{Consistent()},
			fail: []string{"NoAllocs"}, msg: "Pick allocates 1 times a call"},
		{name: "nondeterministic Pick", d: flaky{},
			fail: []string{"Deterministic", "Weights", "Concurrent"}, msg: "Pick is not a function of the hash"},
		{name: "nondeterministic Build", d: reseeded{},
			fail: []string{"Deterministic"}, msg: "two Builds from the same servers disagree"},
		{name: "moves many keys", d: modulo{}, opts: []Option{Consistent()},
			fail: []string{"AddServer", "Eject"}, msg: "keys moved between servers that were there before"},
		{name: "ignores weights", d: unweighted{},
			fail: []string{"Weights", "BadInput"}, msg: "weights 1:3: shares 49.9% 50.1%, want 25.0% 75.0%"},
		{name: "panics", d: panicky{},
			fail: []string{"BadInput"}, msg: "panicked: runtime error: integer divide by zero"},
		{name: "changes its argument", d: mutating{},
			fail: []string{"LiveOnly", "Deterministic", "Weights", "BadInput", "NoAllocs", "Concurrent", "AddServer", "Eject"},
			msg:  "changed its argument"},
		{name: "nil table", d: nilTable{},
			fail: []string{"NoLiveServer", "NoAllocs"}, msg: "Build(nil) returned neither a table nor an error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSuite(tt.register, tt.d, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var failed, msgs []string
			for _, res := range s.results() {
				if len(res.errors) > 0 {
					failed = append(failed, res.name)
				}
				msgs = append(msgs, res.errors...)
			}
			if !slices.Equal(failed, tt.fail) {
				t.Errorf("failed checks %q, want %q; reports:\n%s", failed, tt.fail, strings.Join(msgs, "\n"))
			}
			if tt.msg != "" && !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, tt.msg) }) {
				t.Errorf("no report says %q; reports:\n%s", tt.msg, strings.Join(msgs, "\n"))
			}
		})
	}
}

// TestFuzzOneCatches runs FuzzBuild's body on inputs that trip the
// broken distributions.
func TestFuzzOneCatches(t *testing.T) {
	up := func(name string, weight int) distributions.Server {
		return distributions.Server{Name: name, Weight: weight, Alive: true}
	}
	tests := []struct {
		name    string
		d       distributions.Distribution
		servers []distributions.Server
		msg     string // "" if nothing is wrong
	}{
		{"hrw", hrw{}, []distributions.Server{up("a", 1), up("b", 3)}, ""},
		{"hrw, weight 0", hrw{}, []distributions.Server{up("a", 0)}, ""},
		{"dead", deadPicker{}, withDead([]distributions.Server{up("a", 1), up("b", 1)}, 0, 1), "a dead server"},
		{"panics", panicky{}, []distributions.Server{up("a", 0)}, "panicked"},
		{"nondeterministic", reseeded{}, []distributions.Server{up("a", 1), up("b", 1), up("c", 1)}, "after a second Build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSuite("", tt.d, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := record(func(r reporter) { s.fuzzOne(r, encodeServers(tt.servers), 12345) })
			got := strings.Join(r.errors, "\n")
			if tt.msg == "" && got != "" || !strings.Contains(got, tt.msg) {
				t.Errorf("reports %q, want one containing %q", got, tt.msg)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	if err := Check("disttest-hrw", hrw{salt: 1}, Consistent()); err != nil {
		t.Errorf("a correct distribution: %v", err)
	}
	err := Check("", allocating{})
	if err == nil || !strings.HasPrefix(err.Error(), "NoAllocs: no live server: Pick allocates") {
		t.Errorf("an allocating distribution: %v, want an error starting with its check's name", err)
	}
	if err := Check("", uniform{}, Random(), Consistent()); err == nil {
		t.Error("Random and Consistent together accepted")
	}
}

// uniform is a correct random distribution.
type uniform struct{}

type liveList []int

func (uniform) Build(servers []distributions.Server) (distributions.Table, error) {
	t := liveList{}
	for i, s := range servers {
		if s.Alive {
			t = append(t, i)
		}
	}
	return t, nil
}

func (t liveList) Pick(uint32) int {
	if len(t) == 0 {
		return -1
	}
	return t[rand.IntN(len(t))]
}

// TestDistributionPasses runs the kit with a real *testing.T, as its
// users do, on correct distributions.
func TestDistributionPasses(t *testing.T) {
	TestDistribution(t, "disttest-hrw", hrw{salt: 1}, Consistent())
	t.Run("random", func(t *testing.T) { TestDistribution(t, "", uniform{}, Random(), IgnoresWeights()) })
}

func FuzzBuildHRW(f *testing.F) { FuzzBuild(f, hrw{}) }

func TestSeedsRoundTrip(t *testing.T) {
	s := []distributions.Server{{Name: "a", Weight: -3 << 8}, {Name: "", Weight: 127, Alive: true}}
	got := decodeServers(encodeServers(s))
	if len(got) != 2 || got[0].Weight != -3<<8 || got[1].Weight != 127 || !got[1].Alive || got[0].Alive {
		t.Errorf("decoded %s from %s", describe(got), describe(s))
	}
}
