package reshard

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/move"
)

// placement is one side of a reshard: a pool's configuration and the
// proxy's router for it.
type placement struct {
	pool   *config.Pool
	router *core.Router
	mover  move.Mover // names the servers
	home   int        // the namespace its keys are in: the mover's Home, this side's half
}

func newPlacement(p *config.Pool, opts []core.Option) (*placement, error) {
	if p.Distribution == "random" {
		return nil, fmt.Errorf("pool %s: distribution random places keys anywhere; there is nothing to reshard", p.Name)
	}
	r, err := core.NewRouter(p, opts...)
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", p.Name, err)
	}
	return &placement{pool: p, router: r}, nil
}

// server returns the identity of server i in the pool's own namespace,
// as the protocol names it. A key stays where it is when its new server
// has the same identity as the one it is on.
func (pl *placement) server(i int) string { return pl.serverIn(i, pl.home) }

// servers returns the identity of every server.
func (pl *placement) servers() []string {
	ids := make([]string, len(pl.pool.Servers))
	for i := range ids {
		ids[i] = pl.server(i)
	}
	return ids
}

// serverIn is server for namespace ns of server i.
func (pl *placement) serverIn(i, ns int) string {
	return pl.mover.ServerID(pl.pool.Servers[i].Addr, ns)
}

// plan is the reshard of one pool: where its keys were (old) and where
// they go (new), and the protocol's mover that takes them there.
type plan struct {
	name     string
	protocol string
	old, new *placement
	mover    move.Mover
}

func newPlan(oldPool, newPool *config.Pool, oldOpts, newOpts []core.Option) (*plan, error) {
	if oldPool.Protocol != newPool.Protocol {
		return nil, fmt.Errorf("pool %s: protocol %s before, %s after; a reshard keeps the protocol", newPool.Name, oldPool.Protocol, newPool.Protocol)
	}
	d, err := protocols.Lookup(newPool.Protocol)
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", newPool.Name, err)
	}
	r, ok := d.(move.Resharder)
	if !ok {
		return nil, fmt.Errorf("pool %s: protocol %s cannot be resharded by walnut reshard", newPool.Name, newPool.Protocol)
	}
	o, err := newPlacement(oldPool, oldOpts)
	if err != nil {
		return nil, err
	}
	n, err := newPlacement(newPool, newOpts)
	if err != nil {
		return nil, err
	}
	mp := move.Pool{Old: oldPool.Options, New: newPool.Options, NewServers: make([]string, len(newPool.Servers))}
	for i, srv := range newPool.Servers {
		mp.NewServers[i] = srv.Addr
	}
	m, err := r.NewMover(mp)
	if err != nil {
		return nil, fmt.Errorf("pool %s: %w", newPool.Name, err)
	}
	home := m.Home()
	o.mover, o.home = m, home.Old
	n.mover, n.home = m, home.New
	return &plan{name: newPool.Name, protocol: newPool.Protocol, old: o, new: n, mover: m}, nil
}

// home is the pool's own namespaces, old and new.
func (pl *plan) home() move.Namespace { return move.Namespace{Old: pl.old.home, New: pl.new.home} }

// destinations routes keys found in namespace ns.Old of old server from
// with the new placement: dest[i] is the index of key i's new server (in
// namespace ns.New), or -1 when the key stays on from. stray counts the
// keys that move although the old placement does not put them on from
// either (written while a server was ejected, or by hand). Keys that
// belong on from under the new placement are not stray: they may have
// just been moved there.
func (pl *plan) destinations(from int, ns move.Namespace, keys [][]byte, dest []int) (stray int, err error) {
	if err := pl.new.router.RouteBatch(keys, dest); err != nil {
		return 0, err
	}
	// Which new servers are from itself, named once rather than per key.
	here := pl.old.serverIn(from, ns.Old)
	stays := make([]int8, len(pl.new.pool.Servers)) // 0 unknown, 1 stays, -1 moves
	for i, d := range dest {
		if d < 0 {
			return 0, fmt.Errorf("pool %s: no server for key %q", pl.name, keys[i])
		}
		if stays[d] == 0 {
			stays[d] = -1
			if pl.new.serverIn(d, ns.New) == here {
				stays[d] = 1
			}
		}
		if stays[d] > 0 {
			dest[i] = -1
		}
	}
	olds := make([]int, len(keys))
	if err := pl.old.router.RouteBatch(keys, olds); err != nil {
		return 0, err
	}
	for i, o := range olds {
		if o != from && dest[i] >= 0 {
			stray++
		}
	}
	return stray, nil
}

// uniformShare is the share of a uniform keyspace (n synthetic keys)
// whose server changes: what the placements alone move, to compare with
// what the servers hold.
func (pl *plan) uniformShare(n int) (float64, error) {
	keys := make([][]byte, n)
	for i := range keys {
		sum := sha256.Sum256(strconv.AppendInt(nil, int64(i), 10))
		keys[i] = []byte(hex.EncodeToString(sum[:8]))
	}
	olds, news := make([]int, n), make([]int, n)
	if err := pl.old.router.RouteBatch(keys, olds); err != nil {
		return 0, err
	}
	if err := pl.new.router.RouteBatch(keys, news); err != nil {
		return 0, err
	}
	oldIDs, newIDs := pl.old.servers(), pl.new.servers()
	moved := 0
	for i := range keys {
		if olds[i] < 0 || news[i] < 0 || oldIDs[olds[i]] != newIDs[news[i]] {
			moved++
		}
	}
	return float64(moved) / float64(n), nil
}

// fingerprint identifies the reshard for the state file: both
// placements, as they decide where keys go.
func (pl *plan) fingerprint() string {
	h := sha256.New()
	for _, side := range []*placement{pl.old, pl.new} {
		p := side.pool
		fmt.Fprintf(h, "%s|%s|%s|%q|%d|", p.Protocol, p.Hash, p.Distribution, p.HashTag, side.home)
		for _, s := range p.Servers {
			fmt.Fprintf(h, "%s,%s,%d;", s.Name, s.Addr, s.Weight)
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
