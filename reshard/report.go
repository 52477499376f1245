package reshard

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// Report is what a run did, or with DryRun what it would do.
type Report struct {
	DryRun   bool
	Pools    []*PoolReport
	Duration time.Duration
	// Interrupted is set when the run stopped before the end (its
	// context ended); a new run with the same state file resumes.
	Interrupted bool
}

// PoolReport is one pool's share of a Report.
type PoolReport struct {
	Name     string
	Protocol string
	// Scanned counts the keys read from the old servers; Stray those of
	// them on a server the old placement does not put them on.
	Scanned int64
	Stray   int64
	// Total is the number of keys the old servers held at the start
	// (DBSIZE, curr_items), for progress.
	Total int64
	// Pairs, by old and new server, in order.
	Pairs []*Pair
	// UniformShare is the share of a uniform keyspace whose server
	// changes: what the placements alone imply.
	UniformShare float64
	// Resumed lists the old servers a state file let this run skip or
	// resume.
	Resumed []string
	// Errors counts keys that could not be moved; ErrorSamples are the
	// first messages.
	Errors       int64
	ErrorSamples []string
	// Done is set when every old server was handled to the end.
	Done bool

	earlierScanned int64 // by the runs this one resumes, for progress

	mu sync.Mutex
}

// Pair is what moves from one old server to one new server.
type Pair struct {
	From, To string
	// Keys and Bytes: copied to To and deleted from From (with DryRun:
	// to be). Bytes are Redis' MEMORY USAGE, memcached's item size.
	Keys, Bytes int64
	// Kept counts keys To already had: To's copy, newer, was kept and
	// From's deleted.
	Kept int64
	// Vanished counts keys gone from From between the scan and the copy
	// (expired, deleted).
	Vanished int64
}

// Moved returns the keys and bytes moved in every pair.
func (pr *PoolReport) Moved() (keys, bytes int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, p := range pr.Pairs {
		keys += p.Keys
		bytes += p.Bytes
	}
	return keys, bytes
}

// Kept returns the keys kept on their new servers in every pair.
func (pr *PoolReport) Kept() int64 {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	var n int64
	for _, p := range pr.Pairs {
		n += p.Kept
	}
	return n
}

func (pr *PoolReport) pairLocked(from, to string) *Pair {
	for _, p := range pr.Pairs {
		if p.From == from && p.To == to {
			return p
		}
	}
	p := &Pair{From: from, To: to}
	pr.Pairs = append(pr.Pairs, p)
	slices.SortFunc(pr.Pairs, func(a, b *Pair) int {
		return strings.Compare(a.From+"\x00"+a.To, b.From+"\x00"+b.To)
	})
	return p
}

// add counts into pair from → to.
func (pr *PoolReport) add(from, to string, keys, bytes, kept, vanished int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	p := pr.pairLocked(from, to)
	p.Keys += keys
	p.Bytes += bytes
	p.Kept += kept
	p.Vanished += vanished
}

func (pr *PoolReport) scanned(keys, stray int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.Scanned += keys
	pr.Stray += stray
}

const maxErrorSamples = 20

// fail records n keys that could not be moved, and why.
func (pr *PoolReport) fail(n int64, err error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.Errors += n
	if len(pr.ErrorSamples) < maxErrorSamples {
		pr.ErrorSamples = append(pr.ErrorSamples, err.Error())
	}
}

// Print writes the report for a person to read.
func (r *Report) Print(w io.Writer) {
	verb := "moved"
	if r.DryRun {
		verb = "would move"
	}
	for _, pr := range r.Pools {
		keys, bytes := pr.Moved()
		share := 0.0
		if pr.Scanned > 0 {
			share = float64(keys) / float64(pr.Scanned)
		}
		fmt.Fprintf(w, "pool %s (%s): %s %d of %d keys (%.1f%%), %s",
			pr.Name, pr.Protocol, verb, keys, pr.Scanned, 100*share, formatBytes(bytes))
		if pr.UniformShare > 0 {
			fmt.Fprintf(w, "; the placements alone move %.1f%% of a uniform keyspace", 100*pr.UniformShare)
		}
		fmt.Fprintln(w)
		for _, p := range pr.Pairs {
			fmt.Fprintf(w, "  %-24s -> %-24s %10d keys %12s", p.From, p.To, p.Keys, formatBytes(p.Bytes))
			if p.Kept > 0 {
				fmt.Fprintf(w, "   %d already there (newer copy kept)", p.Kept)
			}
			if p.Vanished > 0 {
				fmt.Fprintf(w, "   %d gone before the copy", p.Vanished)
			}
			fmt.Fprintln(w)
		}
		if pr.Stray > 0 {
			fmt.Fprintf(w, "  %d of the keys that move were not where the old placement puts them (written while a server was ejected?)\n", pr.Stray)
		}
		if len(pr.Resumed) > 0 {
			fmt.Fprintf(w, "  resumed from the state file: %s\n", strings.Join(pr.Resumed, ", "))
		}
		if pr.Errors > 0 {
			fmt.Fprintf(w, "  %d keys could not be moved and stay where they are:\n", pr.Errors)
			for _, e := range pr.ErrorSamples {
				fmt.Fprintf(w, "    %s\n", e)
			}
		}
	}
	var keys, bytes int64
	for _, pr := range r.Pools {
		k, b := pr.Moved()
		keys += k
		bytes += b
	}
	fmt.Fprintf(w, "%s %d keys, %s in %s", verb, keys, formatBytes(bytes), r.Duration.Round(time.Millisecond))
	if !r.DryRun && r.Duration > 0 {
		fmt.Fprintf(w, " (%.0f keys/s)", float64(keys)/r.Duration.Seconds())
	}
	fmt.Fprintln(w)
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: run the same command again to resume")
	}
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
