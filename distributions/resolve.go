package distributions

import "fmt"

// Extensions are hash functions and distributions from outside the
// registries: the plugins that a configuration's [plugins.NAME] tables
// start, by those names. Every lookup of a pool's hash or distribution
// by name goes through Resolve*, so that walnut, walnut -t and walnut
// reshard agree on what a name means. A plugin cannot take a builtin's
// name (the configuration refuses it), so looking in Extensions first
// never hides a builtin.
type Extensions struct {
	Hashers       map[string]BatchHasher
	Distributions map[string]Distribution
}

// ResolveHash returns the hash function name stands for: fn when it is
// in-process, batch when it is external (a plugin hashes whole batches,
// see BatchHasher). x may be nil.
func (x *Extensions) ResolveHash(name string) (fn HashFunc, batch BatchHasher, err error) {
	if x != nil {
		if h, ok := x.Hashers[name]; ok {
			return nil, h, nil
		}
	}
	fn, err = LookupHash(name)
	if err != nil {
		return nil, nil, fmt.Errorf("%w, nor a plugin in [plugins]", err)
	}
	return fn, nil, nil
}

// ResolveDistribution returns the distribution name stands for. x may
// be nil.
func (x *Extensions) ResolveDistribution(name string) (Distribution, error) {
	if x != nil {
		if d, ok := x.Distributions[name]; ok {
			return d, nil
		}
	}
	d, err := Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%w, nor a plugin in [plugins]", err)
	}
	return d, nil
}

// Builtin reports which registry already holds name, as "hash" or
// "distribution", or "" if neither does: a plugin may not take a
// builtin's name.
func Builtin(name string) string {
	if _, err := LookupHash(name); err == nil {
		return "hash"
	}
	if _, err := Lookup(name); err == nil {
		return "distribution"
	}
	return ""
}

// Declared stands in for an external plugin that is named but not
// running, as when walnut -t checks a configuration without starting its
// plugins: as a distribution it routes nothing, as a hash it fails.
type Declared struct{ Name string }

var (
	_ Distribution = Declared{}
	_ Table        = Declared{}
	_ BatchHasher  = Declared{}
)

// Build implements Distribution.
func (d Declared) Build([]Server) (Table, error) { return d, nil }

// Pick implements Table: no server.
func (Declared) Pick(uint32) int { return -1 }

// HashBatch implements BatchHasher: an error.
func (d Declared) HashBatch([][]byte, []uint32) error {
	return fmt.Errorf("plugin %s is not started", d.Name)
}

// DeclaredExtensions stands Declared in for every name, as both a hash
// and a distribution.
func DeclaredExtensions(names []string) *Extensions {
	x := &Extensions{Hashers: map[string]BatchHasher{}, Distributions: map[string]Distribution{}}
	for _, n := range names {
		x.Hashers[n] = Declared{Name: n}
		x.Distributions[n] = Declared{Name: n}
	}
	return x
}
