package mover

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/walnutproxy/walnut/protocols/move"
)

// New returns the mover of a memcached pool's reshard.
func New(p move.Pool) move.Mover { return &mover{pool: p} }

// mover moves one pool's keys; MoveServer runs on one goroutine per old
// server.
type mover struct{ pool move.Pool }

// Home is memcached's only namespace.
func (*mover) Home() move.Namespace { return move.Namespace{} }

// ServerID is the address: a server holds one keyspace.
func (*mover) ServerID(addr string, _ int) string { return addr }

// Key outcomes of a batch.
const (
	stFailed uint8 = iota
	stCopied
	stKept     // the new server had the key already; its copy stays
	stVanished // gone from the old server before the copy
)

// item is a key of a key dump that moves.
type item struct {
	key  []byte
	size int64
	to   int
}

// server is the move of one old server's keys.
type server struct {
	*mover
	job move.Job
	set move.Settings
}

// MoveServer moves the keys of the old server whose new server is
// another: it lists them with lru_crawler metadump, then moves them in
// batches with mg, ms (add) and md. The dump is no snapshot: an item
// that changes LRU queue while the crawler walks (read meanwhile) may be
// left out, so the server is dumped again until a dump finds nothing to
// move. A dump cannot resume; a new run dumps again what is left.
func (m *mover) MoveServer(ctx context.Context, job move.Job) error {
	s := &server{mover: m, job: job, set: job.Settings()}
	var ns move.Namespace
	if _, done := job.Resume(ns); done {
		return nil
	}
	ops, err := dial(ctx, job.Server(), s.set.Timeout)
	if err != nil {
		return err
	}
	defer ops.Close()
	if n, err := ops.statInt("curr_items"); err == nil {
		job.Total(n)
	}
	targets := map[int]*mcConn{}
	defer func() {
		for _, c := range targets {
			c.Close()
		}
	}()
	const maxPasses = 10
	for pass := 0; pass < maxPasses; pass++ {
		moving, err := s.metadump(ctx, pass == 0)
		if err != nil {
			return err
		}
		if len(moving) == 0 {
			break
		}
		if s.set.DryRun {
			for _, it := range moving {
				job.Moved(ns, it.to, move.Counts{Keys: 1, Bytes: it.size})
			}
			job.Scanned(int64(len(moving)), 0)
			return nil
		}
		if err := s.move(ctx, ops, targets, moving); err != nil {
			return err
		}
	}
	if s.set.DryRun {
		return nil
	}
	return job.Advance(ns, move.Step{Done: true})
}

// move moves the items one dump found.
func (s *server) move(ctx context.Context, ops *mcConn, targets map[int]*mcConn, moving []item) error {
	byTarget := map[int][]item{}
	var order []int
	for _, it := range moving {
		if byTarget[it.to] == nil {
			order = append(order, it.to)
		}
		byTarget[it.to] = append(byTarget[it.to], it)
	}
	for _, to := range order {
		group := byTarget[to]
		dst := targets[to]
		if dst == nil {
			var err error
			if dst, err = dial(ctx, s.pool.NewServers[to], s.set.Timeout); err != nil {
				return fmt.Errorf("new server: %w", err)
			}
			targets[to] = dst
		}
		for len(group) > 0 {
			k := min(len(group), s.set.Batch)
			n, b, err := s.batch(ctx, ops, dst, to, group[:k])
			if err != nil {
				return err
			}
			s.job.Scanned(int64(k), 0)
			if err := s.job.Advance(move.Namespace{}, move.Step{Scanned: int64(k), Moved: n, Bytes: b}); err != nil {
				return err
			}
			group = group[k:]
			s.job.BatchDone()
		}
	}
	return nil
}

// metadump lists the keys of the old server and returns those whose new
// server is another; with count, the others count as scanned at once
// (later dumps of the server see them again).
func (s *server) metadump(ctx context.Context, count bool) ([]item, error) {
	// The dump needs a connection of its own: memcached refuses it after
	// other commands in the same read.
	c, err := dial(ctx, s.job.Server(), s.set.Timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	for attempt := 0; ; attempt++ {
		fmt.Fprintf(c.W, "lru_crawler metadump all\r\n")
		if err := c.Flush(); err != nil {
			return nil, err
		}
		l, err := c.line()
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(l, "BUSY") && attempt < 100 {
			// Another crawl (another dump) is running; wait for it.
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		var moving []item
		var keys [][]byte
		var sizes []int64
		flush := func() error {
			if len(keys) == 0 {
				return nil
			}
			dest := make([]int, len(keys))
			stray, err := s.job.Route(move.Namespace{}, keys, dest)
			if err != nil {
				return err
			}
			stay := int64(0)
			for i, d := range dest {
				if d < 0 {
					stay++
					continue
				}
				moving = append(moving, item{key: keys[i], size: sizes[i], to: d})
			}
			if count {
				s.job.Scanned(stay, int64(stray))
			}
			keys, sizes = keys[:0], sizes[:0]
			return nil
		}
		for ; l != "END"; l, err = c.line() {
			if err != nil {
				return nil, err
			}
			if !strings.HasPrefix(l, "key=") {
				return nil, fmt.Errorf("lru_crawler metadump: %s", l)
			}
			key, size, err := parseMetadump(l)
			if err != nil {
				return nil, err
			}
			keys = append(keys, key)
			sizes = append(sizes, size)
			if len(keys) == 1000 {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
		if err := flush(); err != nil {
			return nil, err
		}
		return moving, nil
	}
}

// parseMetadump reads "key=K exp=E la=L cas=C fetch=F cls=N size=S";
// keys are URL-encoded.
func parseMetadump(l string) ([]byte, int64, error) {
	var key []byte
	var size int64
	for _, f := range strings.Fields(l) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "key":
			s, err := url.PathUnescape(v)
			if err != nil {
				return nil, 0, fmt.Errorf("lru_crawler metadump: key %q: %w", v, err)
			}
			key = []byte(s)
		case "size":
			size, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if len(key) == 0 { // memcached has no empty keys: "key=" is a broken line
		return nil, 0, fmt.Errorf("lru_crawler metadump: no key in %q", l)
	}
	return key, size, nil
}

// maxRelativeTTL is memcached's limit: a larger exptime is a unix time.
const maxRelativeTTL = 60 * 60 * 24 * 30

// batch moves items from src to dst, new server to: read (value, flags,
// remaining TTL, CAS), add on the new server, delete on the old one if
// it is unchanged since the read.
func (s *server) batch(ctx context.Context, src, dst *mcConn, to int, items []item) (int64, int64, error) {
	if err := s.job.Wait(ctx, len(items)); err != nil {
		return 0, 0, err
	}
	b64 := make([]string, len(items))
	for i, it := range items {
		b64[i] = base64.StdEncoding.EncodeToString(it.key)
		fmt.Fprintf(src.W, "mg %s b v f t c\r\n", b64[i])
	}
	if err := src.Flush(); err != nil {
		return 0, 0, err
	}
	type got struct {
		value []byte
		flags string
		ttl   int64
		cas   string
	}
	vals := make([]*got, len(items))
	status := make([]uint8, len(items))
	for i := range items {
		l, err := src.line()
		if err != nil {
			return 0, 0, err
		}
		switch {
		case l == "EN":
			status[i] = stVanished
			continue
		case !strings.HasPrefix(l, "VA "):
			return 0, 0, fmt.Errorf("mg: %s", l)
		}
		f := strings.Fields(l)
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return 0, 0, fmt.Errorf("mg: %s", l)
		}
		g := &got{flags: "0"}
		for _, fl := range f[2:] {
			switch fl[0] {
			case 'f':
				g.flags = fl[1:]
			case 't':
				g.ttl, _ = strconv.ParseInt(fl[1:], 10, 64)
			case 'c':
				g.cas = fl[1:]
			}
		}
		if g.value, err = src.data(n); err != nil {
			return 0, 0, err
		}
		vals[i] = g
	}
	mode := "E" // add: a key the new server has is newer
	if s.set.Replace {
		mode = "S"
	}
	now := time.Now().Unix()
	var sent []int
	for i, g := range vals {
		if g == nil {
			continue
		}
		ttl := g.ttl
		switch {
		case ttl < 0:
			ttl = 0 // -1: no expiry
		case ttl == 0:
			ttl = 1 // expires within the second; 0 would mean never
		case ttl > maxRelativeTTL:
			ttl += now
		}
		fmt.Fprintf(dst.W, "ms %s %d b F%s T%d M%s\r\n", b64[i], len(g.value), g.flags, ttl, mode)
		dst.W.Write(g.value)
		dst.W.WriteString("\r\n")
		sent = append(sent, i)
	}
	if len(sent) > 0 {
		if err := dst.Flush(); err != nil {
			return 0, 0, fmt.Errorf("new server: %w", err)
		}
	}
	for _, i := range sent {
		l, err := dst.line()
		if err != nil {
			return 0, 0, fmt.Errorf("new server: %w", err)
		}
		switch {
		case l == "HD":
			status[i] = stCopied
		case l == "NS":
			status[i] = stKept
		default:
			s.job.Failed(1, fmt.Errorf("ms %q on %s: %s", items[i].key, dst.Addr, l))
		}
	}
	var dels []int
	for i, st := range status {
		if st == stCopied || st == stKept {
			// Only if unchanged since read: a write to the old server
			// meanwhile (not through walnut, which serves the new
			// placement) is not silently lost.
			fmt.Fprintf(src.W, "md %s b C%s\r\n", b64[i], vals[i].cas)
			dels = append(dels, i)
		}
	}
	if len(dels) > 0 {
		if err := src.Flush(); err != nil {
			return 0, 0, err
		}
	}
	for _, i := range dels {
		l, err := src.line()
		if err != nil {
			return 0, 0, err
		}
		switch {
		case l == "HD", l == "NF":
		case l == "EX":
			s.job.Failed(1, fmt.Errorf("%q changed on %s while it was moved; that version stays there", items[i].key, src.Addr))
			status[i] = stFailed
		default:
			return 0, 0, fmt.Errorf("md: %s", l)
		}
	}
	var c move.Counts
	for i, st := range status {
		switch st {
		case stCopied:
			c.Keys++
			c.Bytes += items[i].size
		case stKept:
			c.Kept++
		case stVanished:
			c.Vanished++
		}
	}
	s.job.Moved(move.Namespace{}, to, c)
	return c.Keys, c.Bytes, nil
}
