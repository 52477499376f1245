//go:build linux

package core

import (
	"fmt"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/distributions"
)

// Router places keys exactly as a running pool does, for tools that must
// agree with the proxy about where a key lives (walnut reshard): the
// same settings (hash, hash_tag, distribution, from the registries or
// from the options' plugins), the same routing table built from the
// pool's servers, and the same per-key code (table.route). It routes as
// if every server were alive: the placement a pool has when none is
// ejected.
type Router struct {
	t     *table
	batch distributions.BatchHasher
	tag   bool
}

// NewRouter builds the placement of the pool cfg describes. opts supply
// plugins, as for New.
func NewRouter(cfg *config.Pool, opts ...Option) (*Router, error) {
	px := &Proxy{}
	px.apply(opts)
	st, err := px.newSettings(cfg)
	if err != nil {
		return nil, err
	}
	t, err := buildTable(st.dist, cfg.Distribution, cfg.Servers, st)
	if err != nil {
		return nil, err
	}
	// route reads only how many backends there are: a pool of one
	// server does not hash (nutcracker's rule), and nor must the Router.
	t.backends = make([]*backend, len(cfg.Servers))
	return &Router{t: t, batch: st.batch, tag: st.hasTag}, nil
}

// buildTable builds a routing table over servers, every one alive, with
// st's hash and hash tag. Its backends are left empty.
func buildTable(dist distributions.Distribution, distName string, servers []config.Server, st *settings) (*table, error) {
	ds := make([]distributions.Server, len(servers))
	for i, s := range servers {
		ds[i] = distributions.Server{Name: s.Name, Addr: s.Addr, Weight: s.Weight, Alive: true}
	}
	pick, err := dist.Build(ds)
	if err != nil {
		return nil, fmt.Errorf("distribution %s: %w", distName, err)
	}
	return &table{pick: pick, hash: st.hash, hasTag: st.hasTag, tag: st.tag}, nil
}

// Route returns the index in the pool's Servers (configuration order,
// which config sorts as nutcracker does) of the server that owns key, or
// -1 if none does. A pool whose hash is an external plugin routes with
// RouteBatch only (Route answers such a pool a negative index unless it
// has one server, which nothing hashes for).
func (r *Router) Route(key []byte) int { return r.t.route(key) }

// RouteBatch routes many keys at once, writing key i's server to out[i]:
// the only way for a pool whose hash function is an external plugin,
// which hashes a batch in one call as the event loops do.
func (r *Router) RouteBatch(keys [][]byte, out []int) error {
	if r.batch == nil {
		for i, k := range keys {
			out[i] = r.t.route(k)
		}
		return nil
	}
	hashed := keys
	if r.tag {
		hashed = make([][]byte, len(keys))
		for i, k := range keys {
			hashed[i] = hashTagged(k, r.t.tag)
		}
	}
	hs := make([]uint32, len(keys))
	if err := r.batch.HashBatch(hashed, hs); err != nil {
		return err
	}
	for i, h := range hs {
		if len(hashed[i]) == 0 {
			h = 0 // nutcracker's rule for an empty key, as hashBatch.run applies it
		}
		out[i] = r.t.pick.Pick(h)
	}
	return nil
}
