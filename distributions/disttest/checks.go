package disttest

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
)

const (
	// spreadHashes is how many hashes a share is measured over: enough
	// that sampling noise (under 0.5% of a share) is far inside
	// shareTolerance.
	spreadHashes = 1 << 16
	// shareTolerance is how far, relative to its expected share, a
	// server's share may be (see the package comment).
	shareTolerance = 1.0 / 3
	// strayTolerance is the share of all keys that may move where a
	// consistent distribution should not move them (see the package
	// comment).
	strayTolerance = 0.01
)

// hashes are the edges of the hash range, then spreadHashes hashes
// spread over it as a good hash function spreads keys: a distribution
// may use any bits of the hash (a bucket table uses the top ones), and
// hashes of consecutive integers would leave those bits constant.
var hashes = sync.OnceValue(func() []uint32 {
	h := []uint32{0, 1, math.MaxInt32, math.MaxInt32 + 1, math.MaxUint32 - 1, math.MaxUint32}
	for i := range uint64(spreadHashes) {
		h = append(h, uint32(splitmix64(i)>>32))
	}
	return h
})

// splitmix64 is SplitMix64's finalizer: every input bit moves every
// output bit.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// pool returns live servers of the given weights. Names are of equal
// length up to 9 servers, so that appending one keeps them in walnut's
// order (shorter names first, then bytewise), as a real pool would be.
func pool(weights ...int) []distributions.Server {
	s := make([]distributions.Server, len(weights))
	for i, w := range weights {
		name := fmt.Sprintf("10.0.0.%d:6379", i+1)
		s[i] = distributions.Server{Name: name, Addr: name, Weight: w, Alive: true}
	}
	return s
}

// equal returns n live servers of weight 1.
func equal(n int) []distributions.Server {
	w := make([]int, n)
	for i := range w {
		w[i] = 1
	}
	return pool(w...)
}

// withDead returns a copy of servers with those at the given indices dead.
func withDead(servers []distributions.Server, dead ...int) []distributions.Server {
	s := slices.Clone(servers)
	for _, i := range dead {
		s[i].Alive = false
	}
	return s
}

// describe prints a server list compactly for failure messages.
func describe(servers []distributions.Server) string {
	if servers == nil {
		return "nil"
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range servers {
		if i == 8 {
			fmt.Fprintf(&b, " ... (%d servers)", len(servers))
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		name := s.Name
		if len(name) > 24 {
			name = fmt.Sprintf("%s...(%d bytes)", name[:16], len(name))
		}
		fmt.Fprintf(&b, "%q:%d", name, s.Weight)
		if !s.Alive {
			b.WriteString("(dead)")
		}
	}
	b.WriteByte(']')
	return b.String()
}

// errReported stands for a Build that went wrong in a way tryBuild has
// reported already.
var errReported = errors.New("reported")

// tryBuild calls Build on a copy of servers. A panic, and a nil table
// without an error, become reports and errReported; a Build that changes
// its argument is reported, because walnut reads the servers' Alive
// flags after Build.
func (s *suite) tryBuild(r reporter, servers []distributions.Server) (tab distributions.Table, err error) {
	r.Helper()
	arg := slices.Clone(servers)
	defer func() {
		if p := recover(); p != nil {
			r.Errorf("Build(%s) panicked: %v", describe(servers), p)
			tab, err = nil, errReported
		}
		if !slices.Equal(arg, servers) {
			r.Errorf("Build(%s) changed its argument to %s; walnut reads the servers after Build", describe(servers), describe(arg))
		}
	}()
	tab, err = s.d.Build(arg)
	if err == nil && tab == nil {
		r.Errorf("Build(%s) returned neither a table nor an error", describe(servers))
		err = errReported
	}
	return tab, err
}

// mustBuild is tryBuild for server lists that the configuration allows,
// which Build must accept.
func (s *suite) mustBuild(r reporter, servers []distributions.Server) (distributions.Table, bool) {
	r.Helper()
	tab, err := s.tryBuild(r, servers)
	if err != nil && err != errReported {
		r.Errorf("Build(%s): %v", describe(servers), err)
	}
	return tab, err == nil
}

// pickAll calls visit with Pick's answer for each hash, and reports a
// panic of Pick as a failure about what.
func pickAll(r reporter, what string, tab distributions.Table, hs []uint32, visit func(h uint32, p int)) (ok bool) {
	r.Helper()
	var h uint32
	defer func() {
		if p := recover(); p != nil {
			r.Errorf("%s: Pick(%#x) panicked: %v", what, h, p)
			ok = false
		}
	}()
	for _, h = range hs {
		visit(h, tab.Pick(h))
	}
	return true
}

// routable reports whether servers have one Pick must route to: a live
// one whose weight, unless the distribution ignores weights, is at least
// 1.
func (s *suite) routable(servers []distributions.Server) bool {
	return slices.ContainsFunc(servers, func(sv distributions.Server) bool {
		return sv.Alive && (sv.Weight >= 1 || s.ignoresWeights)
	})
}

// wrongPick says what is wrong with p as Pick's answer for a table built
// from servers, or "" if nothing is.
func (s *suite) wrongPick(servers []distributions.Server, p int) string {
	switch {
	case p == -1:
		if s.routable(servers) {
			return "-1 while a live server is there to route to"
		}
	case p < 0 || p >= len(servers):
		return fmt.Sprintf("%d, not an index of the %d servers given to Build", p, len(servers))
	case !servers[p].Alive:
		return fmt.Sprintf("%d, a dead server", p)
	case servers[p].Weight < 1 && !s.ignoresWeights:
		return fmt.Sprintf("%d, a server of weight %d", p, servers[p].Weight)
	}
	return ""
}

// checkPicks reports every hash for which tab answers wrongly.
func (s *suite) checkPicks(r reporter, what string, tab distributions.Table, servers []distributions.Server, hs []uint32) {
	r.Helper()
	var bad tally
	pickAll(r, what, tab, hs, func(h uint32, p int) {
		if w := s.wrongPick(servers, p); w != "" {
			bad.add("Pick(%#x) = %s", h, w)
		}
	})
	bad.report(r, what)
}

// tally counts failures of one kind and keeps the first, so that a
// broken table gets one line rather than thousands.
type tally struct {
	n     int
	first string
}

func (t *tally) add(format string, args ...any) {
	if t.n == 0 {
		t.first = fmt.Sprintf(format, args...)
	}
	t.n++
}

func (t *tally) report(r reporter, what string) {
	r.Helper()
	switch t.n {
	case 0:
	case 1:
		r.Errorf("%s: %s", what, t.first)
	default:
		r.Errorf("%s: %s (and %d more)", what, t.first, t.n-1)
	}
}

// shares picks every hash and returns each server's share of them.
func shares(r reporter, what string, tab distributions.Table, n int) ([]float64, bool) {
	r.Helper()
	count := make([]float64, n)
	hs := hashes()
	ok := pickAll(r, what, tab, hs, func(_ uint32, p int) {
		if p >= 0 && p < n {
			count[p]++
		}
	})
	for i := range count {
		count[i] /= float64(len(hs))
	}
	return count, ok
}

// expected returns each server's fair share: its weight's share of the
// live weight, or an equal share of the live servers if the distribution
// ignores weights.
func (s *suite) expected(servers []distributions.Server) []float64 {
	want := make([]float64, len(servers))
	var total float64
	for i, sv := range servers {
		if sv.Alive {
			want[i] = float64(sv.Weight)
			if s.ignoresWeights {
				want[i] = 1
			}
			total += want[i]
		}
	}
	for i := range want {
		want[i] /= total
	}
	return want
}

// checkShares reports servers whose share strays from the fair one by
// more than shareTolerance.
func (s *suite) checkShares(r reporter, what string, tab distributions.Table, servers []distributions.Server) {
	r.Helper()
	got, ok := shares(r, what, tab, len(servers))
	if !ok {
		return
	}
	want := s.expected(servers)
	for i := range got {
		if math.Abs(got[i]-want[i]) > shareTolerance*want[i] {
			r.Errorf("%s: shares %s, want %s, each within a third", what, percents(got), percents(want))
			return
		}
	}
}

func percents(f []float64) string {
	p := make([]string, len(f))
	for i, x := range f {
		p[i] = fmt.Sprintf("%.1f%%", 100*x)
	}
	return strings.Join(p, " ")
}

func (s *suite) checkRegistered(r reporter) {
	if s.name == "" {
		r.Skipf("no name given, so no registration to check")
	}
	got, err := distributions.Lookup(s.name)
	if err != nil {
		r.Fatalf("%v", err)
	}
	// DeepEqual rather than ==, which panics on a distribution of a
	// type that is not comparable.
	if !reflect.DeepEqual(got, s.d) {
		r.Errorf("Lookup(%q) = %#v, not the distribution under test, %#v", s.name, got, s.d)
	}
	if names := distributions.Names(); !slices.Contains(names, s.name) {
		r.Errorf("Names() = %q, without %q", names, s.name)
	}
}

func (s *suite) checkNoLiveServer(r reporter) {
	// Build must succeed here: walnut keeps the old table when a rebuild
	// fails, and that one routes to the servers just ejected.
	for _, tc := range []struct {
		name    string
		servers []distributions.Server
	}{
		{"nil list", nil},
		{"empty list", []distributions.Server{}},
		{"one dead", withDead(pool(1), 0)},
		{"all dead", withDead(pool(1, 2, 3), 0, 1, 2)},
	} {
		tab, ok := s.mustBuild(r, tc.servers)
		if !ok {
			continue
		}
		s.checkPicks(r, tc.name, tab, tc.servers, hashes()[:4096])
	}
}

func (s *suite) checkLiveOnly(r reporter) {
	for _, tc := range []struct {
		name    string
		servers []distributions.Server
	}{
		{"one server", pool(1)},
		{"all alive", equal(5)},
		{"first dead", withDead(equal(5), 0)},
		{"last dead", withDead(equal(5), 4)},
		{"every other dead", withDead(equal(7), 1, 3, 5)},
		{"one alive of five", withDead(equal(5), 0, 1, 3, 4)},
		{"heaviest dead", withDead(pool(1, 3, 2), 1)},
	} {
		tab, ok := s.mustBuild(r, tc.servers)
		if !ok {
			continue
		}
		s.checkPicks(r, tc.name, tab, tc.servers, hashes())
	}
}

func (s *suite) checkDeterministic(r reporter) {
	if s.random {
		r.Skipf("Random: placement does not depend on the hash")
	}
	for _, tc := range []struct {
		name    string
		servers []distributions.Server
	}{
		{"equal", equal(5)},
		{"weighted", pool(1, 3, 2, 1)},
		{"one dead", withDead(equal(4), 1)},
	} {
		a, ok1 := s.mustBuild(r, tc.servers)
		b, ok2 := s.mustBuild(r, tc.servers)
		if !ok1 || !ok2 {
			continue
		}
		var again, rebuilt tally
		pickAll(r, tc.name, a, hashes(), func(h uint32, p int) {
			if q := a.Pick(h); q != p {
				again.add("Pick(%#x) = %d, then %d", h, p, q)
			}
			if q := b.Pick(h); q != p {
				rebuilt.add("Pick(%#x) = %d on one table, %d on the other", h, p, q)
			}
		})
		again.report(r, tc.name+": Pick is not a function of the hash")
		rebuilt.report(r, tc.name+": two Builds from the same servers disagree")
	}
}

func (s *suite) checkWeights(r reporter) {
	for _, tc := range []struct {
		name    string
		servers []distributions.Server
	}{
		{"weights 1:3", pool(1, 3)},
		{"weights 1:1:1:1:1", equal(5)},
		{"weights 1:2:3:4", pool(1, 2, 3, 4)},
		// Large enough for modula to search cumulative weights rather
		// than list slots.
		{"weights 2^20:3*2^20", pool(1<<20, 3<<20)},
	} {
		tab, ok := s.mustBuild(r, tc.servers)
		if !ok {
			continue
		}
		s.checkShares(r, tc.name, tab, tc.servers)
	}
}

func (s *suite) checkBadInput(r reporter) {
	srv := func(name string, weight int, alive bool) distributions.Server {
		return distributions.Server{Name: name, Addr: "127.0.0.1:6379", Weight: weight, Alive: alive}
	}
	a, b := "10.0.0.1:6379", "10.0.0.2:6379"
	for _, tc := range []struct {
		name    string
		servers []distributions.Server
	}{
		{"weight 0", []distributions.Server{srv(a, 1, true), srv(b, 0, true), srv("c", 1, true)}},
		{"negative weight", []distributions.Server{srv(a, 1, true), srv(b, -1, true)}},
		{"smallest int weight", []distributions.Server{srv(a, math.MinInt, true), srv(b, 1, true)}},
		{"weight 0 only", []distributions.Server{srv(a, 0, true)}},
		{"weight 0, dead", []distributions.Server{srv(a, 1, true), srv(b, 0, false)}},
		{"empty name", []distributions.Server{srv("", 1, true), srv(b, 1, true)}},
		{"empty names", []distributions.Server{srv("", 1, true), srv("", 1, true)}},
		{"duplicate names", []distributions.Server{srv(a, 1, true), srv(a, 2, true)}},
		{"1000-byte name", []distributions.Server{srv(strings.Repeat("x", 1000), 1, true), srv(b, 1, true)}},
		{"binary name", []distributions.Server{srv("\x00\xff\n-1", 1, true), srv(b, 1, true)}},
	} {
		// Refusing is fine: the configuration never asks for these.
		tab, err := s.tryBuild(r, tc.servers)
		if err != nil {
			continue
		}
		s.checkPicks(r, tc.name, tab, tc.servers, hashes()[:4096])
	}
}

func (s *suite) checkNoAllocs(r reporter) {
	for _, tc := range []struct {
		name    string
		servers []distributions.Server
	}{
		{"no live server", nil},
		{"1 server", pool(1)},
		{"5 servers, one dead", withDead(equal(5), 2)},
		{"200 servers", equal(200)},
		{"weights 2^20:3*2^20", pool(1<<20, 3<<20)},
	} {
		tab, ok := s.mustBuild(r, tc.servers)
		if !ok {
			continue
		}
		// The same hashes as AllocsPerRun's 1001 calls, so that a panic
		// is reported here rather than crash the measurement.
		const runs = 1000
		hs := hashes()[:runs+1]
		if !pickAll(r, tc.name, tab, hs, func(uint32, int) {}) {
			continue
		}
		i, sum := 0, 0
		allocs := testing.AllocsPerRun(runs, func() {
			sum += tab.Pick(hs[i])
			i++
		})
		if allocs != 0 {
			r.Errorf("%s: Pick allocates %v times a call; it runs for every request", tc.name, allocs)
		}
	}
}

func (s *suite) checkConcurrent(r reporter) {
	const goroutines, picks, stagger = 4, 10000, 1000
	servers := withDead(equal(6), 2)
	tab, ok := s.mustBuild(r, servers)
	if !ok {
		return
	}
	// Goroutines start stagger hashes apart, so they pick mostly the
	// same hashes at about the same time.
	hs := hashes()[:picks+goroutines*stagger]
	want := make([]int, 0, len(hs))
	if !pickAll(r, "serial", tab, hs, func(_ uint32, p int) { want = append(want, p) }) {
		return
	}
	failed := make([]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			i := g * stagger
			defer func() {
				if p := recover(); p != nil {
					failed[g] = fmt.Sprintf("Pick(%#x) panicked: %v", hs[i], p)
				}
			}()
			for ; i < g*stagger+picks; i++ {
				p := tab.Pick(hs[i])
				if w := s.wrongPick(servers, p); w != "" {
					failed[g] = fmt.Sprintf("Pick(%#x) = %s", hs[i], w)
					return
				}
				if !s.random && p != want[i] {
					failed[g] = fmt.Sprintf("Pick(%#x) = %d, but %d when called alone", hs[i], p, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
	for g, f := range failed {
		if f != "" {
			r.Errorf("goroutine %d of %d: %s", g, goroutines, f)
		}
	}
}

func (s *suite) checkAddServer(r reporter) {
	for _, n := range []int{1, 2, 4, 8} {
		before, after := equal(n), equal(n+1)
		what := fmt.Sprintf("%d to %d servers", n, n+1)
		a, ok1 := s.mustBuild(r, before)
		b, ok2 := s.mustBuild(r, after)
		if !ok1 || !ok2 {
			continue
		}
		s.checkPicks(r, what, b, after, hashes())
		if !s.consistent {
			continue
		}
		var moved, stray int
		var strayed tally
		pickAll(r, what, a, hashes(), func(h uint32, p int) {
			if q := b.Pick(h); q != p {
				moved++
				if q != n {
					stray++
					strayed.add("Pick(%#x) went from %d to %d", h, p, q)
				}
			}
		})
		total := float64(len(hashes()))
		fair := 1 / float64(n+1)
		if f := float64(moved) / total; f > 2*fair {
			r.Errorf("%s: %.1f%% of keys moved, want at most %.1f%% (2/(N+1))", what, 100*f, 200*fair)
		} else if f < fair/2 {
			r.Errorf("%s: %.1f%% of keys moved to the new server, want at least %.1f%% (half of 1/(N+1))", what, 100*f, 50*fair)
		}
		if f := float64(stray) / total; f > strayTolerance {
			r.Errorf("%s: %.2f%% of keys moved between servers that were there before, want at most %.0f%%: %s",
				what, 100*f, 100*strayTolerance, strayed.first)
		}
	}
}

func (s *suite) checkEject(r reporter) {
	const n = 5
	all := equal(n)
	full, ok := s.mustBuild(r, all)
	if !ok {
		return
	}
	for k := range n {
		servers := withDead(all, k)
		what := fmt.Sprintf("server %d of %d ejected", k, n)
		tab, ok := s.mustBuild(r, servers)
		if !ok {
			continue
		}
		s.checkPicks(r, what, tab, servers, hashes())
		s.checkShares(r, what, tab, servers)
		if !s.consistent {
			continue
		}
		var moved int
		var first tally
		pickAll(r, what, full, hashes(), func(h uint32, p int) {
			if q := tab.Pick(h); p != k && q != p {
				moved++
				first.add("Pick(%#x) went from %d to %d", h, p, q)
			}
		})
		if f := float64(moved) / float64(len(hashes())); f > strayTolerance {
			r.Errorf("%s: %.2f%% of keys of the other servers moved, want at most %.0f%%: %s",
				what, 100*f, 100*strayTolerance, first.first)
		}
	}
}
