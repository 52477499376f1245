//go:build linux

package core

import (
	"fmt"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/protocols"
)

// Read-through during a reshard.
//
// A pool with a migration ([pools.NAME.migration]) serves the new
// placement while walnut reshard moves keys from their old servers. A
// request for one key whose server changed is then served in up to three
// steps (protocols.Through): a read that misses on the new server asks
// the old one, and if that misses too, the new one again; a delete goes
// to the new server, the old one and the new one again. The third step
// closes the race with the mover, which copies a key to its new server
// before deleting it from the old one: a key missing on the new server,
// then on the old one, was copied in between. A request that is not for
// one key (MGET, get of many keys) is split so that every key whose
// server changed is a part of its own.
//
// The steps reuse the fragment: it is sent again, on the loop's
// connection to the next server, with the same request; the response of
// an earlier step is kept in the part (copied, never a buffer handed over
// by the server connection), to be answered if a later server fails.
// Pools without a migration pay a nil check per fragment.
//
// Only requests on the pool's shared connections read through. One on a
// dedicated connection (protocols.Conn: a transaction, a WATCH, a
// blocking command, pub/sub) goes to its key's new server alone: a
// transaction runs on one server, and a blocking pop waits there until
// the mover brings the key (Redis wakes it then) or its timeout ends.

// migration is a pool's old placement, with a backend for every old
// server (shared with the pool where the server stays).
type migration struct {
	old   *table
	codec protocols.ReadThrough
}

// through is a fragment's progress through the steps; zero when the
// fragment is served by its server alone.
type through struct {
	m        *migration
	op       protocols.Through
	from, to *backend // the key's old and new servers
	step     uint8    // 0: on the new server; 1: on the old; 2: on the new again
	hit      bool     // a delete: the kept response is not a miss
}

// newMigration builds the pool's migration from cfg, or returns nil if
// there is none. An old server that is also a server of the pool, or of
// the migration being replaced, or one of the pool's servers being
// dropped by this reload (reusable), keeps its backend and connections.
func (p *Pool) newMigration(cfg *config.Pool, st *settings, current, reusable []*backend) (*migration, error) {
	if cfg.Migration == nil || cfg.Migration.Old == nil {
		return nil, nil
	}
	rt, ok := st.codec.(protocols.ReadThrough)
	if !ok {
		return nil, fmt.Errorf("migration: protocol %s cannot read through to the old servers", cfg.Protocol)
	}
	old := cfg.Migration.Old
	ost := &settings{}
	var batch distributions.BatchHasher
	var err error
	if ost.hash, batch, err = p.px.ext.ResolveHash(old.Hash); err != nil {
		return nil, fmt.Errorf("migration: %w", err)
	}
	if batch != nil {
		return nil, fmt.Errorf("migration: the old hash %q is a plugin; reading through needs a builtin hash", old.Hash)
	}
	dist, err := p.px.ext.ResolveDistribution(old.Distribution)
	if err != nil {
		return nil, fmt.Errorf("migration: %w", err)
	}
	if len(old.HashTag) == 2 {
		ost.hasTag, ost.tag = true, [2]byte{old.HashTag[0], old.HashTag[1]}
	}
	t, err := buildTable(dist, old.Distribution, old.Servers, ost)
	if err != nil {
		return nil, fmt.Errorf("migration: %w", err)
	}
	var prev []*backend
	if p.migration != nil {
		prev = p.migration.old.backends
	}
	for _, s := range old.Servers {
		b := findBackend(s, cfg.ServerConnections, current, prev, reusable)
		if b == nil {
			b = newBackend(p, s, cfg.ServerConnections, p.px.workers)
		}
		t.backends = append(t.backends, b)
	}
	return &migration{old: t, codec: rt}, nil
}

func findBackend(s config.Server, nconns int, lists ...[]*backend) *backend {
	for _, l := range lists {
		for _, b := range l {
			if b.sameServer(s, nconns) {
				return b
			}
		}
	}
	return nil
}

// uses reports whether b serves the migration; m may be nil.
func (m *migration) uses(b *backend) bool {
	if m == nil {
		return false
	}
	for _, x := range m.old.backends {
		if x == b {
			return true
		}
	}
	return false
}

// retireMigration retires the backends of a replaced migration that
// neither the pool's servers nor the new migration use.
func retireMigration(prev, next *migration, servers []*backend) {
	if prev == nil {
		return
	}
	for _, b := range prev.old.backends {
		if !next.uses(b) && !contains(servers, b) {
			b.retire()
		}
	}
}

func contains(bs []*backend, b *backend) bool {
	for _, x := range bs {
		if x == b {
			return true
		}
	}
	return false
}

// moved returns the old server of key if it is not to, else nil.
func (m *migration) moved(key []byte, to *backend) *backend {
	i := m.old.route(key)
	if i < 0 {
		return nil
	}
	if from := m.old.backends[i]; from.addr != to.addr {
		return from
	}
	return nil
}

// route prepares fragment f, about to go to server to, for the steps if
// it carries one key whose server changed and its request is a read or
// a delete.
func (m *migration) route(f *fragment, to *backend) {
	s := f.slot
	var key []byte
	switch keys := s.parts[f.part].Keys; {
	case keys == nil && len(s.req.Keys) == 1:
		key = s.req.Keys[0]
	case len(keys) == 1:
		key = s.req.Keys[keys[0]]
	default:
		return
	}
	op := m.codec.Through(&s.req)
	if op == protocols.ThroughNone {
		return
	}
	if from := m.moved(key, to); from != nil {
		f.rt = through{m: m, op: op, from: from, to: to}
	}
}

// splits reports whether a Split request is split key by key where keys
// moved, for the steps.
func (m *migration) splits(req *protocols.Request) bool {
	return m.codec.Through(req) != protocols.ThroughNone
}

// throughComplete takes the response of one step. It returns false when
// resp is the answer, to be completed as usual; true when the fragment
// went on to the next step, or was completed here.
func (f *fragment) throughComplete(resp []byte) bool {
	rt := &f.rt
	p := &f.slot.parts[f.part]
	miss := rt.m.codec.Missed(&f.slot.req, resp)
	if rt.op == protocols.ThroughRead {
		if !miss || rt.step == 2 {
			return false
		}
		// Kept, in case the next server fails.
		p.Resp = append(p.Resp[:0], resp...)
	} else if !rt.hit {
		p.Resp = append(p.Resp[:0], resp...)
		rt.hit = !miss
	}
	if rt.step == 2 {
		p.Err = nil
		f.c.fragmentDone()
		return true
	}
	rt.step++
	next := rt.to
	if rt.step == 1 {
		next = rt.from
	}
	next.conn(f.c.l, f.c.id).send(f)
	return true
}

// throughFail takes a failed step. The first is an ordinary failure
// (false); a later one answers what the earlier steps got: an old
// server that is unreachable holds nothing walnut can serve.
func (f *fragment) throughFail() bool {
	if f.rt.step == 0 {
		return false
	}
	f.slot.parts[f.part].Err = nil
	f.c.fragmentDone()
	return true
}
