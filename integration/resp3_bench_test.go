package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// RESP3 clients on the hot path: the same round trips as benchCases, from
// a client that said HELLO 3 first, and a client of each protocol taking
// turns on the pool's one server connection.

// resp3BenchCases are benchCases' Redis ones, as a RESP3 client sees them.
func resp3BenchCases() []benchCase {
	var out []benchCase
	for _, bc := range benchCases() {
		if bc.memcached {
			continue
		}
		bc.name += "_RESP3"
		// A null is "_" in RESP3; GET_2DB's database 1 has no key:1.
		bc.reply = strings.ReplaceAll(bc.reply, "$-1\r\n", "_\r\n")
		out = append(out, bc)
	}
	return out
}

// newBenchClient3 is newBenchClient for a client that says HELLO 3
// before its requests.
func newBenchClient3(tb testing.TB, addr string, bc benchCase) *benchClient {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	r := bufio.NewReaderSize(c, 64<<10)
	if _, err := c.Write([]byte(resp("HELLO", "3"))); err != nil {
		tb.Fatal(err)
	}
	if v, err := readValue(r); err != nil || !strings.HasPrefix(v, "%7\r\n") {
		tb.Fatalf("HELLO 3: %q %v", v, err)
	}
	b := &benchClient{conn: c, r: r, req: []byte(strings.Repeat(bc.req, bc.pipeline)), reply: make([]byte, len(bc.reply)*bc.pipeline)}
	b.do(tb)
	if got := string(b.reply); got != strings.Repeat(bc.reply, bc.pipeline) {
		tb.Fatalf("reply %q, want %q x %d", got, bc.reply, bc.pipeline)
	}
	return b
}

// A RESP3 client's GET/SET path allocates nothing per request either,
// nor do switches of the shared connections between the protocols of
// two clients that take turns.
func TestProxyZeroAllocsResp3(t *testing.T) {
	ra, _ := benchProxy(t, 4)
	for _, bc := range resp3BenchCases() {
		t.Run(bc.name, func(t *testing.T) {
			c := newBenchClient3(t, ra, bc)
			for range 200 {
				c.do(t)
			}
			if allocs := testing.AllocsPerRun(500, func() { c.do(t) }); allocs != 0 {
				t.Fatalf("%v allocations per round trip, want 0", allocs)
			}
		})
	}
	t.Run("RESP2 and RESP3 in turn", func(t *testing.T) {
		get := benchCases()[1]
		c2 := newBenchClient(t, ra, get.req, get.reply, 1)
		c3 := newBenchClient3(t, ra, get)
		for range 200 {
			c2.do(t)
			c3.do(t)
		}
		if allocs := testing.AllocsPerRun(500, func() { c2.do(t); c3.do(t) }); allocs != 0 {
			t.Fatalf("%v allocations per pair of round trips, want 0", allocs)
		}
	})
}

// BenchmarkProxyResp3 is BenchmarkProxy's Redis cases for a RESP3 client,
// to compare with theirs.
func BenchmarkProxyResp3(b *testing.B) {
	ra, _ := benchProxy(b, 4)
	for _, bc := range resp3BenchCases() {
		b.Run(bc.name, func(b *testing.B) {
			c := newBenchClient3(b, ra, bc)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.do(b)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.pipeline), "ns/req")
		})
	}
}

// BenchmarkGoRedisProtocol is go-redis v9's GET and HGETALL through
// walnut (four servers) with Protocol 2 and Protocol 3: client, proxy
// and servers together, one request at a time.
func BenchmarkGoRedisProtocol(b *testing.B) {
	ra, _ := benchProxy(b, 4)
	ctx := context.Background()
	for _, proto := range []int{2, 3} {
		c := newClient(b, ra, func(o *redis.Options) { o.Protocol = proto; o.PoolSize = 1 })
		if err := c.HSet(ctx, "bench:h", "a", benchValue, "b", benchValue).Err(); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("GET/RESP%d", proto), func(b *testing.B) {
			for b.Loop() {
				if err := c.Get(ctx, "key:1").Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("HGETALL/RESP%d", proto), func(b *testing.B) {
			for b.Loop() {
				if err := c.HGetAll(ctx, "bench:h").Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
