package ketama

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/walnutproxy/walnut/distributions"
)

func init() { distributions.Register("ketama", Ketama{}) }

const (
	pointsPerServer = 160 // at equal weights; four per MD5 digest
	pointsPerHash   = 4
	// maxPointKey is how much of "name-i" nutcracker 0.5 hashes: it prints
	// the point key into a 273-byte buffer and, when it does not fit, logs
	// and hashes the first 272 bytes. Long names thus give several points
	// the same key ("name-1" and "name-10" cut to the same bytes), and a
	// name of 272 bytes or more gives every point of the server the same
	// four values. (Older releases used an 86-byte buffer and hashed past
	// its end; 0.5 is what walnut matches.)
	maxPointKey = 272
)

// Ketama builds nutcracker's ketama continuum.
type Ketama struct{}

// Build places pointsFor(server) points for each live server on the
// continuum. It fails only for a weight below 1 or a total live weight
// beyond 32 bits, which nutcracker's configuration cannot express.
func (Ketama) Build(servers []distributions.Server) (distributions.Table, error) {
	var live, total uint32
	for i, s := range servers {
		if s.Weight < 1 || uint64(s.Weight) > math.MaxUint32 {
			return nil, fmt.Errorf("ketama: server %d (%q) has weight %d", i, s.Name, s.Weight)
		}
		if s.Alive {
			live++
			total += uint32(s.Weight)
			if total < uint32(s.Weight) {
				return nil, fmt.Errorf("ketama: total weight of live servers overflows 32 bits")
			}
		}
	}
	if live == 0 {
		return &table{}, nil
	}

	// Each point is packed as value<<32 | insertion order. nutcracker sorts
	// with qsort on the value alone; glibc's qsort is a merge sort, hence
	// stable, so equal values keep insertion order (server order, then
	// point order) and the lookup below returns the earliest. The packed
	// keys are unique, so any sort of them yields exactly that order.
	// (musl's qsort is not stable: a nutcracker built on musl may break
	// such ties otherwise.)
	var keys []uint64
	var owner []int32 // server index by insertion order
	var buf []byte
	for i, s := range servers {
		if !s.Alive {
			continue
		}
		n := pointsFor(uint32(s.Weight), total, live)
		for h := range n / pointsPerHash {
			buf = append(append(buf[:0], s.Name...), '-')
			buf = strconv.AppendUint(buf, uint64(h), 10)
			sum := md5.Sum(buf[:min(len(buf), maxPointKey)])
			for x := range pointsPerHash {
				v := binary.LittleEndian.Uint32(sum[4*x:])
				keys = append(keys, uint64(v)<<32|uint64(len(owner)))
				owner = append(owner, int32(i))
			}
		}
	}
	slices.Sort(keys)

	t := &table{values: make([]uint32, len(keys)), servers: make([]int32, len(keys))}
	for i, k := range keys {
		t.values[i] = uint32(k >> 32)
		t.servers[i] = owner[uint32(k)]
	}
	t.buildIndex()
	return t, nil
}

// pointsFor mirrors nutcracker's arithmetic, which is in float32 with one
// double-precision addition:
//
//	pct = (float)weight / (float)total_weight;
//	floorf((float)(pct * 160 / 4 * (float)nlive_server + 0.0000000001)) * 4
//
// The explicit conversions keep every intermediate rounded to float32 and
// forbid the compiler from fusing a multiply and an add, which would
// change the rounding and so, for some weights, the point count.
func pointsFor(weight, total, live uint32) uint32 {
	pct := float32(weight) / float32(total)
	x := float32(float32(float32(pct*pointsPerServer)/4) * float32(live))
	y := float32(float64(x) + 0.0000000001)
	return uint32(float32(math.Floor(float64(y))) * 4)
}

// table keeps values and servers in parallel slices: the search reads
// only values, so it loads half the cache lines a slice of (value,
// server) pairs would.
//
// index makes a lookup cost the same for 4 servers as for 1000: a binary
// search over the whole continuum takes log2(160 n) steps, each a likely
// cache miss once the continuum outgrows the cache (1000 servers make
// 160,000 points, 640 KiB of values). index has a power-of-two number of
// buckets, at least as many as points, and holds for each bucket of hash
// values (hash >> shift) the position of its first point; the search
// then runs over the one or two points of that bucket only.
type table struct {
	values  []uint32
	servers []int32
	index   []uint32 // len 1<<(32-shift) + 1; the last entry is len(values)
	shift   uint
}

// buildIndex fills index, see table.
func (t *table) buildIndex() {
	bits := uint(1)
	for 1<<bits < len(t.values) && bits < 24 {
		bits++
	}
	t.shift = 32 - bits
	t.index = make([]uint32, 1<<bits+1)
	i := 0
	for b := range 1 << bits {
		for i < len(t.values) && t.values[i]>>t.shift < uint32(b) {
			i++
		}
		t.index[b] = uint32(i)
	}
	t.index[1<<bits] = uint32(len(t.values))
}

// Pick returns the server of the first point at or after hash, wrapping
// past the last point to the first. The points of hash's bucket are
// index[b] up to index[b+1]; the answer is one of them, or the first
// point after the bucket. The search halves the range with a mask rather
// than a branch: a branch on random hashes mispredicts half the time, and
// Go will not turn a loop-carried branch into a CMOV.
func (t *table) Pick(hash uint32) int {
	if len(t.values) == 0 {
		return -1
	}
	b := hash >> t.shift
	lo, hi := int(t.index[b]), int(t.index[b+1])
	if lo == hi {
		// No point in the bucket: the next point is the first after it.
		if lo == len(t.values) {
			lo = 0
		}
		return int(t.servers[lo])
	}
	v := t.values[lo:hi]
	base := 0
	for n := len(v); n > 1; n -= n >> 1 {
		half := n >> 1
		// All ones when v[base+half-1] < hash, else zero.
		below := int((int64(v[base+half-1]) - int64(hash)) >> 63)
		base += half & below
	}
	base += lo
	if t.values[base] < hash {
		base++ // the next point, or the first if hash is past them all
		if base == len(t.values) {
			base = 0
		}
	}
	return int(t.servers[base])
}

// Size reports the table's memory in bytes, for the docs' scale figures.
func (t *table) Size() int { return 4 * (len(t.values) + len(t.servers) + len(t.index)) }
