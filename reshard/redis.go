package reshard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Key outcomes of a batch.
const (
	stFailed uint8 = iota
	stCopied
	stKept     // the new server had the key already; its copy stays
	stVanished // gone from the old server before the copy
)

// redisServer moves the keys of old server from whose new server is
// another, in every database the pool uses: redis_db, and every other
// database below databases that holds keys (clients reach them with
// SELECT, which walnut passes on as is). The other databases go first and
// redis_db last, so that the state file records the server (its redis_db)
// done only once all of them are.
func (m *mover) redisServer(ctx context.Context, from int) error {
	pl := m.pl
	src := pl.old.pool.Servers[from]
	conn, err := dialRedis(ctx, src.Addr, redisOf(pl.old.pool).Auth, redisOf(pl.old.pool).DB, m.o.Timeout)
	if err != nil {
		return err
	}
	defer conn.close()
	others, err := m.otherDatabases(conn)
	if err != nil {
		return err
	}
	for _, db := range append(others, pl.home()) {
		if err := m.redisDatabase(ctx, conn, from, db); err != nil {
			if db != pl.home() {
				err = fmt.Errorf("database %d: %w", db.old, err)
			}
			return err
		}
	}
	return nil
}

// otherDatabases returns the databases of the old server on conn, other
// than redis_db and below the old pool's databases, that hold keys, as
// SELECT and DBSIZE find them: each moves to the database of the same
// number on the new servers. conn is left in the last one asked.
func (m *mover) otherDatabases(conn *redisConn) ([]dbs, error) {
	op, np := m.pl.old.pool, m.pl.new.pool
	var out []dbs
	for db := range redisOf(op).Databases {
		if db == redisOf(op).DB {
			continue
		}
		v, err := conn.do("SELECT", db)
		if err != nil {
			return nil, err
		}
		if v.isErr() {
			// The server has fewer databases than the pool says: walnut
			// cannot have put keys in the others either.
			m.note("%s: SELECT %d: %s; databases %d and up are not moved", conn.addr, db, v.s, db)
			break
		}
		v, err = conn.do("DBSIZE")
		if err != nil {
			return nil, err
		}
		if !v.isErr() && v.n == 0 {
			continue
		}
		if db == redisOf(np).DB {
			return nil, fmt.Errorf("database %d holds keys, and redis_db %d moves into it too (redis_db is %d after the reshard): "+
				"move one of them aside first", db, redisOf(op).DB, redisOf(np).DB)
		}
		if db >= redisOf(np).Databases {
			m.note("%s: database %d holds keys; they move to database %d of the new servers, which walnut's databases = %d after the reshard does not reach",
				conn.addr, db, db, redisOf(np).Databases)
		}
		out = append(out, dbs{db, db})
	}
	return out, nil
}

// redisDatabase moves the keys of database db.old of old server from
// (conn, a connection to it) to database db.new of their new servers:
// SCAN page by page, from the cursor the state file recorded.
func (m *mover) redisDatabase(ctx context.Context, conn *redisConn, from int, db dbs) error {
	o, pl := m.o, m.pl
	id := pl.old.serverIn(from, db.old)
	cursor := "0"
	var earlier ServerState
	if m.ps != nil {
		switch ss := o.State.server(m.ps, id); {
		case ss.Done:
			m.resumed(id + " (done)")
			return nil
		case ss.Cursor != "" && ss.Cursor != "0":
			cursor = ss.Cursor
			earlier = ss
			m.resumed(id + " (at cursor " + cursor + ")")
		}
	}
	if v, err := conn.do("SELECT", db.old); err != nil {
		return err
	} else if v.isErr() {
		return fmt.Errorf("SELECT %d: %s", db.old, v.s)
	}
	if v, err := conn.do("DBSIZE"); err != nil {
		return err
	} else if !v.isErr() {
		m.addTotal(v.n)
		m.addEarlier(earlier.Scanned, earlier.Moved)
	}
	targets := map[int]*redisConn{}
	defer func() {
		for _, c := range targets {
			c.close()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		v, err := conn.do("SCAN", cursor, "COUNT", o.ScanCount)
		if err != nil {
			return err
		}
		if v.isErr() || v.t != '*' || len(v.a) != 2 || v.a[1].t != '*' {
			return fmt.Errorf("SCAN: unexpected reply %q", v.s)
		}
		next := string(v.a[0].s)
		keys := make([][]byte, len(v.a[1].a))
		for i, k := range v.a[1].a {
			keys[i] = k.s
		}
		moved, bytes, err := m.redisPage(ctx, conn, targets, from, db, keys)
		if err != nil {
			return err
		}
		cursor = next
		if err := m.advance(id, cursor, cursor == "0", int64(len(keys)), moved, bytes); err != nil {
			return fmt.Errorf("state file: %w", err)
		}
		if cursor == "0" {
			return nil
		}
	}
}

// redisPage handles the keys of one SCAN page of database db.old: those
// that move are measured, copied in batches to database db.new of their
// new servers (targets: connections to them in it) and deleted here.
func (m *mover) redisPage(ctx context.Context, src *redisConn, targets map[int]*redisConn, from int, db dbs, keys [][]byte) (moved, bytes int64, err error) {
	pl, o := m.pl, m.o
	dest := make([]int, len(keys))
	stray, err := pl.destinations(from, db, keys, dest)
	if err != nil {
		return 0, 0, err
	}
	byTarget := map[int][][]byte{}
	var order []int
	stay := 0
	for i, d := range dest {
		if d < 0 {
			stay++
			continue
		}
		if byTarget[d] == nil {
			order = append(order, d)
		}
		byTarget[d] = append(byTarget[d], keys[i])
	}
	// Keys count as scanned once handled: those that stay at once, the
	// others batch by batch.
	m.pr.scanned(int64(stay), int64(stray))
	fromID := pl.old.serverIn(from, db.old)
	for _, to := range order {
		group := byTarget[to]
		sizes, err := m.memoryUsage(src, group)
		if err != nil {
			return moved, bytes, err
		}
		toID := pl.new.serverIn(to, db.new)
		if o.DryRun {
			var n, b, gone int64
			for _, s := range sizes {
				if s < 0 {
					gone++
					continue
				}
				n++
				b += s
			}
			m.pr.add(fromID, toID, n, b, 0, gone)
			m.pr.scanned(int64(len(group)), 0)
			continue
		}
		for len(group) > 0 {
			k := min(len(group), o.Batch)
			n, b, err := m.redisBatch(ctx, src, targets, from, to, db, group[:k], sizes[:k])
			moved += n
			bytes += b
			if err != nil {
				return moved, bytes, err
			}
			m.pr.scanned(int64(k), 0)
			group, sizes = group[k:], sizes[k:]
			m.batchDone()
		}
	}
	return moved, bytes, nil
}

// memoryUsage returns each key's MEMORY USAGE, -1 for a key that is
// gone; in a dry run with BytesSample n, only every n-th key is
// measured (and counts n times), the others are 0.
func (m *mover) memoryUsage(src *redisConn, keys [][]byte) ([]int64, error) {
	sample := m.o.BytesSample
	var cmds [][]any
	var at []int
	for i, k := range keys {
		if i%sample == 0 {
			cmds = append(cmds, []any{"MEMORY", "USAGE", k})
			at = append(at, i)
		}
	}
	sizes := make([]int64, len(keys))
	for len(cmds) > 0 {
		n := min(len(cmds), 1000)
		vs, err := src.pipeline(cmds[:n])
		if err != nil {
			return nil, err
		}
		for j, v := range vs {
			switch {
			case v.isErr():
				return nil, fmt.Errorf("MEMORY USAGE: %s", v.s)
			case v.null:
				sizes[at[j]] = -1
			default:
				sizes[at[j]] = v.n * int64(sample)
			}
		}
		cmds, at = cmds[n:], at[n:]
	}
	return sizes, nil
}

// redisBatch copies keys (with their sizes, -1 for gone) to database
// db.new of new server to, then deletes from src those now safely there.
// It returns the keys and bytes moved; an error only when src cannot be
// used any more.
func (m *mover) redisBatch(ctx context.Context, src *redisConn, targets map[int]*redisConn, from, to int, db dbs, keys [][]byte, sizes []int64) (int64, int64, error) {
	if err := m.lim.wait(ctx, len(keys)); err != nil {
		return 0, 0, err
	}
	status := make([]uint8, len(keys))
	var live [][]byte
	var liveAt []int
	for i, s := range sizes {
		if s < 0 {
			status[i] = stVanished
			continue
		}
		live = append(live, keys[i])
		liveAt = append(liveAt, i)
	}
	if len(live) > 0 {
		st, err := m.copyRedis(ctx, src, targets, to, db.new, live)
		if err != nil {
			return 0, 0, err
		}
		for j, s := range st {
			status[liveAt[j]] = s
		}
	}
	// Delete what is safely on the new server: copied now, or there
	// before (and newer).
	del := []any{"UNLINK"}
	for i, s := range status {
		if s == stCopied || s == stKept {
			del = append(del, keys[i])
		}
	}
	if len(del) > 1 {
		if v, err := src.do(del...); err != nil {
			return 0, 0, err
		} else if v.isErr() {
			m.pr.fail(int64(len(del)-1), fmt.Errorf("UNLINK on %s: %s (copies made, old keys left)", src.addr, v.s))
			return 0, 0, nil
		}
	}
	var n, b, kept, gone int64
	for i, s := range status {
		switch s {
		case stCopied:
			n++
			b += sizes[i]
		case stKept:
			kept++
		case stVanished:
			gone++
		}
	}
	m.pr.add(m.pl.old.serverIn(from, db.old), m.pl.new.serverIn(to, db.new), n, b, kept, gone)
	return n, b, nil
}

// errMigrate is a MIGRATE that failed for the whole batch: the target
// cannot be reached from the old server, refuses its credentials, or
// the old server is too old for the options.
type errMigrate struct{ msg string }

func (e errMigrate) Error() string { return e.msg }

// copyRedis copies keys to database db of new server to, with MIGRATE
// or, where it cannot, DUMP and RESTORE through this process. Keys the
// new server has already are kept there and not copied.
func (m *mover) copyRedis(ctx context.Context, src *redisConn, targets map[int]*redisConn, to, db int, keys [][]byte) ([]uint8, error) {
	dst := targets[to]
	if dst == nil {
		np := m.pl.new.pool
		var err error
		dst, err = dialRedis(ctx, np.Servers[to].Addr, redisOf(np).Auth, db, m.o.Timeout)
		if err != nil {
			return nil, fmt.Errorf("new server: %w", err)
		}
		targets[to] = dst
	}
	st := make([]uint8, len(keys))
	copyKeys, at := keys, []int(nil)
	if !m.o.Replace {
		// Asked first, so that the copies can go in batches: a batch
		// MIGRATE that meets one such key fails as a whole, without
		// saying which of the others it copied.
		cmds := make([][]any, len(keys))
		for i, k := range keys {
			cmds[i] = []any{"EXISTS", k}
		}
		vs, err := dst.pipeline(cmds)
		if err != nil {
			return nil, fmt.Errorf("new server: %w", err)
		}
		copyKeys = nil
		for i, v := range vs {
			if v.n > 0 {
				st[i] = stKept
				continue
			}
			copyKeys = append(copyKeys, keys[i])
			at = append(at, i)
		}
		if len(copyKeys) == 0 {
			return st, nil
		}
	}
	cs, err := m.copyKeys(src, dst, to, db, copyKeys)
	if err != nil {
		return nil, err
	}
	if at == nil {
		return cs, nil
	}
	for j, s := range cs {
		st[at[j]] = s
	}
	return st, nil
}

// copyKeys copies keys with MIGRATE to database db of new server to, or
// DUMP and RESTORE to dst (a connection in db) once MIGRATE has failed
// for the new server.
func (m *mover) copyKeys(src, dst *redisConn, to, db int, keys [][]byte) ([]uint8, error) {
	m.mu.Lock()
	dumpOnly := m.dumpOnly[to]
	m.mu.Unlock()
	if !dumpOnly {
		st, err := m.migrate(src, to, db, keys)
		var em errMigrate
		if !errors.As(err, &em) {
			return st, err
		}
		m.mu.Lock()
		first := !m.dumpOnly[to]
		m.dumpOnly[to] = true
		m.mu.Unlock()
		if first {
			m.note("MIGRATE from %s to %s failed (%s); copying through walnut reshard with DUMP and RESTORE instead",
				src.addr, m.pl.new.pool.Servers[to].Addr, em.msg)
		}
	}
	return m.dumpRestore(src, dst, keys)
}

// migrate copies keys to database db of new server to with one MIGRATE
// ... COPY KEYS, or key by key when the new server already has some of
// them (BUSYKEY).
func (m *mover) migrate(src *redisConn, to, db int, keys [][]byte) ([]uint8, error) {
	np := m.pl.new.pool
	addr := np.Servers[to].Addr
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, errMigrate{"the new server is a unix socket"}
	}
	opts := []any{int(m.o.Timeout.Milliseconds()), "COPY"}
	if m.o.Replace {
		opts = append(opts, "REPLACE")
	}
	if redisOf(np).Auth != "" {
		opts = append(opts, "AUTH", redisOf(np).Auth)
	}
	args := append([]any{"MIGRATE", host, port, "", db}, opts...)
	args = append(args, "KEYS")
	for _, k := range keys {
		args = append(args, k)
	}
	v, err := src.do(args...)
	if err != nil {
		return nil, err
	}
	st := make([]uint8, len(keys))
	switch {
	case !v.isErr() && string(v.s) == "OK":
		for i := range st {
			st[i] = stCopied
		}
		return st, nil
	case !v.isErr() && string(v.s) == "NOKEY":
		for i := range st {
			st[i] = stVanished
		}
		return st, nil
	case v.isErr() && strings.Contains(string(v.s), "BUSYKEY"):
		// A key was written to the new server since copyRedis asked.
		// MIGRATE restores each key on its own, so the others were
		// copied; asking again key by key keeps them all right, but
		// counts those copied as kept.
	case v.isErr():
		return nil, errMigrate{string(v.s)}
	}
	cmds := make([][]any, len(keys))
	for i, k := range keys {
		cmds[i] = append([]any{"MIGRATE", host, port, k, db}, opts...)
	}
	vs, err := src.pipeline(cmds)
	if err != nil {
		return nil, err
	}
	for i, v := range vs {
		switch {
		case !v.isErr() && string(v.s) == "OK":
			st[i] = stCopied
		case !v.isErr() && string(v.s) == "NOKEY":
			st[i] = stVanished
		case strings.Contains(string(v.s), "BUSYKEY"):
			st[i] = stKept
		default:
			st[i] = stFailed
			m.pr.fail(1, fmt.Errorf("MIGRATE %q from %s to %s: %s", keys[i], src.addr, addr, v.s))
		}
	}
	return st, nil
}

// dumpRestore copies keys with DUMP and PTTL on the old server and
// RESTORE on the new one (dst).
func (m *mover) dumpRestore(src, dst *redisConn, keys [][]byte) ([]uint8, error) {
	cmds := make([][]any, 0, 2*len(keys))
	for _, k := range keys {
		cmds = append(cmds, []any{"PTTL", k}, []any{"DUMP", k})
	}
	vs, err := src.pipeline(cmds)
	if err != nil {
		return nil, err
	}
	st := make([]uint8, len(keys))
	var restore [][]any
	var at []int
	for i, k := range keys {
		ttl, dump := vs[2*i], vs[2*i+1]
		switch {
		case dump.isErr():
			m.pr.fail(1, fmt.Errorf("DUMP %q on %s: %s", k, src.addr, dump.s))
			continue
		case dump.null || ttl.n == -2:
			st[i] = stVanished
			continue
		}
		pttl := max(ttl.n, 0) // -1: no expiry, RESTORE's 0
		cmd := []any{"RESTORE", k, pttl, dump.s}
		if m.o.Replace {
			cmd = append(cmd, "REPLACE")
		}
		restore = append(restore, cmd)
		at = append(at, i)
	}
	if len(restore) == 0 {
		return st, nil
	}
	rs, err := dst.pipeline(restore)
	if err != nil {
		return nil, fmt.Errorf("new server: %w", err)
	}
	for j, v := range rs {
		i := at[j]
		switch {
		case !v.isErr():
			st[i] = stCopied
		case strings.Contains(string(v.s), "BUSYKEY"):
			st[i] = stKept
		default:
			m.pr.fail(1, fmt.Errorf("RESTORE %q on %s: %s", keys[i], dst.addr, v.s))
		}
	}
	return st, nil
}
