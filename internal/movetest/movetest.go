// Package movetest stands in for walnut reshard's engine in the tests of
// the protocols' movers (protocols/redis/internal/mover,
// protocols/memcached/internal/mover): a Job that routes keys by a
// function and keeps what the mover reports, to be checked.
package movetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/walnutproxy/walnut/protocols/move"
)

// Job is a move.Job for one old server, safe for concurrent use.
type Job struct {
	addr  string
	set   move.Settings
	route func(key []byte) int

	mu sync.Mutex
	r  Report
}

var _ move.Job = (*Job)(nil)

// Report is what a mover reported to a Job.
type Report struct {
	Counts  map[move.Namespace]move.Counts // Moved's, summed by namespace
	Done    []move.Namespace               // the namespaces of the Advances that said done, in order
	Scanned int64                          // keys scanned
	Notes   []string
	Failed  []error
}

// New returns a Job moving the keys of the server at addr with set;
// route gives a key's new server, or -1 for one that stays.
func New(addr string, set move.Settings, route func(key []byte) int) *Job {
	return &Job{addr: addr, set: set, route: route, r: Report{Counts: map[move.Namespace]move.Counts{}}}
}

// Report returns a copy of what the mover reported so far.
func (j *Job) Report() Report {
	j.mu.Lock()
	defer j.mu.Unlock()
	r := j.r
	r.Counts = maps.Clone(r.Counts)
	r.Done = slices.Clone(r.Done)
	r.Notes = slices.Clone(r.Notes)
	r.Failed = slices.Clone(r.Failed)
	return r
}

func (j *Job) Server() string                        { return j.addr }
func (j *Job) Settings() move.Settings               { return j.set }
func (j *Job) Resume(move.Namespace) (string, bool)  { return "", false }
func (j *Job) Total(int64)                           {}
func (j *Job) Wait(ctx context.Context, _ int) error { return ctx.Err() }
func (j *Job) BatchDone()                            {}

func (j *Job) Route(_ move.Namespace, keys [][]byte, dest []int) (int, error) {
	for i, k := range keys {
		dest[i] = j.route(k)
	}
	return 0, nil
}

func (j *Job) Scanned(keys, _ int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.r.Scanned += keys
}

func (j *Job) Moved(ns move.Namespace, _ int, c move.Counts) {
	j.mu.Lock()
	defer j.mu.Unlock()
	sum := j.r.Counts[ns]
	sum.Keys += c.Keys
	sum.Bytes += c.Bytes
	sum.Kept += c.Kept
	sum.Vanished += c.Vanished
	j.r.Counts[ns] = sum
}

func (j *Job) Failed(_ int64, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.r.Failed = append(j.r.Failed, err)
}

func (j *Job) Advance(ns move.Namespace, s move.Step) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if s.Done {
		j.r.Done = append(j.r.Done, ns)
	}
	return nil
}

func (j *Job) Notef(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.r.Notes = append(j.r.Notes, fmt.Sprintf(format, args...))
}
