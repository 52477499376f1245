package disttest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
)

// An Option tells the kit what the distribution promises beyond the
// contract every distribution keeps.
type Option func(*options)

type options struct {
	random, ignoresWeights, consistent bool
}

// Random says the distribution does not place a key by its hash (like
// nutcracker's random): the kit skips the checks that compare placements
// and keeps those that Pick routes only to live servers.
func Random() Option { return func(o *options) { o.random = true } }

// IgnoresWeights says every live server gets an equal share whatever its
// weight: the kit expects equal shares, and accepts a pick of a server
// whose weight is below 1.
func IgnoresWeights() Option { return func(o *options) { o.ignoresWeights = true } }

// Consistent says the distribution is consistent hashing: adding a server
// moves about its fair share of keys, all to it, and ejecting one moves
// that server's keys only. The kit then measures both (see the package
// comment for the bounds).
func Consistent() Option { return func(o *options) { o.consistent = true } }

// suite is one run of the kit: the distribution and what it promises.
type suite struct {
	name string
	d    distributions.Distribution
	options
}

func newSuite(name string, d distributions.Distribution, opts []Option) (*suite, error) {
	if d == nil {
		return nil, errors.New("disttest: nil distribution")
	}
	s := &suite{name: name, d: d}
	for _, o := range opts {
		o(&s.options)
	}
	if s.random && s.consistent {
		return nil, errors.New("disttest: Random and Consistent contradict each other: a random placement cannot keep keys in place")
	}
	return s, nil
}

// checks are the subtests, in the order they run; the package comment
// says what each promises.
var checks = []struct {
	name string
	run  func(*suite, reporter)
}{
	{"Registered", (*suite).checkRegistered},
	{"NoLiveServer", (*suite).checkNoLiveServer},
	{"LiveOnly", (*suite).checkLiveOnly},
	{"Deterministic", (*suite).checkDeterministic},
	{"Weights", (*suite).checkWeights},
	{"BadInput", (*suite).checkBadInput},
	{"NoAllocs", (*suite).checkNoAllocs},
	{"Concurrent", (*suite).checkConcurrent},
	{"AddServer", (*suite).checkAddServer},
	{"Eject", (*suite).checkEject},
}

// TestDistribution checks d against the contract, each check a subtest of
// t, and reports every failure through t. A non-empty name must be the
// name d is registered under; with "" the registry is not checked, for a
// distribution that is not registered (a plugin tested in-process).
//
// Do not call it from a parallel test: NoAllocs counts allocations with
// testing.AllocsPerRun, which sees those of every goroutine.
func TestDistribution(t *testing.T, name string, d distributions.Distribution, opts ...Option) {
	t.Helper()
	s, err := newSuite(name, d, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(s, t) })
	}
}

// Check runs TestDistribution's checks without a *testing.T. It returns
// nil if d passes, else an error per failure, each prefixed with the name
// of its check.
func Check(name string, d distributions.Distribution, opts ...Option) error {
	s, err := newSuite(name, d, opts)
	if err != nil {
		return err
	}
	var errs []error
	for _, res := range s.results() {
		for _, msg := range res.errors {
			errs = append(errs, fmt.Errorf("%s: %s", res.name, msg))
		}
	}
	return errors.Join(errs...)
}

// result is what one check reported under a recorder.
type result struct {
	name    string
	errors  []string
	skipped string
}

func (s *suite) results() []result {
	res := make([]result, len(checks))
	for i, c := range checks {
		r := record(func(r reporter) { c.run(s, r) })
		res[i] = result{name: c.name, errors: r.errors, skipped: r.skipped}
	}
	return res
}
