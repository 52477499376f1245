package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
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

func benchProxy(tb testing.TB, servers int) string {
	tb.Helper()
	rs := testbed.Redises(tb, servers)
	_, addrs := startWalnut(tb, redisPool("alpha", rs, "hash = \"md5\"\ntimeout = \"2s\""))
	// The GET and MGET cases read these, whatever ran before them.
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%d", i)
	}
	pipelineSet(tb, addrs["alpha"], keys, benchValue)
	return addrs["alpha"]
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
		{"SET", set, "+OK\r\n", 1},
		{"GET", get, getReply, 1},
		{"GET_P16", get, getReply, 16},
		{"SET_P16", set, "+OK\r\n", 16},
		{"MSET10", resp(msetArgs...), "+OK\r\n", 1},
		{"MGET10", resp(mgetKeys...), mgetReply, 1},
	}
}

// BenchmarkProxy measures full round trips through an in-process walnut
// to four real redis-servers; allocs/op is the proxy's own.
func BenchmarkProxy(b *testing.B) {
	addr := benchProxy(b, 4)
	for _, bc := range benchCases() {
		b.Run(bc.name, func(b *testing.B) {
			c := newBenchClient(b, addr, bc.req, bc.reply, bc.pipeline)
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
	addr := benchProxy(t, 4)
	for _, bc := range benchCases() {
		t.Run(bc.name, func(t *testing.T) {
			c := newBenchClient(t, addr, bc.req, bc.reply, bc.pipeline)
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
