package main

import (
	"errors"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/distributions/disttest"
	"github.com/walnutproxy/walnut/plugins/sdk"
	"github.com/walnutproxy/walnut/plugins/shared"
)

func TestJumpKnownValues(t *testing.T) {
	// jump(key, n) for n = 1, 2, ..., as the paper's reference C++ code
	// computes them.
	for _, tc := range []struct {
		key  uint64
		want []int
	}{
		{0, []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{1, []int{0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17}},
		{0xdeadbeef, []int{0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16}},
		{0x0ddc0ffeebadf00d, []int{0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15}},
	} {
		for i, want := range tc.want {
			if got := jump(tc.key, i+1); got != want {
				t.Errorf("jump(%#x, %d) = %d, want %d", tc.key, i+1, got, want)
			}
		}
	}
}

// inProcess is Jump as walnut routes with it, for the conformance kit:
// the table is checked as walnut checks a plugin's (an index of a dead
// server, or a bucket count that is not a power of two, fails the
// Build), then a hash goes to the bucket of its top bits. walnut's own
// conversion is internal to package plugins; this one does the same for
// bucket tables, the only kind Jump builds.
type inProcess struct{ Jump }

func (d inProcess) Build(servers []distributions.Server) (distributions.Table, error) {
	s := make([]sdk.Server, len(servers))
	for i, sv := range servers {
		s[i] = sdk.Server{Name: sv.Name, Addr: sv.Addr, Weight: sv.Weight, Alive: sv.Alive}
	}
	t, err := d.Jump.Build(s)
	if err != nil {
		return nil, err
	}
	if err := t.Check(s); err != nil {
		return nil, err
	}
	if len(t.Continuum) > 0 {
		return nil, errors.New("jump built a continuum, not buckets")
	}
	return buckets{servers: t.Buckets, shift: shared.BucketShift(len(t.Buckets))}, nil
}

type buckets struct {
	servers []int32
	shift   uint
}

func (b buckets) Pick(hash uint32) int {
	if len(b.servers) == 0 {
		return -1
	}
	return int(b.servers[hash>>b.shift])
}

// TestContract runs walnut's conformance kit on the table walnut would
// route with. The kit adds servers at the end of the list, the one place
// where jump moves only the new server's share of keys (see README.md).
func TestContract(t *testing.T) {
	disttest.TestDistribution(t, "", inProcess{Jump{Buckets: 1 << 16}}, disttest.Consistent())
}

func FuzzBuild(f *testing.F) { disttest.FuzzBuild(f, inProcess{Jump{Buckets: 1 << 16}}) }

func servers(weights []int, alive []bool) []sdk.Server {
	s := make([]sdk.Server, len(weights))
	for i := range s {
		s[i] = sdk.Server{Name: string(rune('a' + i)), Weight: weights[i], Alive: alive[i]}
	}
	return s
}

// TestWeightedEjection checks what the kit checks with equal weights
// only: ejecting a server of weight 2 among weights 1, 2, 1 moves its
// buckets and no other, and spreads them over both others.
func TestWeightedEjection(t *testing.T) {
	full, err := Jump{Buckets: 1 << 16}.Build(servers([]int{1, 2, 1}, []bool{true, true, true}))
	if err != nil {
		t.Fatal(err)
	}
	part, err := Jump{Buckets: 1 << 16}.Build(servers([]int{1, 2, 1}, []bool{true, false, true}))
	if err != nil {
		t.Fatal(err)
	}
	var ejected int
	moved := make([]int, 3)
	for i := range full.Buckets {
		if full.Buckets[i] != 1 && part.Buckets[i] != full.Buckets[i] {
			t.Fatalf("bucket %d moved from live server %d", i, full.Buckets[i])
		}
		if full.Buckets[i] == 1 {
			ejected++
			moved[part.Buckets[i]]++
		}
	}
	if moved[0] < ejected/3 || moved[2] < ejected/3 {
		t.Errorf("the ejected server's %d buckets went %v", ejected, moved)
	}
}

func TestBucketsNotAPowerOfTwo(t *testing.T) {
	if _, err := (Jump{Buckets: 1000}).Build(servers([]int{1}, []bool{true})); err == nil {
		t.Error("1000 buckets accepted")
	}
}
