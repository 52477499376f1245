package reshard

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/protocols/redis"
)

// placement is one side of a reshard: a pool's configuration and the
// proxy's router for it.
type placement struct {
	pool   *config.Pool
	router *core.Router
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

// server returns the identity of server i: its address, and its
// database (redis_db) when not 0. A key stays where it is when its new
// server has the same identity as the one it is on.
func (pl *placement) server(i int) string {
	return serverID(pl.pool.Servers[i].Addr, redisOf(pl.pool).DB)
}

// serverIn is server for database db of server i.
func (pl *placement) serverIn(i, db int) string {
	return serverID(pl.pool.Servers[i].Addr, db)
}

// dbs is a database the keys move out of on the old servers and the one
// they move into on the new servers: redis_db to redis_db, any other
// database a client SELECTs to itself. memcached has only {0, 0}.
type dbs struct{ old, new int }

// home is the pool's own databases: the old and the new redis_db.
func (pl *plan) home() dbs {
	return dbs{redisOf(pl.old.pool).DB, redisOf(pl.new.pool).DB}
}

func serverID(addr string, db int) string {
	if db == 0 {
		return addr
	}
	return addr + "/db" + strconv.Itoa(db)
}

// plan is the reshard of one pool: where its keys were (old) and where
// they go (new).
type plan struct {
	name     string
	protocol string
	old, new *placement
}

func newPlan(oldPool, newPool *config.Pool, oldOpts, newOpts []core.Option) (*plan, error) {
	if oldPool.Protocol != newPool.Protocol {
		return nil, fmt.Errorf("pool %s: protocol %s before, %s after; a reshard keeps the protocol", newPool.Name, oldPool.Protocol, newPool.Protocol)
	}
	if oldPool.Protocol != "redis" && oldPool.Protocol != "memcached" {
		return nil, fmt.Errorf("pool %s: walnut reshard moves redis and memcached keys, not %s", newPool.Name, oldPool.Protocol)
	}
	o, err := newPlacement(oldPool, oldOpts)
	if err != nil {
		return nil, err
	}
	n, err := newPlacement(newPool, newOpts)
	if err != nil {
		return nil, err
	}
	return &plan{name: newPool.Name, protocol: newPool.Protocol, old: o, new: n}, nil
}

// destinations routes keys found in database db.old of old server from
// with the new placement: dest[i] is the index of key i's new server (in
// database db.new), or -1 when the key stays on from. stray counts the keys that move although the old
// placement does not put them on from either (written while a server
// was ejected, or by hand). Keys that belong on from under the new
// placement are not stray: they may have just been moved there.
func (pl *plan) destinations(from int, db dbs, keys [][]byte, dest []int) (stray int, err error) {
	if err := pl.new.router.RouteBatch(keys, dest); err != nil {
		return 0, err
	}
	here := pl.old.serverIn(from, db.old)
	for i, d := range dest {
		if d < 0 {
			return 0, fmt.Errorf("pool %s: no server for key %q", pl.name, keys[i])
		}
		if pl.new.serverIn(d, db.new) == here {
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
	moved := 0
	for i := range keys {
		if olds[i] < 0 || news[i] < 0 || pl.old.server(olds[i]) != pl.new.server(news[i]) {
			moved++
		}
	}
	return float64(moved) / float64(n), nil
}

// fingerprint identifies the reshard for the state file: both
// placements, as they decide where keys go.
func (pl *plan) fingerprint() string {
	h := sha256.New()
	for _, p := range []*config.Pool{pl.old.pool, pl.new.pool} {
		fmt.Fprintf(h, "%s|%s|%s|%q|%d|", p.Protocol, p.Hash, p.Distribution, p.HashTag, redisOf(p).DB)
		for _, s := range p.Servers {
			fmt.Fprintf(h, "%s,%s,%d;", s.Name, s.Addr, s.Weight)
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// redisOf returns a pool's Redis options; a memcached pool has the
// defaults, whose database 0 leaves its servers' identities as they are.
func redisOf(p *config.Pool) *redis.Options { return redis.OptionsOf(p.Options) }
