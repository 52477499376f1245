package distributions

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// HashFunc hashes a key to 32 bits. Implementations must be safe for
// concurrent use and must not allocate: one runs for every request.
type HashFunc func(key []byte) uint32

// Server is one backend as a distribution sees it.
type Server struct {
	// Name is what placement is computed from: the configured name, or
	// the address as nutcracker derives it ("host:port", or "host" alone
	// when the port is 11211).
	Name string
	// Addr is the dial address (host:port or a unix socket path).
	Addr string
	// Weight is at least 1.
	Weight int
	// Alive is false for a server ejected from the pool; a table must not
	// route to it.
	Alive bool
}

// BatchHasher hashes many keys in one call, writing key i's hash to
// out[i]. Hash functions that live in another process implement it
// instead of HashFunc: a call out per key would cost far more than the
// hashing, so walnut gathers the keys of a loop iteration and hashes them
// in one call.
type BatchHasher interface {
	HashBatch(keys [][]byte, out []uint32) error
}

// Distribution turns a server list into a routing table. Build runs when
// a pool starts and whenever its servers change (ejection, return,
// reload), never per request, so it may be slow or even call out to
// another process; the Table it returns must route in-process.
type Distribution interface {
	Build(servers []Server) (Table, error)
}

// Table routes a key's hash to a server. Pick returns an index into the
// slice given to Build, or -1 when no server is alive. Pick runs for every
// request: it must be fast, safe for concurrent use and allocation-free.
type Table interface {
	Pick(hash uint32) int
}

var (
	mu     sync.RWMutex
	hashes = map[string]HashFunc{}
	dists  = map[string]Distribution{}
)

// RegisterHash makes a hash function available by name, for pools to
// select with hash = "name". It panics on an empty name, a nil function
// or a name registered twice.
func RegisterHash(name string, fn HashFunc) {
	mu.Lock()
	defer mu.Unlock()
	if name == "" || fn == nil {
		panic("distributions: RegisterHash with an empty name or a nil function")
	}
	if _, dup := hashes[name]; dup {
		panic("distributions: RegisterHash called twice for " + name)
	}
	hashes[name] = fn
}

// Register makes a distribution available by name, for pools to select
// with distribution = "name". It panics on an empty name, a nil
// distribution or a name registered twice.
func Register(name string, d Distribution) {
	mu.Lock()
	defer mu.Unlock()
	if name == "" || d == nil {
		panic("distributions: Register with an empty name or a nil distribution")
	}
	if _, dup := dists[name]; dup {
		panic("distributions: Register called twice for " + name)
	}
	dists[name] = d
}

// LookupHash returns the hash function registered under name.
func LookupHash(name string) (HashFunc, error) {
	mu.RLock()
	fn, ok := hashes[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown hash %q (known: %s)", name, strings.Join(HashNames(), ", "))
	}
	return fn, nil
}

// Lookup returns the distribution registered under name.
func Lookup(name string) (Distribution, error) {
	mu.RLock()
	d, ok := dists[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown distribution %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return d, nil
}

// HashNames lists the registered hash functions in order.
func HashNames() []string {
	mu.RLock()
	defer mu.RUnlock()
	return sortedKeys(hashes)
}

// Names lists the registered distributions in order.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return sortedKeys(dists)
}

func sortedKeys[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
