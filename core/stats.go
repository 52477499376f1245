//go:build linux

package core

import (
	"math/bits"
	"os"
	"sync/atomic"
	"time"

	"github.com/walnutproxy/walnut/protocols"
)

// Counters are kept per loop (a shard per loop in every counter set), so
// the loop that serves a request is the only writer of what it touches:
// no contention, and an uncontended atomic add is all a count costs.
// Readers (the stats and metrics endpoints) sum the shards.

// histBuckets are upper bounds of latency buckets in microseconds:
// powers of two from 64µs to about 4s, then +Inf. Finding a bucket is a
// bit length, not a search.
const histBuckets = 17

// HistogramBounds are the buckets' upper bounds in seconds (the last,
// +Inf, is implied).
var HistogramBounds = func() []float64 {
	b := make([]float64, histBuckets-1)
	for i := range b {
		b[i] = float64(int64(64)<<i) / 1e6
	}
	return b
}()

type histogram struct {
	counts [histBuckets]atomic.Uint64
	sumUs  atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	us := uint64(d / time.Microsecond)
	i := 0
	if us > 64 {
		i = min(bits.Len64((us-1)>>6), histBuckets-1)
	}
	h.counts[i].Add(1)
	h.sumUs.Add(us)
}

// Histogram is a latency histogram as the snapshot reports it.
type Histogram struct {
	// Counts[i] is the number of observations in bucket i (not
	// cumulative); the last bucket is +Inf.
	Counts [histBuckets]uint64
	// Sum is the total of the observations in seconds.
	Sum float64
}

// Count is the number of observations.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

func (h *Histogram) add(s *histogram) {
	for i := range s.counts {
		h.Counts[i] += s.counts[i].Load()
	}
	h.Sum += float64(s.sumUs.Load()) / 1e6
}

// serverCounters is one loop's share of a server's statistics.
type serverCounters struct {
	requests, requestBytes   atomic.Uint64
	responses, responseBytes atomic.Uint64
	eof, errs, timedout      atomic.Uint64
	dials                    atomic.Uint64
	connections              atomic.Int64 // open now
	outQueue, outQueueBytes  atomic.Int64 // sent, not yet answered
	inQueueBytes             atomic.Int64 // queued, not yet written
	latency                  histogram
	_                        [64]byte // keeps shards off each other's cache lines
}

// poolCounters is one loop's share of a pool's statistics.
type poolCounters struct {
	clientEOF, clientErr atomic.Uint64
	clientsAccepted      atomic.Uint64
	forwardError         atomic.Uint64
	fragments            atomic.Uint64
	families             []familyCounters // by protocols.Classifier family
	_                    [64]byte
}

type familyCounters struct {
	requests atomic.Uint64
	latency  histogram
}

// Snapshot is the proxy's statistics at one moment.
type Snapshot struct {
	Start            time.Time
	Time             time.Time
	Version          string
	Source           string // host name
	TotalConnections uint64 // clients accepted and server connections made, ever
	CurrConnections  int64  // clients and server connections open now
	Latency          bool   // whether latencies were recorded
	Pools            []PoolSnapshot
}

// PoolSnapshot is a pool's share of a Snapshot; field names follow
// nutcracker's stats.
type PoolSnapshot struct {
	Name              string
	Protocol          string
	ClientEOF         uint64
	ClientErr         uint64
	ClientConnections int64
	ClientsAccepted   uint64
	ServerEjects      uint64
	ForwardError      uint64
	Fragments         uint64
	Families          []FamilySnapshot
	Servers           []ServerSnapshot

	// Dedicated server connections (transactions, blocking commands,
	// pub/sub): open now (idle ones included), handed to clients, and
	// requests refused at max_dedicated; Pushes counts the values
	// servers sent unasked (pub/sub messages) relayed to clients.
	DedicatedConnections int64
	DedicatedLeases      uint64
	DedicatedRefused     uint64
	Pushes               uint64
}

// FamilySnapshot counts a pool's client requests of one command family.
type FamilySnapshot struct {
	Name     string
	Requests uint64
	Latency  Histogram
}

// ServerSnapshot is one server's share of a Snapshot.
type ServerSnapshot struct {
	Name              string
	Addr              string
	ServerEOF         uint64
	ServerErr         uint64
	ServerTimedout    uint64
	ServerConnections int64
	ServerEjectedAt   int64 // microseconds since the epoch of the last ejection, 0 if never
	Ejected           bool
	Down              bool // the last connection attempt failed
	Ejections         uint64
	Reconnects        uint64 // connections dialed
	Requests          uint64
	RequestBytes      uint64
	Responses         uint64
	ResponseBytes     uint64
	InQueue           int64
	InQueueBytes      int64
	OutQueue          int64
	OutQueueBytes     int64
	Latency           Histogram
}

// Ready reports whether every pool has at least one server that is not
// ejected and whose last connection attempt did not fail: what /readyz
// answers.
func (s *Snapshot) Ready() bool {
	for _, p := range s.Pools {
		ok := false
		for _, sv := range p.Servers {
			if !sv.Ejected && !sv.Down {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Snapshot returns the proxy's statistics now.
func (px *Proxy) Snapshot() Snapshot {
	host, _ := os.Hostname()
	s := Snapshot{Start: px.start, Time: time.Now(), Version: px.version, Source: host, Latency: px.latency.Load()}
	s.TotalConnections = px.totalConns.Load()
	for _, p := range px.Pools() {
		ps := p.snapshot()
		s.CurrConnections += ps.ClientConnections
		for _, sv := range ps.Servers {
			s.CurrConnections += sv.ServerConnections
		}
		s.Pools = append(s.Pools, ps)
	}
	return s
}

func (p *Pool) snapshot() PoolSnapshot {
	st := p.settings()
	ps := PoolSnapshot{Name: p.name, Protocol: st.cfg.Protocol, ClientConnections: p.clients.Load(),
		DedicatedConnections: p.ded.open.Load(), DedicatedLeases: p.ded.leases.Load(),
		DedicatedRefused: p.ded.refused.Load(), Pushes: p.ded.pushes.Load()}
	var names []string
	if cl, ok := st.codec.(protocols.Classifier); ok {
		names = cl.Families()
	}
	fams := make([]FamilySnapshot, len(names))
	for i, n := range names {
		fams[i].Name = n
	}
	for i := range p.counters {
		c := &p.counters[i]
		ps.ClientEOF += c.clientEOF.Load()
		ps.ClientErr += c.clientErr.Load()
		ps.ClientsAccepted += c.clientsAccepted.Load()
		ps.ForwardError += c.forwardError.Load()
		ps.Fragments += c.fragments.Load()
		for j := range min(len(c.families), len(fams)) {
			fams[j].Requests += c.families[j].requests.Load()
			fams[j].Latency.add(&c.families[j].latency)
		}
	}
	for _, f := range fams {
		if f.Requests > 0 {
			ps.Families = append(ps.Families, f)
		}
	}
	p.mu.Lock()
	backends := append([]*backend(nil), p.backends...)
	p.mu.Unlock()
	for _, b := range backends {
		ss := b.snapshot()
		ps.ServerEjects += ss.Ejections
		ps.Servers = append(ps.Servers, ss)
	}
	return ps
}

func (b *backend) snapshot() ServerSnapshot {
	ss := ServerSnapshot{Name: b.name, Addr: b.addr}
	for i := range b.counters {
		c := &b.counters[i]
		ss.Requests += c.requests.Load()
		ss.RequestBytes += c.requestBytes.Load()
		ss.Responses += c.responses.Load()
		ss.ResponseBytes += c.responseBytes.Load()
		ss.ServerEOF += c.eof.Load()
		ss.ServerErr += c.errs.Load()
		ss.ServerTimedout += c.timedout.Load()
		ss.Reconnects += c.dials.Load()
		ss.ServerConnections += c.connections.Load()
		ss.OutQueue += c.outQueue.Load()
		ss.OutQueueBytes += c.outQueueBytes.Load()
		ss.InQueueBytes += c.inQueueBytes.Load()
		ss.Latency.add(&c.latency)
	}
	if ss.InQueueBytes > 0 {
		ss.InQueue = 1 // bytes waiting for the end of a loop iteration
	}
	ss.Ejections = b.ejections.Load()
	ss.ServerEjectedAt = b.ejectedAt.Load()
	ss.Ejected = b.isEjected()
	ss.Down = b.down.Load()
	return ss
}
