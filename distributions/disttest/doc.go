// Package disttest checks a distributions.Distribution against the
// contract walnut relies on, in the spirit of testing/fstest: write the
// distribution, then call TestDistribution from one of its tests. The
// builtins (ketama, modula, random) and the examples use it, and so can
// a distribution of your own, compiled in or served as a plugin.
//
//	func TestContract(t *testing.T) {
//		disttest.TestDistribution(t, "ring", ring.Ring{}, disttest.Consistent())
//	}
//
//	func FuzzBuild(f *testing.F) { disttest.FuzzBuild(f, ring.Ring{}) }
//
// Each check runs as a subtest, named below, so that a failure says
// which promise is broken and -run can select one:
//
//   - Registered: Lookup(name) returns the distribution and Names lists
//     it (skipped when name is "").
//   - NoLiveServer: Pick returns -1 for a nil or empty server list and
//     when every server is dead.
//   - LiveOnly: Pick returns an index of the slice given to Build, of a
//     live server, and never -1 while a server is alive.
//   - Deterministic: Pick answers the same for the same hash, and two
//     Builds from the same servers answer alike (skipped with Random).
//   - Weights: with weights 1:3, 1:2:3:4, equal and (2^20):(3·2^20), each
//     server's share of 65536 spread hashes is its weight's share within
//     a third of it (equal shares with IgnoresWeights). A third is
//     generous: nutcracker's ketama, 160 points a server, strays by up
//     to an eighth here; ignoring weights (1:3 as 1:1) strays by 100%.
//   - BadInput: weights of 0 or below, empty, duplicate, long or binary
//     names. The configuration guarantees a weight of at least 1, so
//     Build may refuse such lists (every builtin refuses weights below
//     1); it must not panic, and a table it returns must still route only
//     to live servers, never to one of weight below 1 unless the
//     distribution ignores weights, and must not answer -1 while a live
//     server it can route to exists.
//   - NoAllocs: Pick does not allocate (testing.AllocsPerRun).
//   - Concurrent: 4 goroutines of 10000 Picks on one table agree with
//     serial Picks; run with -race to catch data races.
//   - AddServer: Build works for N and N+1 servers (N = 1, 2, 4, 8, the
//     new one appended). With Consistent, at most 2/(N+1) of the keys
//     move, at least half of 1/(N+1) (the new server's fair share), and
//     at most 1% of the keys move anywhere but to the new server.
//   - Eject: with each of 5 servers dead in turn, it gets no key and the
//     others share the keys evenly (within a third). With Consistent, at
//     most 1% of the keys move from one live server to another.
//
// Every Build the kit makes must leave its argument as it was: walnut
// reads the servers' Alive flags after Build.
//
// The 1% slack in AddServer and Eject is for distributions that are
// consistent in the large but not to the key: ketama, as nutcracker
// computes it, rounds a server's point count in float32 from its share
// of the live weight, so where the count flips (24 equal servers hold
// 160 points each, 25 hold 156) the others lose or gain a few points and
// about 2% of keys move between them; at the kit's sizes nothing strays. With unequal weights
// the shares themselves change on ejection (weights 1, 2, 3, 4 minus the
// lightest moves 12% of the others' keys), so the kit tests consistency
// with equal weights only.
//
// Check runs the same checks without a *testing.T and returns what
// fails, for use outside go test.
package disttest
