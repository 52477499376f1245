package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// BenchmarkSelect measures clients of several databases at once through
// one walnut: 8 clients each pipelining GETs of a key of its own
// database, all in the pool's database (db0), all in another one (db1),
// or half and half (mixed, where a connection shared by all the
// databases would switch at almost every batch), and 32 clients over 4
// databases (mixed4x32). ns/req is wall time per GET, cpu-ns/req the CPU
// time per GET of walnut, the clients and the redis-servers together.
//
// It chose how walnut serves SELECT: SELECT in front of a request on the
// shared connections when they are in another database was as fast as
// connections of their own per database, or faster with several
// databases at once (see core/classswitch.go).
func BenchmarkSelect(b *testing.B) {
	servers := testbed.Redises(b, 2)
	_, addrs := startWalnut(b, "[proxy]\nworkers = 1\n"+redisPool("r", servers, "hash = \"md5\"\ntimeout = \"2s\""))
	get := resp("GET", "key:1")
	reply := fmt.Sprintf("$%d\r\n%s\r\n", len(benchValue), benchValue)
	for db := range 4 {
		c := newBenchClient(b, addrs["r"], resp("SELECT", fmt.Sprint(db)), "+OK\r\n", 1)
		newBenchClientOn(b, c, resp("SET", "key:1", benchValue), "+OK\r\n", 1).do(b)
	}
	spread := func(clients, dbs int) []int {
		out := make([]int, clients)
		for i := range out {
			out[i] = i % dbs
		}
		return out
	}
	for _, sc := range []struct {
		name string
		dbs  []int
	}{
		{"db0", spread(8, 1)},
		{"db1", []int{1, 1, 1, 1, 1, 1, 1, 1}},
		{"mixed", spread(8, 2)},
		{"mixed4x32", spread(32, 4)},
	} {
		for _, depth := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/P%d", sc.name, depth), func(b *testing.B) {
				clients := make([]*benchClient, len(sc.dbs))
				for i, db := range sc.dbs {
					c := newBenchClient(b, addrs["r"], resp("SELECT", fmt.Sprint(db)), "+OK\r\n", 1)
					clients[i] = newBenchClientOn(b, c, get, reply, depth)
				}
				cpu0 := cpuTime(b, servers)
				b.ResetTimer()
				per := b.N/len(clients) + 1
				var wg sync.WaitGroup
				for _, c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range per {
							c.do(b)
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				reqs := float64(per * len(clients) * depth)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/reqs, "ns/req")
				b.ReportMetric(float64((cpuTime(b, servers)-cpu0).Nanoseconds())/reqs, "cpu-ns/req")
			})
		}
	}
}

// newBenchClientOn is newBenchClient over c's connection, so that what
// c set up (a SELECT) stays.
func newBenchClientOn(tb testing.TB, c *benchClient, req, wantReply string, pipeline int) *benchClient {
	tb.Helper()
	bc := &benchClient{conn: c.conn, r: c.r, req: []byte(repeat(req, pipeline)), reply: make([]byte, len(wantReply)*pipeline)}
	bc.do(tb)
	if got := string(bc.reply); got != repeat(wantReply, pipeline) {
		tb.Fatalf("reply %q, want %q x %d", got, wantReply, pipeline)
	}
	return bc
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

// cpuTime is the CPU time used so far by this process (walnut and the
// clients) and the redis-servers.
func cpuTime(tb testing.TB, servers []*testbed.Process) time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	total := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	for _, s := range servers {
		info, err := newClient(tb, s.Addr).Info(context.Background(), "cpu").Result()
		if err != nil {
			tb.Fatal(err)
		}
		for _, l := range strings.Split(info, "\r\n") {
			k, v, _ := strings.Cut(l, ":")
			if k == "used_cpu_sys" || k == "used_cpu_user" {
				f, _ := strconv.ParseFloat(v, 64)
				total += time.Duration(f * 1e9)
			}
		}
	}
	return total
}
