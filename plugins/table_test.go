package plugins

import (
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/distributions/ketama"
	"github.com/walnutproxy/walnut/plugins/shared"
)

func servers(alive ...bool) []shared.Server {
	s := make([]shared.Server, len(alive))
	for i, a := range alive {
		s[i] = shared.Server{Name: string(rune('a' + i)), Weight: 1, Alive: a}
	}
	return s
}

func TestNewTableRejectsBadTables(t *testing.T) {
	srv := servers(true, false, true)
	for _, tc := range []struct {
		name  string
		table shared.Table
		want  string
	}{
		{"both forms", shared.Table{Continuum: []shared.Point{{}}, Buckets: []int32{0}}, "both"},
		{"unsorted", shared.Table{Continuum: []shared.Point{{Hash: 5}, {Hash: 4}}}, "continuum point 1: hash 0x4 after 0x5"},
		{"index past the end", shared.Table{Continuum: []shared.Point{{Hash: 1, Server: 3}}}, "server index 3 out of range (3 servers)"},
		{"negative index", shared.Table{Buckets: []int32{0, -2}}, "bucket 1: server index -2 out of range"},
		{"dead server", shared.Table{Buckets: []int32{0, 1}}, `bucket 1: server 1 ("b") is not alive`},
		{"not a power of two", shared.Table{Buckets: []int32{0, 0, 0}}, "3 buckets; want a power of two"},
		{"too many buckets", shared.Table{Buckets: make([]int32, 1<<25)}, "33554432 buckets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newTable(tc.table, srv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestContinuumPicksFirstPointAtOrAfterHash(t *testing.T) {
	srv := servers(true, true, true)
	// Duplicate hashes: the first of them wins, as in ketama.
	points := []shared.Point{{Hash: 10, Server: 0}, {Hash: 20, Server: 1}, {Hash: 20, Server: 2}, {Hash: 30, Server: 2}, {Hash: 1 << 31, Server: 1}}
	tab, err := newTable(shared.Table{Continuum: points}, srv)
	if err != nil {
		t.Fatal(err)
	}
	naive := func(h uint32) int {
		for _, p := range points {
			if p.Hash >= h {
				return int(p.Server)
			}
		}
		return int(points[0].Server)
	}
	for _, h := range []uint32{0, 9, 10, 11, 19, 20, 21, 30, 31, 1 << 31, 1<<31 + 1, ^uint32(0)} {
		if got, want := tab.Pick(h), naive(h); got != want {
			t.Errorf("Pick(%d) = %d, want %d", h, got, want)
		}
	}
	for h := uint32(0); h < 1<<20; h += 977 {
		if got, want := tab.Pick(h*4099), naive(h*4099); got != want {
			t.Fatalf("Pick(%d) = %d, want %d", h*4099, got, want)
		}
	}
}

func TestBucketsPickByTopBits(t *testing.T) {
	srv := servers(true, true, true, true)
	for _, n := range []int{1, 2, 4, 1024} {
		b := make([]int32, n)
		for i := range b {
			b[i] = int32(i % 4)
		}
		tab, err := newTable(shared.Table{Buckets: b}, srv)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []uint32{0, 1, 1 << 31, 0xdeadbeef, ^uint32(0)} {
			want := int(b[uint64(h)*uint64(n)>>32]) // top log2(n) bits
			if got := tab.Pick(h); got != want {
				t.Errorf("%d buckets: Pick(%#x) = %d, want %d", n, h, got, want)
			}
		}
	}
}

func TestEmptyTableRoutesNowhere(t *testing.T) {
	tab, err := newTable(shared.Table{}, servers(false, false))
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.Pick(42); got != -1 {
		t.Fatalf("Pick = %d, want -1", got)
	}
	// -1 inside a table routes those hashes nowhere.
	tab, err = newTable(shared.Table{Buckets: []int32{-1, 0}}, servers(true))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Pick(0) != -1 || tab.Pick(^uint32(0)) != 0 {
		t.Fatalf("Pick(0), Pick(max) = %d, %d; want -1, 0", tab.Pick(0), tab.Pick(^uint32(0)))
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for name, tab := range pickTables(t) {
		h := uint32(0)
		if n := testing.AllocsPerRun(1000, func() { h += 0x9e3779b9; tab.Pick(h) }); n != 0 {
			t.Errorf("%s: %v allocations per Pick", name, n)
		}
	}
}

// pickTables are tables of the size the examples build: ketama's
// continuum over 4 servers (640 points), the same points converted as a
// plugin's continuum, and jump's 65536 buckets.
func pickTables(t testing.TB) map[string]distributions.Table {
	ds := make([]distributions.Server, 4)
	ss := make([]shared.Server, 4)
	for i := range ds {
		name := "127.0.0.1:" + string(rune('1'+i)) + "000"
		ds[i] = distributions.Server{Name: name, Weight: 1, Alive: true}
		ss[i] = shared.Server{Name: name, Weight: 1, Alive: true}
	}
	k, err := ketama.Ketama{}.Build(ds)
	if err != nil {
		t.Fatal(err)
	}
	// Recover ketama's continuum through its Pick: a point is where the
	// answer changes, which is all a continuum is.
	var points []shared.Point
	prev := -2
	for h := uint64(0); h <= 0xffffffff; h += 1 << 12 {
		if s := k.Pick(uint32(h)); s != prev {
			points = append(points, shared.Point{Hash: uint32(h), Server: int32(s)})
			prev = s
		}
	}
	c, err := newTable(shared.Table{Continuum: points}, ss)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]int32, 1<<16)
	for i := range b {
		b[i] = int32(i % 4)
	}
	bt, err := newTable(shared.Table{Buckets: b}, ss)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]distributions.Table{"ketama builtin": k, "plugin continuum": c, "plugin buckets": bt}
}

// BenchmarkPick compares the tables a plugin's answer becomes with the
// builtin ketama's: routing a request must cost the same either way.
func BenchmarkPick(b *testing.B) {
	tabs := pickTables(b)
	for _, name := range []string{"ketama builtin", "plugin continuum", "plugin buckets"} {
		tab := tabs[name]
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			h := uint32(0)
			sum := 0
			for b.Loop() {
				h = h*1664525 + 1013904223
				sum += tab.Pick(h)
			}
			_ = sum
		})
	}
}
