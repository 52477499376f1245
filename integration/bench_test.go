package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// benchClient sends a fixed request and reads a reply of known length
// with buffers allocated once, so that whatever allocates per request in
// the process is the proxy.
type benchClient struct {
	conn  net.Conn
	r     *bufio.Reader
	req   []byte
	reply []byte
}

func newBenchClient(tb testing.TB, addr string, req, wantReply string, pipeline int) *benchClient {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	bc := &benchClient{conn: c, r: bufio.NewReaderSize(c, 64<<10),
		req: bytes.Repeat([]byte(req), pipeline), reply: make([]byte, len(wantReply)*pipeline)}
	bc.do(tb)
	if got := string(bc.reply); got != string(bytes.Repeat([]byte(wantReply), pipeline)) {
		tb.Fatalf("reply %q, want %q x %d", got, wantReply, pipeline)
	}
	return bc
}

func (bc *benchClient) do(tb testing.TB) {
	if _, err := bc.conn.Write(bc.req); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(bc.r, bc.reply); err != nil {
		tb.Fatal(err)
	}
}

// benchProxy starts walnut in the test process with a Redis pool and a
// memcached pool of servers each, both filled with the keys the cases
// read, and returns the pools' addresses.
func benchProxy(tb testing.TB, servers int) (redisAddr, mcAddr string) {
	tb.Helper()
	rs := testbed.Redises(tb, servers)
	ms := make([]*testbed.Process, servers)
	for i := range ms {
		ms[i] = testbed.Memcached(tb)
	}
	opts := "hash = \"md5\"\ntimeout = \"2s\""
	_, addrs := startWalnut(tb, "[proxy]\nworkers = 1\n"+redisPool("r", rs, opts)+mcPool("m", ms, opts))
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%d", i)
	}
	pipelineSet(tb, addrs["r"], keys, benchValue)
	mcPipelineSet(tb, addrs["m"], keys, benchValue)
	return addrs["r"], addrs["m"]
}

func resp(args ...string) string {
	s := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		s += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	return s
}

var benchValue = string(bytes.Repeat([]byte("v"), 32))

type benchCase struct {
	name, req, reply string
	pipeline         int
	memcached        bool
}

func benchCases() []benchCase {
	mgetKeys := []string{"MGET"}
	msetArgs := []string{"MSET"}
	mgetReply := "*10\r\n"
	for i := range 10 {
		k := fmt.Sprintf("key:%d", i)
		mgetKeys = append(mgetKeys, k)
		msetArgs = append(msetArgs, k, benchValue)
		mgetReply += fmt.Sprintf("$%d\r\n%s\r\n", len(benchValue), benchValue)
	}
	get := resp("GET", "key:1")
	getReply := fmt.Sprintf("$%d\r\n%s\r\n", len(benchValue), benchValue)
	set := resp("SET", "key:1", benchValue)
	return []benchCase{
		{"SET", set, "+OK\r\n", 1, false},
		{"GET", get, getReply, 1, false},
		{"GET_P16", get, getReply, 16, false},
		{"SET_P16", set, "+OK\r\n", 16, false},
		{"MSET10", resp(msetArgs...), "+OK\r\n", 1, false},
		{"MGET10", resp(mgetKeys...), mgetReply, 1, false},
		// Two databases in turn: SELECT goes ahead of every other GET.
		{"GET_2DB", resp("SELECT", "1") + get + resp("SELECT", "0") + get, "+OK\r\n$-1\r\n+OK\r\n" + getReply, 1, false},
		{"mc_set", "set key:1 0 0 32\r\n" + benchValue + "\r\n", "STORED\r\n", 1, true},
		{"mc_get", "get key:1\r\n", "VALUE key:1 0 32\r\n" + benchValue + "\r\nEND\r\n", 1, true},
		{"mc_get_p16", "get key:1\r\n", "VALUE key:1 0 32\r\n" + benchValue + "\r\nEND\r\n", 16, true},
		{"mc_get10", "get " + strings.Join(mgetKeys[1:], " ") + "\r\n", mcValues(mgetKeys[1:]) + "END\r\n", 1, true},
		{"mc_mg", "mg key:1 v\r\n", "VA 32\r\n" + benchValue + "\r\n", 1, true},
	}
}

func mcValues(keys []string) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "VALUE %s 0 %d\r\n%s\r\n", k, len(benchValue), benchValue)
	}
	return b.String()
}

func (bc benchCase) addr(redisAddr, mcAddr string) string {
	if bc.memcached {
		return mcAddr
	}
	return redisAddr
}

// BenchmarkProxy measures full round trips through an in-process walnut
// to four real redis-servers; allocs/op is the proxy's own.
func BenchmarkProxy(b *testing.B) {
	ra, ma := benchProxy(b, 4)
	for _, bc := range benchCases() {
		b.Run(bc.name, func(b *testing.B) {
			c := newBenchClient(b, bc.addr(ra, ma), bc.req, bc.reply, bc.pipeline)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.do(b)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bc.pipeline), "ns/req")
		})
	}
}

// The GET/SET path allocates nothing per request once warm: asserted
// exactly, not timed.
func TestProxyZeroAllocs(t *testing.T) {
	ra, ma := benchProxy(t, 4)
	for _, bc := range benchCases() {
		t.Run(bc.name, func(t *testing.T) {
			c := newBenchClient(t, bc.addr(ra, ma), bc.req, bc.reply, bc.pipeline)
			for range 200 {
				c.do(t)
			}
			allocs := testing.AllocsPerRun(500, func() { c.do(t) })
			if allocs != 0 {
				t.Fatalf("%v allocations per round trip, want 0", allocs)
			}
		})
	}
}

// BenchmarkLargeValue sends SET and GET of 1 MiB and 16 MiB values
// through an in-process walnut to one redis-server. The client's buffers
// are allocated once, so B/op is what the proxy allocates per request;
// alloc-x reports it as a multiple of the value size (1.0: one buffer of
// the value's size per request).
func BenchmarkLargeValue(b *testing.B) {
	rs := testbed.Redises(b, 1)
	_, addrs := startWalnut(b, "[proxy]\nworkers = 1\n"+redisPool("r", rs, "timeout = \"10s\""))
	for _, size := range []int{1 << 20, 16 << 20} {
		value := strings.Repeat("x", size)
		set := resp("SET", "big", value)
		get := resp("GET", "big")
		getReply := fmt.Sprintf("$%d\r\n%s\r\n", size, value)
		for _, bc := range []struct{ name, req, reply string }{
			{"SET", set, "+OK\r\n"},
			{"GET", get, getReply},
		} {
			b.Run(fmt.Sprintf("%s/%dMiB", bc.name, size>>20), func(b *testing.B) {
				c := newBenchClient(b, addrs["r"], bc.req, bc.reply, 1)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				before := ms.TotalAlloc
				for b.Loop() {
					c.do(b)
				}
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(ms.TotalAlloc-before)/float64(b.N)/float64(size), "alloc-x")
			})
		}
	}
}
