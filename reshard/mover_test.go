package reshard

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/protocols"
	"github.com/walnutproxy/walnut/protocols/move"
)

// Two protocols of the tests' own, both speaking memcached to clients:
// one whose driver offers no mover, and one whose mover moves keys
// between servers kept in memory, so that the engine's side of the
// contract is tested without a server.
const (
	protoNoMover   = "test-nomover"
	protoFakeMover = "test-fakemover"
)

func init() {
	codec := func(o protocols.Options) (protocols.Codec, error) {
		d, err := protocols.Lookup("memcached")
		if err != nil {
			return nil, err
		}
		return d.NewCodec(o)
	}
	protocols.Register(protoNoMover, protocols.DriverFunc(codec))
	protocols.Register(protoFakeMover, fakeDriver{codec})
}

func TestProtocolWithoutMover(t *testing.T) {
	p := `protocol = "` + protoNoMover + `"`
	from := &config.Config{Path: "old.toml", Pools: []*config.Pool{poolConf(t, p, 1, 2)}}
	to := &config.Config{Path: "new.toml", Pools: []*config.Pool{poolConf(t, p, 1, 2, 3)}}
	_, err := Plans(Options{From: from, To: to})
	if want := "pool a: protocol test-nomover cannot be resharded by walnut reshard"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	rep, err := Run(context.Background(), Options{From: from, To: to})
	if err == nil || !strings.Contains(err.Error(), "cannot be resharded") || len(rep.Pools) != 0 {
		t.Fatalf("run: %v, %+v", err, rep)
	}
}

// fakeDriver's pools take one key of their own, test_ns: the namespace
// their keys are in (a Redis pool's redis_db, as it were).
type fakeDriver struct {
	codec func(protocols.Options) (protocols.Codec, error)
}

func (d fakeDriver) NewCodec(o protocols.Options) (protocols.Codec, error) { return d.codec(o) }

func (fakeDriver) DecodeOptions(t protocols.OptionTable) any { return t.Int("test_ns", 0, 0) }

func (fakeDriver) NewMover(p move.Pool) (move.Mover, error) {
	ns := func(own any) int { n, _ := own.(int); return n }
	if n := ns(p.New); n >= 8 {
		return nil, fmt.Errorf("test_ns %d: the fake servers have 8 namespaces", n)
	}
	return &fakeMover{pool: p, home: move.Namespace{Old: ns(p.Old), New: ns(p.New)}}, nil
}

// store is the servers of the fake protocol: keys by address and
// namespace.
var store = struct {
	sync.Mutex
	keys map[string]map[int][]string
}{keys: map[string]map[int][]string{}}

func storePut(addr string, ns int, key string) {
	store.Lock()
	defer store.Unlock()
	if store.keys[addr] == nil {
		store.keys[addr] = map[int][]string{}
	}
	if !slices.Contains(store.keys[addr][ns], key) {
		store.keys[addr][ns] = append(store.keys[addr][ns], key)
	}
}

// storeList returns the keys of a namespace of a server, in order.
func storeList(addr string, ns int) []string {
	store.Lock()
	defer store.Unlock()
	keys := slices.Clone(store.keys[addr][ns])
	slices.Sort(keys)
	return keys
}

func storeDelete(addr string, ns int, key string) {
	store.Lock()
	defer store.Unlock()
	store.keys[addr][ns] = slices.DeleteFunc(store.keys[addr][ns], func(k string) bool { return k == key })
}

type fakeMover struct {
	pool move.Pool
	home move.Namespace
}

func (m *fakeMover) Home() move.Namespace { return m.home }

func (m *fakeMover) ServerID(addr string, ns int) string {
	if ns == 0 {
		return addr
	}
	return addr + "#" + strconv.Itoa(ns)
}

// MoveServer moves every namespace that holds keys, home last, page by
// page with the last key of a page as the cursor.
func (m *fakeMover) MoveServer(ctx context.Context, job move.Job) error {
	set := job.Settings()
	store.Lock()
	var spaces []move.Namespace
	for ns, keys := range store.keys[job.Server()] {
		if ns != m.home.Old && len(keys) > 0 {
			spaces = append(spaces, move.Namespace{Old: ns, New: ns})
		}
	}
	store.Unlock()
	slices.SortFunc(spaces, func(a, b move.Namespace) int { return a.Old - b.Old })
	for _, ns := range append(spaces, m.home) {
		cursor, done := job.Resume(ns)
		if done {
			continue
		}
		keys := storeList(job.Server(), ns.Old)
		keys = slices.DeleteFunc(keys, func(k string) bool { return k <= cursor })
		job.Total(int64(len(keys)))
		for len(keys) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			page := keys[:min(len(keys), set.ScanCount)]
			keys = keys[len(page):]
			bkeys := make([][]byte, len(page))
			for i, k := range page {
				bkeys[i] = []byte(k)
			}
			dest := make([]int, len(page))
			stray, err := job.Route(ns, bkeys, dest)
			if err != nil {
				return err
			}
			var stay, moved int64
			for i, d := range dest {
				if d < 0 {
					stay++
					continue
				}
				if set.DryRun {
					job.Moved(ns, d, move.Counts{Keys: 1})
					job.Scanned(1, 0)
					continue
				}
				if err := job.Wait(ctx, 1); err != nil {
					return err
				}
				storePut(m.pool.NewServers[d], ns.New, page[i])
				storeDelete(job.Server(), ns.Old, page[i])
				job.Moved(ns, d, move.Counts{Keys: 1, Bytes: int64(len(page[i]))})
				job.Scanned(1, 0)
				moved++
				job.BatchDone()
			}
			job.Scanned(stay, int64(stray))
			step := move.Step{Cursor: page[len(page)-1], Done: len(keys) == 0, Scanned: int64(len(page)), Moved: moved}
			if err := job.Advance(ns, step); err != nil {
				return err
			}
		}
	}
	return nil
}

// The engine hands every old server to the protocol's mover, resumes it
// where the state file says after an interruption, and reports what it
// moved by the names the protocol gives servers and namespaces.
func TestEngineDrivesProtocolMover(t *testing.T) {
	p := `protocol = "` + protoFakeMover + `"`
	oldPool, newPool := poolConf(t, p, 1, 2, 3), poolConf(t, p, 1, 2, 3, 4)
	pl := testPlan(t, oldPool, newPool)
	keys := synthKeys(3000, "fk:%d:%x")
	store.Lock()
	store.keys = map[string]map[int][]string{}
	store.Unlock()
	for from, ks := range byOldOwner(t, pl, keys) {
		for i, k := range ks {
			storePut(oldPool.Servers[from].Addr, 2*(i%2), string(k)) // half in namespace 2
		}
	}
	from := &config.Config{Path: "old.toml", Pools: []*config.Pool{oldPool}}
	to := &config.Config{Path: "new.toml", Pools: []*config.Pool{newPool}}

	dry, err := Run(context.Background(), Options{From: from, To: to, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := dry.Pools[0].Moved()
	if want == 0 || dry.Pools[0].Scanned != int64(len(keys)) {
		t.Fatalf("dry run: %d to move of %d scanned", want, dry.Pools[0].Scanned)
	}
	for _, pair := range dry.Pools[0].Pairs {
		if pair.To != "10.0.0.4:6379" && pair.To != "10.0.0.4:6379#2" || strings.HasSuffix(pair.From, "#2") != strings.HasSuffix(pair.To, "#2") {
			t.Fatalf("dry run pair %s -> %s", pair.From, pair.To)
		}
	}

	state, err := LoadState(filepath.Join(t.TempDir(), "state.json"), "old", "new")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	first, err := Run(ctx, Options{From: from, To: to, State: state, ScanCount: 50, Parallel: 1,
		OnBatch: func(_ string, moved int64) {
			// A few pages into the first server's first namespace.
			if moved == 30 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) || !first.Interrupted {
		t.Fatalf("interrupted run: %v, %+v", err, first)
	}
	second, err := Run(context.Background(), Options{From: from, To: to, State: state, ScanCount: 50})
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := first.Pools[0].Moved()
	k2, _ := second.Pools[0].Moved()
	if k1+k2 != want || !slices.ContainsFunc(second.Pools[0].Resumed, func(s string) bool { return strings.Contains(s, "#2 (at cursor fk:") }) {
		t.Fatalf("moved %d then %d, want %d in all; resumed %v", k1, k2, want, second.Pools[0].Resumed)
	}
	ps := state.Pools["a"]
	if ps.Fingerprint != pl.fingerprint() {
		t.Fatal("the state file's fingerprint is not the plan's")
	}
	for _, id := range pl.old.servers() {
		if ss := ps.Servers[id]; ss == nil || !ss.Done {
			t.Fatalf("state of %s: %+v", id, ss)
		}
	}
	for i, s := range newPool.Servers {
		for _, ns := range []int{0, 2} {
			for _, k := range storeList(s.Addr, ns) {
				if d := pl.new.router.Route([]byte(k)); d != i {
					t.Fatalf("%s in namespace %d of %s, its server is %d", k, ns, s.Addr, d)
				}
			}
		}
	}
}

// A home namespace of the protocol's own changes the fingerprint, and
// when it changes every key of it moves, even to the same server.
func TestProtocolHomeNamespace(t *testing.T) {
	p := `protocol = "` + protoFakeMover + `"`
	same := testPlan(t, poolConf(t, p, 1, 2), poolConf(t, p, 1, 2))
	other := testPlan(t, poolConf(t, p, 1, 2), poolConf(t, p+"\ntest_ns = 1", 1, 2))
	if same.fingerprint() == other.fingerprint() {
		t.Fatal("the home namespace is not in the fingerprint")
	}
	if share, err := other.uniformShare(1000); err != nil || share != 1 {
		t.Fatalf("to another namespace, %.2f of a uniform keyspace moves (%v)", share, err)
	}
	if id := other.new.server(1); id != "10.0.0.2:6379#1" {
		t.Fatalf("server id %q", id)
	}
	if _, moved := moves(t, other, synthKeys(500, "k%d%x")); moved != 500 {
		t.Fatalf("%d of 500 keys move", moved)
	}
	_, err := newPlan(poolConf(t, p, 1), poolConf(t, p+"\ntest_ns = 9", 1), nil, nil)
	if want := "pool a: test_ns 9: the fake servers have 8 namespaces"; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}
