package reshard

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/protocols/move"

	_ "github.com/walnutproxy/walnut/builtins"
)

func poolConf(t testing.TB, extra string, ports ...int) *config.Pool {
	t.Helper()
	var list []string
	for _, p := range ports {
		list = append(list, fmt.Sprintf("\"10.0.0.%d:6379:1\"", p))
	}
	cfg, err := config.Parse("t.toml", []byte(fmt.Sprintf("[pools.a]\nlisten = \"127.0.0.1:1\"\n%s\nservers = [%s]\n", extra, strings.Join(list, ", "))))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Pools[0]
}

func testPlan(t testing.TB, old, new *config.Pool) *plan {
	t.Helper()
	pl, err := newPlan(old, new, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func synthKeys(n int, format string) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, format, i, i*2654435761)
	}
	return keys
}

// byOldOwner groups keys by the old server that owns them.
func byOldOwner(t testing.TB, pl *plan, keys [][]byte) map[int][][]byte {
	t.Helper()
	out := map[int][][]byte{}
	for _, k := range keys {
		i := pl.old.router.Route(k)
		out[i] = append(out[i], k)
	}
	return out
}

// moves runs destinations over every old server's keys and returns the
// keys moved by new server address, and how many there were.
func moves(t testing.TB, pl *plan, keys [][]byte) (map[string]int, int) {
	t.Helper()
	to := map[string]int{}
	moved := 0
	for from, ks := range byOldOwner(t, pl, keys) {
		dest := make([]int, len(ks))
		stray, err := pl.destinations(from, pl.home(), ks, dest)
		if err != nil || stray != 0 {
			t.Fatalf("destinations: %d stray, %v", stray, err)
		}
		for i, d := range dest {
			if d < 0 {
				if pl.new.server(pl.new.router.Route(ks[i])) != pl.old.server(from) {
					t.Fatalf("%q stays on %s but its new server is another", ks[i], pl.old.server(from))
				}
				continue
			}
			moved++
			to[pl.new.server(d)]++
		}
	}
	return to, moved
}

func TestDiffKetamaAddServer(t *testing.T) {
	pl := testPlan(t, poolConf(t, "", 1, 2, 3, 4), poolConf(t, "", 1, 2, 3, 4, 5))
	keys := synthKeys(50000, "user:%d:%x")
	to, moved := moves(t, pl, keys)
	share := float64(moved) / float64(len(keys))
	if share < 0.15 || share > 0.25 || len(to) != 1 || to["10.0.0.5:6379"] != moved {
		t.Fatalf("4 -> 5 servers: %.3f of the keys move, to %v; want about 1/5, all to the new server", share, to)
	}
	u, err := pl.uniformShare(20000)
	if err != nil || u < 0.15 || u > 0.25 {
		t.Fatalf("uniform share %.3f, %v", u, err)
	}
	t.Logf("ketama 4 -> 5: %.1f%% of the keys move (uniform keyspace: %.1f%%)", 100*share, 100*u)
}

func TestDiffKetamaRemoveServer(t *testing.T) {
	pl := testPlan(t, poolConf(t, "", 1, 2, 3, 4), poolConf(t, "", 1, 2, 4))
	keys := synthKeys(50000, "user:%d:%x")
	byOld := byOldOwner(t, pl, keys)
	for from, ks := range byOld {
		dest := make([]int, len(ks))
		if _, err := pl.destinations(from, pl.home(), ks, dest); err != nil {
			t.Fatal(err)
		}
		removed := pl.old.server(from) == "10.0.0.3:6379"
		for i, d := range dest {
			if (d >= 0) != removed {
				t.Fatalf("%q on %s: destination %d", ks[i], pl.old.server(from), d)
			}
		}
	}
	_, moved := moves(t, pl, keys)
	share := float64(moved) / float64(len(keys))
	if share < 0.18 || share > 0.32 {
		t.Fatalf("4 -> 3 servers: %.3f of the keys move, want about 1/4", share)
	}
	t.Logf("ketama 4 -> 3: %.1f%% of the keys move", 100*share)
}

func TestDiffModulaMovesMost(t *testing.T) {
	pl := testPlan(t, poolConf(t, `distribution = "modula"`, 1, 2, 3, 4), poolConf(t, `distribution = "modula"`, 1, 2, 3, 4, 5))
	_, moved := moves(t, pl, synthKeys(20000, "k%d%x"))
	if share := float64(moved) / 20000; share < 0.7 || share > 0.9 {
		t.Fatalf("modula 4 -> 5: %.3f of the keys move, want about 4/5", share)
	}
}

func TestDiffHashTagKeepsKeysTogether(t *testing.T) {
	tag := `hash_tag = "{}"`
	pl := testPlan(t, poolConf(t, tag, 1, 2, 3), poolConf(t, tag, 1, 2, 3, 4, 5))
	for i := range 2000 {
		a, b := fmt.Appendf(nil, "user:{%d}:name", i), fmt.Appendf(nil, "cart:{%d}", i)
		from := pl.old.router.Route(a)
		if pl.old.router.Route(b) != from {
			t.Fatalf("%s and %s on different old servers", a, b)
		}
		dest := make([]int, 2)
		if _, err := pl.destinations(from, pl.home(), [][]byte{a, b}, dest); err != nil || dest[0] != dest[1] {
			t.Fatalf("%s and %s go to %v (%v)", a, b, dest, err)
		}
	}
}

func TestDiffOtherDatabaseMovesEverything(t *testing.T) {
	pl := testPlan(t, poolConf(t, "", 1, 2), poolConf(t, "redis_db = 3", 1, 2))
	if _, moved := moves(t, pl, synthKeys(1000, "k%d%x")); moved != 1000 {
		t.Fatalf("to another database, %d of 1000 keys move", moved)
	}
	if pl.new.server(0) != "10.0.0.1:6379/db3" {
		t.Fatalf("server id %q", pl.new.server(0))
	}
}

// A database other than redis_db moves to the same database of the new
// servers: with the same servers its keys stay, even where redis_db
// changes and every key of redis_db moves; with a server added, its keys
// move as redis_db's do, named with their database.
func TestDiffOtherDatabase(t *testing.T) {
	keys := synthKeys(1000, "k%d%x")
	pl := testPlan(t, poolConf(t, "", 1, 2), poolConf(t, "redis_db = 3", 1, 2))
	for from, ks := range byOldOwner(t, pl, keys) {
		dest := make([]int, len(ks))
		if _, err := pl.destinations(from, move.Namespace{Old: 5, New: 5}, ks, dest); err != nil {
			t.Fatal(err)
		}
		for i, d := range dest {
			if d >= 0 {
				t.Fatalf("%q in database 5 moves to server %d although its server stays", ks[i], d)
			}
		}
	}
	pl = testPlan(t, poolConf(t, "", 1, 2), poolConf(t, "", 1, 2, 3))
	for from, ks := range byOldOwner(t, pl, keys) {
		home, other := make([]int, len(ks)), make([]int, len(ks))
		if _, err := pl.destinations(from, pl.home(), ks, home); err != nil {
			t.Fatal(err)
		}
		if _, err := pl.destinations(from, move.Namespace{Old: 5, New: 5}, ks, other); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(home, other) {
			t.Fatalf("keys of database 5 go elsewhere than redis_db's: %v, %v", other, home)
		}
	}
	if id := pl.new.serverIn(2, 5); id != "10.0.0.3:6379/db5" {
		t.Fatalf("server id %q", id)
	}
}

func TestDiffCountsStrayKeys(t *testing.T) {
	pl := testPlan(t, poolConf(t, "", 1, 2), poolConf(t, "", 1, 2, 3))
	keys := synthKeys(1000, "k%d%x")
	// Every key as if found on server 0: those the old placement puts on
	// server 1 are stray.
	dest := make([]int, len(keys))
	stray, err := pl.destinations(0, pl.home(), keys, dest)
	if err != nil {
		t.Fatal(err)
	}
	want := len(byOldOwner(t, pl, keys)[1])
	if stray != want {
		t.Fatalf("%d stray keys, want %d", stray, want)
	}
}

func TestPlanChecks(t *testing.T) {
	r := poolConf(t, "", 1, 2)
	if _, err := newPlan(r, poolConf(t, `protocol = "memcached"`, 1, 2), nil, nil); err == nil || !strings.Contains(err.Error(), "protocol") {
		t.Fatalf("protocol change: %v", err)
	}
	if _, err := newPlan(r, poolConf(t, `distribution = "random"`, 1, 2), nil, nil); err == nil || !strings.Contains(err.Error(), "random") {
		t.Fatalf("random: %v", err)
	}
	a, b := testPlan(t, r, poolConf(t, "", 1, 2, 3)), testPlan(t, r, poolConf(t, "", 1, 2, 4))
	if a.fingerprint() == b.fingerprint() || a.fingerprint() != testPlan(t, r, poolConf(t, "", 1, 2, 3)).fingerprint() {
		t.Fatal("fingerprints do not tell reshards apart")
	}

	from, to := &config.Config{Path: "old.toml", Pools: []*config.Pool{r}}, &config.Config{Path: "new.toml", Pools: []*config.Pool{poolConf(t, "", 1, 2, 3)}}
	if names, err := Plans(Options{From: from, To: to}); err != nil || len(names) != 1 || names[0] != "a" {
		t.Fatalf("plans %v, %v", names, err)
	}
	if _, err := Plans(Options{From: from, To: to, Pools: []string{"b"}}); err == nil {
		t.Fatal("an unknown pool is accepted")
	}
	if _, err := Plans(Options{To: to}); err == nil || !strings.Contains(err.Error(), "pass --from") {
		t.Fatalf("no from, no migration: %v", err)
	}
	to.Pools[0].Migration = &config.Migration{Old: r}
	if names, err := Plans(Options{To: to}); err != nil || len(names) != 1 {
		t.Fatalf("plans from the migration: %v, %v", names, err)
	}
}

func TestStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.json")
	s, err := LoadState(path, "old.toml", "new.toml")
	if err != nil || len(s.Pools) != 0 {
		t.Fatalf("no file: %+v, %v", s, err)
	}
	ps, err := s.pool("a", "fp1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.advance(ps, "10.0.0.1:6379", "1234", false, 1000, 200, 5000); err != nil {
		t.Fatal(err)
	}
	if err := s.advance(ps, "10.0.0.1:6379", "77", false, 1000, 100, 2000); err != nil {
		t.Fatal(err)
	}
	if err := s.advance(ps, "10.0.0.2:6379", "0", true, 10, 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".tmp"); err == nil {
		t.Fatal("temporary file left behind")
	}

	s, err = LoadState(path, "old.toml", "new.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool("a", "fp2"); err == nil || !strings.Contains(err.Error(), "another") && !strings.Contains(err.Error(), "other") {
		t.Fatalf("another reshard's state: %v", err)
	}
	ps, err = s.pool("a", "fp1")
	if err != nil {
		t.Fatal(err)
	}
	if ss := s.server(ps, "10.0.0.1:6379"); ss.Cursor != "77" || ss.Done || ss.Scanned != 2000 || ss.Moved != 300 || ss.Bytes != 7000 {
		t.Fatalf("server state %+v", ss)
	}
	if ss := s.server(ps, "10.0.0.3:6379"); ss.Cursor != "" || ss.Done {
		t.Fatalf("unknown server: %+v", ss)
	}
	ids := []string{"10.0.0.1:6379", "10.0.0.2:6379"}
	if s.restart(ps, ids) {
		t.Fatal("restarted a pass that is not done")
	}
	s.advance(ps, "10.0.0.1:6379", "0", true, 1, 0, 0)
	if !s.restart(ps, ids) || s.server(ps, ids[0]).Done {
		t.Fatal("a finished pass did not start again")
	}

	os.WriteFile(path, []byte("{not json"), 0o644)
	if _, err := LoadState(path, "", ""); err == nil {
		t.Fatal("a broken state file is accepted")
	}
	if got := DefaultStatePath("/etc/walnut/new.toml"); got != "/etc/walnut/new.toml.reshard.json" {
		t.Fatalf("default state path %s", got)
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(200)
	start := time.Now()
	for range 5 {
		if err := l.wait(context.Background(), 20); err != nil {
			t.Fatal(err)
		}
	}
	// 100 keys at 200/s: the fifth batch waits for 80 keys' worth.
	if d := time.Since(start); d < 350*time.Millisecond || d > 2*time.Second {
		t.Fatalf("5 batches of 20 at 200 keys/s took %v", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.wait(ctx, 1000); err == nil {
		t.Fatal("wait ignores its context")
	}
	if err := newLimiter(0).wait(context.Background(), 1<<30); err != nil {
		t.Fatal(err)
	}
}

func TestProgressLines(t *testing.T) {
	pr := &PoolReport{Name: "alpha", Total: 1000, Scanned: 250}
	pr.add("a", "b", 50, 4096, 0, 0)
	var plain, term strings.Builder
	p := &progress{w: &plain, pr: pr, start: time.Now().Add(-time.Second), width: 200}
	p.show()
	if got := plain.String(); !strings.HasPrefix(got, "reshard: pool alpha:  25% 250/1000 keys scanned, 50 moved (4.0 KiB)") || !strings.Contains(got, "ETA 0:03") {
		t.Fatalf("plain line %q", got)
	}
	p = &progress{w: &term, pr: pr, start: time.Now().Add(-time.Second), terminal: true, width: 60}
	p.show()
	if got := term.String(); !strings.HasPrefix(got, "\r\x1b[Kalpha [######..................]  25%") || len(got) > 60+4 {
		t.Fatalf("terminal line %q", got)
	}
}
