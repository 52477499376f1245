package main

import (
	"testing"

	"github.com/walnutproxy/walnut/plugins/sdk"
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

func servers(weights []int, alive []bool) []sdk.Server {
	s := make([]sdk.Server, len(weights))
	for i := range s {
		s[i] = sdk.Server{Name: string(rune('a' + i)), Weight: weights[i], Alive: alive[i]}
	}
	return s
}

func TestWeightsAndEjection(t *testing.T) {
	all := servers([]int{1, 2, 1}, []bool{true, true, true})
	full, err := Jump{Buckets: 1 << 16}.Build(all)
	if err != nil {
		t.Fatal(err)
	}
	count := make([]int, 3)
	for _, s := range full.Buckets {
		count[s]++
	}
	// Weight 2 gets about half of the table.
	if count[1] < 31000 || count[1] > 34500 || count[0] < 15000 || count[2] < 15000 {
		t.Errorf("spread %v over weights 1, 2, 1", count)
	}
	if err := full.Check(all); err != nil {
		t.Fatal(err)
	}

	ejected := servers([]int{1, 2, 1}, []bool{true, false, true})
	part, err := Jump{Buckets: 1 << 16}.Build(ejected)
	if err != nil {
		t.Fatal(err)
	}
	if err := part.Check(ejected); err != nil {
		t.Fatal(err)
	}
	moved := make([]int, 3)
	for i := range full.Buckets {
		if full.Buckets[i] != 1 && part.Buckets[i] != full.Buckets[i] {
			t.Fatalf("bucket %d moved from live server %d", i, full.Buckets[i])
		}
		if full.Buckets[i] == 1 {
			moved[part.Buckets[i]]++
		}
	}
	if moved[0] < count[1]/3 || moved[2] < count[1]/3 {
		t.Errorf("the ejected server's buckets went %v", moved)
	}

	none, err := Jump{Buckets: 1 << 16}.Build(servers([]int{1}, []bool{false}))
	if err != nil || len(none.Buckets) != 0 {
		t.Errorf("no live server: %v, %d buckets", err, len(none.Buckets))
	}
	if _, err := (Jump{Buckets: 1000}).Build(all); err == nil {
		t.Error("1000 buckets accepted")
	}
}
