package rendezvous

import (
	"testing"

	"github.com/walnutproxy/walnut/distributions"
)

func TestSpreadAndEjection(t *testing.T) {
	servers := []distributions.Server{
		{Name: "a", Weight: 1, Alive: true}, {Name: "b", Weight: 3, Alive: true}, {Name: "c", Weight: 1, Alive: true},
	}
	all, err := distributions.Lookup("rendezvous")
	if err != nil {
		t.Fatal(err)
	}
	full, _ := all.Build(servers)
	servers[1].Alive = false
	part, _ := all.Build(servers)
	count := make([]int, 3)
	const n = 100000
	for i := range uint32(n) {
		h := i * 2654435761
		s := full.Pick(h)
		count[s]++
		if p := part.Pick(h); s != 1 && p != s {
			t.Fatalf("hash %#x moved from live server %d to %d", h, s, p)
		} else if p == 1 {
			t.Fatalf("hash %#x routed to the dead server", h)
		}
	}
	// Weights 1:3:1.
	if count[1] < n*55/100 || count[1] > n*65/100 || count[0] < n*17/100 || count[2] < n*17/100 {
		t.Errorf("spread %v over weights 1, 3, 1", count)
	}
	none, _ := all.Build([]distributions.Server{{Name: "a", Weight: 1}})
	if none.Pick(7) != -1 {
		t.Error("a table without live servers routes")
	}
	if testing.AllocsPerRun(100, func() { full.Pick(12345) }) != 0 {
		t.Error("Pick allocates")
	}
}
