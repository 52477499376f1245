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
	"github.com/walnutproxy/walnut/protocols/move"
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

// poolRun is what the old servers of one pool share while their movers
// run.
type poolRun struct {
	o   *Options
	pl  *plan
	pr  *PoolReport
	ps  *PoolState // nil without a state file, or in a dry run
	lim *limiter
	set move.Settings
}

func runPool(ctx context.Context, o *Options, pl *plan, lim *limiter) (*PoolReport, error) {
	pr := &PoolReport{Name: pl.name, Protocol: pl.protocol}
	share, err := pl.uniformShare(20000)
	if err != nil {
		return pr, err
	}
	pr.UniformShare = share
	run := &poolRun{o: o, pl: pl, pr: pr, lim: lim, set: move.Settings{DryRun: o.DryRun, Replace: o.Replace,
		Batch: o.Batch, ScanCount: o.ScanCount, BytesSample: o.BytesSample, Timeout: o.Timeout}}
	servers := pl.old.pool.Servers
	if o.State != nil && !o.DryRun {
		if run.ps, err = o.State.pool(pl.name, pl.fingerprint()); err != nil {
			return pr, err
		}
		if o.State.restart(run.ps, pl.old.servers()) {
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
			errs[i] = pl.mover.MoveServer(ctx, &job{run: run, from: i})
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

// job is one old server's share of a pool's run, as its mover asks the
// engine for what the protocol does not know: where keys go, the state
// file, the report, the rate.
type job struct {
	run  *poolRun
	from int // the old server's index
}

var _ move.Job = (*job)(nil)

func (j *job) Server() string              { return j.run.pl.old.pool.Servers[j.from].Addr }
func (j *job) Settings() move.Settings     { return j.run.set }
func (j *job) id(ns move.Namespace) string { return j.run.pl.old.serverIn(j.from, ns.Old) }

func (j *job) Resume(ns move.Namespace) (cursor string, done bool) {
	r := j.run
	if r.ps == nil {
		return "", false
	}
	id := j.id(ns)
	switch ss := r.o.State.server(r.ps, id); {
	case ss.Done:
		r.resumed(id + " (done)")
		return "", true
	case ss.Cursor != "":
		r.resumed(id + " (at cursor " + ss.Cursor + ")")
		// Progress counts the keys earlier runs handled before the
		// cursor as done, and those they moved away as part of the total
		// the server's count now lacks.
		r.pr.mu.Lock()
		r.pr.earlierScanned += ss.Scanned
		r.pr.Total += ss.Moved
		r.pr.mu.Unlock()
		return ss.Cursor, false
	}
	return "", false
}

func (j *job) Route(ns move.Namespace, keys [][]byte, dest []int) (int, error) {
	return j.run.pl.destinations(j.from, ns, keys, dest)
}

func (j *job) Total(keys int64) {
	pr := j.run.pr
	pr.mu.Lock()
	pr.Total += keys
	pr.mu.Unlock()
}

func (j *job) Scanned(keys, stray int64) { j.run.pr.scanned(keys, stray) }

func (j *job) Wait(ctx context.Context, n int) error { return j.run.lim.wait(ctx, n) }

func (j *job) Moved(ns move.Namespace, to int, c move.Counts) {
	j.run.pr.add(j.id(ns), j.run.pl.new.serverIn(to, ns.New), c.Keys, c.Bytes, c.Kept, c.Vanished)
}

func (j *job) Failed(n int64, err error) { j.run.pr.fail(n, err) }

func (j *job) Advance(ns move.Namespace, s move.Step) error {
	r := j.run
	if r.ps == nil {
		return nil
	}
	if err := r.o.State.advance(r.ps, j.id(ns), s.Cursor, s.Done, s.Scanned, s.Moved, s.Bytes); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

func (j *job) BatchDone() {
	r := j.run
	if r.o.OnBatch != nil {
		keys, _ := r.pr.Moved()
		r.o.OnBatch(r.pl.name, keys)
	}
}

func (j *job) Notef(format string, args ...any) {
	fmt.Fprintf(j.run.o.Notes, "reshard: pool %s: "+format+"\n", append([]any{j.run.pl.name}, args...)...)
}

// resumed notes a server the state file let this run skip or resume.
func (r *poolRun) resumed(what string) {
	r.pr.mu.Lock()
	r.pr.Resumed = append(r.pr.Resumed, what)
	slices.Sort(r.pr.Resumed)
	r.pr.mu.Unlock()
}
