package reshard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
)

// Options say what to reshard and how.
type Options struct {
	// From and To are the configurations before and after. From may be
	// nil when every pool resharded has a migration in To, whose old
	// pool then serves as the before.
	From, To *config.Config
	// FromOptions and ToOptions supply plugins, as for core.New.
	FromOptions, ToOptions []core.Option
	// Pools limits the run to these pools of To; empty: every pool of To
	// that From has too.
	Pools []string

	// DryRun reads every key and reports what would move, touching
	// nothing.
	DryRun bool
	// Replace makes the old server's copy win over one the new server
	// already has (MIGRATE ... REPLACE, memcached set instead of add).
	// Only for a reshard while nothing writes through the new placement
	// (walnut stopped, or still on the old configuration); see
	// docs/resharding.md.
	Replace bool
	// Rate limits the keys moved per second, over every server; 0: none.
	Rate int
	// Batch is the number of keys per MIGRATE (and per pipeline of
	// memcached commands); 100 by default.
	Batch int
	// ScanCount is SCAN's COUNT; 1000 by default.
	ScanCount int
	// Parallel is the number of old servers handled at once; 4 by
	// default.
	Parallel int
	// Timeout bounds every command (and is MIGRATE's own timeout); 10s
	// by default.
	Timeout time.Duration
	// BytesSample, in a dry run, measures the size of one moving key in
	// that many (Redis MEMORY USAGE is a command per key) and counts it
	// for all; 1 (every key) by default.
	BytesSample int

	// State records progress for resuming; nil: none. A dry run neither
	// reads nor writes it.
	State *State

	// Progress receives progress lines (and Notes, if nil, the notes):
	// one line redrawn in place when Terminal is set, of Width columns,
	// else a line every ProgressEvery (5s by default).
	Progress      io.Writer
	Terminal      bool
	Width         int
	ProgressEvery time.Duration
	// Notes receives remarks such as a fallback from MIGRATE to DUMP
	// and RESTORE.
	Notes io.Writer

	// OnBatch, if set, is called after every batch of moved keys with
	// the pool and its keys moved so far (tests interrupt runs with it).
	OnBatch func(pool string, moved int64)
}

func (o *Options) defaults() {
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Rate > 0 {
		// Batches of a quarter second's worth keep the pace smooth.
		o.Batch = max(1, min(o.Batch, o.Rate/4))
	}
	if o.ScanCount <= 0 {
		o.ScanCount = 1000
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.BytesSample <= 0 || !o.DryRun {
		o.BytesSample = 1
	}
	if o.Notes == nil {
		o.Notes = o.Progress
	}
	if o.Notes == nil {
		o.Notes = io.Discard
	}
}

// Plans checks what a run would do: which pools, between which
// placements. It touches no server.
func Plans(o Options) ([]string, error) {
	plans, err := makePlans(&o)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range plans {
		names = append(names, p.name)
	}
	return names, nil
}

func makePlans(o *Options) ([]*plan, error) {
	if o.To == nil {
		return nil, errors.New("no configuration to reshard to")
	}
	var plans []*plan
	for _, np := range o.To.Pools {
		if len(o.Pools) > 0 && !slices.Contains(o.Pools, np.Name) {
			continue
		}
		var op *config.Pool
		if o.From != nil {
			for _, p := range o.From.Pools {
				if p.Name == np.Name {
					op = p
				}
			}
		} else if np.Migration != nil {
			op = np.Migration.Old
		}
		if op == nil {
			if len(o.Pools) > 0 {
				if o.From == nil {
					return nil, fmt.Errorf("pool %s: no [pools.%s.migration] in %s to take the old servers from (or pass --from)", np.Name, np.Name, o.To.Path)
				}
				return nil, fmt.Errorf("pool %s is not in %s", np.Name, o.From.Path)
			}
			continue
		}
		pl, err := newPlan(op, np, o.FromOptions, o.ToOptions)
		if err != nil {
			return nil, err
		}
		plans = append(plans, pl)
	}
	for _, name := range o.Pools {
		if !slices.ContainsFunc(plans, func(p *plan) bool { return p.name == name }) {
			return nil, fmt.Errorf("pool %s is not in %s", name, o.To.Path)
		}
	}
	if len(plans) == 0 {
		if o.From == nil {
			return nil, fmt.Errorf("no pool of %s has a [pools.NAME.migration] table to take the old servers from; pass --from", o.To.Path)
		}
		return nil, fmt.Errorf("no pool is in both %s and %s", o.From.Path, o.To.Path)
	}
	return plans, nil
}

// Run reshards: every pool in turn, its old servers a few at a time. It
// returns the report (also when it fails or ctx ends: what was done) and
// the first error that stopped a server.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	start := time.Now()
	rep := &Report{DryRun: o.DryRun}
	plans, err := makePlans(&o)
	if err != nil {
		return rep, err
	}
	lim := newLimiter(o.Rate)
	var first error
	for _, pl := range plans {
		pr, err := runPool(ctx, &o, pl, lim)
		rep.Pools = append(rep.Pools, pr)
		if err != nil && first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	rep.Duration = time.Since(start)
	if ctx.Err() != nil {
		rep.Interrupted = true
		if first == nil || errors.Is(first, ctx.Err()) {
			first = ctx.Err()
		}
	}
	return rep, first
}

// mover moves one pool's keys; its methods run on one goroutine per old
// server.
type mover struct {
	o   *Options
	pl  *plan
	pr  *PoolReport
	ps  *PoolState // nil without a state file, or in a dry run
	lim *limiter

	mu       sync.Mutex
	dumpOnly map[int]bool // new servers MIGRATE cannot reach
}

func runPool(ctx context.Context, o *Options, pl *plan, lim *limiter) (*PoolReport, error) {
	pr := &PoolReport{Name: pl.name, Protocol: pl.protocol}
	share, err := pl.uniformShare(20000)
	if err != nil {
		return pr, err
	}
	pr.UniformShare = share
	m := &mover{o: o, pl: pl, pr: pr, lim: lim, dumpOnly: map[int]bool{}}
	servers := pl.old.pool.Servers
	if o.State != nil && !o.DryRun {
		if m.ps, err = o.State.pool(pl.name, pl.fingerprint()); err != nil {
			return pr, err
		}
		ids := make([]string, len(servers))
		for i := range servers {
			ids[i] = pl.old.server(i)
		}
		if o.State.restart(m.ps, ids) {
			fmt.Fprintf(o.Notes, "reshard: pool %s: the state file says the last pass finished; scanning every old server again\n", pl.name)
		}
		if err := o.State.Save(); err != nil {
			return pr, fmt.Errorf("state file: %w", err)
		}
	}
	prog := startProgress(o.Progress, o.Terminal, o.Width, o.ProgressEvery, pr, o.DryRun)
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			if pl.protocol == "redis" {
				errs[i] = m.redisServer(ctx, i)
			} else {
				errs[i] = m.memcachedServer(ctx, i)
			}
			if errs[i] != nil && !errors.Is(errs[i], ctx.Err()) {
				errs[i] = fmt.Errorf("pool %s: old server %s: %w", pl.name, servers[i].Addr, errs[i])
			}
		}()
	}
	wg.Wait()
	prog.end()
	var first error
	for _, err := range errs {
		if err != nil && first == nil {
			first = err
		}
	}
	pr.Done = first == nil
	return pr, first
}

// resumed notes a server the state file let this run skip or resume.
func (m *mover) resumed(what string) {
	m.pr.mu.Lock()
	m.pr.Resumed = append(m.pr.Resumed, what)
	slices.Sort(m.pr.Resumed)
	m.pr.mu.Unlock()
}

func (m *mover) addTotal(n int64) {
	m.pr.mu.Lock()
	m.pr.Total += n
	m.pr.mu.Unlock()
}

// addEarlier counts, for progress, keys earlier runs handled on a server
// this one resumes: scanned before its cursor, moved away since.
func (m *mover) addEarlier(scanned, moved int64) {
	m.pr.mu.Lock()
	m.pr.earlierScanned += scanned
	m.pr.Total += moved
	m.pr.mu.Unlock()
}

func (m *mover) batchDone() {
	if m.o.OnBatch != nil {
		keys, _ := m.pr.Moved()
		m.o.OnBatch(m.pl.name, keys)
	}
}

// advance records a server's progress in the state file.
func (m *mover) advance(id, cursor string, done bool, scanned, moved, bytes int64) error {
	if m.ps == nil {
		return nil
	}
	return m.o.State.advance(m.ps, id, cursor, done, scanned, moved, bytes)
}

func (m *mover) note(format string, args ...any) {
	fmt.Fprintf(m.o.Notes, "reshard: pool %s: "+format+"\n", append([]any{m.pl.name}, args...)...)
}
