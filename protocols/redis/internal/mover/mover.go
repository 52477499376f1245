package mover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/walnutproxy/walnut/protocols/move"
)

// Side is what the mover needs of a Redis pool's options, before or
// after the reshard.
type Side struct {
	// Auth is the servers' password (redis_auth), "" for none.
	Auth string
	// DB is the pool's own database (redis_db), and Databases how many
	// a client may SELECT.
	DB, Databases int
}

// New returns the mover of a pool's reshard from servers set up as old
// says to servers set up as new says.
func New(p move.Pool, old, new Side) move.Mover {
	return &mover{pool: p, old: old, new: new, dumpOnly: map[int]bool{}}
}

// mover moves one pool's keys; MoveServer runs on one goroutine per old
// server.
type mover struct {
	pool     move.Pool
	old, new Side

	mu       sync.Mutex
	dumpOnly map[int]bool // new servers MIGRATE cannot reach, from any old server
	fnMu     sync.Mutex   // one old server copies function libraries at a time (functions.go)
}

// Home is redis_db before and after.
func (m *mover) Home() move.Namespace { return move.Namespace{Old: m.old.DB, New: m.new.DB} }

// ServerID names database 0 by the address alone, as the report did
// before it moved other databases.
func (m *mover) ServerID(addr string, db int) string {
	if db == 0 {
		return addr
	}
	return addr + "/db" + strconv.Itoa(db)
}

// Key outcomes of a batch.
const (
	stFailed uint8 = iota
	stCopied
	stKept     // the new server had the key already; its copy stays
	stVanished // gone from the old server before the copy
)

// server is the move of one old server's keys.
type server struct {
	*mover
	job move.Job
	set move.Settings
}

// MoveServer moves the keys of the old server whose new server is
// another, in every database the pool uses: redis_db, and every other
// database below databases that holds keys (clients reach them with
// SELECT, which walnut passes on as is). The other databases go first
// and redis_db last, so that the state file records the server (its
// redis_db) done only once all of them are.
func (m *mover) MoveServer(ctx context.Context, job move.Job) error {
	s := &server{mover: m, job: job, set: job.Settings()}
	conn, err := dialRedis(ctx, job.Server(), m.old.Auth, m.old.DB, s.set.Timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The functions first, so that FCALL finds them where keys land.
	if err := s.copyFunctions(ctx, conn); err != nil {
		return err
	}
	others, err := s.otherDatabases(conn)
	if err != nil {
		return err
	}
	for _, db := range append(others, m.Home()) {
		if err := s.database(ctx, conn, db); err != nil {
			if db != m.Home() {
				err = fmt.Errorf("database %d: %w", db.Old, err)
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
func (s *server) otherDatabases(conn *redisConn) ([]move.Namespace, error) {
	op, np := s.old, s.new
	var out []move.Namespace
	for db := range op.Databases {
		if db == op.DB {
			continue
		}
		v, err := conn.do("SELECT", db)
		if err != nil {
			return nil, err
		}
		if v.isErr() {
			// The server has fewer databases than the pool says: walnut
			// cannot have put keys in the others either.
			s.job.Notef("%s: SELECT %d: %s; databases %d and up are not moved", conn.Addr, db, v.s, db)
			break
		}
		v, err = conn.do("DBSIZE")
		if err != nil {
			return nil, err
		}
		if !v.isErr() && v.n == 0 {
			continue
		}
		if db == np.DB {
			return nil, fmt.Errorf("database %d holds keys, and redis_db %d moves into it too (redis_db is %d after the reshard): "+
				"move one of them aside first", db, op.DB, np.DB)
		}
		if db >= np.Databases {
			s.job.Notef("%s: database %d holds keys; they move to database %d of the new servers, which walnut's databases = %d after the reshard does not reach",
				conn.Addr, db, db, np.Databases)
		}
		out = append(out, move.Namespace{Old: db, New: db})
	}
	return out, nil
}

// database moves the keys of database db.Old of the old server (conn, a
// connection to it) to database db.New of their new servers: SCAN page
// by page, from the cursor the state file recorded.
func (s *server) database(ctx context.Context, conn *redisConn, db move.Namespace) error {
	cursor, done := s.job.Resume(db)
	if done {
		return nil
	}
	if cursor == "" {
		cursor = "0"
	}
	if v, err := conn.do("SELECT", db.Old); err != nil {
		return err
	} else if v.isErr() {
		return fmt.Errorf("SELECT %d: %s", db.Old, v.s)
	}
	if v, err := conn.do("DBSIZE"); err != nil {
		return err
	} else if !v.isErr() {
		s.job.Total(v.n)
	}
	targets := map[int]*redisConn{}
	defer func() {
		for _, c := range targets {
			c.Close()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		v, err := conn.do("SCAN", cursor, "COUNT", s.set.ScanCount)
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
		moved, bytes, err := s.page(ctx, conn, targets, db, keys)
		if err != nil {
			return err
		}
		cursor = next
		if err := s.job.Advance(db, move.Step{Cursor: cursor, Done: cursor == "0", Scanned: int64(len(keys)), Moved: moved, Bytes: bytes}); err != nil {
			return err
		}
		if cursor == "0" {
			return nil
		}
	}
}

// page handles the keys of one SCAN page of database db.Old: those that
// move are measured, copied in batches to database db.New of their new
// servers (targets: connections to them in it) and deleted here.
func (s *server) page(ctx context.Context, src *redisConn, targets map[int]*redisConn, db move.Namespace, keys [][]byte) (moved, bytes int64, err error) {
	dest := make([]int, len(keys))
	stray, err := s.job.Route(db, keys, dest)
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
	s.job.Scanned(int64(stay), int64(stray))
	for _, to := range order {
		group := byTarget[to]
		sizes, err := s.memoryUsage(src, group)
		if err != nil {
			return moved, bytes, err
		}
		if s.set.DryRun {
			var c move.Counts
			for _, size := range sizes {
				if size < 0 {
					c.Vanished++
					continue
				}
				c.Keys++
				c.Bytes += size
			}
			s.job.Moved(db, to, c)
			s.job.Scanned(int64(len(group)), 0)
			continue
		}
		for len(group) > 0 {
			k := min(len(group), s.set.Batch)
			n, b, err := s.batch(ctx, src, targets, to, db, group[:k], sizes[:k])
			moved += n
			bytes += b
			if err != nil {
				return moved, bytes, err
			}
			s.job.Scanned(int64(k), 0)
			group, sizes = group[k:], sizes[k:]
			s.job.BatchDone()
		}
	}
	return moved, bytes, nil
}

// memoryUsage returns each key's MEMORY USAGE, -1 for a key that is
// gone; in a dry run with BytesSample n, only every n-th key is
// measured (and counts n times), the others are 0.
func (s *server) memoryUsage(src *redisConn, keys [][]byte) ([]int64, error) {
	sample := s.set.BytesSample
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

// batch copies keys (with their sizes, -1 for gone) to database db.New
// of new server to, then deletes from src those now safely there. It
// returns the keys and bytes moved; an error only when src cannot be
// used any more.
func (s *server) batch(ctx context.Context, src *redisConn, targets map[int]*redisConn, to int, db move.Namespace, keys [][]byte, sizes []int64) (int64, int64, error) {
	if err := s.job.Wait(ctx, len(keys)); err != nil {
		return 0, 0, err
	}
	status := make([]uint8, len(keys))
	var live [][]byte
	var liveAt []int
	for i, size := range sizes {
		if size < 0 {
			status[i] = stVanished
			continue
		}
		live = append(live, keys[i])
		liveAt = append(liveAt, i)
	}
	if len(live) > 0 {
		st, err := s.copyTo(ctx, src, targets, to, db.New, live)
		if err != nil {
			return 0, 0, err
		}
		for j, st := range st {
			status[liveAt[j]] = st
		}
	}
	// Delete what is safely on the new server: copied now, or there
	// before (and newer).
	del := []any{"UNLINK"}
	for i, st := range status {
		if st == stCopied || st == stKept {
			del = append(del, keys[i])
		}
	}
	if len(del) > 1 {
		if v, err := src.do(del...); err != nil {
			return 0, 0, err
		} else if v.isErr() {
			s.job.Failed(int64(len(del)-1), fmt.Errorf("UNLINK on %s: %s (copies made, old keys left)", src.Addr, v.s))
			return 0, 0, nil
		}
	}
	var c move.Counts
	for i, st := range status {
		switch st {
		case stCopied:
			c.Keys++
			c.Bytes += sizes[i]
		case stKept:
			c.Kept++
		case stVanished:
			c.Vanished++
		}
	}
	s.job.Moved(db, to, c)
	return c.Keys, c.Bytes, nil
}

// errMigrate is a MIGRATE that failed for the whole batch: the target
// cannot be reached from the old server, refuses its credentials, or
// the old server is too old for the options.
type errMigrate struct{ msg string }

func (e errMigrate) Error() string { return e.msg }

// copyTo copies keys to database db of new server to, with MIGRATE or,
// where it cannot, DUMP and RESTORE through this process. Keys the new
// server has already are kept there and not copied.
func (s *server) copyTo(ctx context.Context, src *redisConn, targets map[int]*redisConn, to, db int, keys [][]byte) ([]uint8, error) {
	dst := targets[to]
	if dst == nil {
		var err error
		dst, err = dialRedis(ctx, s.pool.NewServers[to], s.new.Auth, db, s.set.Timeout)
		if err != nil {
			return nil, fmt.Errorf("new server: %w", err)
		}
		targets[to] = dst
	}
	st := make([]uint8, len(keys))
	copyKeys, at := keys, []int(nil)
	if !s.set.Replace {
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
	cs, err := s.copyKeys(src, dst, to, db, copyKeys)
	if err != nil {
		return nil, err
	}
	if at == nil {
		return cs, nil
	}
	for j, c := range cs {
		st[at[j]] = c
	}
	return st, nil
}

// copyKeys copies keys with MIGRATE to database db of new server to, or
// DUMP and RESTORE to dst (a connection in db) once MIGRATE has failed
// for the new server, from this old server or another.
func (s *server) copyKeys(src, dst *redisConn, to, db int, keys [][]byte) ([]uint8, error) {
	s.mu.Lock()
	dumpOnly := s.dumpOnly[to]
	s.mu.Unlock()
	if !dumpOnly {
		st, err := s.migrate(src, to, db, keys)
		var em errMigrate
		if !errors.As(err, &em) {
			return st, err
		}
		s.mu.Lock()
		first := !s.dumpOnly[to]
		s.dumpOnly[to] = true
		s.mu.Unlock()
		if first {
			s.job.Notef("MIGRATE from %s to %s failed (%s); copying through walnut reshard with DUMP and RESTORE instead",
				src.Addr, s.pool.NewServers[to], em.msg)
		}
	}
	return s.dumpRestore(src, dst, keys)
}

// migrate copies keys to database db of new server to with one MIGRATE
// ... COPY KEYS, or key by key when the new server already has some of
// them (BUSYKEY).
func (s *server) migrate(src *redisConn, to, db int, keys [][]byte) ([]uint8, error) {
	addr := s.pool.NewServers[to]
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, errMigrate{"the new server is a unix socket"}
	}
	opts := []any{int(s.set.Timeout.Milliseconds()), "COPY"}
	if s.set.Replace {
		opts = append(opts, "REPLACE")
	}
	if s.new.Auth != "" {
		opts = append(opts, "AUTH", s.new.Auth)
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
		// A key was written to the new server since copyTo asked.
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
			s.job.Failed(1, fmt.Errorf("MIGRATE %q from %s to %s: %s", keys[i], src.Addr, addr, v.s))
		}
	}
	return st, nil
}

// dumpRestore copies keys with DUMP and PTTL on the old server and
// RESTORE on the new one (dst).
func (s *server) dumpRestore(src, dst *redisConn, keys [][]byte) ([]uint8, error) {
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
			s.job.Failed(1, fmt.Errorf("DUMP %q on %s: %s", k, src.Addr, dump.s))
			continue
		case dump.null || ttl.n == -2:
			st[i] = stVanished
			continue
		}
		pttl := max(ttl.n, 0) // -1: no expiry, RESTORE's 0
		cmd := []any{"RESTORE", k, pttl, dump.s}
		if s.set.Replace {
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
			s.job.Failed(1, fmt.Errorf("RESTORE %q on %s: %s", keys[i], dst.Addr, v.s))
		}
	}
	return st, nil
}
