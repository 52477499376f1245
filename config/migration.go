package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// Migration is a pool's [pools.NAME.migration] table: where the pool's
// keys were placed before a reshard that is still moving them. While it
// is set, a read that finds nothing on a key's server asks the server
// that owned the key before, and deletes reach both (see
// docs/resharding.md). It is either
//
//	[pools.alpha.migration]
//	from = "old.toml"     # the configuration before; its pool of the same name
//	pool = "alpha"        # optional: another pool name in that file
//
// or the old servers themselves, placed with this pool's hash, hash_tag
// and distribution unless the table says otherwise:
//
//	[pools.alpha.migration]
//	servers = ["10.0.0.1:6379:1", "10.0.0.2:6379:1"]
//	distribution = "modula"   # optional, also hash and hash_tag
type Migration struct {
	// From is the file from names, as written ("" with servers).
	From string
	// Old is the pool as it was: its servers, hash, hash_tag and
	// distribution place keys as before the reshard. Read from From, it
	// is that file's pool whole (walnut reshard uses its redis_auth and
	// redis_db); made from servers, it is this pool with those replaced.
	// Its own Migration is nil.
	Old *Pool
}

// migration reads the pool's migration table, if any, once the rest of
// p is decoded.
func (d *decoder) migration(p *Pool, pt *table) *Migration {
	t := pt.subtable("migration")
	if t == nil {
		return nil
	}
	defer t.done()
	m := &Migration{From: t.str("from", "")}
	_, hasServers := t.m["servers"]
	switch {
	case m.From != "" && hasServers:
		d.addf(t.key("from"), "give from (the configuration before) or servers (the servers before), not both")
		return nil
	case m.From != "":
		for _, k := range []string{"hash", "distribution", "hash_tag"} {
			if _, ok := t.get(k); ok {
				d.addf(t.key(k), "comes from the pool in %s; set it only with servers", m.From)
			}
		}
		name := t.str("pool", p.Name)
		if d.nested {
			// A file named by from is read only for its placement; its
			// own migration is not followed (no chains, no loops).
			return m
		}
		old, err := d.loadOld(m.From, name)
		if err != nil {
			d.addf(t.key("from"), "%v", err)
			return nil
		}
		m.Old = old
	case hasServers:
		if _, ok := t.get("pool"); ok {
			d.addf(t.key("pool"), "names a pool in the from file; with servers it has no meaning")
		}
		old := *p
		old.Migration = nil
		old.Hash = t.str("hash", p.Hash)
		if _, _, err := d.ext.ResolveHash(old.Hash); err != nil {
			d.check(t.key("hash"), err)
		}
		old.Distribution = t.str("distribution", p.Distribution)
		if _, err := d.ext.ResolveDistribution(old.Distribution); err != nil {
			d.check(t.key("distribution"), err)
		}
		old.HashTag = t.str("hash_tag", p.HashTag)
		if old.HashTag != "" && len(old.HashTag) != 2 {
			d.addf(t.key("hash_tag"), "want exactly two characters (such as \"{}\"), got %q", old.HashTag)
		}
		old.Servers = d.servers(t)
		m.Old = &old
	default:
		d.addf(t.key("from"), "missing: give from (the configuration before the reshard) or servers (the servers before)")
		return nil
	}
	if m.Old != nil && m.Old.Protocol != p.Protocol {
		d.addf(t.key("from"), "the pool before speaks %s, this one %s", m.Old.Protocol, p.Protocol)
	}
	return m
}

// loadOld reads the configuration a migration's from names, relative to
// the file being read, and returns its pool called name.
func (d *decoder) loadOld(from, name string) (*Pool, error) {
	path := from
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(d.path), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg *Config
	if IsYAML(path, data) {
		cfg, err = ParseYAML(path, data)
	} else {
		cfg, err = parse(path, data, &decoder{nested: true})
	}
	if err != nil {
		return nil, fmt.Errorf("reading it: %v", err)
	}
	for _, op := range cfg.Pools {
		if op.Name == name {
			op.Migration = nil
			return op, nil
		}
	}
	return nil, fmt.Errorf("%s has no pool %q (set pool = \"NAME\" to use another)", path, name)
}
